// Budgets that cannot be overspent, caps reserved before the call, rate limits with Retry-After,
// threshold alerts, and the app's own view of what it has left. Prices are the shipped table's:
// gpt-4o-mini $0.15 in / $0.60 out, claude-opus-4-1 $15 in / $75 out per million tokens.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock, startBroker, approvedGrant, call, mockStats, usageOf, eventually, tempDir } from './setup.mjs';

const MINI = { input: 0.15, output: 0.6 };  // USD per million tokens = micro-USD per token
const costOf = (price, input, output) => Math.ceil(input * price.input + output * price.output - 1e-9);
const messages = [{ role: 'user', content: 'Count the waves' }];

let slowMock, broker;
before(async () => {
  // Every call takes 1.5 s upstream, so all 200 calls below are decided while the first are in flight.
  slowMock = await startMock(['--latency-ms', '1500']);
  broker = await startBroker({ mock: slowMock });
});

// The worst case the broker reserves: the body's bytes as input tokens, max_tokens as output.
function reservation(body) {
  return costOf(MINI, Buffer.byteLength(JSON.stringify(body)), body.max_tokens);
}

// A body whose reservation fits exactly 37 times in one cent (10000 micro-USD).
function bodyFitting37(extra) {
  for (let max = 300; max < 500; max++) {
    const body = { model: 'gpt-4o-mini', messages, max_tokens: max, ...extra };
    if (Math.floor(10000 / reservation(body)) === 37) return body;
  }
  throw new Error('no body fits 37 times');
}

async function grant(scope) {
  return approvedGrant(broker, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], ...scope });
}

async function grantView(grantId) {
  return (await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken })).json;
}

for (const stream of [false, true]) {
  test(`200 concurrent ${stream ? 'streaming ' : ''}calls against a budget that fits 37: exactly 37 go upstream`, async () => {
    const g = await grant({ maxBudgetCents: 1, maxConcurrent: 500 });
    const body = bodyFitting37(stream ? { stream: true, stream_options: { include_usage: true } } : {});
    const before = (await mockStats(slowMock)).requests.openai;
    const results = await Promise.all(Array.from({ length: 200 }, () =>
      call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body })));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    assert.equal(ok.length, 37);
    assert.equal((await mockStats(slowMock)).requests.openai - before, 37, 'only admitted calls reach upstream');
    for (const r of refused) {
      assert.equal(r.status, 402, r.text);
      assert.equal(r.json.error.code, 'budget_exceeded');
      assert.match(r.json.error.message, /Budget exceeded: this call could cost up to \$0\.000\d+/);
    }
    // What was spent is what the 37 calls used, by the provider's own figures.
    let expected = 0;
    for (const r of ok) {
      const usage = stream
        ? JSON.parse(r.text.split('\n').filter((l) => l.startsWith('data: {') && l.includes('"usage":{')).at(-1).slice(6)).usage
        : r.json.usage;
      expected += costOf(MINI, usage.prompt_tokens, usage.completion_tokens);
    }
    const usage = await usageOf(broker, g.grantId);
    assert.equal(usage.totals.requests, 37);
    assert.equal(usage.totals.costMicros, expected);
    assert.equal(usage.budget.spentMicros, expected);
    assert.ok(usage.budget.spentMicros <= 10000);
  });
}

test('a stream that names a max_tokens the budget cannot pay for is refused before it starts', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-opus-4-1'], capabilities: ['chat'], maxBudgetCents: 1 });
  const client = new Anthropic({ apiKey: g.token, baseURL: `${broker.url}/anthropic`, maxRetries: 0 });
  const before = (await mockStats(slowMock)).requests.anthropic;
  // 32000 tokens at $75 per million would cost $2.40; the grant has one cent.
  const stream = client.messages.stream({ model: 'claude-opus-4-1', max_tokens: 32000, messages });
  await assert.rejects(stream.finalMessage(), (e) => e instanceof Anthropic.APIError && e.status === 402 &&
    e.error?.error?.type === 'billing_error' && /could cost up to \$2\.4\d+/.test(e.message));
  assert.equal((await mockStats(slowMock)).requests.anthropic, before);
});

