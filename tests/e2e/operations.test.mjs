// Operating the broker: Prometheus metrics on their own listener, JSON logs with request ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { approvedGrant, BIN, call, chatBody, eventually, SCOPES, startBroker, startMock, tempDir } from './harness.mjs';

function metricsUrl(broker) {
  const m = broker.output.match(/metrics at (http:\/\/[^\s"]+)/);
  assert.ok(m, `no metrics URL in:\n${broker.output}`);
  return m[1];
}

// The value of one sample line, exactly as named; undefined when absent.
function sample(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('GET /metrics counts known calls exactly, on its own listener', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_METRICS_LISTEN: '127.0.0.1:0' } });
  const g = await approvedGrant(broker, SCOPES.openai);
  let input = 0;
  let output = 0;
  for (let i = 0; i < 2; i++) {
    const r = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
    assert.equal(r.status, 200, r.text);
    input += r.json.usage.prompt_tokens;
    output += r.json.usage.completion_tokens;
  }
  const bad = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: 'nope', body: chatBody('gpt-4o-mini') });
  assert.equal(bad.status, 401);
  const outside = await call(broker.url, 'GET', '/metrics');
  assert.equal(outside.status, 404, 'the API listener does not serve metrics');

  const scrape = await fetch(metricsUrl(broker));
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await scrape.text();
  const labels = 'provider="openai",operation="chat",model="gpt-4o-mini"';
  assert.equal(sample(text, `aipassport_requests_total{${labels},status="200"}`), 2, text);
  assert.equal(sample(text, 'aipassport_requests_total{provider="none",operation="chat",model="",status="401"}'), 1, text);
  assert.equal(sample(text, 'aipassport_refusals_total{reason="unauthorized"}'), 1);
  assert.equal(sample(text, 'aipassport_tokens_total{provider="openai",model="gpt-4o-mini",type="input"}'), input);
  assert.equal(sample(text, 'aipassport_tokens_total{provider="openai",model="gpt-4o-mini",type="output"}'), output);
  assert.ok(sample(text, 'aipassport_cost_usd_total{provider="openai",model="gpt-4o-mini"}') > 0);
  assert.equal(sample(text, `gen_ai_client_operation_duration_seconds_count{${labels}}`), 2);
  assert.equal(sample(text, `gen_ai_client_operation_duration_seconds_bucket{${labels},le="+Inf"}`), 2);
  assert.equal(sample(text, 'aipassport_overhead_seconds_count{provider="openai",operation="chat"}'), 2);
  assert.equal(sample(text, 'aipassport_streams_open'), 0);
  assert.ok(sample(text, 'aipassport_connections_open') >= 0);
  assert.equal(sample(text, 'aipassport_leases_lost_total'), 0);
  assert.ok(sample(text, 'aipassport_store_queue_depth') >= 0);
  assert.ok(!text.includes(g.grantId), 'no per-grant labels');
  assert.ok(!text.includes('E2E App'), 'no app label unless metrics.per_app_labels');
  assert.ok(!text.includes(g.token));

  const stream = await call(broker.url, 'POST', '/openai/v1/chat/completions',
    { token: g.token, body: chatBody('gpt-4o-mini', { stream: true }) });
  assert.equal(stream.status, 200);
  // A stream's figures are counted as it is settled, just after its last byte went out.
  const after = await eventually(async () => {
    const text = await (await fetch(metricsUrl(broker))).text();
    return sample(text, `gen_ai_server_time_to_first_token_seconds_count{${labels}}`) === 1 && text;
  }, 'the stream counted on /metrics', 5000);
  assert.equal(sample(after, `aipassport_requests_total{${labels},status="200"}`), 3);
  assert.equal(sample(after, 'aipassport_streams_open'), 0);
});

const TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

