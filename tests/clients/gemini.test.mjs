// The official Google Gen AI SDK (@google/genai), pointed at the broker with a delegated token as its API key.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI, ApiError } from '@google/genai';
import { randomBytes } from 'node:crypto';
import { startMock, startBroker, approvedGrant, call, mockStats, usageOf, eventually, KEYS, lowerKeys } from './setup.mjs';

let mock, broker, grant, ai;
const sdk = (token, apiVersion) => new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: `${broker.url}/gemini`, ...(apiVersion && { apiVersion }) } });

before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
  grant = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash', 'gemini-embedding-001'], capabilities: ['chat', 'embeddings'] });
  ai = sdk(grant.token);
});

test('generateContent, and the provider sees the broker key, never the token', async () => {
  const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello there' });
  assert.match(res.text, /mock reply to: Hello there/);
  const seen = lowerKeys((await mockStats(mock)).lastHeaders.google);
  assert.equal(seen['x-goog-api-key'], KEYS.google);
  const usage = await usageOf(broker, grant.grantId);
  assert.equal(usage.totals.inputTokens, res.usageMetadata.promptTokenCount);
  assert.equal(usage.byDayAndModel[0].model, 'gemini-2.5-flash');
});

test('what URL context fetched for the model is charged as input, as Google bills it', async () => {
  for (const stream of [false, true]) {
    const before = await usageOf(broker, grant.grantId);
    const params = { model: 'gemini-2.5-flash', contents: 'Summarise https://example.com', config: { tools: [{ urlContext: {} }] } };
    let meta;
    if (stream) {
      for await (const chunk of await ai.models.generateContentStream(params)) meta = chunk.usageMetadata ?? meta;
    } else {
      meta = (await ai.models.generateContent(params)).usageMetadata;
    }
    assert.ok(meta.toolUsePromptTokenCount > 0, 'the emulation reports the fetched page apart from the prompt');
    const after = await eventually(async () => {
      const u = await usageOf(broker, grant.grantId);
      return u.totals.requests > before.totals.requests && u;
    }, 'usage of the call');
    assert.equal(after.totals.inputTokens - before.totals.inputTokens, meta.promptTokenCount + meta.toolUsePromptTokenCount,
      stream ? 'streamed' : 'whole');
  }
});

test('the v1 API version works too', async () => {
  const res = await sdk(grant.token, 'v1').models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' });
  assert.match(res.text, /mock reply/);
  assert.match((await mockStats(mock)).lastTargets.google, /^\/v1\/models\/gemini-2.5-flash:generateContent/);
});

test('generateContentStream: chunks arrive, running usageMetadata is counted', async () => {
  const before = await usageOf(broker, grant.grantId);
  let text = '';
  let last;
  for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hello there' })) {
    text += chunk.text ?? '';
    last = chunk;
  }
  assert.match(text, /mock reply to: Hello there/);
  const after = await eventually(async () => {
    const u = await usageOf(broker, grant.grantId);
    return u.totals.requests > before.totals.requests && u;
  }, 'usage of the stream');
  assert.equal(after.totals.outputTokens - before.totals.outputTokens, last.usageMetadata.candidatesTokenCount);
});

test('embeddings and token counting', async () => {
  const res = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['one', 'two'] });
  assert.equal(res.embeddings.length, 2);
  assert.equal(res.embeddings[0].values.length, 8);
  const count = await ai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'Hello there' });
  assert.ok(count.totalTokens > 0);
});

test('a batch whose requests name another model than its path is refused before the provider', async () => {
  const before = (await mockStats(mock)).requests;
  const res = await call(broker.url, 'POST', '/gemini/v1beta/models/gemini-embedding-001:batchEmbedContents', {
    headers: { 'x-goog-api-key': grant.token },
    body: { requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } },
      { model: 'models/text-embedding-big', content: { parts: [{ text: 'b' }] } }] } });
  assert.equal(res.status, 400, res.text);
  assert.match(res.text, /requests\[1\]\.model names 'models\/text-embedding-big', not the model in the path/);
  assert.deepEqual((await mockStats(mock)).requests, before, 'nothing reached the provider');
});

test('the model list shows only what the grant allows', async () => {
  const names = [];
  for await (const m of await ai.models.list()) names.push(m.name);
  assert.deepEqual(names.sort(), ['models/gemini-2.5-flash', 'models/gemini-embedding-001']);
});

test('the token in ?key= works, and the key parameter never reaches the provider', async () => {
  const res = await call(broker.url, 'POST', `/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=${grant.token}`, {
    body: { contents: [{ parts: [{ text: 'Hi' }] }] },
  });
  assert.equal(res.status, 200);
  const target = (await mockStats(mock)).lastTargets.google;
  assert.ok(!target.includes('key='), target);
});

test('a model outside the grant: ApiError 403 PERMISSION_DENIED, nothing reaches the provider', async () => {
  const requests = (await mockStats(mock)).requests.google;
  await assert.rejects(ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'Hi' }), (e) => {
    assert.ok(e instanceof ApiError, e.constructor.name);
    assert.equal(e.status, 403);
    assert.match(e.message, /PERMISSION_DENIED/);
    assert.match(e.message, /gemini-2.5-pro/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.google, requests);
});

test('an OpenAI token on a Gemini path: 403', async () => {
  const openai = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  await assert.rejects(sdk(openai.token).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }),
    (e) => e instanceof ApiError && e.status === 403);
});

test('an unknown Gemini method is 404 and never reaches the provider', async () => {
  const res = await call(broker.url, 'POST', '/gemini/v1beta/models/gemini-2.5-flash:predict', {
    body: {}, headers: { 'x-goog-api-key': grant.token },
  });
  assert.equal(res.status, 404);
  assert.equal(res.json.error.status, 'NOT_FOUND');
});