// An owner's price that names no output limit: the broker reserves 4,096 tokens an answer, a guess
// the model may write past, so on a budget the provider is asked to stop there, stream or not.
test('on a budget, a call to a model whose output limit no price names is asked to stop where its reservation does', async () => {
  const mock = await startMock();
  const config = join(tempDir(), 'aipassport.toml');
  writeFileSync(config, '[[prices]]\nprovider = "openai"\nmodel = "house-chat"\ninput = 1.0\noutput = 1.0\n' +
    '[[prices]]\nprovider = "google"\nmodel = "house-gemini"\ninput = 1.0\noutput = 1.0\n');
  const b = await startBroker({ mock, args: ['--config', config] });
  try {
    const scope = { provider: 'openai', models: ['house-chat'], capabilities: ['chat'] };
    const budgeted = await approvedGrant(b, { ...scope, maxBudgetCents: 100 });
    const unbudgeted = await approvedGrant(b, scope);
    const sent = async (token, extra) => {
      const r = await call(b.url, 'POST', '/openai/v1/chat/completions', { token, body: { model: 'house-chat', messages, ...extra } });
      assert.equal(r.status, 200, r.text);
      return JSON.parse((await mockStats(mock)).lastBodies.openai);
    };
    for (const extra of [{}, { stream: true }, { n: 2 }]) {
      const body = await sent(budgeted.token, extra);
      assert.equal(body.max_completion_tokens, 4096 - 3, `${JSON.stringify(extra)}: ${JSON.stringify(body)}`);
      assert.equal((await sent(unbudgeted.token, extra)).max_completion_tokens, undefined, 'no budget: the body as the app wrote it');
    }
    const own = await sent(budgeted.token, { max_tokens: 50 });
    assert.equal(own.max_tokens, 50);
    assert.equal(own.max_completion_tokens, undefined, 'a limit of its own is the bound');
    const reference = await call(b.url, 'POST', '/proxy/chat', { token: budgeted.token, body: { model: 'house-chat', messages } });
    assert.equal(reference.status, 200, reference.text);
    assert.equal(JSON.parse((await mockStats(mock)).lastBodies.openai).max_completion_tokens, 4096 - 3, 'the reference\'s path too');
    // The reference's path to Google: translated to generateContent, which must carry the limit too.
    const gemini = await approvedGrant(b, { provider: 'google', models: ['house-gemini'], capabilities: ['chat'], maxBudgetCents: 100 });
    for (const extra of [{}, { n: 2 }]) {
      const r = await call(b.url, 'POST', '/proxy/chat', { token: gemini.token, body: { model: 'house-gemini', messages, ...extra } });
      assert.equal(r.status, 200, r.text);
      const sentToGoogle = JSON.parse((await mockStats(mock)).lastBodies.google);
      assert.equal(sentToGoogle.generationConfig?.maxOutputTokens, 4096 - 3, `${JSON.stringify(extra)}: ${JSON.stringify(sentToGoogle)}`);
    }
  } finally {
    await b.stop();
    await mock.stop();
  }
});

// A broker on `mock` whose owner prices gpt-4o's output at $400 a million (config file prices), and
// a grant of one cent, which pays for under 25 tokens: a stream without a limit starts with less
// than its worst case.
async function centOnDearOutput(mock) {
  const config = join(tempDir(), 'aipassport.toml');
  writeFileSync(config, '[[prices]]\nprovider = "openai"\nmodel = "gpt-4o"\ninput = 1.0\noutput = 400.0\nmax_output_tokens = 16384\n');
  const b = await startBroker({ mock, args: ['--config', config] });
  const g = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o'], capabilities: ['chat'], maxBudgetCents: 1 });
  return { b, g, client: new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 }) };
}

test('a stream without a limit on a small budget: the provider is asked to stop where the budget does; owner prices in the config file apply', async () => {
  const mock = await startMock(['--stream-delay-ms', '2']);
  const { b, g, client } = await centOnDearOutput(mock);
  // Without a limit of its own the answer could be 16,384 tokens ($6.55); the provider stops at what
  // the cent pays for after the input reserved (1,000 bytes: $0.001), 22 tokens, as an answer that
  // reached its max_tokens does.
  const long = [{ role: 'user', content: 'word '.repeat(200) }];
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: long, stream: true });
  let text = '', finish;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'length', 'the provider stopped at the limit the broker sent');
  assert.ok(text.length > 0);
  // Settled before the end of the stream reached the app: its cost is there at once, within the cent.
  const view = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
  assert.ok(view.totals.costMicros > 5000 && view.totals.costMicros <= 10000, JSON.stringify(view.totals));
  const next = await call(b.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: { model: 'gpt-4o', messages, max_tokens: 50 } });
  assert.equal(next.status, 402);
  assert.match(next.json.error.message, /this call could cost up to \$0\.020\d+/);
  const stream2 = await call(b.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: { model: 'gpt-4o', messages, stream: true } });
  assert.equal(stream2.status, 402);
  assert.match(stream2.json.error.message, /this stream needs at least \$0\.00\d+ to start/);
});

