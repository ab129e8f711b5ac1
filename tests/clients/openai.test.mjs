// The official OpenAI SDK, pointed at the broker with a delegated token as its API key.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMock, startBroker, approvedGrant, mockStats, usageOf, eventually, revoke, tempDir, KEYS, lowerKeys } from './setup.mjs';

const ALL = ['chat', 'embeddings', 'images', 'audio', 'moderation'];
const MODELS = ['gpt-4o-mini*', 'text-embedding-3-small', 'gpt-image-1', 'whisper-1', 'tts-1', 'omni-moderation-latest'];
let mock, broker, grant, client;

function sdk(token, base = broker.url) {
  return new OpenAI({ apiKey: token, baseURL: `${base}/openai/v1`, maxRetries: 0 });
}

before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
  grant = await approvedGrant(broker, { provider: 'openai', models: MODELS, capabilities: ALL });
  client = sdk(grant.token);
});

const messages = [{ role: 'user', content: 'Hello there' }];

test('chat completion answers, and the provider sees the broker key, never the token', async () => {
  const before = await usageOf(broker, grant.grantId);
  const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  assert.match(answer.choices[0].message.content, /mock reply to: Hello there/);
  assert.ok(answer.usage.prompt_tokens > 0);
  const seen = lowerKeys((await mockStats(mock)).lastHeaders.openai);
  assert.equal(seen.authorization, `Bearer ${KEYS.openai}`);
  assert.ok(!JSON.stringify(seen).includes(grant.token), 'the delegated token must not reach the provider');
  const after = await usageOf(broker, grant.grantId);
  assert.equal(after.totals.requests, before.totals.requests + 1);
  assert.equal(after.totals.inputTokens - before.totals.inputTokens, answer.usage.prompt_tokens);
  assert.equal(after.totals.outputTokens - before.totals.outputTokens, answer.usage.completion_tokens);
});

test('a dated model matches the grant\'s pattern', async () => {
  const answer = await client.chat.completions.create({ model: 'gpt-4o-mini-2024-07-18', messages });
  assert.equal(answer.model, 'gpt-4o-mini-2024-07-18');
});

test('streamed chat: usage is captured, and the usage chunk the app did not ask for is not shown', async () => {
  const before = await usageOf(broker, grant.grantId);
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.notEqual(chunk.choices.length, 0, 'no usage-only chunk for an app that did not ask');
    text += chunk.choices[0].delta.content ?? '';
  }
  assert.ok(chunks >= 3);
  assert.match(text, /mock reply to: Hello there/);
  const after = await eventually(async () => {
    const u = await usageOf(broker, grant.grantId);
    return u.totals.requests > before.totals.requests && u;
  }, 'usage of the stream');
  assert.ok(after.totals.outputTokens > before.totals.outputTokens, 'the stream\'s output tokens are counted');
});

test('streamed chat with include_usage keeps the usage chunk for the app', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true },
  });
  let usage;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  assert.ok(usage && usage.completion_tokens > 0);
});

test('responses API, whole and streamed', async () => {
  const whole = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hi' });
  assert.match(whole.output_text, /mock reply to: Say hi/);
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hi', stream: true });
  let text = '';
  let completed;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.match(text, /mock reply to: Say hi/);
  assert.ok(completed.usage.output_tokens > 0);
});

test('a web search on gpt-4o-mini is charged its call and the 8,000 input tokens OpenAI bills its content as', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat'], maxBudgetCents: 1000 });
  const budgeted = sdk(g.token);
  let spent = 0;
  for (const [model, input, output, block] of [['gpt-4o-mini', 15, 60, 8000 * 15], ['gpt-4o', 250, 1000, 0]]) {
    for (const stream of [false, true]) {
      let answer;
      const params = { model, input: 'What happened today?', tools: [{ type: 'web_search' }], max_tool_calls: 1 };
      if (stream) {
        for await (const event of await budgeted.responses.create({ ...params, stream: true }))
          if (event.type === 'response.completed') answer = event.response;
      } else {
        answer = await budgeted.responses.create(params);
      }
      const searches = answer.output.filter((item) => item.type === 'web_search_call').length;
      assert.equal(searches, 1);
      // Hundredths of a micro-USD a token: $0.15 in and $0.60 out a million on gpt-4o-mini, $2.50
      // and $10 on gpt-4o; and $0.01 a search, with its content at the input price on the mini.
      const { input_tokens: i, output_tokens: o } = answer.usage;
      const cost = Math.ceil((i * input + o * output + block) / 100) + 10000;
      const now = await eventually(async () => {
        const u = await usageOf(broker, g.grantId);
        return u.budget.spentMicros > spent && u.budget.spentMicros;
      }, `the charge of ${model}`);
      assert.equal(now - spent, cost, `${model} ${stream ? 'streamed' : 'whole'}`);
      spent = now;
    }
  }
});

