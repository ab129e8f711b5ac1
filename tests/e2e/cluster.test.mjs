// Three brokers on one PostgreSQL database (the cluster scripts/with-postgres.sh starts), with calls
// spread over them: caps, budgets and revocations hold across nodes. Each node has its own data
// directory, as brokers on separate machines do: they share only the database and the master key,
// and the signing keys come from the database.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { before, test } from 'node:test';
import * as jose from 'jose';
import { BIN, KEYS, approvedGrant, call, chatBody, databaseUrlFor, mockStats, startBroker, startMock, tempDir } from './harness.mjs';

// A key an owner stores in the vault; the emulation takes it besides the environment's keys.
const CAROL_KEY = 'sk-ant-carol-4Fj8Qz2Lm7';
let mock;
let nodes;
// What every node, and a command run from anywhere, needs: the database and the master key.
let shared;

before(async () => {
  mock = await startMock([CAROL_KEY, ...Object.values(KEYS)].flatMap((k) => ['--accept-key', k]));
  shared = { AIPASSPORT_DATABASE_URL: databaseUrlFor(tempDir()), AIPASSPORT_MASTER_KEY: randomBytes(32).toString('base64') };
  // Started at once, so they race to make the signing key ring of an empty database.
  nodes = await Promise.all([0, 1, 2].map(() => startBroker({ mock, dataDir: tempDir(), env: shared })));
  const tokens = nodes.map((n) => n.ownerToken).filter(Boolean);
  assert.equal(tokens.length, 1, 'one node made the owner token');
  for (const node of nodes) node.ownerToken = tokens[0];  // one database, one owner token
});

// `aipassport <args>` run against the shared database from a machine with none of the nodes' files.
function onDatabase(args, input = '') {
  return new Promise((resolve) => {
    const child = execFile(BIN, [...args, '--data-dir', tempDir()], { env: { PATH: process.env.PATH, ...shared } },
      (error, stdout, stderr) => {
        assert.equal(error, null, stdout + stderr);
        resolve(stdout);
      });
    child.stdin.end(input);
  });
}

// Signs `username` in on `node`; returns the session cookie.
async function sessionCookie(node, username, password) {
  const page = await fetch(`${node.url}/login`);
  const loginCsrf = page.headers.getSetCookie()[0].split(';')[0];
  const form = new URLSearchParams({ csrf: (await page.text()).match(/name="csrf" value="([^"]*)"/)[1], username, password });
  const res = await fetch(`${node.url}/login`, { method: 'POST', redirect: 'manual', body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCsrf } });
  assert.equal(res.status, 303, `${username} signs in`);
  return res.headers.getSetCookie().find((c) => c.startsWith('aipassport_session=')).split(';')[0];
}

const jwksOf = async (node) => (await call(node.url, 'GET', '/.well-known/jwks.json')).json;
const kidOf = (token) => jose.decodeProtectedHeader(token).kid;

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

test('one signing key ring: a token issued by any broker is accepted by the others', async () => {
  const [a, b, c] = await Promise.all(nodes.map(jwksOf));
  assert.equal(a.keys.length, 1, 'brokers starting at once made one key');
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
  for (const [i, issuer] of nodes.entries()) {
    const g = await approvedGrant(issuer, SCOPE);
    assert.equal(kidOf(g.token), a.keys[0].kid);
    for (const node of nodes.filter((n) => n !== issuer)) {
      const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
      assert.equal(r.status, 200, `node ${i}'s token on another node: ${r.text}`);
    }
  }
});