test('an upstream that streams past the limit it was sent is cut there, the app told in the provider\'s shape', async () => {
  // 200 events for a reply of a few tokens: as an OpenAI-compatible server that ignores
  // max_completion_tokens would stream a long answer, an event a token.
  const mock = await startMock(['--stream-chunks', '200', '--stream-delay-ms', '2']);
  const { b, g, client } = await centOnDearOutput(mock);
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'word '.repeat(200) }], stream: true });
  let chunks = 0;
  await assert.rejects(async () => {
    for await (const chunk of stream) if (chunk.choices[0]?.delta) chunks++;
  }, (e) => e instanceof OpenAI.APIError && /wrote past the output limit the grant's budget pays for/.test(e.message));
  assert.ok(chunks >= 19 && chunks <= 22, `cut where the reservation ends (${chunks} chunks)`);
  const view = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
  assert.ok(view.totals.costMicros <= 10000, JSON.stringify(view.totals));
});

test('a Responses stream without a limit on a small budget ends incomplete at what the budget pays for', async () => {
  const { b, g, client } = await centOnDearOutput(slowMock);
  const stream = await client.responses.create({ model: 'gpt-4o', input: 'word '.repeat(200), stream: true });
  let last;
  for await (const event of stream) last = event;
  assert.equal(last.type, 'response.incomplete');
  assert.equal(last.response.incomplete_details.reason, 'max_output_tokens');
  assert.ok(last.response.usage.output_tokens <= 22, JSON.stringify(last.response.usage));
  const view = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
  assert.ok(view.totals.costMicros <= 10000, JSON.stringify(view.totals));
});

test('/proxy/chat answers a budget it cannot fit with the reference\'s 429, typed budget_exceeded', async () => {
  const g = await approvedGrant(broker, { provider: 'anthropic', models: ['claude-opus-4-1'], capabilities: ['chat'], maxBudgetCents: 1 });
  const r = await call(broker.url, 'POST', '/proxy/chat', { token: g.token, body: { model: 'claude-opus-4-1', messages, max_tokens: 4000 } });
  assert.equal(r.status, 429);
  assert.equal(r.json.type, 'budget_exceeded');
  assert.match(r.json.error, /Budget exceeded: this call could cost up to \$0\.30\d+ and the grant's budget of \$0\.010000/);
});

test('an abandoned stream is charged for what went through', async () => {
  const mock = await startMock(['--stream-chunks', '100', '--stream-delay-ms', '30']);
  const b = await startBroker({ mock });
  const g = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 100 });
  const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let seen = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta) seen++;
    if (seen === 5) break;  // the app walks away
  }
  const usage = await eventually(async () => {
    const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
    return u.totals.requests === 1 && u;
  }, 'the abandoned stream settled');
  assert.ok(usage.totals.outputTokens >= 5);
  assert.ok(usage.totals.outputTokens < 100, 'gpt-4o-mini shows all it writes: its events count its output');
  // Its input, which OpenAI reports only at the end, is charged as reserved: at least the bytes
  // the app sent, not a quarter of them.
  const sent = Buffer.byteLength(JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }));
  assert.ok(usage.totals.inputTokens >= sent, `${usage.totals.inputTokens} input tokens for ${sent} bytes`);
  assert.ok(usage.totals.costMicros > 0);
  assert.equal(usage.budget.spentMicros, usage.totals.costMicros);
  await eventually(async () => (await mockStats(mock)).streams.cancelled === 1, 'the provider stream cancelled');
});

