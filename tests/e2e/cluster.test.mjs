// Three brokers on one PostgreSQL database (the cluster scripts/with-postgres.sh starts), with calls
// spread over them: caps, budgets and revocations hold across nodes, and every step of a flow may
// reach another node. Each node has its own data directory, as brokers on separate machines do: they
// share only the database, the master key and one public URL (the balancer's); the signing keys
// come from the database.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import * as jose from 'jose';
import { BIN, KEYS, approvedGrant, call, chatBody, cliSync, databaseUrlFor, eventually, mockStats, nodeCall, startBroker,
  startMock, tempDir } from './harness.mjs';

// A key an owner stores in the vault; the emulation takes it besides the environment's keys.
const CAROL_KEY = 'sk-ant-carol-4Fj8Qz2Lm7';
let mock;
let nodes;
// What apps see: the balancer in front of the nodes (DPoP htu and OAuth iss name it).
const PUBLIC_URL = 'http://balancer.aipassport.test';
// What every node, and a command run from anywhere, needs: the database, the master key, the URL.
let shared;

before(async () => {
  mock = await startMock([CAROL_KEY, ...Object.values(KEYS)].flatMap((k) => ['--accept-key', k]));
  shared = {
    AIPASSPORT_DATABASE_URL: databaseUrlFor(tempDir()),
    AIPASSPORT_MASTER_KEY: randomBytes(32).toString('base64'),
    AIPASSPORT_PUBLIC_URL: PUBLIC_URL,
  };
  // Started at once, so they race to make the signing key ring of an empty database.
  nodes = await Promise.all([0, 1, 2].map(() => startBroker({ mock, dataDir: tempDir(), env: shared })));
  const tokens = nodes.map((n) => n.ownerToken).filter(Boolean);
  assert.equal(tokens.length, 1, 'one node made the owner token');
  for (const node of nodes) node.ownerToken = tokens[0];  // one database, one owner token
});

// `aipassport <args>` run against the shared database from a machine with none of the nodes' files.
function onDatabase(args, input = '') {
  return new Promise((resolve) => {
    const child = execFile(BIN, [...args, '--data-dir', tempDir()], { env: { PATH: process.env.PATH, ...shared } },
      (error, stdout, stderr) => {
        assert.equal(error, null, stdout + stderr);
        resolve(stdout);
      });
    child.stdin.end(input);
  });
}

// Signs `username` in on `node`; returns the session cookie.
async function sessionCookie(node, username, password) {
  const page = await fetch(`${node.url}/login`);
  const loginCsrf = page.headers.getSetCookie()[0].split(';')[0];
  const form = new URLSearchParams({ csrf: (await page.text()).match(/name="csrf" value="([^"]*)"/)[1], username, password });
  const res = await fetch(`${node.url}/login`, { method: 'POST', redirect: 'manual', body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCsrf } });
  assert.equal(res.status, 303, `${username} signs in`);
  return res.headers.getSetCookie().find((c) => c.startsWith('aipassport_session=')).split(';')[0];
}

const jwksOf = async (node) => (await call(node.url, 'GET', '/.well-known/jwks.json')).json;
const kidOf = (token) => jose.decodeProtectedHeader(token).kid;

const SCOPE = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] };

// Each broker writes its calls' usage just behind their answers, so another broker's view may lag
// by a few milliseconds, never overshoot: reads until `done` (for up to 2 s), checking `always` on
// every read, and returns the last view.
async function lagging(read, always, done) {
  for (const deadline = Date.now() + 2000; ;) {
    const view = await read();
    always(view);
    if (done(view) || Date.now() > deadline) return view;
    await new Promise((res) => setTimeout(res, 20));
  }
}

function spread(count, fn) {
  return Promise.all(Array.from({ length: count }, (_, i) => fn(nodes[i % nodes.length], i)));
}

