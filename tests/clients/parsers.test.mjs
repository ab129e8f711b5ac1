// Parser differentials: bodies, headers and names that the broker and the provider could read
// differently, sent raw so that no SDK tidies them up. Each attack must be refused with 400 before
// anything reaches the provider.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, startBroker, approvedGrant, mockStats, call } from './setup.mjs';

let mock, broker, whisperOnly, chat;

before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
  whisperOnly = await approvedGrant(broker, { provider: 'openai', models: ['whisper-1'], capabilities: ['audio'] });
  chat = await approvedGrant(broker, {
    provider: 'openai', models: ['gpt-*-*-*-*-*-*-*-*-mini'], capabilities: ['chat'],
  });
});

const part = (boundary, headers, value) => `--${boundary}\r\n${headers}\r\n\r\n${value}\r\n`;
const file = (boundary) =>
  part(boundary, 'Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav', 'RIFF....');

async function upload(contentType, body) {
  const res = await fetch(`${broker.url}/openai/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${whisperOnly.token}`, 'content-type': contentType },
    body,
  });
  return { status: res.status, text: await res.text() };
}

const openaiCalls = async () => (await mockStats(mock)).requests.openai ?? 0;

// Sends an upload that must be refused with 400 saying `why`, before anything reaches the provider.
async function refusedUpload(contentType, body, why) {
  const before = await openaiCalls();
  const res = await upload(contentType, body);
  assert.equal(res.status, 400, res.text);
  assert.match(res.text, why);
  assert.equal(await openaiCalls(), before, 'the provider never received the upload');
}

test('an ordinary raw upload for the granted model goes through', async () => {
  const body = file('XyZ') + part('XyZ', 'Content-Disposition: form-data; name="model"', 'whisper-1') + '--XyZ--\r\n';
  const res = await upload('multipart/form-data; boundary=XyZ', body);
  assert.equal(res.status, 200, res.text);
  assert.match(res.text, /Mock transcript/);
});

test('a name= inside a quoted parameter does not make the prompt the model', async () => {
  const body = part('XyZ', 'Content-Disposition: form-data; x=" name=model;"; name="prompt"', 'whisper-1') +
    file('XyZ') + part('XyZ', 'Content-Disposition: form-data; name="model"', 'gpt-4o-transcribe') + '--XyZ--\r\n';
  await refusedUpload('multipart/form-data; boundary=XyZ', body, /Content-Disposition/);
});

test('a boundary= inside a quoted parameter does not make the broker split on another boundary', async () => {
  // Split on AA (the old reading) the file holds a whisper-1 form; split on XB (the provider's) the model is gpt-4o-transcribe.
  const hidden = `\r\n--AA\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--AA--\r\n`;
  const body = part('XB', 'Content-Disposition: form-data; name="file"; filename="a.wav"', hidden) +
    part('XB', 'Content-Disposition: form-data; name="model"', 'gpt-4o-transcribe') + '--XB--\r\n';
  await refusedUpload('multipart/form-data; x="; boundary=AA;"; boundary=XB', body, /Content-Type/);
});

test('a second model part and a bare-LF body are refused', async () => {
  const twice = part('XyZ', 'Content-Disposition: form-data; name="model"', 'whisper-1') + file('XyZ') +
    part('XyZ', 'Content-Disposition: form-data; name="model"', 'gpt-4o-transcribe') + '--XyZ--\r\n';
  await refusedUpload('multipart/form-data; boundary=XyZ', twice, /more than once/);
  const lf = 'x\n--XyZ\nContent-Disposition: form-data; name="model"\n\ngpt-4o-transcribe\n--XyZ--\n\r\n' +
    part('XyZ', 'Content-Disposition: form-data; name="model"', 'whisper-1') + '--XyZ--\r\n';
  await refusedUpload('multipart/form-data; boundary=XyZ', lf, /Malformed multipart/);
});

test('a model of 200 dashes against a pattern of many stars is refused at once, and the broker keeps answering', async () => {
  const before = await openaiCalls();
  const res = await call(broker.url, 'POST', '/openai/v1/chat/completions', {
    token: chat.token, body: { model: `gpt-${'-'.repeat(200)}`, messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(res.status, 400, res.text);
  assert.match(res.text, /Invalid model name/);
  assert.equal((await call(broker.url, 'GET', '/health')).status, 200);
  const dashes = await call(broker.url, 'POST', '/openai/v1/chat/completions', {
    token: chat.token, body: { model: `gpt-${'-'.repeat(100)}mini`, messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(dashes.status, 200, 'a long but bounded model is matched (greedily) and allowed');
  assert.equal(await openaiCalls(), before + 1);
});

test('a grant with nine stars in a pattern or a 129-character model is refused', async () => {
  for (const models of [['gpt-*-*-*-*-*-*-*-*-*-mini'], ['m'.repeat(129)], ['gpt 4o']]) {
    const res = await call(broker.url, 'POST', '/grant-requests', {
      body: { appName: 'App', appUrl: 'https://app.example', reason: 'r', scope: { provider: 'openai', models, capabilities: ['chat'] } },
    });
    assert.equal(res.status, 400, res.text);
    assert.ok('scope.models' in res.json.details.fieldErrors, res.text);
  }
});

test('query parameters the provider could read differently are refused; the key never goes upstream', async () => {
  const gemini = await approvedGrant(broker, { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'] });
  const before = (await mockStats(mock)).requests.google ?? 0;
  const path = '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent';
  const body = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
  // A second alt (plain, encoded or Google's $alt) would turn the metered SSE stream into a JSON
  // array; fields and callback would drop or wrap the usage figures.
  for (const query of ['alt=sse&alt=json', 'alt=sse&%61lt=json', 'alt=sse&$alt=json', 'alt=sse&fields=candidates',
    'alt=sse&callback=f', 'alt=sse&key=a&key=b']) {
    const res = await call(broker.url, 'POST', `${path}?${query}`, { token: gemini.token, body });
    assert.equal(res.status, 400, `${query}: ${res.text}`);
  }
  assert.equal((await mockStats(mock)).requests.google ?? 0, before);
  const ok = await call(broker.url, 'POST', `${path}?alt=sse&k%65y=${gemini.token}`, { body });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await mockStats(mock)).lastTargets.google, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
});

test('a JSON body goes upstream as application/json whatever content type the app gave', async () => {
  const res = await fetch(`${broker.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${chat.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: JSON.stringify({ model: 'gpt-a-b-c-d-e-f-g-h-mini', messages: [{ role: 'user', content: 'x&model=gpt-4o&' }] }),
  });
  assert.equal(res.status, 200, await res.text());
  const seen = Object.fromEntries(Object.entries((await mockStats(mock)).lastHeaders.openai).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(seen['content-type'], 'application/json');
});