test('on a budget, an abandoned stream whose events carry several tokens each is charged a token a byte of what went through', async () => {
  // Ten deltas for the whole answer: each carries many tokens, and an app leaving before Anthropic's
  // closing figures would pay one token an event.
  const mock = await startMock(['--stream-chunks', '10', '--stream-delay-ms', '30']);
  const b = await startBroker({ mock });
  const g = await approvedGrant(b, { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'], maxBudgetCents: 100 });
  const client = new Anthropic({ apiKey: g.token, baseURL: `${b.url}/anthropic`, maxRetries: 0 });
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, messages });
  let text = '';
  let events = 0;
  await assert.rejects(new Promise((resolve, reject) => {
    stream.on('text', (piece) => { text += piece; if (++events === 3) stream.abort(); });
    stream.on('error', reject);
    stream.on('abort', reject);
    stream.on('end', resolve);
  }));
  const usage = await eventually(async () => {
    const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
    return u.totals.requests === 1 && u;
  }, 'the abandoned stream settled');
  const seen = Buffer.byteLength(text);
  assert.ok(seen > 3 * events, `the deltas carried several bytes each: ${seen} in ${events}`);
  assert.ok(usage.totals.outputTokens >= seen, `${usage.totals.outputTokens} output tokens for ${seen} bytes of text`);
  assert.ok(usage.totals.outputTokens <= 500, 'within what was reserved');
  await b.stop();
  await mock.stop();
});

// A gpt-5 stream (which reasons unseen) of a 5-dollar grant, from a broker started with `args`,
// left by the app after 5 events (some 400 ms in): how long it ran as the app saw it, and the output
// tokens it was charged once settled.
async function abandonedReasoningStream(args = []) {
  const mock = await startMock(['--stream-chunks', '100', '--stream-delay-ms', '100']);
  const b = await startBroker({ mock, args });
  const g = await approvedGrant(b, { provider: 'openai', models: ['gpt-5'], capabilities: ['chat'], maxBudgetCents: 500 });
  const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 });
  const started = performance.now();
  const stream = await client.chat.completions.create({ model: 'gpt-5', messages, stream: true, max_completion_tokens: 20000 });
  let seen = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta) seen++;
    if (seen === 5) break;
  }
  const ran = performance.now() - started;
  const usage = await eventually(async () => {
    const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
    return u.totals.requests === 1 && u;
  }, 'the abandoned stream settled');
  assert.ok(usage.totals.outputTokens <= 20000, 'never more than was reserved');
  return { ran, charged: usage.totals.outputTokens };
}

test('an abandoned stream of a model that reasons unseen is charged what it could have made in the time it ran', async () => {
  // OpenAI's reasoning models stream no event while they reason, and report usage only at the end:
  // an app could leave a stream as its answer begins, after a long and costly reasoning.
  const { ran, charged } = await abandonedReasoningStream();
  // At 1,000 tokens a second for the time the broker relayed it (a little less than the app saw).
  assert.ok(charged >= 300 && charged <= Math.ceil(ran) + 1000, `${charged} output tokens after ${Math.round(ran)} ms`);
});

test('a model an owner\'s price says writes faster is charged at its own speed for the time its stream ran', async () => {
  const config = join(tempDir(), 'aipassport.toml');
  writeFileSync(config, '[[prices]]\nprovider = "openai"\nmodel = "gpt-5"\ninput = 1.25\noutput = 10.0\n'
    + 'max_output_tokens = 128000\nreasons_unseen = true\ntokens_per_second = 5000\n');
  const { ran, charged } = await abandonedReasoningStream(['--config', config]);
  // At 5,000 tokens a second, not the shipped 1,000.
  assert.ok(charged >= 1500 && charged <= 5 * Math.ceil(ran) + 5000, `${charged} output tokens after ${Math.round(ran)} ms`);
});

// A Claude Haiku 4.5 stream that may run 2 web searches, from a broker of its own on an emulation
// run with `mockFlags`: the broker, the grant and the stream.
async function searchingStream(mockFlags) {
  const mock = await startMock(mockFlags);
  const b = await startBroker({ mock });
  const g = await approvedGrant(b, { provider: 'anthropic', models: ['claude-haiku-4-5'], capabilities: ['chat'], maxBudgetCents: 500 });
  const client = new Anthropic({ apiKey: g.token, baseURL: `${b.url}/anthropic`, maxRetries: 0 });
  const tools = [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }];
  const stream = await client.messages.create({ model: 'claude-haiku-4-5', messages, max_tokens: 1000, tools, stream: true });
  return { mock, b, g, stream };
}

// That the stream was charged as reserved: Haiku 4.5's 200,000-token window read once, then again
// after each of the 2 searches allowed, at $1 a million; and the 2 searches at $0.01 each.
async function assertChargedAsReserved(b, g, reported) {
  const usage = await eventually(async () => {
    const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
    return u.totals.requests === 1 && u;
  }, 'the stream settled');
  assert.ok(usage.totals.inputTokens >= 600000, `${usage.totals.inputTokens} input tokens, ${reported} reported`);
  assert.ok(usage.totals.costMicros >= 600000 + 2 * 10000, `${usage.totals.costMicros} micro-USD`);
}

