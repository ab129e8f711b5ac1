// Owner accounts: the user command, the sign-in page, sessions, CSRF, throttling, sign-out.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BIN, startBroker, tempDir, testCa, httpsCall } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
let dataDir, broker;

function user(args, input) {
  return execFileSync(BIN, ['user', ...args, '--data-dir', dataDir], { input, env: { PATH: process.env.PATH } }).toString();
}

async function get(path, cookie) {
  const res = await fetch(broker.url + path, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function post(path, fields, cookie) {
  const res = await fetch(broker.url + path, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const cookiesOf = (res) => res.headers.getSetCookie();
const pair = (setCookie) => setCookie.split(';')[0];
const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];

// Opens the sign-in page and posts it; returns the answer and the cookies it sets.
async function signIn(username, password, { next = '/', extraCookie } = {}) {
  const page = await get(`/login?next=${encodeURIComponent(next)}`);
  const csrfCookie = pair(cookiesOf(page).find((c) => c.startsWith('aipassport_login_csrf=')));
  const cookie = extraCookie ? `${csrfCookie}; ${extraCookie}` : csrfCookie;
  return post('/login', { csrf: hidden(page.text, 'csrf'), next: hidden(page.text, 'next'), username, password }, cookie);
}

async function session(username = 'alice') {
  const res = await signIn(username, PASSWORD);
  assert.equal(res.status, 303, res.text);
  return pair(cookiesOf(res).find((c) => c.startsWith('aipassport_session=')));
}

before(async () => {
  dataDir = tempDir();
  assert.match(user(['add', 'alice', '--password-stdin'], `${PASSWORD}\n`), /added alice/);
  assert.match(user(['add', 'bob', '--password-stdin'], `${PASSWORD}\n`), /added bob/);
  broker = await startBroker({ dataDir });
});

test('the user command refuses short passwords, duplicates and unknown names, and lists owners', () => {
  assert.throws(() => user(['add', 'carol', '--password-stdin'], 'short\n'), /12 to 1024 characters/);
  assert.throws(() => user(['add', 'alice', '--password-stdin'], `${PASSWORD}\n`), /already exists/);
  assert.throws(() => user(['passwd', 'nobody', '--password-stdin'], `${PASSWORD}\n`), /No such owner/);
  assert.throws(() => user(['add', 'no spaces', '--password-stdin'], `${PASSWORD}\n`), /username/);
  const list = user(['list']);
  assert.match(list, /^alice\t/m);
  assert.ok(!list.includes('argon2'), 'no hash in the listing');
});

test('the home page sends a stranger to sign in; the sign-in page is framed by nobody', async () => {
  const home = await get('/');
  assert.equal(home.status, 303);
  assert.equal(home.headers.get('location'), '/login?next=/');
  const page = await get('/login');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.match(page.text, /<form method="post" action="\/login">/);
});

test('signing in gives an HttpOnly, SameSite=Lax session cookie with a fresh id, never one the browser brought', async () => {
  const res = await signIn('alice', PASSWORD, { next: '/', extraCookie: 'aipassport_session=chosen-by-an-attacker' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/');
  const set = cookiesOf(res).find((c) => c.startsWith('aipassport_session='));
  assert.match(set, /; HttpOnly/);
  assert.match(set, /; SameSite=Lax/);
  assert.ok(!set.includes('Secure'), 'plain HTTP on loopback: no Secure attribute');
  assert.ok(!set.includes('chosen-by-an-attacker'));
  const again = await session();
  assert.notEqual(again, pair(set), 'each sign-in makes a new session id');
  const home = await get('/', pair(set));
  assert.equal(home.status, 200);
  assert.match(home.text, /Signed in as <strong>alice<\/strong>/);
  assert.equal((await get('/', 'aipassport_session=chosen-by-an-attacker')).status, 303);
});

test('wrong passwords and unknown users get the same answer; the page escapes what was typed', async () => {
  const wrong = await signIn('bob', 'not the password at all');
  const unknown = await signIn('<script>alert(1)</script>', PASSWORD);
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.match(wrong.text, /Wrong username or password/);
  assert.match(unknown.text, /Wrong username or password/);
  assert.ok(!unknown.text.includes('<script>alert(1)</script>'));
  assert.match(unknown.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.equal(cookiesOf(wrong).find((c) => c.startsWith('aipassport_session=')), undefined);
});

test('a sign-in form not from this site (no matching CSRF cookie) is refused', async () => {
  const page = await get('/login');
  const res = await post('/login', { csrf: hidden(page.text, 'csrf'), username: 'alice', password: PASSWORD });
  assert.equal(res.status, 403);
  assert.match(res.text, /not sent from this site/);
  const forged = await post('/login', { csrf: 'guess', username: 'alice', password: PASSWORD }, 'aipassport_login_csrf=other');
  assert.equal(forged.status, 403);
});

test('an open redirect through next= is not possible', async () => {
  for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
    const res = await signIn('alice', PASSWORD, { next });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/', next);
  }
});

test('repeated failures are throttled per account, even with the right password afterwards', async () => {
  assert.match(user(['add', 'dave', '--password-stdin'], `${PASSWORD}\n`), /added dave/);
  for (let i = 0; i < 5; i++) assert.equal((await signIn('dave', `wrong password ${i}`)).status, 401);
  const locked = await signIn('dave', PASSWORD);
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
  assert.match(locked.text, /Too many failed attempts/);
});

test('signing out needs the session\'s CSRF token, and ends the session', async () => {
  const cookie = await session('bob');
  const forged = await post('/logout', { csrf: 'guess' }, cookie);
  assert.equal(forged.status, 403);
  assert.equal((await get('/', cookie)).status, 200, 'still signed in');
  const home = await get('/', cookie);
  const out = await post('/logout', { csrf: hidden(home.text, 'csrf') }, cookie);
  assert.equal(out.status, 303);
  assert.match(cookiesOf(out)[0], /aipassport_session=; Path=\/; Max-Age=0/);
  assert.equal((await get('/', cookie)).status, 303, 'the old cookie no longer works');
});

test('a new password ends every session of that owner at once', async () => {
  const cookie = await session('alice');
  assert.equal((await get('/', cookie)).status, 200);
  user(['passwd', 'alice', '--password-stdin'], `${PASSWORD}\n`);
  assert.equal((await get('/', cookie)).status, 303);
});

test('under HTTPS the session cookie is Secure with the __Host- prefix', async () => {
  const ca = testCa(tempDir());
  const cert = ca.makeCert('broker', 'IP:127.0.0.1');
  const secure = await startBroker({ dataDir, env: { AIPASSPORT_TLS_CERT_FILE: cert.certFile, AIPASSPORT_TLS_KEY_FILE: cert.keyFile } });
  const page = await httpsCall(secure.url, 'GET', '/login', { ca: ca.ca });
  const csrfCookie = page.headers['set-cookie'].find((c) => c.startsWith('aipassport_login_csrf='));
  assert.match(csrfCookie, /; Secure/);
  const res = await httpsCall(secure.url, 'POST', '/login', {
    ca: ca.ca, raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), username: 'bob', password: PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: pair(csrfCookie) },
  });
  assert.equal(res.status, 303, res.text);
  const set = res.headers['set-cookie'].find((c) => c.startsWith('__Host-aipassport_session='));
  assert.match(set, /; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
});

test('each owner sees and changes only their own grants; the admin token sees all', async () => {
  const alice = await session('alice');
  const bob = await session('bob');
  const csrf = async (cookie) => hidden((await get('/', cookie)).text, 'csrf');
  const api = async (method, path, cookie, { token, body } = {}) => {
    const headers = { cookie, 'content-type': 'application/json' };
    if (token) headers['x-csrf-token'] = token;
    const res = await fetch(broker.url + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, json: await res.json() };
  };
  const req = await fetch(`${broker.url}/grant-requests`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appName: 'Owned', appUrl: 'https://owned.example', reason: 'r', scope: { provider: 'openai', models: [], capabilities: ['chat'] } }),
  }).then((r) => r.json());
  const id = req.grant.id;

  assert.ok((await api('GET', '/grants', bob)).json.some((g) => g.id === id), 'a waiting request is visible to every owner');
  const noCsrf = await api('POST', `/grants/${id}/approve`, alice, { body: {} });
  assert.equal(noCsrf.status, 403);
  assert.match(noCsrf.json.error, /X-CSRF-Token/);
  const approved = await api('POST', `/grants/${id}/approve`, alice, { token: await csrf(alice), body: {} });
  assert.equal(approved.status, 200, JSON.stringify(approved.json));

  assert.ok((await api('GET', '/grants', alice)).json.some((g) => g.id === id));
  assert.ok(!(await api('GET', '/grants', bob)).json.some((g) => g.id === id), 'bob no longer sees alice\'s grant');
  assert.equal((await api('GET', `/grants/${id}`, bob)).status, 404);
  assert.equal((await api('GET', `/grants/${id}/usage`, bob)).status, 404);
  assert.equal((await api('POST', `/grants/${id}/revoke`, bob, { token: await csrf(bob) })).status, 404);
  assert.equal((await api('GET', `/grants/${id}`, alice)).json.status, 'approved', 'bob changed nothing');

  const admin = await fetch(`${broker.url}/grants/${id}`, { headers: { authorization: `Bearer ${broker.ownerToken}` } });
  assert.equal(admin.status, 200);
  const revoked = await api('POST', `/grants/${id}/revoke`, alice, { token: await csrf(alice) });
  assert.equal(revoked.json.status, 'revoked');
});
