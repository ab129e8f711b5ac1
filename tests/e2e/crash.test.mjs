// A broker killed with SIGKILL in the middle of a load: after a restart, what was settled plus
// what was leased and lost never exceeds the budget, and no call whose answer the app received is
// forgotten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startMock, startBroker, approvedGrant, call, tempDir } from './harness.mjs';

test('SIGKILL under load: spend plus lost leases stays within the budget and no answered call goes uncounted', async () => {
  const mock = await startMock(['--latency-ms', '20']);
  const dataDir = tempDir();
  // One public URL across restarts (each listens on a new port): the tokens' issuer stays the same.
  const env = { AIPASSPORT_ADMIN_TOKEN: randomBytes(32).toString('hex'), AIPASSPORT_PUBLIC_URL: 'https://broker.example' };
  const first = await startBroker({ mock, dataDir, env });
  // Room for about 60 calls' worst case: the load runs into the budget while the broker dies. The 80
  // calls after the restart all fit in flight at once, so each is answered 200 or 402, never 429.
  const g = await approvedGrant(first, {
    provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 4, maxConcurrent: 128,
  });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me about the tide' }], max_tokens: 1000 };
  let answered = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      try {
        const r = await call(first.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body });
        if (r.status === 200 && r.json?.usage) answered++;
      } catch { /* the broker is gone */ }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await new Promise((r) => setTimeout(r, 700));
  await first.stop('SIGKILL');
  stop = true;
  await Promise.all(workers);
  assert.ok(answered > 0, 'calls were answered before the kill');

  const second = await startBroker({ mock, dataDir, env });
  const check = async () => {
    const usage = (await call(second.url, 'GET', `/grants/${g.grantId}/usage`, { token: env.AIPASSPORT_ADMIN_TOKEN })).json;
    const { spentMicros, lostMicros, leasedMicros, limitMicros } = usage.budget;
    assert.ok(spentMicros + lostMicros + leasedMicros <= limitMicros, JSON.stringify(usage.budget));
    assert.equal(usage.totals.costMicros, spentMicros);
    return usage;
  };
  const after = await check();
  // Usage rows are written just behind the answers, so the kill may lose the last few; what those
  // calls cost is still in the killed broker's lease, now counted as lost: never forgotten.
  assert.ok(after.totals.requests > 0 && after.totals.requests <= answered + 16, `${after.totals.requests} recorded, ${answered} answered`);
  const perCall = after.totals.costMicros / after.totals.requests;
  const { spentMicros, lostMicros } = after.budget;
  assert.ok(spentMicros + lostMicros >= answered * perCall,
    `${answered} answered calls of ${perCall} each, but spent ${spentMicros} + lost ${lostMicros}`);
  // The restarted broker goes on within the same budget.
  const results = await Promise.all(Array.from({ length: 80 }, () =>
    call(second.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body })));
  assert.ok(results.every((r) => r.status === 200 || r.status === 402), results.map((r) => r.status).join());
  await check();
  await second.stop();
  const third = await startBroker({ mock, dataDir, env });
  // A clean stop hands its leases back: only the killed broker's lease is still leased.
  const usage = (await call(third.url, 'GET', `/grants/${g.grantId}/usage`, { token: env.AIPASSPORT_ADMIN_TOKEN })).json;
  assert.ok(usage.budget.leasedMicros <= after.budget.leasedMicros, JSON.stringify({ before: after.budget, now: usage.budget }));
});
