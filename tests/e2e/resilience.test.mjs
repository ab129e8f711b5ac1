// The cap under concurrency, restarts that lose nothing, upstream failures, and owner token reset.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, startMock, startBroker, call, approvedGrant, chatBody, mockStats, run, tempDir, SCOPES, KEYS, eventually } from './harness.mjs';

let mock;
before(async () => { mock = await startMock(['--latency-ms', '20']); });

test('N concurrent calls against a cap of K let exactly K through', async () => {
  const broker = await startBroker({ mock });
  const K = 7, N = 60;
  const { token, grantId } = await approvedGrant(broker, { ...SCOPES.openai, maxRequests: K });
  const before = (await mockStats(mock)).requests.openai;
  const results = await Promise.all(Array.from({ length: N }, () =>
    call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') })));
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, K, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, N - K);
  assert.equal((await mockStats(mock)).requests.openai - before, K, 'exactly K calls reached upstream');
  const grant = await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken });
  assert.equal(grant.json.usageCount, K);
  await broker.stop();
});

test('a broker on a machine that was once suspended serves: the change feed\'s age is not the time slept', async () => {
  // A time namespace whose boot clock is 100 s ahead of its monotonic clock, as after suspends (in a
  // user namespace of its own, so that no privilege is needed).
  const suspended = ['unshare', '--user', '--map-root-user', '--time', '--boottime', '100', '--fork', '--kill-child=SIGTERM', BIN];
  const b = await startBroker({ mock, command: suspended });
  const exited = new Promise((resolve) => b.proc.stdout.once('close', resolve));  // the broker's, not unshare's
  try {
    const ready = await call(b.url, 'GET', '/ready');
    assert.equal(ready.status, 200, ready.text);
    const { token } = await approvedGrant(b, SCOPES.openai);
    const r = await call(b.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('gpt-4o-mini') });
    assert.equal(r.status, 200, r.text);
  } finally {
    await b.stop('SIGKILL');  // unshare passes no SIGTERM on: killed, it sends its broker one (--kill-child)
    await exited;
  }
});

test('a restart loses nothing: grants, counters, signing key and owner token survive', async () => {
  const dataDir = tempDir();
  // One public URL across the restart (a new port): the tokens' issuer stays the same.
  const env = { AIPASSPORT_PUBLIC_URL: 'https://broker.example' };
  let broker = await startBroker({ mock, dataDir, env });
  const owner = broker.ownerToken;
  assert.ok(owner.startsWith('apo_'));
  const { token, grantId } = await approvedGrant(broker, { ...SCOPES.google, maxRequests: 3 });
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gemini-2.5-flash') })).status, 200);
  const pending = await call(broker.url, 'POST', '/grant-requests', { body: { appName: 'Later', appUrl: 'https://l.example', scope: SCOPES.openai } });
  assert.equal(await broker.stop('SIGTERM'), 0, 'graceful stop exits 0');

  broker = await startBroker({ mock, dataDir, env });
  assert.equal(broker.ownerToken, null, 'the owner token is printed only once');
  assert.match(broker.output, /admin-token --reset/);
  broker.ownerToken = owner;
  const grant = await call(broker.url, 'GET', `/grants/${grantId}`, { token: owner });
  assert.equal(grant.status, 200);
  assert.equal(grant.json.status, 'approved');
  assert.equal(grant.json.usageCount, 1);
  assert.equal((await call(broker.url, 'GET', `/grants/${pending.json.grant.id}`, { token: owner })).json.status, 'pending');
  // The token issued before the restart still verifies: the signing key was kept.
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gemini-2.5-flash') })).status, 200);
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gemini-2.5-flash') })).status, 200);
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gemini-2.5-flash') })).status, 429);
  await broker.stop();
});

// SIGHUP loads a TLS certificate again; a broker serving plain HTTP (behind a TLS proxy, as the
// README suggests) is not ended by it, which would lose the usage it has not written yet and count
// the budget it holds as spent.
test('SIGHUP does not end a broker that serves plain HTTP', async () => {
  const b = await startBroker({ mock });
  b.proc.kill('SIGHUP');
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(b.proc.exitCode, null, 'still running');
  assert.equal(b.proc.signalCode, null, 'not ended by the signal');
  assert.equal((await call(b.url, 'GET', '/health')).status, 200);
  assert.equal(await b.stop('SIGTERM'), 0);
});