test('an abandoned stream whose server-side tools may have run is charged its reserved input and tool uses', async () => {
  // Claude reports its first turn's input in message_start, and the searches and the turns that
  // read their results only at the end: an app that left once the results came paid for neither.
  const { mock, b, g, stream } = await searchingStream(['--stream-chunks', '100', '--stream-delay-ms', '30']);
  let reported = 0, deltas = 0;
  for await (const event of stream) {
    if (event.type === 'message_start') reported = event.message.usage.input_tokens;
    if (event.type === 'content_block_delta' && ++deltas === 5) break;
  }
  assert.ok(reported > 0, 'the provider reported the first turn\'s input');
  await assertChargedAsReserved(b, g, reported);
  await eventually(async () => (await mockStats(mock)).streams.cancelled === 1, 'the provider stream cancelled');
});

test('a stream the provider ended with an error after its first turn is charged as one cut short', async () => {
  // Anthropic reports an overload mid-stream as an error event, with no closing message_delta: the
  // stream ends whole, and what message_start said is the first turn's only.
  const { b, g, stream } = await searchingStream(['--stream-chunks', '10', '--overload-after', '3']);
  let reported = 0, deltas = 0;
  await assert.rejects(async () => {
    for await (const event of stream) {
      if (event.type === 'message_start') reported = event.message.usage.input_tokens;
      if (event.type === 'content_block_delta') deltas++;
    }
  }, (e) => {
    assert.match(e.message, /overloaded_error|Overloaded/);
    return true;
  });
  assert.equal(deltas, 3);
  await assertChargedAsReserved(b, g, reported);
});

test('an abandoned stream whose image the provider had read is charged what was reserved for its input', async () => {
  // A Responses stream reports usage only at its end: cut before, its input is unknown, and a
  // request holding an image is not bounded by its bytes (gpt-4o-mini's 128k-token window is).
  const mock = await startMock(['--stream-chunks', '100', '--stream-delay-ms', '30']);
  const b = await startBroker({ mock });
  const g = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 100 });
  const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 });
  const input = [{ role: 'user', content: [{ type: 'input_text', text: 'What is this?' },
    { type: 'input_image', image_url: 'https://img.example/cat.png' }] }];
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input, max_output_tokens: 500, stream: true });
  let deltas = 0;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') deltas++;
    if (deltas === 5) break;  // the app walks away before response.completed
  }
  const usage = await eventually(async () => {
    const u = (await call(b.url, 'GET', `/grants/${g.grantId}/usage`, { token: b.ownerToken })).json;
    return u.totals.requests === 1 && u;
  }, 'the abandoned stream settled');
  // gpt-4o-mini's 128,000-token window, its images billed at 33.34 times the tokens they take of it.
  assert.equal(usage.totals.inputTokens, 4267520, JSON.stringify(usage.totals));
  assert.ok(usage.totals.costMicros >= costOf(MINI, 4267520, 5), JSON.stringify(usage.totals));
});

test('requests per minute: a burst over rateLimit gets 429 with Retry-After, and passes after the wait', async () => {
  const mock = await startMock();
  const b = await startBroker({ mock });
  const g = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], rateLimit: 60 });
  const body = { model: 'gpt-4o-mini', messages };
  // The bucket holds 60 and refills one a second from the first call: calls until the first 429,
  // then no more than 60 and what refilled meanwhile got through (a slow machine refills more).
  const started = performance.now();
  const answers = [];
  for (let i = 0; i < 200; i++) {
    answers.push(await call(b.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body }));
    if (answers.at(-1).status !== 200) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const refused = answers.pop();
  const last = answers.at(-1);
  assert.ok(answers.length >= 60 && answers.length <= 60 + Math.ceil(seconds), `${answers.length} admitted in ${seconds.toFixed(2)} s`);
  assert.equal(last.headers.get('x-ratelimit-limit-requests'), '60');
  assert.ok(Number(last.headers.get('x-ratelimit-remaining-requests')) <= 1);
  assert.match(last.headers.get('x-ratelimit-reset-requests'), /^\d+(ms|s|m\d+s)$/);
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.code, 'rate_limit_exceeded');
  assert.equal(refused.headers.get('retry-after'), '1');  // one request a second comes back
  assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await call(b.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body })).status, 200);
  // The OpenAI SDK reads the same refusal as its RateLimitError: a grant of one call a minute, used.
  const slow = await approvedGrant(b, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], rateLimit: 1 });
  const client = new OpenAI({ apiKey: slow.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 });
  await client.chat.completions.create(body);
  await assert.rejects(client.chat.completions.create(body), (e) => e instanceof OpenAI.RateLimitError);
});

