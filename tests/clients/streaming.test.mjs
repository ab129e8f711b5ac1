// Streams through the broker with the official SDKs against a slow emulation: events arrive as the
// provider sends them, an abandoned stream is cancelled upstream and what it used is counted, and
// a provider that fails gives the app its provider-shaped 502/504 while the broker stays healthy.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { startMock, startBroker, approvedGrant, call, mockStats, usageOf, eventually, revoke } from './setup.mjs';

const CHUNKS = 30;
let mock, broker;
const messages = [{ role: 'user', content: 'Tell me a long story about the sea and the lighthouse keeper' }];

before(async () => {
  mock = await startMock(['--stream-chunks', String(CHUNKS), '--stream-delay-ms', '40']);
  broker = await startBroker({ mock });
});

const grantFor = (provider) => approvedGrant(broker, { provider, models: [], capabilities: ['chat'] });

test('OpenAI: the first event reaches the app while the provider is still streaming', async () => {
  const g = await grantFor('openai');
  const client = new OpenAI({ apiKey: g.token, baseURL: `${broker.url}/openai/v1`, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let first = true;
  let text = '';
  for await (const chunk of stream) {
    if (first) {
      first = false;
      const { streams } = await mockStats(mock);
      assert.equal(streams.active, 1, 'the provider has not finished when the app sees the first event');
    }
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.match(text, /lighthouse keeper/);
  // The emulation counts its stream done once its last write returned, a moment after the app read it.
  await eventually(async () => (await mockStats(mock)).streams.active === 0, 'the provider finished its stream');
});

test('Anthropic: the first text arrives while the provider is still streaming', async () => {
  const g = await grantFor('anthropic');
  const client = new Anthropic({ apiKey: g.token, baseURL: `${broker.url}/anthropic`, maxRetries: 0 });
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, messages });
  const active = await new Promise((resolve, reject) => {
    stream.once('text', () => mockStats(mock).then((s) => resolve(s.streams.active), reject));
    stream.on('error', reject);
  });
  assert.equal(active, 1);
  await stream.finalMessage();
});

test('Gemini: the first chunk arrives while the provider is still streaming', async () => {
  const g = await grantFor('google');
  const ai = new GoogleGenAI({ apiKey: g.token, httpOptions: { baseUrl: `${broker.url}/gemini` } });
  let checked = false;
  for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'A long story' })) {
    if (!checked) {
      checked = true;
      assert.equal((await mockStats(mock)).streams.active, 1);
    }
    assert.ok(chunk.candidates.length > 0);
  }
  assert.ok(checked);
});

async function cancelledStreams() {
  return (await mockStats(mock)).streams.cancelled;
}

test('Anthropic: an abandoned stream is cancelled upstream and its input is counted', async () => {
  const g = await grantFor('anthropic');
  const client = new Anthropic({ apiKey: g.token, baseURL: `${broker.url}/anthropic`, maxRetries: 0 });
  const cancelled = await cancelledStreams();
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, messages });
  let events = 0;
  await assert.rejects(new Promise((resolve, reject) => {
    stream.on('text', () => { if (++events === 2) stream.abort(); });
    stream.on('error', reject);
    stream.on('abort', reject);
    stream.on('end', resolve);
  }));
  await eventually(async () => (await cancelledStreams()) > cancelled, 'the provider to see the stream cancelled');
  const usage = await eventually(async () => {
    const u = await usageOf(broker, g.grantId);
    return u.totals.requests === 1 && u;
  }, 'usage of the abandoned stream');
  assert.ok(usage.totals.inputTokens > 0, 'message_start\'s input tokens are counted');
});

test('Gemini: an abandoned stream is cancelled upstream and its partial output is counted', async () => {
  const g = await grantFor('google');
  const ai = new GoogleGenAI({ apiKey: g.token, httpOptions: { baseUrl: `${broker.url}/gemini` } });
  const cancelled = await cancelledStreams();
  const whole = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'A long story' });
  const controller = new AbortController();
  let chunks = 0;
  await assert.rejects(async () => {
    const stream = await ai.models.generateContentStream({
      model: 'gemini-2.5-flash', contents: 'A long story', config: { abortSignal: controller.signal },
    });
    for await (const chunk of stream) {
      assert.ok(chunk);
      if (++chunks === 3) controller.abort();
    }
  });
  await eventually(async () => (await cancelledStreams()) > cancelled, 'the provider to see the stream cancelled');
  const usage = await eventually(async () => {
    const u = await usageOf(broker, g.grantId);
    return u.totals.requests === 2 && u;
  }, 'usage of the abandoned stream');
  const streamed = usage.totals.outputTokens - whole.usageMetadata.candidatesTokenCount;
  assert.ok(streamed > 0 && streamed < whole.usageMetadata.candidatesTokenCount,
    `partial output counted: ${streamed} of ${whole.usageMetadata.candidatesTokenCount}`);
});