test('200 concurrent calls over three brokers against a cap of 37: exactly 37 reach the provider', async () => {
  const g = await approvedGrant(nodes[0], { ...SCOPE, maxRequests: 37, maxConcurrent: 500 });
  const before = (await mockStats(mock)).requests.openai;
  const results = await spread(200, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') }));
  assert.equal(results.filter((r) => r.status === 200).length, 37);
  assert.equal((await mockStats(mock)).requests.openai - before, 37);
  for (const r of results.filter((r) => r.status !== 200)) assert.equal(r.status, 429, r.text);
  const view = await lagging(async () => (await call(nodes[1].url, 'GET', `/grants/${g.grantId}`, { token: nodes[1].ownerToken })).json,
    (v) => assert.ok(v.usageCount <= 37, `usageCount ${v.usageCount}`), (v) => v.usageCount === 37);
  assert.equal(view.usageCount, 37);
});

test('200 concurrent calls over three brokers against a budget: it is never exceeded', async () => {
  const g = await approvedGrant(nodes[0], { ...SCOPE, maxBudgetCents: 1, maxConcurrent: 500 });
  const results = await spread(200, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini', { max_tokens: 400 }) }));
  const ok = results.filter((r) => r.status === 200).length;
  assert.ok(ok > 0, 'some calls fit');
  for (const r of results.filter((r) => r.status !== 200)) assert.equal(r.status, 402, r.text);
  const view = await lagging(async () => (await call(nodes[2].url, 'GET', `/grants/${g.grantId}/usage`, { token: nodes[2].ownerToken })).json,
    (v) => assert.ok(v.budget.spentMicros <= 10000, `spent ${v.budget.spentMicros} of 10000`), (v) => v.totals.requests === ok);
  assert.equal(view.totals.requests, ok);
});

test('a budget or a cap lowered on one broker binds the others at once: what they leased under the old one goes back', async () => {
  const g = await approvedGrant(nodes[0], { ...SCOPE, maxBudgetCents: 100, maxRequests: 1000, maxConcurrent: 500 });
  const chat = (node) => call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  const view = async () => (await call(nodes[0].url, 'GET', `/grants/${g.grantId}`, { token: nodes[0].ownerToken })).json;
  // Brokers give a lease back after 10 s without a call: without the recall, each would go on
  // spending what it leased under the old limit until then.
  const lower = async (by, limits, status) => {
    for (const node of nodes) assert.equal((await chat(node)).status, 200);
    const held = await view();
    assert.ok(held.budget.leasedMicros > 0 && held.requests.leased > 0, `each broker holds a lease: ${JSON.stringify(held)}`);
    const patch = await call(by.url, 'PATCH', `/grants/${g.grantId}`, { token: by.ownerToken, body: limits });
    assert.equal(patch.status, 200, patch.text);
    const back = await lagging(view, () => {}, (v) => v.budget.leasedMicros === 0 && v.requests.leased === 0);
    assert.deepEqual([back.budget.leasedMicros, back.requests.leased], [0, 0], JSON.stringify(back));
    for (const node of nodes) {
      const refused = await chat(node);
      assert.equal(refused.status, status, refused.text);
    }
    return back;
  };
  await lower(nodes[1], { maxBudgetCents: 0 }, 402);
  const raised = await call(nodes[0].url, 'PATCH', `/grants/${g.grantId}`, { token: nodes[0].ownerToken, body: { maxBudgetCents: 100 } });
  assert.equal(raised.status, 200, raised.text);
  const used = (await view()).usageCount;
  const capped = await lower(nodes[2], { maxRequests: used + 3 }, 429);
  assert.equal(capped.usageCount, used + 3, 'the three calls before the change, and none after');
});

test('a rate of 60 a minute over three brokers admits 60 (and what refilled meanwhile), whichever takes the calls', async () => {
  await new Promise((res) => setTimeout(res, 5500));  // every broker has heard of the others (one heartbeat)
  const g = await approvedGrant(nodes[0], { ...SCOPE, rateLimit: 60, maxConcurrent: 500 });
  const started = performance.now();
  const results = await spread(120, (node) =>
    call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') }));
  const seconds = (performance.now() - started) / 1000;
  const ok = results.filter((r) => r.status === 200).length;
  // The bucket holds 60 and refills one a second (a third of that on each broker).
  assert.ok(ok >= 60 && ok <= 60 + Math.ceil(seconds), `${ok} admitted in ${seconds.toFixed(1)} s`);
  for (const r of results.filter((r) => r.status !== 200)) {
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
  }
  // All of one broker's calls: it admits its share only (stricter, never looser).
  const h = await approvedGrant(nodes[0], { ...SCOPE, rateLimit: 60, maxConcurrent: 500 });
  const one = await Promise.all(Array.from({ length: 40 }, () =>
    call(nodes[1].url, 'POST', '/openai/v1/chat/completions', { token: h.token, body: chatBody('gpt-4o-mini') })));
  const admitted = one.filter((r) => r.status === 200).length;
  assert.ok(admitted >= 20 && admitted <= 22, `${admitted} admitted by one broker`);
});

test('a broker killed under load: its leases count as spent after the heartbeat window, the other goes on', async () => {
  // Two brokers of their own, which give up on a silent peer after 3 s (cluster.node_timeout_seconds).
  const env = { AIPASSPORT_DATABASE_URL: databaseUrlFor(tempDir()), AIPASSPORT_MASTER_KEY: randomBytes(32).toString('base64'),
    AIPASSPORT_NODE_TIMEOUT_SECONDS: '3', AIPASSPORT_PUBLIC_URL: PUBLIC_URL };  // one issuer for both
  const [doomed, survivor] = await Promise.all([0, 1].map(() => startBroker({ mock, dataDir: tempDir(), env })));
  const ownerToken = doomed.ownerToken ?? survivor.ownerToken;
  survivor.ownerToken = ownerToken;
  const g = await approvedGrant(survivor, { ...SCOPE, maxBudgetCents: 100, maxConcurrent: 500 });
  const body = chatBody('gpt-4o-mini', { max_tokens: 400 });
  // The doomed broker holds a lease for sure when it dies (a lease outlives the call that took it).
  const warm = await call(doomed.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body });
  assert.equal(warm.status, 200, warm.text);
  const load = Promise.all(Array.from({ length: 80 }, (_, i) =>
    call((i % 2 ? survivor : doomed).url, 'POST', '/openai/v1/chat/completions', { token: g.token, body }).catch(() => null)));
  await new Promise((res) => setTimeout(res, 30));
  await doomed.stop('SIGKILL');
  await load;
  const budget = async () => (await call(survivor.url, 'GET', `/grants/${g.grantId}`, { token: ownerToken })).json.budget;
  const after = await (async () => {
    for (const until = Date.now() + 10000; Date.now() < until; await new Promise((res) => setTimeout(res, 200))) {
      const b = await budget();
      if (b.lostMicros > 0) return b;
    }
    throw new Error('the killed broker\'s leases were never counted as lost');
  })();
  assert.ok(after.spentMicros + after.leasedMicros + after.lostMicros <= after.limitMicros, JSON.stringify(after));
  const next = await call(survivor.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body });
  assert.equal(next.status, 200, next.text);
  const final = await budget();
  assert.ok(final.spentMicros + final.leasedMicros + final.lostMicros <= final.limitMicros, JSON.stringify(final));
});

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('a revocation on one broker refuses the next call on the others within a second (50 revocations)', async (t) => {
  const latencies = [];
  for (let i = 0; i < 50; i++) {
    const [revoker, ...others] = [nodes[i % 3], nodes[(i + 1) % 3], nodes[(i + 2) % 3]];
    const g = await approvedGrant(revoker, SCOPE);
    for (const node of others) {  // each node has the grant in its cache
      const warm = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
      assert.equal(warm.status, 200, warm.text);
    }
    const revoked = await call(revoker.url, 'POST', `/grants/${g.grantId}/revoke`, { token: revoker.ownerToken });
    assert.equal(revoked.status, 200, revoked.text);
    const t0 = performance.now();
    await Promise.all(others.map(async (node) => {
      for (;;) {
        const sent = performance.now();
        const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
        if (r.status !== 200) {
          assert.equal(r.status, 401, r.text);
          latencies.push(performance.now() - t0);
          return;
        }
        assert.ok(sent - t0 < 1000, 'a call starting 1 s after the revocation was still served');
        await new Promise((res) => setTimeout(res, 20));
      }
    }));
  }
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50).toFixed(0);
  const p99 = percentile(latencies, 99).toFixed(0);
  t.diagnostic(`revocation reached the other brokers: p50 ${p50} ms, p99 ${p99} ms (${latencies.length} samples)`);
  assert.ok(latencies.at(-1) < 1000, `slowest ${latencies.at(-1)} ms`);
});