// A service manager may stop a broker the moment it starts: a SIGTERM that comes as it says it
// listens ends it through its drain all the same (exit 0, its node retired), never by the signal.
test('a broker stopped the moment it says it listens still stops cleanly', async () => {
  for (let i = 0; i < 5; i++) {
    const dataDir = tempDir();
    const broker = await startBroker({ dataDir, env: { AIPASSPORT_DATABASE_URL: '' } });
    assert.equal(await broker.stop('SIGTERM'), 0, `stop ${i}: ${broker.output.split('\n').slice(-3).join(' | ')}`);
    assert.match(broker.output, /stopped/);
    const nodes = await run(['db', 'copy', '--from', `sqlite://${dataDir}/aipassport.db`, '--to', `sqlite://${tempDir()}/copy.db`]);
    assert.equal(nodes.code, 0, `no broker left as running: ${nodes.stderr}`);
  }
});

test('a revocation survives a crash (SIGKILL) and a restart', async () => {
  const dataDir = tempDir();
  // One public URL across the restart (a new port): the tokens' issuer stays the same.
  const env = { AIPASSPORT_PUBLIC_URL: 'https://broker.example' };
  let broker = await startBroker({ mock, dataDir, env });
  const owner = broker.ownerToken;
  const { token, grantId } = await approvedGrant(broker, SCOPES.openai);
  assert.equal((await call(broker.url, 'POST', `/grants/${grantId}/revoke`, { token: owner })).status, 200);
  await broker.stop('SIGKILL');
  broker = await startBroker({ mock, dataDir });
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  assert.equal(res.status, 401);
  await broker.stop();
});

test('admin-token --reset replaces the owner token at once', async () => {
  const dataDir = tempDir();
  const broker = await startBroker({ mock, dataDir });
  const old = broker.ownerToken;
  // Its output is a pipe, as a service's is: the first token is in a file only this user may read.
  const file = `${dataDir}/owner-token`;
  assert.match(broker.output, new RegExp(`owner token \\(shown once\\) is in \\S*owner-token \\(only this user may read it\\)`));
  assert.ok(!broker.output.includes(old), 'the token itself is not in the output');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await call(broker.url, 'GET', '/grants', { token: old })).status, 200);
  const reset = await run(['admin-token', '--reset', '--data-dir', dataDir]);
  assert.equal(reset.code, 0, reset.stderr);
  const fresh = reset.stdout.match(/new owner token \(shown once, keep it secret\): (\S+)/)[1];
  assert.notEqual(fresh, old);
  assert.equal((await call(broker.url, 'GET', '/grants', { token: old })).status, 401);
  assert.equal((await call(broker.url, 'GET', '/grants', { token: fresh })).status, 200);
  await broker.stop();
  assert.ok(!existsSync(file), 'the first token\'s file went with it');
  // A reset cannot end a token the brokers take from the environment: refused, and nothing changes.
  const refused = await run(['admin-token', '--reset', '--data-dir', dataDir], { AIPASSPORT_ADMIN_TOKEN: 'x'.repeat(30) });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /AIPASSPORT_ADMIN_TOKEN is set: a broker started with it takes that token and no other/);
});

test('AIPASSPORT_ADMIN_TOKEN sets the owner token; a short one is refused at start', async () => {
  const strong = 'owner-token-from-the-environment-0123456789';
  const broker = await startBroker({ mock, env: { AIPASSPORT_ADMIN_TOKEN: strong } });
  assert.ok(!broker.output.includes(strong), 'the token is not echoed');
  assert.equal((await call(broker.url, 'GET', '/grants', { token: strong })).status, 200);
  await broker.stop();
  await assert.rejects(startBroker({ mock, env: { AIPASSPORT_ADMIN_TOKEN: 'short' } }), /too short/);
});

