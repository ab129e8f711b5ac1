// Every bad input gets a 4xx with a JSON body naming the problem: the reference's own validation
// cases, the owner credential, the request secret, scope checks, and protocol-level abuse.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMock, startBroker, call, approvedGrant, chatBody, mockStats, SCOPES, databaseUrlFor, tempDir } from './harness.mjs';

let mock, broker;
before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock, env: { AIPASSPORT_BODY_LIMIT_BYTES: '65536' } });
});

const goodRequest = () => ({ appName: 'App', appUrl: 'https://app.example', reason: 'r', scope: { ...SCOPES.openai } });

function fieldErrors(res) {
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error, 'Validation failed');
  return res.json.details.fieldErrors;
}

test('grant requests: missing appName, bad appUrl, unknown provider, bad limits', async () => {
  const missingName = goodRequest();
  delete missingName.appName;
  assert.ok('appName' in fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: missingName })));

  for (const appUrl of ['not a url', 'ftp://x.example', 'javascript:alert(1)', 42]) {
    const bad = { ...goodRequest(), appUrl };
    assert.ok('appUrl' in fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: bad })), String(appUrl));
  }
  const provider = goodRequest();
  provider.scope.provider = 'cohere';
  assert.ok('scope.provider' in fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: provider })));

  const noScope = goodRequest();
  delete noScope.scope;
  assert.ok('scope' in fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: noScope })));

  const capability = goodRequest();
  capability.scope.capabilities = ['teleport'];
  assert.ok('scope.capabilities' in fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: capability })));

  const limits = goodRequest();
  limits.scope.maxRequests = -1;
  limits.scope.rateLimit = 'fast';
  const errors = fieldErrors(await call(broker.url, 'POST', '/grant-requests', { body: limits }));
  assert.ok('scope.maxRequests' in errors && 'scope.rateLimit' in errors);
});

test('malformed JSON and wrong body types answer 400 JSON', async () => {
  const broken = await call(broker.url, 'POST', '/grant-requests', { raw: '{"appName":', headers: { 'content-type': 'application/json' } });
  assert.equal(broken.status, 400);
  assert.equal(broken.json.type, 'invalid_request');
  const array = await call(broker.url, 'POST', '/grant-requests', { body: [1, 2] });
  assert.equal(array.status, 400);
  const tokens = await call(broker.url, 'POST', '/tokens', { body: { grantId: 12 } });
  assert.ok('grantId' in fieldErrors(tokens));
});

test('owner endpoints need the owner token', async () => {
  const req = await call(broker.url, 'POST', '/grant-requests', { body: goodRequest() });
  const id = req.json.grant.id;
  const attempts = [['GET', '/grants'], ['GET', `/grants/${id}`], ['POST', `/grants/${id}/approve`], ['POST', `/grants/${id}/deny`], ['POST', `/grants/${id}/revoke`]];
  for (const [method, path] of attempts) {
    for (const token of [undefined, 'wrong-token', req.json.requestSecret]) {
      const res = await call(broker.url, method, path, { token });
      assert.equal(res.status, 401, `${method} ${path} with ${token}`);
      assert.equal(res.json.type, 'unauthorized');
    }
  }
  const basic = await call(broker.url, 'GET', '/grants', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
  assert.equal(basic.status, 401);
  const grant = await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken });
  assert.equal(grant.json.status, 'pending', 'the refused calls changed nothing');
});

test('POST /tokens needs the right request secret; unknown grants are 404', async () => {
  const req = await call(broker.url, 'POST', '/grant-requests', { body: goodRequest() });
  const grantId = req.json.grant.id;
  await call(broker.url, 'POST', `/grants/${grantId}/approve`, { token: broker.ownerToken });
  const none = await call(broker.url, 'POST', '/tokens', { body: { grantId } });
  assert.equal(none.status, 401);
  const secret = req.json.requestSecret;
  const wrong = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A') } });
  assert.equal(wrong.status, 401);
  const unknown = await call(broker.url, 'POST', '/tokens', { body: { grantId: '00000000-0000-4000-8000-000000000000', requestSecret: 'x' } });
  assert.equal(unknown.status, 404);
  const unknownApprove = await call(broker.url, 'POST', '/grants/00000000-0000-4000-8000-000000000000/approve', { token: broker.ownerToken });
  assert.equal(unknownApprove.status, 404);
  const right = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
  assert.equal(right.status, 201);
});