// --- Every step of a flow may reach another node ---

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1/callback';
const CHAT = '/openai/v1/chat/completions';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const cli = (args, input) => cliSync([...args, '--data-dir', tempDir()], { input, env: { ...process.env, ...shared } })
  .toString();

const get = (node, path, cookie) => nodeCall(node.url, 'GET', path, { headers: cookie ? { cookie } : {} });
const post = (node, path, fields, cookie, headers = {}) => nodeCall(node.url, 'POST', path,
  { raw: new URLSearchParams(fields).toString(), headers: { ...form, ...(cookie ? { cookie } : {}), ...headers } });

const users = new Set();
function addUser(name) {
  if (!users.has(name)) cli(['user', 'add', name, '--password-stdin'], `${PASSWORD}\n`);
  users.add(name);
}

// Signs in on `node`; the answer, and the session cookie when it worked.
async function signIn(node, username, password = PASSWORD) {
  const page = await get(node, '/login');
  const csrfCookie = page.headers['set-cookie'][0].split(';')[0];
  const res = await post(node, '/login', { csrf: hidden(page.text, 'csrf'), username, password }, csrfCookie);
  const session = res.headers['set-cookie']?.find((c) => c.startsWith('aipassport_session='))?.split(';')[0];
  return { res, session };
}

