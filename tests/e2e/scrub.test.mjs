// A provider that quotes the key it was given, whole or in part, in an error, an answer, a stream
// or a header: the app never sees any run of 8 of the key's characters, on any provider path, and
// the broker logs a warning that names the provider and not the key.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { approvedGrant, call, chatBody, mockStats, startBroker, startMock, tempDir } from './harness.mjs';

const secret = (prefix) => prefix + randomBytes(30).toString('base64url');
const KEYS = {
  openai: secret('sk-proj-'),
  anthropic: secret('sk-ant-api03-'),
  google: secret('AIzaSy'),
  local: secret('sk-local-'),
};
const ALL = Object.values(KEYS);

// The prefixes providers print in the clear, as the broker knows them: not key material.
const PUBLIC = ['sk-proj-', 'sk-ant-api03-', 'AIza', 'sk-'];
const publicPrefix = (key) => PUBLIC.find((p) => key.startsWith(p)) ?? '';

// Every run of 8 characters of `key`'s secret (after its public prefix) found in `text`.
function runsOf(key, text) {
  const found = [];
  for (let i = publicPrefix(key).length; i + 8 <= key.length; i++) {
    if (text.includes(key.slice(i, i + 8))) found.push(key.slice(i, i + 8));
  }
  return found;
}

function assertNoKey(text, where) {
  for (const key of ALL) assert.deepEqual(runsOf(key, text), [], `${where} carries key material: ${text.slice(0, 400)}`);
}

// What the app got: body and every header, checked for key material; the masked form a provider
// may show (3 + 4 characters) is left as it was, so scrubbing takes no more than it must.
function assertScrubbed(res, key, where) {
  assertNoKey(res.text, `${where} body`);
  for (const [name, value] of res.headers) assertNoKey(value, `${where} header ${name}`);
  assert.match(res.text, /\[redacted\]/, `${where}: ${res.text.slice(0, 300)}`);
  assert.ok(res.text.includes(`masked ${key.slice(0, 3)}...${key.slice(-4)}`), `${where} kept the masked form`);
}

let mock, broker;
// A grant whose answers quoted its key three times is revoked (an app could otherwise guess the key
// run by run), so every quoting call here gets a grant of its own.
const quoting = (provider) => approvedGrant(broker, { provider, models: ['quote-key*'], capabilities: ['chat'] }).then((g) => g.token);
before(async () => {
  mock = await startMock(ALL.flatMap((k) => ['--accept-key', k]));
  const dir = tempDir();
  const config = join(dir, 'aipassport.toml');
  writeFileSync(config, `[[openai_compatible]]\nname = "local"\nbase_url = "${mock.url}"\napi_key_env = "LOCAL_LLM_KEY"\n`);
  broker = await startBroker({
    mock, args: ['--config', config],
    env: { OPENAI_API_KEY: KEYS.openai, CLAUDE_API_KEY: KEYS.anthropic, GEMINI_API_KEY: KEYS.google, LOCAL_LLM_KEY: KEYS.local },
  });
});

// Each native path, as its SDK calls it, with the body for `model` streamed or not.
const NATIVE = {
  'OpenAI chat completions': { provider: 'openai', path: () => '/openai/v1/chat/completions',
    body: (model, stream) => chatBody(model, { stream }) },
  'OpenAI responses': { provider: 'openai', path: () => '/openai/v1/responses',
    body: (model, stream) => ({ model, input: 'Hello there', stream }) },
  'Anthropic messages': { provider: 'anthropic', path: () => '/anthropic/v1/messages',
    body: (model, stream) => ({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'Hello' }] }),
    headers: { 'anthropic-version': '2023-06-01' } },
  'Gemini generateContent / streamGenerateContent': { provider: 'google',
    path: (model, stream) => `/gemini/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    body: () => ({ contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] }) },
  'a declared OpenAI-compatible upstream': { provider: 'local', path: () => '/local/v1/chat/completions',
    body: (model, stream) => chatBody(model, { stream }) },
};

// The provider's fields about the broker's account (its organization, its key's limits) stay with
// the broker: the emulation sends them on every answer, as OpenAI and Anthropic do. The grant has no
// rate limit, so no x-ratelimit-* field is the broker's own either.
function assertNoAccountFields(res, where) {
  for (const field of ['openai-organization', 'openai-processing-ms', 'openai-version', 'x-ratelimit-limit-requests',
    'x-ratelimit-remaining-tokens', 'anthropic-organization-id', 'anthropic-ratelimit-requests-limit',
    'anthropic-ratelimit-tokens-remaining']) {
    assert.equal(res.headers.get(field), null, `${where}: the provider's ${field} reached the app`);
  }
}