test('embeddings (the SDK asks for base64 and decodes it)', async () => {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
  assert.equal(res.data.length, 2);
  assert.equal(res.data[0].embedding.length, 8);
  assert.ok(res.data[0].embedding.every((v) => typeof v === 'number' && Math.abs(v) <= 1));
});

test('image generation', async () => {
  const res = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse' });
  assert.ok(res.data[0].b64_json.length > 0);
  assert.ok(res.usage.output_tokens > 0);
});

test('audio transcription uploads a file through the broker', async () => {
  const before = await usageOf(broker, grant.grantId);
  const file = await toFile(Buffer.alloc(320000, 7), 'speech.wav');
  const res = await client.audio.transcriptions.create({ model: 'whisper-1', file });
  assert.match(res.text, /Mock transcript of \d+ bytes/);
  assert.ok(Number(res.text.match(/of (\d+) bytes/)[1]) === 320000, 'the whole file arrived upstream');
  const after = await eventually(async () => {
    const u = await usageOf(broker, grant.grantId);
    return u.totals.audioSeconds > before.totals.audioSeconds && u;
  }, 'audio usage');
  assert.equal(after.totals.audioSeconds - before.totals.audioSeconds, 10);
});

test('the GPT-4o transcription models are charged the tokens they bill, whole or streamed, and reserved at their window', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-transcribe', 'gpt-4o-mini-transcribe'],
    capabilities: ['audio'], maxBudgetCents: 100 });
  const c = sdk(g.token);
  // 10 s of 256 kbit/s PCM. Charged by its size at 6 kbit/s, it cost 4.3 cents; OpenAI bills 101
  // audio tokens and the transcript's few.
  const file = () => toFile(Buffer.alloc(320000, 7), 'speech.wav');
  const whole = await c.audio.transcriptions.create({ model: 'gpt-4o-transcribe', file: await file() });
  assert.equal(whole.usage.type, 'tokens');
  const first = await usageOf(broker, g.grantId);
  assert.equal(first.budget.spentMicros, whole.usage.input_tokens * 6 + whole.usage.output_tokens * 10);
  const events = [];
  const stream = await c.audio.transcriptions.create({ model: 'gpt-4o-mini-transcribe', file: await file(), stream: true });
  for await (const event of stream) events.push(event);
  const done = events.at(-1);
  assert.equal(done.type, 'transcript.text.done');
  assert.equal(events.filter((e) => e.type === 'transcript.text.delta').map((e) => e.delta).join(''), done.text);
  const second = await usageOf(broker, g.grantId);
  assert.equal(second.budget.spentMicros - first.budget.spentMicros, done.usage.input_tokens * 3 + done.usage.output_tokens * 5);
  // However long the audio, the model reads at most its 16,000-token window and writes less:
  // $0.096 + $0.16 on gpt-4o-transcribe, which a quarter dollar does not cover.
  const small = await approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-transcribe'], capabilities: ['audio'],
    maxBudgetCents: 25 });
  const requests = (await mockStats(mock)).requests.openai;
  await assert.rejects(sdk(small.token).audio.transcriptions.create({ model: 'gpt-4o-transcribe', file: await file() }), (e) => {
    assert.equal(e.status, 402);
    assert.match(e.message, /could cost up to \$0\.256/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.openai, requests);
});