test('a model name that would change the provider path is refused before it goes upstream', async () => {
  const anyModel = await approvedGrant(broker, { provider: 'google', models: [], capabilities: ['chat'] });
  const requests = (await mockStats(mock)).requests.google;
  for (const model of ['..%2F..%2Fcorpora', 'x%2Fy', 'a..b', 'gemini%3Fkey=1']) {
    const res = await call(broker.url, 'POST', `/gemini/v1beta/models/${model}:generateContent`, {
      body: { contents: [{ parts: [{ text: 'Hi' }] }] }, headers: { 'x-goog-api-key': anyModel.token },
    });
    assert.equal(res.status, 400, model);
    assert.equal(res.json.error.status, 'INVALID_ARGUMENT');
  }
  assert.equal((await mockStats(mock)).requests.google, requests);
});

test('the priority tier is refused on a budgeted grant, as the SDK sends it; standard and flex go', async () => {
  const budgeted = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'], maxBudgetCents: 100 });
  const client = sdk(budgeted.token);
  const requests = (await mockStats(mock)).requests.google;
  for (const serviceTier of ['priority', 'SERVICE_TIER_PRIORITY']) {
    await assert.rejects(client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello', config: { serviceTier } }), (e) => {
      assert.ok(e instanceof ApiError, e.constructor.name);
      assert.equal(e.status, 403);
      assert.match(e.message, /'serviceTier' other than 'standard' or 'flex' is billed above/);
      return true;
    });
  }
  assert.equal((await mockStats(mock)).requests.google, requests, 'nothing reached the provider');
  for (const serviceTier of ['standard', 'flex']) {
    const res = await client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello', config: { serviceTier } });
    assert.match(res.text, /mock reply to: Hello/);
  }
  // Without a budget the app may pay for priority.
  const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello', config: { serviceTier: 'priority' } });
  assert.match(res.text, /mock reply to: Hello/);
});

test('audio read from the cache is charged at cached audio\'s price ($0.10 a million on 2.5 Flash, not cached text\'s $0.03)', async () => {
  const g = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'], maxBudgetCents: 200 });
  const client = sdk(g.token);
  // Sound no other call sent: Gemini 2.5 caches it implicitly once it has seen it.
  const contents = [{ role: 'user', parts: [{ text: 'Transcribe this again' }, { inlineData: { mimeType: 'audio/wav', data: randomBytes(96).toString('base64') } }] }];
  const spentAfter = async (calls) => eventually(async () => {
    const u = await usageOf(broker, g.grantId);
    return u.totals.requests === calls && u.budget.spentMicros;
  }, `the charge of call ${calls}`);
  const first = (await client.models.generateContent({ model: 'gemini-2.5-flash', contents, config: { maxOutputTokens: 100 } })).usageMetadata;
  assert.equal(first.cachedContentTokenCount, undefined, 'the first call reads nothing from the cache');
  const spentFirst = await spentAfter(1);
  const meta = (await client.models.generateContent({ model: 'gemini-2.5-flash', contents, config: { maxOutputTokens: 100 } })).usageMetadata;
  const audio = meta.promptTokensDetails.find((d) => d.modality === 'AUDIO').tokenCount;
  const cachedAudio = meta.cacheTokensDetails.find((d) => d.modality === 'AUDIO').tokenCount;
  assert.ok(cachedAudio > 0 && cachedAudio === audio && meta.cachedContentTokenCount === cachedAudio, JSON.stringify(meta));
  // Micro-USD a token: 0.10 for cached audio, 1.00 for fresh audio, 0.03 for other cached input,
  // 0.30 for the rest of the prompt, 2.50 for output.
  const cost = Math.ceil((cachedAudio * 10 + (meta.promptTokenCount - audio) * 30 + meta.candidatesTokenCount * 250) / 100);
  assert.equal(await spentAfter(2) - spentFirst, cost);
});

test('audio input is charged at its own price ($1.00 a million on 2.5 Flash, not $0.30) and reserved so', async () => {
  const g = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'], maxBudgetCents: 200 });
  const client = sdk(g.token);
  const contents = [{ role: 'user', parts: [{ text: 'Transcribe this' }, { inlineData: { mimeType: 'audio/wav', data: Buffer.alloc(64).toString('base64') } }] }];
  const res = await client.models.generateContent({ model: 'gemini-2.5-flash', contents, config: { maxOutputTokens: 100 } });
  const meta = res.usageMetadata;
  const audio = meta.promptTokensDetails.find((d) => d.modality === 'AUDIO').tokenCount;
  assert.ok(audio > 0);
  // Micro-USD a token: 1.00 for audio, 0.30 for the rest of the prompt, 2.50 for output.
  const cost = Math.ceil(audio * 1.0 + (meta.promptTokenCount - audio) * 0.3 + meta.candidatesTokenCount * 2.5);
  const spent = await eventually(async () => (await usageOf(broker, g.grantId)).budget.spentMicros || false, 'the charge');
  assert.equal(spent, cost);
  // The sound may fill the whole window: 1,048,576 tokens at $1.00 is more than a dollar has.
  const small = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'], maxBudgetCents: 100 });
  await assert.rejects(sdk(small.token).models.generateContent({ model: 'gemini-2.5-flash', contents, config: { maxOutputTokens: 100 } }),
    (e) => {
      assert.ok(e instanceof ApiError, e.constructor.name);
      assert.equal(e.status, 402);
      assert.match(e.message, /could cost up to \$1\.04\d+/);
      return true;
    });
});