test('OpenAI: an abandoned stream is cancelled upstream and counted from what went through', async () => {
  const g = await grantFor('openai');
  const client = new OpenAI({ apiKey: g.token, baseURL: `${broker.url}/openai/v1`, maxRetries: 0 });
  const cancelled = await cancelledStreams();
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let chunks = 0;
  for await (const chunk of stream) {
    assert.ok(chunk);
    if (++chunks === 2) break;  // leaving the loop aborts the request
  }
  await eventually(async () => (await cancelledStreams()) > cancelled, 'the provider to see the stream cancelled');
  const usage = await eventually(async () => {
    const u = await usageOf(broker, g.grantId);
    return u.totals.requests === 1 && u;
  }, 'the request to be counted');
  // OpenAI reports usage only at the end: the broker counts a token per delta that went through
  // (at least the two the app read, at most the whole reply) and estimates the input from its size.
  assert.ok(usage.totals.outputTokens >= 2 && usage.totals.outputTokens < CHUNKS, `output ${usage.totals.outputTokens}`);
  assert.ok(usage.totals.inputTokens > 0);
});

test('a provider that is down: the SDK gets a 502 in its provider\'s shape', async () => {
  const down = await startBroker({ mock: { url: 'http://127.0.0.1:9' } });
  const g = await approvedGrant(down, { provider: 'openai', models: [], capabilities: ['chat'] });
  const client = new OpenAI({ apiKey: g.token, baseURL: `${down.url}/openai/v1`, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'server_error');
    assert.match(e.message, /openai could not be reached/);
    return true;
  });
});

test('a provider that is too slow: 504 in Anthropic\'s shape', async () => {
  const slow = await startMock(['--latency-ms', '3000']);
  const b = await startBroker({ mock: slow, env: { AIPASSPORT_UPSTREAM_TIMEOUT_SECONDS: '1' } });
  const g = await approvedGrant(b, { provider: 'anthropic', models: [], capabilities: ['chat'] });
  const client = new Anthropic({ apiKey: g.token, baseURL: `${b.url}/anthropic`, maxRetries: 0 });
  await assert.rejects(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages }), (e) => {
    assert.equal(e.status, 504);
    assert.equal(e.error.error.type, 'timeout_error');
    return true;
  });
});

test('a provider that dies mid-stream: the app sees the stream cut short, the broker stays healthy', async () => {
  const dying = await startMock(['--stream-chunks', '50', '--stream-delay-ms', '50']);
  const b = await startBroker({ mock: dying });
  const g = await approvedGrant(b, { provider: 'openai', models: [], capabilities: ['chat'] });
  const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let chunks = 0;
  await assert.rejects(async () => {
    for await (const chunk of stream) {
      assert.ok(chunk);
      if (++chunks === 2) await dying.stop('SIGKILL');
    }
  });
  assert.ok(chunks >= 2 && chunks < 50, `got ${chunks} chunks`);
  assert.equal((await call(b.url, 'GET', '/health')).status, 200);
  assert.match(b.output, /stream broke off/);
});

test('a revocation ends the streams already open: the app is told, and the provider stops', async () => {
  for (const provider of ['openai', 'anthropic']) {
    const g = await grantFor(provider);
    const cancelled = await cancelledStreams();
    const stream = provider === 'openai'
      ? await new OpenAI({ apiKey: g.token, baseURL: `${broker.url}/openai/v1`, maxRetries: 0 })
        .chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
      : await new Anthropic({ apiKey: g.token, baseURL: `${broker.url}/anthropic`, maxRetries: 0 })
        .messages.create({ model: 'claude-haiku-4-5', max_tokens: 500, messages, stream: true });
    // Revoked once three events of output have reached the app (Anthropic's first events carry none,
    // so counting every event made what was charged depend on how soon the revocation landed).
    const carriesOutput = (ev) => (provider === 'openai' ? ev.choices?.[0]?.delta !== undefined : ev.type === 'content_block_delta');
    let events = 0, outputs = 0;
    await assert.rejects(async () => {
      for await (const ev of stream) {
        ++events;
        if (carriesOutput(ev) && ++outputs === 3) await revoke(broker, g.grantId);
      }
    }, (e) => {
      assert.match(e.message, /Stream ended: the grant was revoked or has expired/, `${provider}: ${e.message}`);
      return true;
    });
    assert.ok(events < CHUNKS, `${provider}: ${events} events of ${CHUNKS} reached the app`);
    await eventually(async () => (await cancelledStreams()) > cancelled, `${provider}: the provider sees the stream cancelled`);
    const usage = await eventually(async () => {
      const u = await usageOf(broker, g.grantId);
      return u.totals.requests === 1 && u;
    }, `${provider}: the cut stream is counted`);
    assert.ok(usage.totals.outputTokens >= outputs, `${provider}: what went through is counted: ${JSON.stringify(usage.totals)}`);
  }
});