test('on a budget, an upload must ask for an answer that says how long its audio was', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: ['whisper-1'], capabilities: ['audio'], maxBudgetCents: 100 });
  const c = sdk(g.token);
  const file = () => toFile(Buffer.alloc(64000, 7), 'speech.wav');
  const requests = (await mockStats(mock)).requests.openai;
  // Text, subtitles and translations say nothing of the audio's length, and compressed audio can
  // last far longer than its size at 6 kbit/s: OpenAI bills the length, the broker would guess.
  for (const response_format of ['text', 'srt', 'vtt']) {
    await assert.rejects(c.audio.transcriptions.create({ model: 'whisper-1', file: await file(), response_format }), (e) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError, `${response_format}: ${e.constructor.name}`);
      assert.match(e.message, /'response_format'/);
      return true;
    });
  }
  await assert.rejects(c.audio.translations.create({ model: 'whisper-1', file: await file() }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /translation/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.openai, requests, 'none reached the provider whole');
  const json = await c.audio.transcriptions.create({ model: 'whisper-1', file: await file(), response_format: 'json' });
  assert.equal(json.usage.type, 'duration');
  const usage = await usageOf(broker, g.grantId);
  assert.equal(usage.totals.audioSeconds, json.usage.seconds);
  assert.equal(usage.totals.requests, 1, 'the refused uploads were given back');
  // Without a budget the answer is the app's to choose.
  const text = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file(), response_format: 'text' });
  assert.match(String(text), /Mock transcript of 64000 bytes/);
});

// A WAV file of `seconds` of silence: PCM at `rate` samples a second of `bits` bits, one channel.
function wav(rate, bits, seconds) {
  const samples = Buffer.alloc(rate * (bits / 8) * seconds);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0);
  head.writeUInt32LE(36 + samples.length, 4);
  head.write('WAVEfmt ', 8);
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);  // PCM
  head.writeUInt16LE(1, 22);
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * (bits / 8), 28);
  head.writeUInt16LE(bits / 8, 32);
  head.writeUInt16LE(bits, 34);
  head.write('data', 36);
  head.writeUInt32LE(samples.length, 40);
  return Buffer.concat([head, samples]);
}

test('on a budget, a WAV upload denser than 6 kbit/s is reserved by its own length, whatever its name', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: ['whisper-1'], capabilities: ['audio'], maxBudgetCents: 30 });
  const c = sdk(g.token);
  // A minute of 16 kHz 16-bit speech, 1.92 MB, is reserved at 6 kbit/s (43 minutes, $0.26): a
  // header can lie, and the provider may find compressed audio behind one. It is charged the
  // minute whisper-1 bills: $0.006.
  const heard = await c.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav(16000, 16, 60), 'speech.wav') });
  assert.equal(heard.usage.seconds, 60);
  assert.equal((await usageOf(broker, g.grantId)).budget.spentMicros, 6000);
  const requests = (await mockStats(mock)).requests.openai;
  // 8-bit audio at 10 samples a second lasts 6,000 seconds in 60 kB: $0.60, where its size at 6 kbit/s
  // would have reserved 81 seconds and the provider's bill overshot the budget.
  for (const name of ['dense.wav', 'dense.mp3']) {
    await assert.rejects(c.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav(10, 8, 6000), name) }), (e) => {
      assert.equal(e.status, 402, name);
      assert.match(e.message, /could cost up to \$0\.6/);
      return true;
    });
  }
  assert.equal((await mockStats(mock)).requests.openai, requests, 'neither reached the provider whole');
  assert.equal((await usageOf(broker, g.grantId)).budget.spentMicros, 6000);
});

test('an upload for a model outside the grant is refused and never reaches the provider whole', async () => {
  const requests = (await mockStats(mock)).requests.openai;
  const file = await toFile(Buffer.alloc(100000, 1), 'speech.wav');
  await assert.rejects(client.audio.transcriptions.create({ model: 'gpt-4o-transcribe', file }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /gpt-4o-transcribe/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.openai, requests);
});

test('speech comes back as audio bytes', async () => {
  const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello' });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(bytes.subarray(0, 3).toString(), 'ID3');
  assert.equal(bytes.length, 4 + 5 * 64);
});

test('moderation', async () => {
  const res = await client.moderations.create({ input: 'hello' });
  assert.equal(res.results[0].flagged, false);
});

test('the model list shows only what the grant allows', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['gpt-4o-mini', 'gpt-image-1', 'omni-moderation-latest', 'text-embedding-3-small', 'tts-1', 'whisper-1']);
});

test('a model outside the grant: PermissionDeniedError, and nothing reaches the provider', async () => {
  const requests = (await mockStats(mock)).requests.openai;
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.equal(e.status, 403);
    assert.match(e.message, /Model 'gpt-4o' is not allowed/);
    return true;
  });
  assert.equal((await mockStats(mock)).requests.openai, requests);
});