test('keys rotate-signing run against the database: every broker publishes the new key within a second', async (t) => {
  const g = await approvedGrant(nodes[0], SCOPE);
  const oldKid = kidOf(g.token);
  const out = await onDatabase(['keys', 'rotate-signing']);
  const t0 = performance.now();
  const newKid = out.match(/new signing key (\S+) is published now/)[1];
  const reached = await Promise.all(nodes.map(async (node) => {
    for (;;) {
      const jwks = await jwksOf(node);
      if (jwks.keys.some((k) => k.kid === newKid)) return performance.now() - t0;
      assert.ok(performance.now() - t0 < 1000, 'a JWKS read 1 s after the rotation still lacks the new key');
      await new Promise((res) => setTimeout(res, 20));
    }
  }));
  t.diagnostic(`the new key was published by the three brokers after ${reached.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  for (const node of nodes) {
    const jwks = await jwksOf(node);
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    // Published, not signing yet (signing.publish_seconds, 600 s by default); the old key still signs.
    const fresh = await approvedGrant(node, SCOPE);
    assert.equal(kidOf(fresh.token), oldKid);
    await jose.jwtVerify(fresh.token, jose.createLocalJWKSet(jwks), { issuer: 'aipassport-broker', audience: 'aipassport' });
    const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
    assert.equal(r.status, 200, r.text);
  }
});

test('a session ends on every broker when its owner changes password or is removed on the database', async () => {
  const password = 'correct horse battery staple';
  await onDatabase(['user', 'add', 'alice', '--password-stdin'], `${password}\n`);
  const signIn = (node, pw) => sessionCookie(node, 'alice', pw);
  const statuses = (cookie) => Promise.all(nodes.map(async (node) => (await call(node.url, 'GET', '/grants', { headers: { cookie } })).status));

  const first = await signIn(nodes[0], password);
  assert.deepEqual(await statuses(first), [200, 200, 200], 'a session made on one node is known to all');
  await onDatabase(['user', 'passwd', 'alice', '--password-stdin'], 'another horse battery staple\n');
  assert.deepEqual(await statuses(first), [401, 401, 401], 'the password change ended it everywhere at once');

  const second = await signIn(nodes[1], 'another horse battery staple');
  assert.deepEqual(await statuses(second), [200, 200, 200]);
  await onDatabase(['user', 'remove', 'alice']);
  assert.deepEqual(await statuses(second), [401, 401, 401], 'removing the owner ended it everywhere at once');
});

test('the owner token reset on the database refuses the old token on every broker at once', async () => {
  const old = nodes[0].ownerToken;
  for (const node of nodes) assert.equal((await call(node.url, 'GET', '/grants', { token: old })).status, 200);
  const out = await onDatabase(['admin-token', '--reset']);
  const fresh = out.match(/new owner token \(shown once, keep it secret\): (\S+)/)[1];
  for (const node of nodes) {
    assert.equal((await call(node.url, 'GET', '/grants', { token: old })).status, 401, 'the old token is refused');
    assert.equal((await call(node.url, 'GET', '/grants', { token: fresh })).status, 200);
    node.ownerToken = fresh;
  }
});

test('a provider key removed on the database stops serving on every broker within a second', async (t) => {
  const password = 'correct horse battery staple';
  await onDatabase(['user', 'add', 'carol', '--password-stdin'], `${password}\n`);
  await onDatabase(['vault', 'add', '--owner', 'carol', '--provider', 'anthropic', '--label', 'team'], `${CAROL_KEY}\n`);
  const id = (await onDatabase(['vault', 'list', '--owner', 'carol'])).split('\t')[0];
  const cookie = await sessionCookie(nodes[1], 'carol', password);
  const csrf = (await (await fetch(`${nodes[1].url}/`, { headers: { cookie } })).text()).match(/name="csrf" value="([^"]*)"/)[1];
  const scope = { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'] };
  const req = (await call(nodes[0].url, 'POST', '/grant-requests', { body: { appName: 'Keys App', appUrl: 'https://keys.example', reason: 'test', scope } })).json;
  const approved = await call(nodes[1].url, 'POST', `/grants/${req.grant.id}/approve`, { body: {}, headers: { cookie, 'x-csrf-token': csrf } });
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.json.keyLabel, 'team');
  const token = (await call(nodes[2].url, 'POST', '/tokens', { body: { grantId: req.grant.id, requestSecret: req.requestSecret } })).json.token;
  const message = (node) => call(node.url, 'POST', '/anthropic/v1/messages', { headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } });
  for (const node of nodes) {
    const r = await message(node);
    assert.equal(r.status, 200, r.text);
    assert.equal((await mockStats(mock)).lastKeys.anthropic, CAROL_KEY, 'every node spends the key added on the database');
  }

  await onDatabase(['vault', 'remove', id]);
  const t0 = performance.now();
  const reached = await Promise.all(nodes.map(async (node) => {
    for (;;) {
      const r = await message(node);
      if (r.status !== 200) {
        assert.equal(r.status, 503, r.text);
        return performance.now() - t0;
      }
      assert.ok(performance.now() - t0 < 1000, 'a call starting 1 s after the removal still spent the key');
      await new Promise((res) => setTimeout(res, 20));
    }
  }));
  t.diagnostic(`the removal reached the three brokers after ${reached.map((ms) => ms.toFixed(0)).join(', ')} ms`);
});
