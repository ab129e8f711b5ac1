// The official Anthropic SDK, pointed at the broker with a delegated token as its API key.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMock, startBroker, approvedGrant, mockStats, usageOf, eventually, revoke, KEYS, lowerKeys } from './setup.mjs';

let mock, broker, grant, client;
const sdk = (token, options = {}) => new Anthropic({ apiKey: token, baseURL: `${broker.url}/anthropic`, maxRetries: 0, ...options });
const request = { model: 'claude-sonnet-4-5-20250929', max_tokens: 256, messages: [{ role: 'user', content: 'Hello there' }] };

before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
  grant = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-sonnet-4-5*', 'claude-3-5-haiku-20241022'], capabilities: ['chat'] });
  client = sdk(grant.token);
});

test('a message, and the provider sees the broker key, never the token', async () => {
  const msg = await client.messages.create(request);
  assert.match(msg.content[0].text, /mock reply to: Hello there/);
  const seen = lowerKeys((await mockStats(mock)).lastHeaders.anthropic);
  assert.equal(seen['x-api-key'], KEYS.anthropic);
  assert.equal(seen.authorization, undefined, 'the SDK\'s Authorization header (the token) is removed');
  assert.ok(seen['anthropic-version'], 'the SDK\'s API version goes through');
  const usage = await usageOf(broker, grant.grantId);
  assert.equal(usage.totals.inputTokens, msg.usage.input_tokens);
});

test('the token also works as x-api-key (older SDKs, curl)', async () => {
  const viaHeader = sdk(null, { apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': grant.token } });
  const msg = await viaHeader.messages.create(request);
  assert.equal(msg.type, 'message');
});

test('a streamed message: text arrives in events, usage from message_start and message_delta is counted', async () => {
  const before = await usageOf(broker, grant.grantId);
  const stream = client.messages.stream(request);
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.match(text, /mock reply to: Hello there/);
  const after = await eventually(async () => {
    const u = await usageOf(broker, grant.grantId);
    return u.totals.requests > before.totals.requests && u;
  }, 'usage of the stream');
  assert.equal(after.totals.inputTokens - before.totals.inputTokens, final.usage.input_tokens);
  assert.equal(after.totals.outputTokens - before.totals.outputTokens, final.usage.output_tokens);
});

test('token counting is allowed and takes no request from the cap', async () => {
  const capped = await approvedGrant(broker, { provider: 'anthropic', models: [], capabilities: ['chat'], maxRequests: 1 });
  const c = sdk(capped.token);
  for (let i = 0; i < 3; i++) {
    const count = await c.messages.countTokens({ model: request.model, messages: request.messages });
    assert.ok(count.input_tokens > 0);
  }
  await c.messages.create(request);
  await assert.rejects(c.messages.create(request), (e) => e instanceof Anthropic.RateLimitError || e.status === 429);
});

test('the model list shows only what the grant allows', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['claude-3-5-haiku-20241022', 'claude-sonnet-4-5-20250929']);
});

test('a model outside the grant: PermissionDeniedError, and nothing reaches the provider', async () => {
  const requests = (await mockStats(mock)).requests.anthropic;
  await assert.rejects(client.messages.create({ ...request, model: 'claude-opus-4-1-20250805' }), (e) => {
    assert.ok(e instanceof Anthropic.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /not allowed by this grant/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.anthropic, requests);
});

test('a revoked token: AuthenticationError; a Gemini token: PermissionDeniedError', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: [], capabilities: ['chat'] });
  await revoke(broker, g.grantId);
  await assert.rejects(sdk(g.token).messages.create(request), (e) => e instanceof Anthropic.AuthenticationError);
  const google = await approvedGrant(broker, { provider: 'google', models: [], capabilities: ['chat'] });
  await assert.rejects(sdk(google.token).messages.create(request), (e) => e instanceof Anthropic.PermissionDeniedError);
});

