// Makes a fixed number of metered calls, as bench/post.lua does, and fails on any answer but 200:
// wrk runs for a time, while an instruction count per call needs a count of calls.
// Usage: node bench/calls.mjs URL TOKEN CALLS IN_FLIGHT [PROVIDER] [stream]
//   PROVIDER: openai (the default: a Chat Completions body, or the reference's /proxy/chat),
//   anthropic (a Messages body) or google (a generateContent body, its model in the URL), each
//   with the credential where that provider's SDK puts it.
//   stream: asks for a streamed answer ("stream": true; for google, give a streamGenerateContent
//   URL, which says so itself). A stream's status is checked, not the events in it.
import http from 'node:http';

const [url, token, calls, inFlight] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const provider = process.argv[6] ?? 'openai';
const stream = process.argv[7] === 'stream';
const system = 'Be brief.';
const prompt = 'Summarise the following paragraph in one sentence, please, and keep the names.';
const shapes = {
  openai: {
    body: { model: 'gpt-4o-mini', messages: [{ role: 'system', content: system }, { role: 'user', content: prompt }], max_tokens: 256 },
    credential: { authorization: `Bearer ${token}` },
  },
  anthropic: {
    body: { model: 'claude-3-5-haiku-latest', system, messages: [{ role: 'user', content: prompt }], max_tokens: 256 },
    credential: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
  },
  google: {
    body: { systemInstruction: { parts: [{ text: system }] }, contents: [{ role: 'user', parts: [{ text: prompt }] }],
      generationConfig: { maxOutputTokens: 256 } },
    credential: { 'x-goog-api-key': token },
  },
};
if (!shapes[provider]) throw new Error(`unknown provider ${provider}: openai, anthropic or google`);
if (process.argv[7] !== undefined && !stream) throw new Error(`unknown option ${process.argv[7]}: stream`);
if (stream && provider === 'google' && !url.includes(':streamGenerateContent')) throw new Error('a Gemini stream needs a streamGenerateContent URL');
if (stream && provider !== 'google') shapes[provider].body.stream = true;
const body = JSON.stringify(shapes[provider].body);
const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
const headers = { 'content-type': 'application/json', ...shapes[provider].credential, 'content-length': Buffer.byteLength(body) };

function call() {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`answer ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let left = calls;
async function caller() {
  while (left-- > 0) await call();
}
await Promise.all(Array.from({ length: inFlight }, caller));
agent.destroy();