test('proxy: missing model or messages, malformed Authorization header, bad tokens', async () => {
  const { token } = await approvedGrant(broker, SCOPES.openai);
  assert.ok('model' in fieldErrors(await call(broker.url, 'POST', '/proxy/chat', { token, body: { messages: [{ role: 'user', content: 'x' }] } })));
  assert.ok('messages' in fieldErrors(await call(broker.url, 'POST', '/proxy/chat', { token, body: { model: 'gpt-4o-mini' } })));
  assert.ok('messages' in fieldErrors(await call(broker.url, 'POST', '/proxy/chat', { token, body: { model: 'gpt-4o-mini', messages: 'hi' } })));

  for (const authorization of [undefined, 'Token abc', 'Bearer', `Basic ${token}`, `Bearer ${token} extra`]) {
    const headers = authorization ? { authorization } : {};
    const res = await call(broker.url, 'POST', '/proxy/chat', { headers, body: chatBody('gpt-4o-mini') });
    assert.equal(res.status, 401, String(authorization));
    assert.match(res.json.error, /Authorization/);
  }
  const [h, p, s] = token.split('.');
  const tampered = `${h}.${p.slice(0, -2)}${p.slice(-2) === 'AA' ? 'BB' : 'AA'}.${s}`;
  for (const bad of ['garbage', tampered, `${h}.${p}.`, `eyJhbGciOiJub25lIn0.${p}.`]) {
    const res = await call(broker.url, 'POST', '/proxy/chat', { token: bad, body: chatBody('gpt-4o-mini') });
    assert.equal(res.status, 401, bad);
    assert.match(res.json.error, /token/i);
  }
});

test('proxy: a model or capability outside the grant is 403 naming what is allowed, and never reaches upstream', async () => {
  const { token } = await approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-mini', 'gpt-4.1'], capabilities: ['chat'] });
  const before = (await mockStats(mock)).requests.openai;
  const model = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-5') });
  assert.equal(model.status, 403);
  assert.match(model.json.error, /gpt-5/);
  assert.match(model.json.error, /gpt-4o-mini and gpt-4\.1/);

  const embeddingsOnly = await approvedGrant(broker, { provider: 'openai', models: ['text-embedding-3-small'], capabilities: ['embeddings'] });
  const capability = await call(broker.url, 'POST', '/proxy/chat', { token: embeddingsOnly.token, body: chatBody('text-embedding-3-small') });
  assert.equal(capability.status, 403);
  assert.match(capability.json.error, /does not allow chat; it allows embeddings/);
  assert.equal((await mockStats(mock)).requests.openai, before);
});

test('proxy: a Gemini model named models/... is scoped, priced and recorded as the model it reaches', async () => {
  const { grantId, token } = await approvedGrant(broker, { ...SCOPES.google, maxBudgetCents: 100 });
  const before = (await mockStats(mock)).requests.google;
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('models/gemini-2.5-flash') });
  assert.equal(res.status, 200, res.text);
  assert.equal((await mockStats(mock)).requests.google, before + 1);
  const grant = await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken });
  assert.ok(grant.json.budget.spentMicros > 0, 'the call is priced as gemini-2.5-flash, not free: ' + grant.text);
  // Only one prefix goes: what is left must still be a plain model id.
  const twice = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('models/models/gemini-2.5-flash') });
  assert.equal(twice.status, 403, twice.text);
  assert.equal((await mockStats(mock)).requests.google, before + 1);
});

test('proxy: streaming is refused clearly on the reference path', async () => {
  const { token } = await approvedGrant(broker, SCOPES.openai);
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini', { stream: true }) });
  assert.equal(res.status, 400);
  assert.match(res.json.error, /Streaming/);
});

test('the whole body reaches OpenAI unchanged, not only model and messages', async () => {
  const { token } = await approvedGrant(broker, SCOPES.openai);
  const body = chatBody('gpt-4o-mini', { max_tokens: 3, temperature: 0.1, seed: 42, response_format: { type: 'text' } });
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body });
  assert.equal(res.status, 200);
  assert.equal(res.json.choices[0].finish_reason, 'length', 'max_tokens reached the emulation');
});

