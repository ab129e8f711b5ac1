// Makes a fixed number of metered calls, as bench/post.lua does, and fails on any answer but 200:
// wrk runs for a time, while an instruction count per call needs a count of calls.
// Usage: node bench/calls.mjs URL TOKEN CALLS IN_FLIGHT
import http from 'node:http';

const [url, token, calls, inFlight] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Summarise the following paragraph in one sentence, please, and keep the names.' },
  ],
  max_tokens: 256,
});
const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) };

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
