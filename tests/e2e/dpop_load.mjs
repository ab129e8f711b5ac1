// A measurement, not a test: N DPoP-bound calls (each with its own proof) at concurrency C on one
// broker, req/s and p50/p99. Every proof's jti goes through the store's replay check.
//   AIPASSPORT_BIN=../../build/src/aipassport LABEL=sqlite node dpop_load.mjs
//   ../../scripts/with-postgres.sh env AIPASSPORT_E2E_STORE=postgres LABEL=postgres node dpop_load.mjs
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { chatBody, cliSync, nodeCall, startBroker, startMock, tempDir } from './harness.mjs';

const PASSWORD = 'correct horse battery staple', REDIRECT = 'http://127.0.0.1/callback', CHAT = '/openai/v1/chat/completions';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const dataDir = tempDir();
cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
const client = cliSync(['client', 'add', 'Notes', '--redirect-uri', REDIRECT, '--data-dir', dataDir]).toString().match(/client_id: (\S+)/)[1];
const mock = await startMock();
const node = await startBroker({ mock, dataDir });
const get = (path, cookie) => nodeCall(node.url, 'GET', path, { headers: cookie ? { cookie } : {} });
const post = (path, fields, cookie, headers = {}) => nodeCall(node.url, 'POST', path,
  { raw: new URLSearchParams(fields).toString(), headers: { ...form, ...(cookie ? { cookie } : {}), ...headers } });
const page = await get('/login');
const login = await post('/login', { csrf: hidden(page.text, 'csrf'), username: 'erin', password: PASSWORD }, page.headers['set-cookie'][0].split(';')[0]);
const session = login.headers['set-cookie'].find((c) => c.startsWith('aipassport_session=')).split(';')[0];
const verifier = randomBytes(32).toString('base64url');
const q = new URLSearchParams({ client_id: client, redirect_uri: REDIRECT, response_type: 'code', state: 'st',
  code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', scope: 'openai:chat' });
const consentPath = (await get(`/oauth/authorize?${q}`, session)).headers.location;
const cp = await get(consentPath, session);
const done = await post(consentPath, { csrf: hidden(cp.text, 'csrf'), decision: 'approve', lifetime: '3600', budget: '', max_requests: '', rate_limit: '', model: 'gpt-4o-mini', capability: 'chat' }, session);
const code = new URL(done.headers.location).searchParams.get('code');
const keyPair = await jose.generateKeyPair('ES256');
async function proof(path, { token, nonce } = {}) {
  const claims = { htm: 'POST', htu: node.url + path, iat: Math.floor(Date.now() / 1000), jti: randomUUID() };
  if (token) claims.ath = createHash('sha256').update(token).digest('base64url');
  if (nonce) claims.nonce = nonce;
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(keyPair.publicKey) }).sign(keyPair.privateKey);
}
const ex = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client, code_verifier: verifier };
const first = await post('/oauth/token', ex, undefined, { dpop: await proof('/oauth/token') });
const tokens = await post('/oauth/token', ex, undefined, { dpop: await proof('/oauth/token', { nonce: first.headers['dpop-nonce'] }) });
const token = tokens.json.access_token;
const N = Number(process.env.N ?? 3000), C = Number(process.env.C ?? 24);
const proofs = await Promise.all(Array.from({ length: N }, () => proof(CHAT, { token })));
const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: C });
const lat = []; let ok = 0, i = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async () => {
  while (i < N) {
    const p = proofs[i++];
    const s = performance.now();
    const r = await nodeCall(node.url, 'POST', CHAT, { agent, headers: { authorization: `DPoP ${token}`, dpop: p }, body: chatBody('gpt-4o-mini') });
    lat.push(performance.now() - s);
    if (r.status === 200) ok++; else if (ok === 0) console.log(r.status, r.text);
  }
}));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)].toFixed(1);
console.log(`${process.env.LABEL}: ${N} DPoP calls, concurrency ${C}: ${ok} ok, ${(N / secs).toFixed(0)} req/s, p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
process.exit(0);
