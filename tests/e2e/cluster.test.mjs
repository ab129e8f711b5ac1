// Three brokers on one PostgreSQL database (the cluster scripts/with-postgres.sh starts), with calls
// spread over them: caps, budgets and revocations hold across nodes. The nodes share a data
// directory for their signing keys and master key, as brokers behind one balancer share copies.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { approvedGrant, call, chatBody, databaseUrlFor, mockStats, startBroker, startMock, tempDir } from './harness.mjs';

let mock;
let nodes;

before(async () => {
  mock = await startMock();
  const dataDir = tempDir();
  const env = { AIPASSPORT_DATABASE_URL: databaseUrlFor(dataDir) };
  const first = await startBroker({ mock, dataDir, env });
  nodes = [first];
  for (let i = 1; i < 3; i++) {
    const node = await startBroker({ mock, dataDir, env });
    node.ownerToken = first.ownerToken;  // one database, one owner token
    nodes.push(node);
  }
});

const SCOPE = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] };

function spread(count, fn) {
  return Promise.all(Array.from({ length: count }, (_, i) => fn(nodes[i % nodes.length], i)));
}

test('200 concurrent calls over three brokers against a cap of 37: exactly 37 reach the provider', async () => {
  const g = await approvedGrant(nodes[0], { ...SCOPE, maxRequests: 37, maxConcurrent: 500 });
  const before = (await mockStats(mock)).requests.openai;
  const results = await spread(200, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') }));
  assert.equal(results.filter((r) => r.status === 200).length, 37);
  assert.equal((await mockStats(mock)).requests.openai - before, 37);
  for (const r of results.filter((r) => r.status !== 200)) assert.equal(r.status, 429, r.text);
  const view = (await call(nodes[1].url, 'GET', `/grants/${g.grantId}`, { token: nodes[1].ownerToken })).json;
  assert.equal(view.usageCount, 37);
});

test('200 concurrent calls over three brokers against a budget: it is never exceeded', async () => {
  const g = await approvedGrant(nodes[0], { ...SCOPE, maxBudgetCents: 1, maxConcurrent: 500 });
  const results = await spread(200, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini', { max_tokens: 400 }) }));
  const ok = results.filter((r) => r.status === 200).length;
  assert.ok(ok > 0, 'some calls fit');
  for (const r of results.filter((r) => r.status !== 200)) assert.equal(r.status, 402, r.text);
  const view = (await call(nodes[2].url, 'GET', `/grants/${g.grantId}/usage`, { token: nodes[2].ownerToken })).json;
  assert.ok(view.budget.spentMicros <= 10000, `spent ${view.budget.spentMicros} of 10000`);
  assert.equal(view.totals.requests, ok);
});

test('a rate of 60 a minute over three brokers admits 60 (and what refilled meanwhile), whichever takes the calls', async () => {
  await new Promise((res) => setTimeout(res, 5500));  // every broker has heard of the others (one heartbeat)
  const g = await approvedGrant(nodes[0], { ...SCOPE, rateLimit: 60, maxConcurrent: 500 });
  const started = performance.now();
  const results = await spread(120, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') }));
  const seconds = (performance.now() - started) / 1000;
  const ok = results.filter((r) => r.status === 200).length;
  // The bucket holds 60 and refills one a second (a third of that on each broker).
  assert.ok(ok >= 60 && ok <= 60 + Math.ceil(seconds), `${ok} admitted in ${seconds.toFixed(1)} s`);
  for (const r of results.filter((r) => r.status !== 200)) {
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
  }
  // All of one broker's calls: it admits its share only (stricter, never looser).
  const h = await approvedGrant(nodes[0], { ...SCOPE, rateLimit: 60, maxConcurrent: 500 });
  const one = await Promise.all(Array.from({ length: 40 }, () =>
    call(nodes[1].url, 'POST', '/openai/v1/chat/completions', { token: h.token, body: chatBody('gpt-4o-mini') })));
  const admitted = one.filter((r) => r.status === 200).length;
  assert.ok(admitted >= 20 && admitted <= 22, `${admitted} admitted by one broker`);
});

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('a revocation on one broker refuses the next call on the others within a second (50 revocations)', async (t) => {
  const latencies = [];
  for (let i = 0; i < 50; i++) {
    const [revoker, ...others] = [nodes[i % 3], nodes[(i + 1) % 3], nodes[(i + 2) % 3]];
    const g = await approvedGrant(revoker, SCOPE);
    for (const node of others) {  // each node has the grant in its cache
      const warm = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
      assert.equal(warm.status, 200, warm.text);
    }
    const revoked = await call(revoker.url, 'POST', `/grants/${g.grantId}/revoke`, { token: revoker.ownerToken });
    assert.equal(revoked.status, 200, revoked.text);
    const t0 = performance.now();
    await Promise.all(others.map(async (node) => {
      for (;;) {
        const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
        if (r.status !== 200) {
          assert.equal(r.status, 401, r.text);
          latencies.push(performance.now() - t0);
          return;
        }
        assert.ok(performance.now() - t0 < 1000, 'a call starting 1 s after the revocation was still served');
        await new Promise((res) => setTimeout(res, 20));
      }
    }));
  }
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50).toFixed(0);
  const p99 = percentile(latencies, 99).toFixed(0);
  t.diagnostic(`revocation reached the other brokers: p50 ${p50} ms, p99 ${p99} ms (${latencies.length} samples)`);
  assert.ok(latencies.at(-1) < 1000, `slowest ${latencies.at(-1)} ms`);
});