let notes;  // a public OAuth client
async function notesApp() {
  if (!notes) {
    addUser('erin');
    const out = cli(['client', 'add', 'Notes', '--redirect-uri', REDIRECT, '--device-grant']);
    notes = out.match(/client_id: (\S+)/)[1];
  }
  return notes;
}

// The consent screen for `consentPath` on `node`: reviewed and decided; where the browser goes next.
async function decide(node, session, consentPath, decision = 'approve') {
  const page = await get(node, consentPath, session);
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /Notes(<\/bdi>\u201D)? asks for access/, 'the node that did not see the request shows it');
  const done = await post(node, consentPath, { csrf: hidden(page.text, 'csrf'), decision, lifetime: '3600', budget: '',
    max_requests: '', rate_limit: '', model: 'gpt-4o-mini', capability: 'chat' }, session);
  assert.equal(done.status, 303, done.text);
  return done.headers.location;
}

const s256 = (verifier) => createHash('sha256').update(verifier).digest('base64url');

// /oauth/authorize on `node` for a signed-in person: the consent path it sends them to, and the
// PKCE verifier.
async function authorize(node, session, client) {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({ client_id: client, redirect_uri: REDIRECT, response_type: 'code', state: 'st',
    code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'openai:chat' });
  const start = await get(node, `/oauth/authorize?${query}`, session);
  assert.equal(start.status, 303, start.text);
  assert.match(start.headers.location, /^\/consent\//);
  return { consentPath: start.headers.location, verifier };
}

const chatOn = (node, token, headers = {}) => nodeCall(node.url, 'POST', CHAT,
  { headers: { authorization: `Bearer ${token}`, ...headers }, body: chatBody('gpt-4o-mini') });

// A broker stopped (a frozen VM, a debugger) while a grant is revoked elsewhere: once it runs again
// the calls that waited for it are not served from its cache, which is behind the change feed.
test('a broker stopped while a grant was revoked elsewhere refuses, once it runs again, the calls that waited', async () => {
  const [stopped, other] = nodes;
  const g = await approvedGrant(other, SCOPE);
  const chat = (node) => call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal((await chat(stopped)).status, 200, 'the grant is in its cache');
  const reached = (await mockStats(mock)).requests.openai;
  // Its usage is settled after the answer (write-behind): stopped inside that transaction, it would
  // hold the grant's row, and the revocation would wait for PostgreSQL to end its session (60 s).
  await eventually(async () => (await call(other.url, 'GET', `/grants/${g.grantId}/usage`, { token: other.ownerToken })).json.totals?.requests === 1,
    'the call settled', 5000);
  stopped.proc.kill('SIGSTOP');
  try {
    const revoked = await call(other.url, 'POST', `/grants/${g.grantId}/revoke`, { token: other.ownerToken });
    assert.equal(revoked.status, 200, revoked.text);
    const waiting = chat(stopped);  // sits in its socket until it runs again
    await new Promise((res) => setTimeout(res, 3000));
    stopped.proc.kill('SIGCONT');
    const r = await waiting;
    assert.equal(r.status, 401, r.text);
  } finally {
    stopped.proc.kill('SIGCONT');
  }
  assert.equal((await mockStats(mock)).requests.openai, reached, 'nothing reached the provider after the revocation');
});

test('an OAuth code flow whose authorize, consent and token steps each reach another node', async () => {
  const client = await notesApp();
  const { session } = await signIn(nodes[0], 'erin');
  const { consentPath, verifier } = await authorize(nodes[0], session, client);
  const back = new URL(await decide(nodes[1], session, consentPath));
  assert.equal(back.origin + back.pathname, REDIRECT);
  assert.equal(back.searchParams.get('state'), 'st');
  assert.equal(back.searchParams.get('iss'), PUBLIC_URL);
  const code = back.searchParams.get('code');
  assert.ok(code, back.href);
  const again = await get(nodes[2], consentPath, session);
  assert.notEqual(again.status, 200, 'a decided request is not offered again on another node');

  const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client, code_verifier: verifier };
  const tokens = await post(nodes[2], '/oauth/token', exchange);
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal((await chatOn(nodes[0], tokens.json.access_token)).status, 200);
  const replayed = await post(nodes[1], '/oauth/token', exchange);
  assert.equal(replayed.status, 400, 'the code works once, on whichever node');
  assert.equal(replayed.json.error, 'invalid_grant');
});