test('a capability outside the grant: PermissionDeniedError naming it', async () => {
  const chatOnly = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  await assert.rejects(sdk(chatOnly.token).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /does not allow embeddings/);
    return true;
  });
});

test('a revoked token: AuthenticationError', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  await sdk(g.token).chat.completions.create({ model: 'gpt-4o-mini', messages });
  await revoke(broker, g.grantId);
  await assert.rejects(sdk(g.token).chat.completions.create({ model: 'gpt-4o-mini', messages }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
    return true;
  });
});

test('a token for another provider: PermissionDeniedError', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: [], capabilities: ['chat'] });
  await assert.rejects(sdk(g.token).chat.completions.create({ model: 'gpt-4o-mini', messages }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /This token is for anthropic/);
    return true;
  });
});

test('a forged key: AuthenticationError', async () => {
  await assert.rejects(sdk('sk-not-a-token').models.list(), (e) => e instanceof OpenAI.AuthenticationError);
});

test('an OpenAI-compatible upstream the owner declared is served under its own name', async () => {
  const dir = tempDir();
  const config = join(dir, 'aipassport.toml');
  writeFileSync(config, `[[openai_compatible]]\nname = "local"\nbase_url = "${mock.url}"\napi_key_env = "LOCAL_LLM_KEY"\n`);
  const b = await startBroker({ mock, args: ['--config', config], env: { LOCAL_LLM_KEY: KEYS.openai } });
  assert.match(b.output, /serving OpenAI-compatible upstream 'local' at \/local\/v1\//);
  const g = await approvedGrant(b, { provider: 'local', models: ['llama3*'], capabilities: ['chat'] });
  const local = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/local/v1`, maxRetries: 0 });
  const answer = await local.chat.completions.create({ model: 'llama3.2', messages });
  assert.match(answer.choices[0].message.content, /mock reply/);
  await assert.rejects(local.chat.completions.create({ model: 'mistral', messages }), (e) => e instanceof OpenAI.PermissionDeniedError);
  const openaiToken = await approvedGrant(b, { provider: 'openai', models: [], capabilities: ['chat'] });
  await assert.rejects(new OpenAI({ apiKey: openaiToken.token, baseURL: `${b.url}/local/v1`, maxRetries: 0 })
    .chat.completions.create({ model: 'llama3.2', messages }), (e) => e instanceof OpenAI.PermissionDeniedError);
});

test('a declared upstream is sent only what OpenAI defines, spelled as OpenAI spells it, and what its operator lists', async () => {
  const dir = tempDir();
  const config = join(dir, 'aipassport.toml');
  writeFileSync(config, `[[openai_compatible]]\nname = "gateway"\nbase_url = "${mock.url}"\napi_key_env = "GATEWAY_KEY"\nextra_members = ["top_k"]\n`);
  const b = await startBroker({ mock, args: ['--config', config], env: { GATEWAY_KEY: KEYS.openai } });
  const g = await approvedGrant(b, { provider: 'gateway', models: ['llama3.2'], capabilities: ['chat'], maxRequests: 100 });
  const before = (await mockStats(mock)).requests.openai ?? 0;
  const post = (body) => fetch(`${b.url}/gateway/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' }, body,
  }).then(async (r) => ({ status: r.status, json: await r.json() }));
  // Go's encoding/json (Ollama) reads MODEL and Max_Tokens as model and max_tokens, the last one
  // winning; a gateway falls back to the models it is given, or runs paid plugins.
  const attacks = [
    ['"MODEL":"big"', "'MODEL'"],
    ['"Max_Tokens":100000', "'Max_Tokens'"],
    ['"\\u004dODEL":"big"', "'\\u004dODEL'"],
    ['"models":["llama3.2","openai/o1-pro"],"route":"fallback"', "'models'"],
    ['"plugins":[{"id":"web"}]', "'plugins'"],
  ];
  for (const [extra, named] of attacks) {
    const r = await post(`{"model":"llama3.2","messages":${JSON.stringify(messages)},"max_tokens":5,${extra}}`);
    assert.equal(r.status, 400, `${extra}: ${JSON.stringify(r.json)}`);
    assert.ok(r.json.error.message.startsWith(`${named} is not a member of OpenAI's API as written`), r.json.error.message);
  }
  assert.equal((await mockStats(mock)).requests.openai ?? 0, before, 'none of them went upstream');
  // What OpenAI defines, and what the operator listed, go; through the SDK and /proxy/chat alike.
  const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/gateway/v1`, maxRetries: 0 });
  const answer = await client.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 5, temperature: 0.2, top_k: 40 });
  assert.match(answer.choices[0].message.content, /mock reply/);
  // Such servers read max_tokens (Ollama nothing else): a length given as max_completion_tokens,
  // which the reservation takes as the limit, is sent as max_tokens too.
  await client.chat.completions.create({ model: 'llama3.2', messages, max_completion_tokens: 7 });
  const sent = JSON.parse((await mockStats(mock)).lastBodies.openai);
  assert.equal(sent.max_tokens, 7, JSON.stringify(sent));
  assert.equal(sent.max_completion_tokens, 7);
  const viaReference = await fetch(`${b.url}/proxy/chat`, {
    method: 'POST', headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama3.2', messages, max_tokens: 5, plugins: [{ id: 'web' }] }),
  });
  assert.equal(viaReference.status, 400, 'the reference path is checked as well');
  assert.match((await viaReference.json()).error, /^'plugins' is not a member of OpenAI's API as written/);
  // An upload's form fields likewise.
  const listener = await approvedGrant(b, { provider: 'gateway', models: ['whisper-1'], capabilities: ['audio'], maxRequests: 100 });
  const audio = new OpenAI({ apiKey: listener.token, baseURL: `${b.url}/gateway/v1`, maxRetries: 0 });
  const file = () => toFile(Buffer.alloc(4000, 7), 'note.wav', { type: 'audio/wav' });
  await assert.rejects(audio.audio.transcriptions.create({ model: 'whisper-1', file: await file(), fallbacks: 'big' }), (e) => {
    assert.equal(e.status, 400, e.message);
    assert.match(e.message, /The field 'fallbacks' is not one of OpenAI's API as written/);
    return true;
  });
  const heard = await audio.audio.transcriptions.create({ model: 'whisper-1', file: await file(), language: 'en' });
  assert.equal(typeof heard.text, 'string');
  // A built-in provider reads only OpenAI's own names: members it does not know pass as before.
  const openai = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] });
  const plain = await fetch(`${b.url}/openai/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${openai.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages, top_k: 40 }),
  });
  assert.equal(plain.status, 200);
});