test('proxy: a member the broker reads, given twice, is refused as on the native path and never reaches upstream', async () => {
  // OpenAI reads the last of two: a broker that reserved for the first would meter another call.
  const { token } = await approvedGrant(broker, SCOPES.openai);
  const before = (await mockStats(mock)).requests.openai;
  const message = '"messages":[{"role":"user","content":"x"}]';
  const bodies = [
    [`{"model":"gpt-4o-mini",${message},"max_tokens":1,"max_tokens":100000}`, 'max_tokens'],
    [`{"model":"gpt-4o-mini",${message},"n":1,"n":128}`, 'n'],
    [`{"model":"gpt-4.1","model":"gpt-4o-mini",${message}}`, 'model'],
  ];
  for (const [raw, member] of bodies)
    for (const path of ['/proxy/chat', '/openai/v1/chat/completions']) {
      const res = await call(broker.url, 'POST', path, { token, raw });
      assert.equal(res.status, 400, `${path} ${raw}`);
      assert.ok(res.text.includes(`'${member}' is given twice`), `${path}: ${res.text}`);
    }
  assert.equal((await mockStats(mock)).requests.openai, before);
  // A member no policy reads may repeat: the provider judges it.
  const ok = await call(broker.url, 'POST', '/proxy/chat', { token, raw: `{"model":"gpt-4o-mini",${message},"seed":1,"seed":2}` });
  assert.equal(ok.status, 200, ok.text);
});