test('gen_ai_client_token_usage, the leases this broker holds and the store\'s heartbeat on /metrics', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_METRICS_LISTEN: '127.0.0.1:0' } });
  const scrape = async () => (await fetch(metricsUrl(broker))).text();
  const startAge = sample(await scrape(), 'aipassport_store_heartbeat_age_seconds');
  assert.ok(startAge >= 0, 'the heartbeat age is there from the start');
  assert.equal(sample(await scrape(), 'aipassport_leases_held_usd'), 0, 'nothing held before any call');
  const g = await approvedGrant(broker, { ...SCOPES.openai, maxBudgetCents: 500, maxRequests: 20 });
  const used = { input: [], output: [] };
  // The long call first: the lease it waits for holds four times its worst case, so the short one
  // finds enough there.
  for (const content of ['A much longer question that takes many more tokens than the second one does, '.repeat(30), 'Hi']) {
    const r = await call(broker.url, 'POST', '/openai/v1/chat/completions', {
      token: g.token, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 200 },
    });
    assert.equal(r.status, 200, r.text);
    used.input.push(r.json.usage.prompt_tokens);
    used.output.push(r.json.usage.completion_tokens);
  }
  assert.ok(Math.max(...used.input) > 4 * Math.min(...used.input), `two sizes of call: ${used.input}`);
  const text = await scrape();
  // The first call found no lease and waited for the store; the second took from that lease.
  assert.match(text, /# TYPE aipassport_lease_wait_seconds histogram/);
  assert.equal(sample(text, 'aipassport_lease_wait_seconds_count'), 1);
  assert.equal(sample(text, 'aipassport_lease_wait_seconds_bucket{le="+Inf"}'), 1);
  const labels = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"';
  assert.match(text, /# TYPE gen_ai_client_token_usage histogram/);
  for (const type of ['input', 'output']) {
    const series = `${labels},gen_ai_token_type="${type}"`;
    for (const bound of TOKEN_BOUNDS)
      assert.equal(sample(text, `gen_ai_client_token_usage_bucket{${series},le="${bound}"}`),
        used[type].filter((n) => n <= bound).length, `${type} calls of at most ${bound} tokens`);
    assert.equal(sample(text, `gen_ai_client_token_usage_bucket{${series},le="+Inf"}`), 2);
    assert.equal(sample(text, `gen_ai_client_token_usage_count{${series}}`), 2);
    assert.equal(sample(text, `gen_ai_client_token_usage_sum{${series}}`), used[type][0] + used[type][1]);
    assert.equal(sample(text, `aipassport_tokens_total{provider="openai",model="gpt-4o-mini",type="${type}"}`),
      used[type][0] + used[type][1], 'the counter and the histogram agree');
  }
  // What this broker holds is what the store counts as leased (one broker): compared once the
  // calls' usage is written.
  const deadline = Date.now() + 5000;
  for (;;) {
    const { budget, requests } = (await call(broker.url, 'GET', `/grants/${g.grantId}`, { token: broker.ownerToken })).json;
    const now = await scrape();
    const heldUsd = sample(now, 'aipassport_leases_held_usd');
    const heldRequests = sample(now, 'aipassport_leases_held_requests');
    if (Math.abs(heldUsd - budget.leasedMicros / 1e6) < 1e-9 && heldRequests === requests.leased) {
      assert.ok(heldUsd > 0 && heldRequests > 0, `a slice is held for the next calls: ${heldUsd} ${heldRequests}`);
      assert.ok(heldRequests <= 20 - 2);
      break;
    }
    assert.ok(Date.now() < deadline, `held ${heldUsd} / ${heldRequests}, leased ${budget.leasedMicros} / ${requests.leased}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The store records a heartbeat every 5 s: the age falls back when it does.
  let before = sample(await scrape(), 'aipassport_store_heartbeat_age_seconds');
  const beatBy = Date.now() + 8000;
  for (;;) {
    const age = sample(await scrape(), 'aipassport_store_heartbeat_age_seconds');
    if (age < before) break;
    before = age;
    assert.ok(Date.now() < beatBy, `no heartbeat recorded: ${age} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(sample(await scrape(), 'aipassport_store_errors_total{task="heartbeat"}'), undefined, 'no failed heartbeat');
});

test('metrics are refused on an address other than loopback unless metrics.allow_remote says so', async () => {
  for (const address of ['0.0.0.0:0', '[::]:0']) {
    // A broker that started anyway would run on: it is stopped after 10 s and the test fails.
    const started = await new Promise((resolve) => {
      execFile(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()],
        { env: { PATH: process.env.PATH, AIPASSPORT_METRICS_LISTEN: address }, timeout: 10000 },
        (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
    });
    assert.equal(started.code, 2, `${address}: ${started.stdout}${started.stderr}`);
    const said = started.stdout + started.stderr;
    assert.match(said, /metrics\.listen/);
    assert.match(said, /metrics\.allow_remote = true/);
    assert.doesNotMatch(said, /listening on|metrics at/, 'nothing was served');
  }
});

test('metrics are off unless asked for', async () => {
  const broker = await startBroker();
  assert.ok(!/metrics at/.test(broker.output));
});

test('log_format = "json": every line is a JSON object; one line per request under its x-request-id', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_LOG_FORMAT: 'json' } });
  const g = await approvedGrant(broker, SCOPES.openai);
  const r = await call(broker.url, 'POST', '/openai/v1/chat/completions', {
    token: g.token, body: chatBody('gpt-4o-mini'), headers: { 'x-request-id': 'forged-by-the-client' },
  });
  assert.equal(r.status, 200);
  const id = r.headers.get('x-aipassport-request-id');
  assert.match(id, /^[A-Za-z0-9_-]{16}$/, 'the broker makes its own id; a client one is not taken');
  assert.match(r.headers.get('x-request-id'), /^req_/, "the provider's own request id is passed on");
  const own = await call(broker.url, 'GET', '/grants', { token: broker.ownerToken, headers: { 'x-request-id': 'forged-by-the-client' } });
  assert.equal(own.headers.get('x-request-id'), own.headers.get('x-aipassport-request-id'),
    "x-request-id is the broker's own when the provider sent none");
  const ids = new Set([id, own.headers.get('x-aipassport-request-id')]);
  for (let i = 0; i < 50; i++) ids.add((await call(broker.url, 'GET', '/health')).headers.get('x-aipassport-request-id'));
  assert.equal(ids.size, 52, 'every request has an id of its own');
  const inspect = await call(broker.url, 'GET', `/tokens/${g.token}/inspect`);
  assert.ok(inspect.status < 500);
  // The reference's routes called with the grant's token name the grant too.
  const reference = await call(broker.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(reference.status, 200, reference.text);
  const refused = await call(broker.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody('gpt-4o') });
  assert.equal(refused.status, 403, refused.text);
  const passport = await call(broker.url, 'GET', '/v1/passport', { token: g.token });
  assert.equal(passport.status, 200);
  await new Promise((res) => setTimeout(res, 200));
  await broker.stop();
  const lines = broker.output.split('\n').filter((l) => l.length > 0);
  const parsed = lines.map((l) => {
    try { return JSON.parse(l); } catch { assert.fail(`not JSON: ${l}`); }
  });
  assert.ok(parsed.some((p) => /listening on/.test(p.msg)), 'start-up lines are JSON too');
  for (const p of parsed) {
    assert.equal(typeof p.time, 'string');
    assert.equal(typeof p.level, 'string');
  }
  const mine = parsed.filter((p) => p.request_id === id);
  assert.equal(mine.length, 1, 'exactly one line for the request');
  const line = mine[0];
  assert.equal(line.route, '/openai/v1/chat/completions');
  assert.equal(line.grant_id, g.grantId);
  assert.equal(line.status, 200);
  assert.equal(typeof line.duration_ms, 'number');
  assert.equal(typeof line.upstream_ms, 'number');
  assert.ok(line.upstream_ms <= line.duration_ms);
  for (const [r, what] of [[reference, 'a /proxy/chat call'], [refused, 'a refused /proxy/chat call'], [passport, 'GET /v1/passport']]) {
    const logged = parsed.filter((p) => p.request_id === r.headers.get('x-aipassport-request-id'));
    assert.equal(logged.length, 1, `one line for ${what}`);
    assert.equal(logged[0].grant_id, g.grantId, `${what} is logged with its grant`);
    assert.equal(logged[0].status, r.status);
  }
  const referenceLine = parsed.find((p) => p.request_id === reference.headers.get('x-aipassport-request-id'));
  assert.equal(referenceLine.route, '/proxy/chat');
  assert.equal(typeof referenceLine.upstream_ms, 'number');
  const inspectLine = parsed.find((p) => p.route === '/tokens/:token/inspect');
  assert.ok(inspectLine, 'the inspect call is logged by its route');
  assert.ok(!broker.output.includes(g.token), 'no app token in any log line');
  assert.ok(!broker.output.includes('forged'), 'a client request id is not logged');
  assert.ok(!broker.output.includes('test-openai-key'), 'no provider key');
});

test('text logs say one line per request at info, with the same fields', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock });
  const g = await approvedGrant(broker, SCOPES.openai);
  const r = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  const id = r.headers.get('x-aipassport-request-id');
  await new Promise((res) => setTimeout(res, 200));
  const lines = broker.output.split('\n').filter((l) => l.includes(`request_id=${id}`));
  assert.equal(lines.length, 1, broker.output);
  assert.match(lines[0], new RegExp(`POST /openai/v1/chat/completions -> 200 in \\d+ ms \\(upstream \\d+ ms\\) grant=${g.grantId}`));
});