test('an OAuth request waiting for consent survives a restart of the node that took it', async () => {
  const client = await notesApp();
  const { session } = await signIn(nodes[1], 'erin');
  const { consentPath } = await authorize(nodes[1], session, client);
  await nodes[1].stop();
  nodes[1] = await startBroker({ mock, dataDir: tempDir(), env: shared });
  nodes[1].ownerToken = nodes[0].ownerToken;
  const back = new URL(await decide(nodes[1], session, consentPath, 'deny'));
  assert.equal(back.searchParams.get('error'), 'access_denied', 'the app still learns the decision');
});

async function startDevice(node, client) {
  const res = await post(node, '/oauth/device_authorization', { client_id: client, scope: 'openai:chat' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.verification_uri, `${PUBLIC_URL}/device`);
  return res.json;
}

const pollOn = (node, client, device) => post(node, '/oauth/token',
  { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: client });

test('a device flow whose request, code entry, consent and polls reach different nodes', async () => {
  const client = await notesApp();
  const device = await startDevice(nodes[0], client);
  const pending = await pollOn(nodes[1], client, device);
  assert.equal(pending.json?.error, 'authorization_pending', pending.text);

  const { session } = await signIn(nodes[2], 'erin');
  const entry = await get(nodes[2], `/device?user_code=${device.user_code}`, session);
  const entered = await post(nodes[2], '/device', { csrf: hidden(entry.text, 'csrf'), user_code: device.user_code }, session);
  assert.equal(entered.status, 303, entered.text);
  assert.match(entered.headers.location, /^\/consent\//);
  const twice = await post(nodes[1], '/device', { csrf: hidden(entry.text, 'csrf'), user_code: device.user_code }, session);
  assert.equal(twice.status, 404, 'a code entered on one node cannot be entered again on another');
  assert.equal(await decide(nodes[0], session, entered.headers.location), '/device?done=approved');

  await new Promise((res) => setTimeout(res, (device.interval + 0.5) * 1000));  // the interval since the first poll
  const tokens = await pollOn(nodes[2], client, device);
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal((await chatOn(nodes[1], tokens.json.access_token)).status, 200);
  const used = await pollOn(nodes[0], client, device);
  assert.equal(used.json?.error, 'invalid_grant', 'the device code is handed out once, on whichever node');
});

test('polling a device code too soon on another node is slow_down: the interval is shared', async () => {
  const client = await notesApp();
  const device = await startDevice(nodes[1], client);
  assert.equal((await pollOn(nodes[0], client, device)).json?.error, 'authorization_pending');
  const early = await pollOn(nodes[2], client, device);
  assert.equal(early.json?.error, 'slow_down', early.text);
  assert.match(early.json.error_description, /wait 10 seconds/);
});

// A DPoP proof made by hand for PUBLIC_URL + `path`.
async function proof(keyPair, path, { token, nonce, jti = randomUUID() } = {}) {
  const claims = { htm: 'POST', htu: PUBLIC_URL + path, iat: Math.floor(Date.now() / 1000), jti };
  if (token) claims.ath = createHash('sha256').update(token).digest('base64url');
  if (nonce) claims.nonce = nonce;
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(keyPair.publicKey) })
    .sign(keyPair.privateKey);
}