test('upstream down, slow or refusing the broker key: provider errors become 502/504 JSON without secrets', async () => {
  const dead = await startBroker({ mock: { url: 'http://127.0.0.1:9' } });
  const a = await approvedGrant(dead, SCOPES.anthropic);
  const down = await call(dead.url, 'POST', '/proxy/chat', { token: a.token, body: chatBody('claude-sonnet-4-5') });
  assert.equal(down.status, 502);
  assert.equal(down.json.type, 'upstream_error');
  assert.match(down.json.error, /anthropic could not be reached/);
  const usageOf = async (broker, grantId) =>
    (await call(broker.url, 'GET', `/grants/${grantId}/usage`, { token: broker.ownerToken })).json.totals;
  assert.deepEqual(await usageOf(dead, a.grantId).then((t) => [t.requests, t.costMicros]), [0, 0],
    'a call that never reached the provider is given back');
  await dead.stop();

  const slowMock = await startMock(['--latency-ms', '3000']);
  const slow = await startBroker({ mock: slowMock, env: { AIPASSPORT_UPSTREAM_TIMEOUT_SECONDS: '1' } });
  const s = await approvedGrant(slow, SCOPES.openai);
  const timedOut = await call(slow.url, 'POST', '/proxy/chat', { token: s.token, body: chatBody('gpt-4o-mini') });
  assert.equal(timedOut.status, 504);
  assert.equal(timedOut.json.type, 'upstream_timeout');
  // The provider had the call whole, and goes on with it: it is charged its worst case (here the
  // model's 16,384 output tokens at $0.60 a million, and its input), not given back.
  const charged = await usageOf(slow, s.grantId);
  assert.equal(charged.requests, 1);
  assert.ok(charged.costMicros >= Math.ceil(16384 * 0.6), JSON.stringify(charged));
  assert.equal((await call(slow.url, 'GET', '/health')).status, 200, 'the broker stays healthy');
  await slow.stop();
  await slowMock.stop();

  const wrongKeys = { OPENAI_API_KEY: 'sk-wrong-7f3a9c1e5b', CLAUDE_API_KEY: 'wrong-key-4d2b8e', GEMINI_API_KEY: 'wrong-key-9a7c3f' };
  const misconfigured = await startBroker({ mock, env: wrongKeys });
  for (const provider of ['openai', 'anthropic', 'google']) {
    const g = await approvedGrant(misconfigured, SCOPES[provider]);
    const res = await call(misconfigured.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody(SCOPES[provider].models[0]) });
    assert.equal(res.status, 502, `${provider}: ${res.text}`);
    assert.match(res.json.error, new RegExp(`${provider} refused the broker's API key`));
    for (const secret of Object.values(wrongKeys)) assert.ok(!res.text.includes(secret.slice(-6)), 'no part of the key is echoed');
  }
  assert.match(misconfigured.output, /anthropic refused the broker's API key \(HTTP 401\)/, 'the operator sees why');
  assert.ok(!misconfigured.output.includes('sk-wrong'), 'no key in the log');
  await misconfigured.stop();

  // An overloaded provider (OpenAI's and Gemini's 503, Anthropic's 529) says when to try again:
  // the app's 502 carries its Retry-After, native path or the reference's.
  const busyMock = await startMock(['--overloaded-retry-after', '7']);
  const busy = await startBroker({ mock: busyMock });
  const native = { openai: ['/openai/v1/chat/completions', chatBody('gpt-4o-mini')],
    anthropic: ['/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }],
    google: ['/gemini/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }] };
  for (const provider of ['openai', 'anthropic', 'google']) {
    const g = await approvedGrant(busy, SCOPES[provider]);
    for (const [path, body] of [native[provider], ['/proxy/chat', chatBody(SCOPES[provider].models[0])]]) {
      const res = await call(busy.url, 'POST', path, { token: g.token, body });
      assert.equal(res.status, 502, `${provider} ${path}: ${res.text}`);
      assert.equal(res.headers.get('retry-after'), '7', `${provider} ${path}`);
    }
  }
  // A call the provider failed is a request, at no cost (README, Metering): a cap holds against an
  // app whose calls fail upstream, and the grant's usage shows them.
  const capped = await approvedGrant(busy, { ...SCOPES.openai, maxRequests: 2 });
  for (let i = 0; i < 2; i++)
    assert.equal((await call(busy.url, 'POST', '/openai/v1/chat/completions', { token: capped.token, body: chatBody('gpt-4o-mini') })).status, 502);
  const third = await call(busy.url, 'POST', '/openai/v1/chat/completions', { token: capped.token, body: chatBody('gpt-4o-mini') });
  assert.equal(third.status, 429, third.text);
  const usage = (await call(busy.url, 'GET', `/grants/${capped.grantId}/usage`, { token: busy.ownerToken })).json;
  assert.equal(usage.totals.requests, 2);
  assert.equal(usage.totals.costMicros, 0);
  await busy.stop();
  await busyMock.stop();
});

test('provider keys: the reference\'s aliases, blanks ignored; a provider without a key cannot be approved', async () => {
  const aliased = await startBroker({ mock, env: { OPENAI_API_KEY: '   ', OPEN_AI_KEY: ` ${KEYS.openai}\n`, CLAUDE_API_KEY: '', CLAUDE_SECRET_KEY: KEYS.anthropic } });
  for (const provider of ['openai', 'anthropic']) {
    const g = await approvedGrant(aliased, SCOPES[provider]);
    const res = await call(aliased.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody(SCOPES[provider].models[0]) });
    assert.equal(res.status, 200, `${provider}: ${res.text}`);
  }
  await aliased.stop();
  const broker = await startBroker({ mock, env: { GEMINI_API_KEY: '' } });
  assert.match(broker.output, /no environment key for google \(GOOGLE_API_KEY\)/);
  const req = await call(broker.url, 'POST', '/grant-requests', {
    body: { appName: 'E2E App', appUrl: 'https://app.example', reason: 'testing', scope: SCOPES.google },
  });
  const res = await call(broker.url, 'POST', `/grants/${req.json.grant.id}/approve`, { token: broker.ownerToken, body: {} });
  assert.equal(res.status, 503);
  assert.equal(res.json.type, 'key_missing');
  assert.match(res.json.error, /no google key: add one/);
  await broker.stop();
});

test('the mock refuses a wrong key in each provider\'s own error shape', async () => {
  const openai = await call(mock.url, 'POST', '/v1/chat/completions', { token: 'nope', body: chatBody('gpt-4o-mini') });
  assert.equal(openai.status, 401);
  assert.equal(openai.json.error.code, 'invalid_api_key');
  const anthropic = await call(mock.url, 'POST', '/v1/messages', { headers: { 'x-api-key': 'nope', 'anthropic-version': '2023-06-01' }, body: {} });
  assert.equal(anthropic.status, 401);
  assert.deepEqual(anthropic.json.error, { type: 'authentication_error', message: 'invalid x-api-key' });
  assert.equal(anthropic.json.type, 'error');
  assert.match(anthropic.json.request_id, /^req_/);
  const google = await call(mock.url, 'POST', '/v1beta/models/gemini-2.5-flash:generateContent?key=nope', { body: { contents: [] } });
  assert.equal(google.status, 400);
  assert.equal(google.json.error.status, 'INVALID_ARGUMENT');
  const noKey = await call(mock.url, 'POST', '/v1beta/models/gemini-2.5-flash:generateContent', { body: { contents: [] } });
  assert.equal(noKey.status, 403);
  const badBody = await call(mock.url, 'POST', '/v1/messages', { headers: { 'x-api-key': KEYS.anthropic, 'anthropic-version': '2023-06-01' }, body: { model: 'c', messages: [] } });
  assert.equal(badBody.status, 400);
  assert.equal(badBody.json.error.message, 'max_tokens: Field required');
});

test('even the debug log never holds a key, a token or a secret', async () => {
  const broker = await startBroker({ mock, env: { AIPASSPORT_LOG_LEVEL: 'debug' } });
  const { token, requestSecret, grantId } = await approvedGrant(broker, SCOPES.openai);
  await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  await call(broker.url, 'GET', `/tokens/${token}/inspect`);
  await call(broker.url, 'POST', '/proxy/chat', { token: 'not-a-token', body: chatBody('gpt-4o-mini') });
  await call(broker.url, 'POST', `/grants/${grantId}/revoke`, { token: broker.ownerToken });
  await broker.stop();
  const log = broker.output.slice(broker.output.indexOf('\n[') + 1);  // after the start-up banner
  assert.match(log, /POST \/proxy\/chat -> 200/, 'the access log is there');
  assert.match(log, /GET \/tokens\/:token\/inspect -> 200/);
  for (const secret of [token, token.split('.')[2], requestSecret, broker.ownerToken, ...Object.values(KEYS)])
    assert.ok(!log.includes(secret), `log leaks ${secret.slice(0, 8)}...`);
});

test('SIGTERM lets calls in flight finish, then the broker exits 0', async () => {
  const slowMock = await startMock(['--latency-ms', '800']);
  const broker = await startBroker({ mock: slowMock });
  const { token, grantId } = await approvedGrant(broker, SCOPES.openai);
  const inFlight = call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  // Stopped once the call is in flight (the provider holds it 0.8 s).
  await eventually(async () => (await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken })).json
    .requests.inFlight === 1, 'the call in flight', 700);
  const exited = broker.stop('SIGTERM');
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('connection'), 'close', 'the connection is not kept for new calls');
  assert.equal(await exited, 0);
  await slowMock.stop();
});