test('a stream whose tools is not an array beside its own stream_options is passed on, not looped over', async () => {
  // The broker once walked such a tools value as an array while adding include_usage: the I/O
  // thread allocated without end, one request enough to take the broker down.
  const { token } = await approvedGrant(broker, SCOPES.openai);
  for (const tools of ['"b"', '7', '{"a":[]}'])
    for (const path of ['/proxy/chat', '/openai/v1/chat/completions']) {
      const raw = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"tools":${tools},"stream":true,"stream_options":{}}`;
      const res = await call(broker.url, 'POST', path, { token, raw });
      assert.ok(res.status < 500, `${path} ${raw}: ${res.status} ${res.text}`);
    }
  assert.equal((await call(broker.url, 'GET', '/health')).status, 200);
});

test('Anthropic rejects parameters it does not know, as the real API does, and the app sees its error', async () => {
  const { token } = await approvedGrant(broker, SCOPES.anthropic);
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('claude-sonnet-4-5', { logit_bias: {} }) });
  assert.equal(res.status, 400);
  assert.equal(res.json.type, 'error');
  assert.match(res.json.error.message, /logit_bias: Extra inputs are not permitted/);
});

test('bodies over the limit are 413, unknown paths 404, wrong methods 405, all JSON', async () => {
  const big = await call(broker.url, 'POST', '/grant-requests', { raw: JSON.stringify({ appName: 'x'.repeat(70000) }) });
  assert.equal(big.status, 413);
  assert.equal(big.json.type, 'payload_too_large');
  const missing = await call(broker.url, 'GET', '/no/such/path');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.type, 'not_found');
  const method = await call(broker.url, 'DELETE', '/grants');
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'GET');
  const method2 = await call(broker.url, 'GET', '/proxy/chat');
  assert.equal(method2.status, 405);
  assert.equal(method2.json.type, 'method_not_allowed');
});

test('HEAD /health and /ready answer as GET does without the body; an answer to HEAD is a head alone', async () => {
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(broker.url).port, '127.0.0.1', () =>
      s.write(['HEAD /health', 'HEAD /ready', 'HEAD /grants'].map((line) => `${line} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') +
        'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  // Each answer is a head and nothing after it but the next answer; the GET's body comes last.
  const answers = answer.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 4, answer);
  const [health, ready, grants, get] = answers;
  const getBody = get.slice(get.indexOf('\r\n\r\n') + 4);
  assert.match(getBody, /^\{"status":"ok"/, answer);
  assert.match(health, /^HTTP\/1\.1 200 /, answer);
  assert.match(health, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(getBody)}\\r\\n`, 'i'), 'the length its body would have had');
  assert.match(ready, /^HTTP\/1\.1 200 /, answer);
  assert.match(grants, /^HTTP\/1\.1 405 /, answer);
  for (const head of [health, ready, grants]) assert.ok(head.endsWith('\r\n\r\n'), `a head alone: ${JSON.stringify(head)}`);
});

test('a stream to an HTTP/1.0 client comes without chunks and ends with the connection', async () => {
  const { token, grantId } = await approvedGrant(broker, SCOPES.openai);
  const body = JSON.stringify(chatBody('gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }));
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(broker.url).port, '127.0.0.1', () =>
      s.write(`POST /openai/v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
        `Connection: keep-alive\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  const split = answer.indexOf('\r\n\r\n');
  const [head, events] = [answer.slice(0, split), answer.slice(split + 4)];
  assert.match(head, /^HTTP\/1\.0 200 /, answer);
  assert.doesNotMatch(head, /transfer-encoding|content-length|connection: keep-alive/i, head);
  assert.match(events, /^data: \{/, answer);
  assert.match(events, /"usage":\{"prompt_tokens"/, 'the last event carries the usage');
  assert.ok(events.endsWith('data: [DONE]\n\n'), JSON.stringify(events.slice(-40)));
  assert.doesNotMatch(events, /^[0-9a-f]+\r$/m, 'no chunk size lines');
  const grant = await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken });
  assert.equal(grant.json.usageCount, 1, grant.text);
});

test('a list field sent on several lines reaches the provider whole, as the broker checked it', async () => {
  const { token } = await approvedGrant(broker, SCOPES.anthropic);
  const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(broker.url).port, '127.0.0.1', () =>
      s.write(`POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
        'Content-Type: application/json\r\nanthropic-version: 2023-06-01\r\nanthropic-version: 2099-01-01\r\n' +
        'anthropic-beta: prompt-caching-2024-07-31\r\nanthropic-beta: token-efficient-tools-2025-02-19\r\n' +
        `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 200 /, answer);
  const seen = Object.fromEntries(Object.entries((await mockStats(mock)).lastHeaders.anthropic).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(seen['anthropic-beta'], 'prompt-caching-2024-07-31, token-efficient-tools-2025-02-19');
  assert.equal(seen['anthropic-version'], '2023-06-01', 'a field of one value: the first');
});

// An API version may change what a call's members mean: only those the broker reads go on.
test('an anthropic-version the broker has not read is refused before it reaches Anthropic', async () => {
  const { token } = await approvedGrant(broker, SCOPES.anthropic);
  const body = { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
  const before = (await mockStats(mock)).requests.anthropic;
  const refused = await call(broker.url, 'POST', '/anthropic/v1/messages', { token, body, headers: { 'anthropic-version': '2099-01-01' } });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(refused.json.type, 'error', 'in Anthropic\'s shape');
  assert.match(refused.json.error.message, /anthropic-version '2099-01-01' is not relayed/);
  assert.equal((await mockStats(mock)).requests.anthropic, before, 'nothing reached the provider');
  for (const version of ['2023-06-01', '2026-10-21']) {
    const sent = await call(broker.url, 'POST', '/anthropic/v1/messages', { token, body, headers: { 'anthropic-version': version } });
    assert.equal(sent.status, 200, `${version}: ${sent.text}`);
    const seen = Object.fromEntries(Object.entries((await mockStats(mock)).lastHeaders.anthropic).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(seen['anthropic-version'], version);
  }
});

// anthropic-beta's flags are checked only on Anthropic's wire: elsewhere (a declared gateway in
// front of Claude would pass them on) a flag such as the 1M context window's would go unchecked.
test('a provider\'s own fields reach that provider only', async () => {
  const openai = await approvedGrant(broker, SCOPES.openai);
  const headers = { 'anthropic-beta': 'context-1m-2025-08-07', 'anthropic-version': '2023-06-01', 'openai-beta': 'assistants=v2' };
  const res = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: openai.token, body: chatBody('gpt-4o-mini'), headers });
  assert.equal(res.status, 200, res.text);
  const lower = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
  const toOpenAI = lower((await mockStats(mock)).lastHeaders.openai);
  assert.equal(toOpenAI['openai-beta'], 'assistants=v2');
  assert.equal(toOpenAI['anthropic-beta'], undefined, JSON.stringify(toOpenAI));
  assert.equal(toOpenAI['anthropic-version'], undefined, JSON.stringify(toOpenAI));
  const anthropic = await approvedGrant(broker, SCOPES.anthropic);
  const body = { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
  const sent = await call(broker.url, 'POST', '/anthropic/v1/messages', { token: anthropic.token, body, headers: { 'openai-beta': 'assistants=v2' } });
  assert.equal(sent.status, 200, sent.text);
  const toAnthropic = lower((await mockStats(mock)).lastHeaders.anthropic);
  assert.equal(toAnthropic['openai-beta'], undefined, JSON.stringify(toAnthropic));
});

// Google's frontends answer in protobuf when asked: the usage the broker reads would not be there.
test('the app\'s Accept does not reach the provider: the answer comes in the form the broker meters', async () => {
  const { token } = await approvedGrant(broker, SCOPES.google);
  const res = await call(broker.url, 'POST', '/gemini/v1beta/models/gemini-2.5-flash:generateContent', {
    token, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
    headers: { accept: 'application/x-protobuf' },
  });
  assert.equal(res.status, 200, res.text);
  const seen = Object.fromEntries(Object.entries((await mockStats(mock)).lastHeaders.google).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(seen['x-goog-api-key'], 'test-google-key', 'the call reached the emulation');
  assert.equal(seen.accept, undefined, JSON.stringify(seen));
});

test('garbage on the socket gets 400 and the broker stays healthy', async () => {
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(broker.url).port, '127.0.0.1', () => s.write('GARBAGE\r\n\r\n'));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400/);
  assert.match(answer, /"type":"invalid_request"/);
  assert.equal((await call(broker.url, 'GET', '/health')).status, 200);
});

test('random bodies on every endpoint never yield a 5xx or a crash', async () => {
  const { token, grantId } = await approvedGrant(broker, { ...SCOPES.google });
  const samples = ['', 'null', '[]', '{}', '"x"', '1e999', '{"a":', '\u0000', '{"model":{"$gt":1}}', '{"messages":[null]}',
    '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":{"x":1}}]}', '{"scope":{"provider":["openai"]}}',
    '{"model":"gemini-2.5-flash","messages":[{"role":"system","content":["bare",7]},{"role":"user","content":"x"}]}',
    '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}],"temperature":0e999}',
    '{"appName":"\ud800","appUrl":"https://x"}', '{"expiresInSeconds":1e30}', '{"expiresInSeconds":-5}', '{"grantId":null}'];
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 40; i++) samples.push(Array.from({ length: 1 + Math.floor(rand() * 80) }, () => String.fromCharCode(Math.floor(rand() * 128))).join(''));
  const targets = [['POST', '/grant-requests'], ['POST', '/tokens'], ['POST', '/proxy/chat'], ['POST', `/grants/${grantId}/approve`], ['POST', `/grants/${grantId}/deny`]];
  for (const raw of samples)
    for (const [method, path] of targets) {
      const res = await call(broker.url, method, path, { raw, token: path === '/proxy/chat' ? token : broker.ownerToken });
      assert.ok(res.status < 500, `${method} ${path} ${JSON.stringify(raw)} -> ${res.status} ${res.text}`);
      assert.ok(res.json && (res.json.error || res.json.id || res.json.status || res.json.candidates), `${path}: ${res.text}`);
    }
  assert.equal((await call(broker.url, 'GET', '/health')).status, 200);
});

test('random bytes on the socket never take the broker down', async () => {
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const prefixes = ['', 'GET / HTTP/1.1\r\n', 'POST /proxy/chat HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n',
    'POST /tokens HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'GET /health HTTP/1.1\r\nHost: x\r\n' + 'X: y\r\n'.repeat(5000)];
  for (let i = 0; i < 60; i++) {
    const junk = Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
    const payload = Buffer.concat([Buffer.from(prefixes[i % prefixes.length]), junk, Buffer.from('\r\n\r\n')]);
    await new Promise((resolve) => {
      const s = net.connect(new URL(broker.url).port, '127.0.0.1', () => s.end(payload));
      s.on('data', () => {});
      s.on('close', resolve);
      s.on('error', resolve);
      s.setTimeout(2000, () => s.destroy());
    });
  }
  const health = await call(broker.url, 'GET', '/health');
  assert.equal(health.status, 200);
});

// PostgreSQL's text cannot hold a NUL character: text that holds one is refused, naming the field,
// rather than failing the store's write with a 500.
test('on PostgreSQL, a request whose text holds a NUL character is a 400 naming the field, not a 500', async () => {
  const dataDir = tempDir();
  const pg = await startBroker({ mock, dataDir, env: { AIPASSPORT_DATABASE_URL: databaseUrlFor(dataDir) } });
  try {
    const scope = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] };
    for (const [field, body] of [
      ['appName', { appName: 'a\u0000b', appUrl: 'https://app.example', scope }],
      ['reason', { appName: 'notes', appUrl: 'https://app.example', reason: 'x\u0000', scope }],
    ]) {
      const r = await call(pg.url, 'POST', '/grant-requests', { body });
      assert.equal(r.status, 400, `${field}: ${r.text}`);
      assert.match(r.text, new RegExp(`${field}[^}]*without a NUL`), r.text);
    }
    const fine = await call(pg.url, 'POST', '/grant-requests', { body: { appName: 'notes', appUrl: 'https://app.example', scope } });
    assert.equal(fine.status, 201, fine.text);
  } finally {
    await pg.stop();
  }
});