test('a revocation ends a call whose provider has gone quiet: a stream between events, a whole answer being written', async () => {
  // The provider sends the first event, then nothing for a minute (a model thinking); another
  // emulation takes a minute before a whole answer, a third a minute in the middle of its body.
  // Each call is given 20 s: the broker must end it.
  const silent = await startMock(['--stream-chunks', '3', '--stream-delay-ms', '60000']);
  const slow = await startMock(['--latency-ms', '60000']);
  const midBody = await startMock(['--body-pause-ms', '60000']);
  for (const [mockFor, streamed] of [[silent, true], [slow, false], [midBody, false]]) {
    const b = await startBroker({ mock: mockFor });
    const g = await approvedGrant(b, { provider: 'openai', models: [], capabilities: ['chat'] });
    const client = new OpenAI({ apiKey: g.token, baseURL: `${b.url}/openai/v1`, maxRetries: 0, timeout: 20000 });
    let events = 0;
    await assert.rejects(async () => {
      if (streamed) {
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
        for await (const _ of stream) if (++events === 1) await revoke(b, g.grantId);
      } else {
        const answer = client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 50 });
        answer.catch(() => {});  // judged below, once revoked
        // A second is long enough for the call to be sent (and, mid-body, half the answer).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await revoke(b, g.grantId);
        await answer;
      }
    }, (e) => {
      const what = streamed ? 'Stream' : 'Call';
      assert.match(e.message, new RegExp(`${what} ended: the grant was revoked or has expired`), e.message);
      if (!streamed) assert.equal(e.status, 401);
      return true;
    });
    if (streamed) assert.equal(events, 1, 'nothing came after the first event');
    if (mockFor === midBody) assert.equal((await mockStats(midBody)).pausedMidBody, 1, 'cut after the head and half the body');
    const usage = await eventually(async () => {
      const u = await usageOf(b, g.grantId);
      return u.totals.requests === 1 && u;
    }, 'the ended call is on record');
    // The provider had the call and may bill for it: a stream for what went through, a whole
    // answer its worst case.
    assert.ok(usage.totals.inputTokens > 0, JSON.stringify(usage.totals));
    await b.stop();
  }
  await silent.stop();
  await slow.stop();
  await midBody.stop();
});

test('Gemini: a stream cut short without running output totals is counted a token a chunk', async () => {
  const quiet = await startMock(['--stream-chunks', String(CHUNKS), '--stream-delay-ms', '40', '--gemini-output-at-end']);
  const b = await startBroker({ mock: quiet });
  const g = await approvedGrant(b, { provider: 'google', models: [], capabilities: ['chat'] });
  const ai = new GoogleGenAI({ apiKey: g.token, httpOptions: { baseUrl: `${b.url}/gemini` } });
  const controller = new AbortController();
  let chunks = 0;
  let runningTotals = false;
  await assert.rejects(async () => {
    // gemini-2.0-flash shows all it writes: no thinking to charge by time.
    const stream = await ai.models.generateContentStream({
      model: 'gemini-2.0-flash', contents: 'A long story', config: { abortSignal: controller.signal },
    });
    for await (const chunk of stream) {
      if (chunk.usageMetadata?.candidatesTokenCount !== undefined) runningTotals = true;
      if (++chunks === 3) controller.abort();
    }
  }, (e) => /abort/i.test(`${e.name} ${e.message}`));
  assert.equal(runningTotals, false, 'the chunks that came carried no running output total');
  const usage = await eventually(async () => {
    const u = await usageOf(b, g.grantId);
    return u.totals.requests === 1 && u;
  }, 'usage of the abandoned stream');
  assert.ok(usage.totals.outputTokens >= 3, `a token for each chunk that reached the app: ${JSON.stringify(usage.totals)}`);
  await b.stop();
  await quiet.stop();
});