test('a project that runs calls at priority by default: a budgeted grant\'s calls run at the standard tier it is priced at', async () => {
  const project = await startMock(['--project-service-tier', 'priority']);
  const b = await startBroker({ mock: project });
  const scope = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] };
  const unbudgeted = sdk((await approvedGrant(b, scope)).token, b.url);
  const budgeted = sdk((await approvedGrant(b, { ...scope, maxBudgetCents: 100 })).token, b.url);
  // Without a budget the call goes as the app wrote it, and the project's tier serves it.
  assert.equal((await unbudgeted.chat.completions.create({ model: 'gpt-4o-mini', messages })).service_tier, 'priority');
  // With one, the broker asks for the tier the price table holds, however the app left it to the project.
  for (const left of [{}, { service_tier: 'auto' }, { service_tier: null }]) {
    const answer = await budgeted.chat.completions.create({ model: 'gpt-4o-mini', messages, ...left });
    assert.equal(answer.service_tier, 'default', JSON.stringify(left));
  }
  const stream = await budgeted.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.service_tier, 'default');
    ++chunks;
  }
  assert.ok(chunks > 1);
  assert.equal((await budgeted.responses.create({ model: 'gpt-4o-mini', input: 'Hello' })).service_tier, 'default');
  // A cheaper tier the app chose is its own; a dearer one is refused.
  const flex = await budgeted.chat.completions.create({ model: 'gpt-4o-mini', messages, service_tier: 'flex' });
  assert.equal(flex.service_tier, 'flex');
  await assert.rejects(budgeted.chat.completions.create({ model: 'gpt-4o-mini', messages, service_tier: 'priority' }), (e) => {
    assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
    assert.match(e.message, /'service_tier' 'priority' is billed above/);
    return true;
  });
});