test('a start that fails (port taken) does not swallow the first owner token', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const dataDir = tempDir();
  const failed = await run(['serve', '--listen', `127.0.0.1:${blocker.address().port}`, '--data-dir', dataDir]);
  blocker.close();
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /cannot listen on .*Address already in use/);
  assert.ok(!failed.stdout.includes('apo_'));
  const broker = await startBroker({ mock, dataDir });
  assert.ok(broker.ownerToken?.startsWith('apo_'), broker.output);
  assert.equal((await call(broker.url, 'GET', '/grants', { token: broker.ownerToken })).status, 200);
  await broker.stop();
});

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

test('a second broker that fails to start (port taken) is not counted as a peer sharing the limits', async () => {
  // Heartbeats every 2 s; a node counts as live for 12 s after its last.
  const env = { AIPASSPORT_NODE_TIMEOUT_SECONDS: '12' };
  const a = await startBroker({ mock, env });
  try {
    const g = await approvedGrant(a, { ...SCOPES.openai, rateLimit: 2 });
    const failed = await run(['serve', '--listen', new URL(a.url).host, '--data-dir', tempDir()],
      { ...env, AIPASSPORT_DATABASE_URL: `sqlite://${a.dataDir}/aipassport.db`, AIPASSPORT_MASTER_KEY_FILE: `${a.dataDir}/master.key`,
        OPENAI_API_KEY: KEYS.openai });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /Address already in use/);
    await sleep(3000);  // a heartbeat of the first broker since, which counts the live nodes
    // Counted as a peer, it would leave the first broker half of the 2 calls a minute.
    for (let i = 0; i < 2; i++) {
      const res = await call(a.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody('gpt-4o-mini') });
      assert.equal(res.status, 200, `call ${i + 1}: ${res.text}`);
    }
  } finally {
    await a.stop();
  }
});