test('a DPoP proof accepted by one node is refused when replayed to the others; a nonce from one node is good on another', async (t) => {
  const client = await notesApp();
  const { session } = await signIn(nodes[0], 'erin');
  const { consentPath, verifier } = await authorize(nodes[0], session, client);
  const code = new URL(await decide(nodes[0], session, consentPath)).searchParams.get('code');
  const keyPair = await jose.generateKeyPair('ES256');
  const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client, code_verifier: verifier };
  const first = await post(nodes[1], '/oauth/token', exchange, undefined, { dpop: await proof(keyPair, '/oauth/token') });
  assert.equal(first.json?.error, 'use_dpop_nonce', first.text);
  const nonce = first.headers['dpop-nonce'];
  const tokens = await post(nodes[2], '/oauth/token', exchange, undefined,
    { dpop: await proof(keyPair, '/oauth/token', { nonce }) });
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal(tokens.json.token_type, 'DPoP');
  const token = tokens.json.access_token;

  const dpopChat = (node, dpop) => nodeCall(node.url, 'POST', CHAT,
    { headers: { authorization: `DPoP ${token}`, dpop }, body: chatBody('gpt-4o-mini') });
  const once = await proof(keyPair, CHAT, { token });
  assert.equal((await dpopChat(nodes[0], once)).status, 200);
  for (const node of [nodes[1], nodes[2], nodes[0]]) {
    const replay = await dpopChat(node, once);
    assert.equal(replay.status, 401, replay.text);
    assert.match(replay.text, /already used/);
  }
  assert.equal((await dpopChat(nodes[1], await proof(keyPair, CHAT, { token }))).status, 200,
    'a fresh proof is good on the other node: the refusal was the replay');

  // Under load: waves of 60 calls (20 a node, under the in-flight cap), each with its own proof,
  // all served; then each proof replayed to the next node, all refused.
  const proofs = await Promise.all(Array.from({ length: 180 }, () => proof(keyPair, CHAT, { token })));
  const t0 = performance.now();
  const served = [];
  for (let wave = 0; wave < 3; wave++)
    served.push(...await Promise.all(proofs.slice(wave * 60, wave * 60 + 60).map((p, i) => dpopChat(nodes[i % 3], p))));
  const ms = performance.now() - t0;
  assert.deepEqual(served.filter((r) => r.status !== 200).map((r) => r.text), []);
  const replays = [];
  for (let wave = 0; wave < 3; wave++)
    replays.push(...await Promise.all(proofs.slice(wave * 60, wave * 60 + 60).map((p, i) => dpopChat(nodes[(i + 1) % 3], p))));
  assert.deepEqual([...new Set(replays.map((r) => r.status))], [401]);
  t.diagnostic(`180 DPoP-bound calls over three nodes (waves of 60): ${ms.toFixed(0)} ms, all served; 180 replays refused`);
});

test('failed sign-ins on different nodes add up: the next attempt is refused on any node', async () => {
  addUser('frank');
  for (let i = 0; i < 5; i++) {
    const { res } = await signIn(nodes[i % 3], 'frank', 'wrong password');
    assert.equal(res.status, 401, res.text);
  }
  for (const node of nodes) {
    const { res } = await signIn(node, 'frank');
    assert.equal(res.status, 429, 'refused even with the right password, on every node');
    assert.ok(Number(res.headers['retry-after']) > 0);
  }
});
test('one signing key ring: a token issued by any broker is accepted by the others', async () => {
  const [a, b, c] = await Promise.all(nodes.map(jwksOf));
  assert.equal(a.keys.length, 1, 'brokers starting at once made one key');
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
  for (const [i, issuer] of nodes.entries()) {
    const g = await approvedGrant(issuer, SCOPE);
    assert.equal(kidOf(g.token), a.keys[0].kid);
    for (const node of nodes.filter((n) => n !== issuer)) {
      const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
      assert.equal(r.status, 200, `node ${i}'s token on another node: ${r.text}`);
    }
  }
});