test('a request cap used up shows as exhausted; the owner raises it and the grant works again', async () => {
  const g = await grant({ maxRequests: 1 });
  const body = { model: 'gpt-4o-mini', messages };
  assert.equal((await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body })).status, 200);
  assert.equal((await grantView(g.grantId)).status, 'exhausted');
  const capped = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body });
  assert.equal(capped.status, 429);
  assert.match(capped.json.error.message, /Usage cap exceeded \(1 of 1 requests used\)/);
  const bad = await call(broker.url, 'PATCH', `/grants/${g.grantId}`, { token: broker.ownerToken, body: { maxRequests: -1 } });
  assert.equal(bad.status, 400);
  const wider = await call(broker.url, 'PATCH', `/grants/${g.grantId}`, { token: broker.ownerToken, body: { maxRequests: 3 } });
  assert.equal(wider.status, 200, wider.text);
  assert.equal(wider.json.status, 'approved');
  assert.equal(wider.json.requests.remaining, 2);
  const reopened = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body });
  assert.equal(reopened.status, 200, reopened.text);
});

test('the app reads its own remaining budget and requests with its token', async () => {
  const g = await grant({ maxBudgetCents: 50, maxRequests: 10 });
  await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: { model: 'gpt-4o-mini', messages } });
  const passport = await call(broker.url, 'GET', '/v1/passport', { token: g.token });
  assert.equal(passport.status, 200);
  assert.equal(passport.json.grantId, g.grantId);
  assert.equal(passport.json.budget.limitMicros, 500000);
  assert.ok(passport.json.budget.spentMicros > 0);
  assert.equal(passport.json.budget.remainingMicros, 500000 - passport.json.budget.spentMicros);
  assert.equal(passport.json.requests.used, 1);
  assert.equal(passport.json.requests.remaining, 9);
  assert.equal(passport.json.metering.pricesAsOf, '2026-11-28');
  assert.equal((await call(broker.url, 'GET', '/v1/passport', { token: 'nope' })).status, 401);
});

test('crossing a budget threshold records an event and POSTs the webhook', async () => {
  const received = [];
  const hook = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => { text += c; });
    req.on('end', () => { received.push(JSON.parse(text)); res.end('ok'); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const mock = await startMock();
  const b = await startBroker({ mock, env: {
    AIPASSPORT_ALERT_THRESHOLDS: '5,90', AIPASSPORT_ALERT_WEBHOOK_URL: `http://127.0.0.1:${hook.address().port}/alerts`,
  } });
  const g = await approvedGrant(b, { provider: 'anthropic', models: ['claude-opus-4-1'], capabilities: ['chat'], maxBudgetCents: 1 });
  const r = await call(b.url, 'POST', '/anthropic/v1/messages', { token: g.token, body: { model: 'claude-opus-4-1', messages, max_tokens: 100 } });
  assert.equal(r.status, 200, r.text);  // about 800 micro-USD of 10000 at $15/$75: past 5%, not 90%
  const events = (await call(b.url, 'GET', `/grants/${g.grantId}/events`, { token: b.ownerToken })).json.events;
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].type, 'budget_threshold');
  assert.equal(events[0].detail.percent, 5);
  await eventually(() => received.length === 1, 'the webhook call');
  assert.equal(received[0].type, 'budget_threshold');
  assert.equal(received[0].grantId, g.grantId);
  assert.equal(received[0].detail.budgetMicros, 10000);
  hook.close();
});

test('a model with no known price is refused on a budgeted grant, and the grant says so', async () => {
  const g = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'], maxBudgetCents: 5 });
  const r = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: { model: 'gpt-mystery', messages } });
  assert.equal(r.status, 403);
  assert.match(r.json.error.message, /No price is known for model 'gpt-mystery'/);
  const view = await grantView(g.grantId);
  assert.equal(view.metering.unpricedModels, 'refused when the grant has a budget');
  const free = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  assert.equal((await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: free.token, body: { model: 'gpt-mystery', messages } })).status, 200);
});