test('the emulation sends the account fields the checks above keep from the app', async () => {
  for (const stream of [false, true]) {
    const openai = await call(mock.url, 'POST', '/v1/chat/completions', { token: KEYS.openai, body: chatBody('gpt-4o-mini', { stream }) });
    assert.equal(openai.status, 200, openai.text);
    assert.equal(openai.headers.get('openai-organization'), 'user-mock');
    assert.equal(openai.headers.get('x-ratelimit-limit-requests'), '10000');
    const anthropic = await call(mock.url, 'POST', '/v1/messages', {
      body: { model: 'claude-sonnet-4-5', max_tokens: 16, stream, messages: [{ role: 'user', content: 'Hello' }] },
      headers: { 'x-api-key': KEYS.anthropic, 'anthropic-version': '2023-06-01' },
    });
    assert.equal(anthropic.status, 200, anthropic.text);
    assert.equal(anthropic.headers.get('anthropic-ratelimit-requests-limit'), '4000');
    assert.ok(anthropic.headers.get('anthropic-organization-id'));
  }
});

for (const [name, ep] of Object.entries(NATIVE)) {
  test(`${name}: a provider quoting its key in answers, errors and streams never shows the app the key`, async () => {
    const key = KEYS[ep.provider];
    for (const stream of [false, true]) {
      for (const model of ['quote-key', 'quote-key-error']) {
        const where = `${name} ${model}${stream ? ' streamed' : ''}`;
        const res = await call(broker.url, 'POST', ep.path(model, stream), {
          token: await quoting(ep.provider), body: ep.body(model, stream), headers: ep.headers,
        });
        const expected = model === 'quote-key-error' && !stream ? 400 : 200;
        assert.equal(res.status, expected, `${where}: ${res.text}`);
        if (stream) assert.match(res.headers.get('content-type'), /text\/event-stream/, where);
        assertScrubbed(res, key, where);
        const requestId = res.headers.get(ep.provider === 'anthropic' ? 'request-id' : 'x-request-id');
        assert.equal(requestId, `req_${publicPrefix(key)}[redacted]`, `${where}: the request id quoted the key`);
        assertNoAccountFields(res, where);
      }
    }
    const seen = await mockStats(mock);
    const wire = ep.provider === 'local' ? 'openai' : ep.provider;
    assert.equal(seen.lastKeys[wire], key, 'the emulation reports the key the broker sent');
    assert.ok(seen.keys[wire][key] >= 4);
  });
}

test('/proxy/chat: the key quoted by any provider, in an answer or an error, does not reach the app, nor its account fields', async () => {
  for (const provider of ['openai', 'anthropic', 'google', 'local']) {
    for (const model of ['quote-key', 'quote-key-error']) {
      const res = await call(broker.url, 'POST', '/proxy/chat', { token: await quoting(provider), body: chatBody(model) });
      const where = `/proxy/chat ${provider} ${model}`;
      assert.equal(res.status, model === 'quote-key' ? 200 : 400, `${where}: ${res.text}`);
      assertScrubbed(res, KEYS[provider], where);
      // The same fields as the native paths pass, from the same filter.
      const requestId = res.headers.get(provider === 'anthropic' ? 'request-id' : 'x-request-id');
      assert.equal(requestId, `req_${publicPrefix(KEYS[provider])}[redacted]`, `${where}: the request id quoted the key`);
      assert.match(res.headers.get('content-type'), /^application\/json/, where);
      assertNoAccountFields(res, where);
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(res.text),
        `${where}: framed as scrubbed, not as the provider sent it`);
    }
  }
});

test('an ordinary answer is passed on untouched', async () => {
  const res = await call(broker.url, 'POST', '/openai/v1/chat/completions', {
    token: (await approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] })).token,
    body: chatBody('gpt-4o-mini'),
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.choices[0].message.content, 'This is a mock reply to: Hello there');
  assert.doesNotMatch(res.text, /redacted/);
});