test('the provider\'s own refusal of a bad request passes through as its BadRequestError', async () => {
  await assert.rejects(client.messages.create({ ...request, bogus_param: 1 }), (e) => {
    assert.ok(e instanceof Anthropic.BadRequestError, e.constructor.name);
    assert.match(e.message, /bogus_param: Extra inputs are not permitted/);
    return true;
  });
});

test('a workspace that keeps inference in the US: calls are reserved and charged at 1.1 times, on the models that take it', async () => {
  const workspace = await startMock(['--workspace-inference-geo', 'us']);
  const b = await startBroker({ mock: workspace });
  const scope = { provider: 'anthropic', models: ['claude-opus-4-6', 'claude-sonnet-4-5'], capabilities: ['chat'] };
  const g = await approvedGrant(b, { ...scope, maxBudgetCents: 500 });
  const client = new Anthropic({ apiKey: g.token, baseURL: `${b.url}/anthropic`, maxRetries: 0 });
  const messages = [{ role: 'user', content: 'Hello there' }];
  // Claude Opus 4.6: $5 and $25 a million tokens, times 1.1 where it ran in the US only.
  const opus = (usage, percent) => Math.ceil(((usage.input_tokens * 5 + usage.output_tokens * 25) * percent) / 100);
  const spent = async () => (await usageOf(b, g.grantId)).budget.spentMicros;
  const charged = async (call) => {
    const before = await spent();
    const answer = await call();
    return { answer, cost: await eventually(async () => (await spent()) - before || false, 'the charge') };
  };
  const cases = [
    [{}, 'us', 110],  // the workspace's default
    [{ inference_geo: 'us' }, 'us', 110],
    [{ inference_geo: 'global' }, 'global', 100],
  ];
  for (const [geo, ran, percent] of cases) {
    const { answer, cost } = await charged(() => client.messages.create({ model: 'claude-opus-4-6', max_tokens: 64, messages, ...geo }));
    assert.equal(answer.usage.inference_geo, ran, JSON.stringify(geo));
    assert.equal(cost, opus(answer.usage, percent), JSON.stringify(geo));
  }
  // Streamed: where it ran is in message_start.
  const streamed = await charged(() => client.messages.stream({ model: 'claude-opus-4-6', max_tokens: 64, messages }).finalMessage());
  assert.equal(streamed.cost, opus(streamed.answer.usage, 110));
  // Claude Sonnet 4.5 takes no inference_geo: it runs, and is charged, as listed ($3 and $15).
  const sonnet = await charged(() => client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages }));
  assert.equal(sonnet.answer.usage.inference_geo, undefined);
  assert.equal(sonnet.cost, sonnet.answer.usage.input_tokens * 3 + sonnet.answer.usage.output_tokens * 15);

  // The reservation counts the 1.1 too: 3,700 output tokens are $0.0925, and $0.10175 in the US only.
  const small = await approvedGrant(b, { ...scope, maxBudgetCents: 10 });
  const tight = new Anthropic({ apiKey: small.token, baseURL: `${b.url}/anthropic`, maxRetries: 0 });
  await assert.rejects(tight.messages.create({ model: 'claude-opus-4-6', max_tokens: 3700, messages }), (e) => {
    assert.equal(e.status, 402);
    assert.match(e.message, /could cost up to \$0\.10/);
    return true;
  });
  const global = await tight.messages.create({ model: 'claude-opus-4-6', max_tokens: 3700, messages, inference_geo: 'global' });
  assert.equal(global.usage.inference_geo, 'global');
});