test('keys rotate-signing run against the database: every broker publishes the new key within a second', async (t) => {
  const g = await approvedGrant(nodes[0], SCOPE);
  const oldKid = kidOf(g.token);
  const out = await onDatabase(['keys', 'rotate-signing']);
  const t0 = performance.now();
  const newKid = out.match(/new signing key (\S+) is published now/)[1];
  const reached = await Promise.all(nodes.map(async (node) => {
    for (;;) {
      const jwks = await jwksOf(node);
      if (jwks.keys.some((k) => k.kid === newKid)) return performance.now() - t0;
      assert.ok(performance.now() - t0 < 1000, 'a JWKS read 1 s after the rotation still lacks the new key');
      await new Promise((res) => setTimeout(res, 20));
    }
  }));
  t.diagnostic(`the new key was published by the three brokers after ${reached.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  for (const node of nodes) {
    const jwks = await jwksOf(node);
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    // Published, not signing yet (signing.publish_seconds, 600 s by default); the old key still signs.
    const fresh = await approvedGrant(node, SCOPE);
    assert.equal(kidOf(fresh.token), oldKid);
    await jose.jwtVerify(fresh.token, jose.createLocalJWKSet(jwks), { issuer: PUBLIC_URL, audience: 'aipassport' });
    const r = await call(node.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
    assert.equal(r.status, 200, r.text);
  }
});

test('a session ends on every broker when its owner changes password or is removed on the database', async () => {
  const password = 'correct horse battery staple';
  await onDatabase(['user', 'add', 'alice', '--password-stdin'], `${password}\n`);
  const signIn = (node, pw) => sessionCookie(node, 'alice', pw);
  const statuses = (cookie) => Promise.all(nodes.map(async (node) => (await call(node.url, 'GET', '/grants', { headers: { cookie } })).status));

  const first = await signIn(nodes[0], password);
  assert.deepEqual(await statuses(first), [200, 200, 200], 'a session made on one node is known to all');
  await onDatabase(['user', 'passwd', 'alice', '--password-stdin'], 'another horse battery staple\n');
  assert.deepEqual(await statuses(first), [401, 401, 401], 'the password change ended it everywhere at once');

  const second = await signIn(nodes[1], 'another horse battery staple');
  assert.deepEqual(await statuses(second), [200, 200, 200]);
  await onDatabase(['user', 'remove', 'alice']);
  assert.deepEqual(await statuses(second), [401, 401, 401], 'removing the owner ended it everywhere at once');
});

test('the owner token reset on the database refuses the old token on every broker at once', async () => {
  const old = nodes[0].ownerToken;
  for (const node of nodes) assert.equal((await call(node.url, 'GET', '/grants', { token: old })).status, 200);
  const out = await onDatabase(['admin-token', '--reset']);
  const fresh = out.match(/new owner token \(shown once, keep it secret\): (\S+)/)[1];
  for (const node of nodes) {
    assert.equal((await call(node.url, 'GET', '/grants', { token: old })).status, 401, 'the old token is refused');
    assert.equal((await call(node.url, 'GET', '/grants', { token: fresh })).status, 200);
    node.ownerToken = fresh;
  }
});

test('a provider key removed on the database stops serving on every broker within a second', async (t) => {
  const password = 'correct horse battery staple';
  await onDatabase(['user', 'add', 'carol', '--password-stdin'], `${password}\n`);
  await onDatabase(['vault', 'add', '--owner', 'carol', '--provider', 'anthropic', '--label', 'team'], `${CAROL_KEY}\n`);
  const id = (await onDatabase(['vault', 'list', '--owner', 'carol'])).split('\t')[0];
  const cookie = await sessionCookie(nodes[1], 'carol', password);
  const csrf = (await (await fetch(`${nodes[1].url}/`, { headers: { cookie } })).text()).match(/name="csrf" value="([^"]*)"/)[1];
  const scope = { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'] };
  const req = (await call(nodes[0].url, 'POST', '/grant-requests', { body: { appName: 'Keys App', appUrl: 'https://keys.example', reason: 'test', scope } })).json;
  const approved = await call(nodes[1].url, 'POST', `/grants/${req.grant.id}/approve`, { body: {}, headers: { cookie, 'x-csrf-token': csrf } });
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.json.keyLabel, 'team');
  const token = (await call(nodes[2].url, 'POST', '/tokens', { body: { grantId: req.grant.id, requestSecret: req.requestSecret } })).json.token;
  const message = (node) => call(node.url, 'POST', '/anthropic/v1/messages', { headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } });
  for (const node of nodes) {
    const r = await message(node);
    assert.equal(r.status, 200, r.text);
    assert.equal((await mockStats(mock)).lastKeys.anthropic, CAROL_KEY, 'every node spends the key added on the database');
  }

  await onDatabase(['vault', 'remove', id]);
  const t0 = performance.now();
  const reached = await Promise.all(nodes.map(async (node) => {
    for (;;) {
      const r = await message(node);
      if (r.status !== 200) {
        assert.equal(r.status, 503, r.text);
        return performance.now() - t0;
      }
      assert.ok(performance.now() - t0 < 1000, 'a call starting 1 s after the removal still spent the key');
      await new Promise((res) => setTimeout(res, 20));
    }
  }));
  t.diagnostic(`the removal reached the three brokers after ${reached.map((ms) => ms.toFixed(0)).join(', ')} ms`);
});

// libfaketime (scripts/install-deps.sh installs it) sets one broker's wall clock a minute ahead.
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
let haveFaketime = true;
try { readFileSync(FAKETIME); } catch { haveFaketime = false; }

test('a broker whose clock is a minute ahead still counts the others alive: it admits only its share of a rate',
  { skip: !haveFaketime && 'libfaketime is missing (scripts/install-deps.sh installs it): NOT RUN' }, async () => {
  const ahead = await startBroker({ mock, dataDir: tempDir(), env: { ...shared, LD_PRELOAD: FAKETIME, FAKETIME: '+60s',
    FAKETIME_DONT_FAKE_MONOTONIC: '1' } });
  try {
    await new Promise((res) => setTimeout(res, 5500));  // one heartbeat: four brokers, by the database's clock
    assert.match(ahead.output, /this host's clock is (59|6\d) s ahead of the database's/);
    const g = await approvedGrant(nodes[0], { ...SCOPE, rateLimit: 60, maxConcurrent: 500 });
    const calls = await Promise.all(Array.from({ length: 40 }, () =>
      call(ahead.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') })));
    const admitted = calls.filter((r) => r.status === 200).length;
    // A quarter of 60, and what refilled meanwhile; taking itself for the only broker it admitted 40.
    assert.ok(admitted >= 15 && admitted <= 17, `${admitted} admitted by the broker whose clock is ahead`);
  } finally {
    await ahead.stop();
  }
});

test('a copy of a data directory (a machine image, a restored backup) runs as a broker of its own, not under the same name', async () => {
  const dir = tempDir();
  const first = await startBroker({ mock, dataDir: dir, env: shared });
  await first.stop();
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  const idOf = (d) => readFileSync(`${d}/node-id`, 'utf8').split('\n')[0];
  const originalId = idOf(dir);
  const both = await Promise.all([dir, copy].map((d) => startBroker({ mock, dataDir: d, env: shared })));
  try {
    assert.equal(idOf(dir), originalId, 'the directory it was made in keeps its name');
    assert.notEqual(idOf(copy), originalId, 'the copy takes a fresh one');
    const live = execFileSync('psql', [shared.AIPASSPORT_DATABASE_URL, '-Atc', 'SELECT id FROM nodes']).toString().split('\n');
    assert.ok(live.includes(idOf(dir)) && live.includes(idOf(copy)), live.join(' '));
  } finally {
    await Promise.all(both.map((b) => b.stop()));
  }
});