test('the broker warns, naming the provider, and its logs never hold the key', async () => {
  await new Promise((r) => setTimeout(r, 200));
  for (const provider of ['openai', 'anthropic', 'google', 'local'])
    for (const where of ['headers and body', 'stream'])
      assert.ok(broker.output.split('\n').some((line) => /\[warn(ing)?\]/.test(line) &&
        line.includes(`key material removed from ${provider}'s answer (${where})`)), `${provider} ${where}`);
  for (const key of ALL) assert.deepEqual(runsOf(key, broker.output), [], 'the broker log holds key material');
});

test('the emulation accepts only the keys it is told, refusing others in each provider\'s own shape', async () => {
  const refused = { authorization: 'Bearer sk-proj-not-accepted-0000000000' };
  const openai = await call(mock.url, 'POST', '/v1/chat/completions', { headers: refused, body: chatBody('gpt-4o-mini') });
  assert.equal(openai.status, 401);
  assert.equal(openai.json.error.code, 'invalid_api_key');
  const anthropic = await call(mock.url, 'POST', '/v1/messages', {
    headers: { 'x-api-key': KEYS.openai + 'x', 'anthropic-version': '2023-06-01' }, body: {},
  });
  assert.equal(anthropic.status, 401);
  assert.equal(anthropic.json.error.type, 'authentication_error');
  const google = await call(mock.url, 'POST', '/v1beta/models/gemini-2.5-flash:generateContent', {
    headers: { 'x-goog-api-key': 'test-google-key' }, body: { contents: [{ parts: [{ text: 'x' }] }] },
  });
  assert.equal(google.status, 400);
  assert.equal(google.json.error.details[0].reason, 'API_KEY_INVALID');
  // Any accepted key works on any provider's path.
  const other = await call(mock.url, 'POST', '/v1/messages', {
    headers: { 'x-api-key': KEYS.local, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(other.status, 200, other.text);
});

test('told while it runs to stop accepting the broker\'s key, the emulation refuses it and the app sees a 502 without it', async () => {
  const own = await startMock(['--accept-key', KEYS.openai]);
  const b = await startBroker({ mock: own, env: { OPENAI_API_KEY: KEYS.openai } });
  const { token } = await approvedGrant(b, { provider: 'openai', models: [], capabilities: ['chat'] });
  const ok = await call(b.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('gpt-4o-mini') });
  assert.equal(ok.status, 200, ok.text);
  const set = await call(own.url, 'POST', '/__mock/accept-keys', { body: { keys: [KEYS.local] } });
  assert.equal(set.status, 200);
  const res = await call(b.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('quote-key') });
  assert.equal(res.status, 502);
  assert.match(res.json.error.message, /refused the broker's API key/);
  assertNoKey(res.text, 'the 502');
  const seen = await mockStats(own);
  assert.deepEqual(seen.keys.openai, { [KEYS.openai]: 2 });
  // Back to each provider's own key when the list is empty.
  await call(own.url, 'POST', '/__mock/accept-keys', { body: { keys: [] } });
  const stock = await call(own.url, 'POST', '/v1/chat/completions', { token: 'test-openai-key', body: chatBody('gpt-4o-mini') });
  assert.equal(stock.status, 200);
  await b.stop();
  assertNoKey(b.output, 'the broker log');
});

test('a grant whose answers quote its key three times is revoked, and the audit trail says the broker did it', async () => {
  const token = await quoting('openai');
  for (let i = 0; i < 3; ++i) {
    const res = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('quote-key') });
    assert.equal(res.status, 200, `answer ${i + 1} is still served, scrubbed`);
    assert.ok(!res.text.includes(KEYS.openai));
  }
  const after = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('gpt-4o-mini') });
  assert.equal(after.status, 401, after.text);
  assert.match(broker.output, /provider answers quoted its key; revoked/);
  const audit = await call(broker.url, 'GET', '/audit?kind=grant.revoked', { token: broker.ownerToken });
  assert.ok(audit.json.items.some((r) => r.actor === 'broker:key-quoted'), JSON.stringify(audit.json.items));
});