test('fast mode, billed at several times the listed prices, is refused on a budgeted grant and goes without one', async () => {
  const budgeted = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-opus-4-6'], capabilities: ['chat'], maxBudgetCents: 500 });
  const fast = { model: 'claude-opus-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'Hello there' }], speed: 'fast' };
  const requests = (await mockStats(mock)).requests.anthropic;
  await assert.rejects(sdk(budgeted.token).messages.create(fast), (e) => {
    assert.ok(e instanceof Anthropic.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /'speed' other than 'standard' \(fast mode\) is billed above/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.anthropic, requests, 'nothing reached the provider');
  const standard = await sdk(budgeted.token).messages.create({ ...fast, speed: 'standard' });
  assert.equal(standard.type, 'message');
  const unbudgeted = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-opus-4-6'], capabilities: ['chat'] });
  assert.equal((await sdk(unbudgeted.token).messages.create(fast)).type, 'message');
});

test('cache writes are charged by their lifetime (an hour: twice the input price), and any input is reserved so', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'], maxBudgetCents: 100 });
  const client = sdk(g.token);
  const spent = async () => (await usageOf(broker, g.grantId)).budget.spentMicros;
  // Claude Sonnet 4.5: $3 input, $3.75 a 5-minute cache write, $6 a 1-hour one, $15 output.
  for (const [ttl, writePrice] of [['1h', 6], ['5m', 3.75]]) {
    const before = await spent();
    const system = [{ type: 'text', text: 'Be brief. '.repeat(50), cache_control: { type: 'ephemeral', ttl } }];
    const msg = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, system, messages: [{ role: 'user', content: 'Hello there' }] });
    const u = msg.usage;
    assert.ok(u.cache_creation_input_tokens > 0);
    assert.equal(u.cache_creation[`ephemeral_${ttl}_input_tokens`], u.cache_creation_input_tokens, ttl);
    const cost = Math.ceil(u.cache_creation_input_tokens * writePrice + u.input_tokens * 3 + u.output_tokens * 15);
    assert.equal(await eventually(async () => (await spent()) - before || false, 'the charge'), cost, ttl);
  }
  // About 1,800 bytes of input fit a cent at the input price ($0.0054), not as a 1-hour cache write ($0.0108).
  const small = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'], maxBudgetCents: 1 });
  await assert.rejects(sdk(small.token).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16,
    system: [{ type: 'text', text: 'x'.repeat(1700), cache_control: { type: 'ephemeral', ttl: '1h' } }],
    messages: [{ role: 'user', content: 'Hello there' }] }), (e) => {
    assert.equal(e.status, 402);
    assert.match(e.message, /could cost up to \$0\.01\d+/);
    return true;
  });
});

test('a beta the broker does not read is refused before the provider: server-side fallbacks would run an unapproved model', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-3-5-haiku-20241022'], capabilities: ['chat'], maxBudgetCents: 1 });
  const tight = sdk(g.token);
  const before = (await mockStats(mock)).requests.anthropic ?? 0;
  const attacks = [
    { betas: ['server-side-fallback-2026-06-01'], fallbacks: [{ model: 'claude-opus-4-1', max_tokens: 32000, speed: 'fast' }] },
    { betas: ['inline-tools-2026-09-15'], messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: [{ type: 'tool_addition',
      tool: { type: 'tool_definition', definition: { type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-1' } } }] }] },
    { betas: ['compact-2026-09-04'], compaction: { type: 'summarize' } },
    { betas: ['context-1m-2025-08-07', 'Server-Side-Fallback-2026-07-01'] },
  ];
  for (const { betas, ...extra } of attacks) {
    await assert.rejects(tight.beta.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }], betas, ...extra }), (e) => {
      assert.ok(e instanceof Anthropic.PermissionDeniedError, String(e));
      assert.match(e.message, /anthropic-beta flag '(server-side-fallback|inline-tools|compact-2026-09-04|Server-Side)/i);
      return true;
    });
  }
  assert.equal((await mockStats(mock)).requests.anthropic ?? 0, before, 'nothing reached the provider');
  const relayed = await tight.beta.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 16,
    messages: [{ role: 'user', content: 'hi' }], betas: ['prompt-caching-2024-07-31', 'token-efficient-tools-2025-02-19'] });
  assert.equal(relayed.type, 'message', 'the betas the broker reads go through');
  assert.equal(lowerKeys((await mockStats(mock)).lastHeaders.anthropic)['anthropic-beta'],
    'prompt-caching-2024-07-31,token-efficient-tools-2025-02-19');
});