// A raw HTTP/1.1 request on a socket of its own, for an app that leaves or stops reading.
function rawCall(url, path, token, body) {
  const s = net.connect(new URL(url).port, '127.0.0.1');
  s.on('error', () => {});
  const text = JSON.stringify(body);
  s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  return s;
}

test('an app gone while the provider has not answered yet is cancelled upstream at once, and its call charged', async () => {
  const slow = await startMock(['--latency-ms', '8000']);
  const b = await startBroker({ mock: slow });
  try {
    const g = await approvedGrant(b, { ...SCOPES.openai, maxBudgetCents: 100 });
    const s = rawCall(b.url, '/openai/v1/chat/completions', g.token, chatBody('gpt-4o-mini', { max_tokens: 50 }));
    await sleep(300);  // the call is upstream, the provider silent (a model thinking)
    s.destroy();
    // Settled long before the provider would have answered (8 s): the broker noticed the app leave.
    const usage = await eventually(async () => {
      const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
      return u.totals.requests === 1 && u;
    }, 'the call settled before the provider answered', 5000);
    assert.ok(usage.totals.costMicros > 0, 'charged: the provider had the call');
    const activity = await eventually(async () => {
      const a = (await call(b.url, 'GET', `/grants/${g.grantId}/activity`, { token: b.ownerToken })).json;
      return a.items.length === 1 && a;
    }, 'the call recorded');
    assert.equal(activity.items[0].status, 499, JSON.stringify(activity.items[0]));
    await eventually(async () => (await mockStats(slow)).givenUp === 1, 'the provider found its caller gone', 12000);
  } finally {
    await b.stop();
    await slow.stop();
  }
});

// Each lane's provider had written usage before the app stopped reading: none of it is the call's
// closing figure. A declared server's running totals in every chunk (vLLM's continuous_usage_stats),
// and Gemini's usage beside one of several candidates that finished while the others write on.
const HELD_LANES = {
  'OpenAI': { scope: SCOPES.openai, path: '/openai/v1/chat/completions',
    body: chatBody('gpt-4o-mini', { stream: true, max_tokens: 20000 }) },
  'a declared server with running totals': { scope: { provider: 'local', models: ['held-model'], capabilities: ['chat'] },
    path: '/local/v1/chat/completions', body: { ...chatBody('held-model', { stream: true, max_tokens: 20000 }),
      stream_options: { include_usage: true, continuous_usage_stats: true } } },
  'Gemini with two candidates': { scope: { provider: 'google', models: ['gemini-2.0-flash'], capabilities: ['chat'] },
    path: '/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
    body: { contents: [{ role: 'user', parts: [{ text: 'Hello' }] }], generationConfig: { maxOutputTokens: 8000, candidateCount: 2 } } },
};

test('an app that stops reading a stream is charged what the provider could write while it waited', async () => {
  // Pieces of 256 KB: the socket buffers on the way fill while the app does not read, the relay
  // waits on the app, and the provider writes on into buffers the broker cannot count.
  const big = await startMock(['--stream-chunks', '200', '--stream-delay-ms', '5', '--stream-padding-bytes', '262144']);
  const config = join(tempDir(), 'aipassport.toml');
  writeFileSync(config, `[[openai_compatible]]\nname = "local"\nbase_url = "${big.url}"\napi_key_env = "LOCAL_LLM_KEY"\n` +
    '[[prices]]\nprovider = "local"\nmodel = "held-model"\ninput = 1.0\noutput = 1.0\nmax_output_tokens = 20000\n');
  const b = await startBroker({ mock: big, args: ['--config', config], env: { LOCAL_LLM_KEY: KEYS.openai } });
  try {
    for (const [lane, { scope, path, body }] of Object.entries(HELD_LANES)) {
      const g = await approvedGrant(b, { ...scope, maxBudgetCents: 500 });
      const s = rawCall(b.url, path, g.token, body);
      await new Promise((resolve) => s.once('data', resolve));
      s.pause();  // reads nothing more
      await sleep(2500);
      s.destroy();
      const usage = await eventually(async () => {
        const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
        return u.totals.requests === 1 && u;
      }, `${lane}: the stream settled`);
      // At 1,000 tokens a second for the 2.5 s it held the relay, within what was reserved; the
      // events that reached the broker held a few hundred at most.
      assert.ok(usage.totals.outputTokens >= 2000 && usage.totals.outputTokens <= 20000,
        `${lane}: ${usage.totals.outputTokens} output tokens`);
    }
  } finally {
    await b.stop();
    await big.stop();
  }
});

test('a stream ended by an event past the 8 MB bound is charged for that event\'s bytes, within what was reserved', async () => {
  const huge = await startMock(['--stream-chunks', '4', '--stream-padding-bytes', String(9 << 20)]);
  const b = await startBroker({ mock: huge });
  try {
    const g = await approvedGrant(b, { ...SCOPES.openai, maxBudgetCents: 500 });
    const res = await call(b.url, 'POST', '/openai/v1/chat/completions', { token: g.token,
      body: chatBody('gpt-4o-mini', { stream: true, max_tokens: 3000 }) });
    assert.match(res.text, /sent an event over 8 MB/);
    const usage = await eventually(async () => {
      const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
      return u.totals.requests === 1 && u;
    }, 'the stream settled');
    assert.equal(usage.totals.outputTokens, 3000, 'the unfinished event held more than was reserved');
  } finally {
    await b.stop();
    await huge.stop();
  }
});
