// Owner accounts: the user command, the sign-in page, sessions, CSRF, throttling, sign-out.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { BIN, startBroker, startMock, call, tempDir, testCa, nodeCall, cliSync, eventually } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
let dataDir, broker;

function user(args, input) {
  return cliSync(['user', ...args, '--data-dir', dataDir], { input, env: { PATH: process.env.PATH } }).toString();
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
  // A password typed into the name field must not end up in the log.
  await signIn('my-secret-password-typed-as-name', 'x');
  assert.match(broker.output, /failed sign-in for bob from 127\.0\.0\.1/);
  assert.match(broker.output, /failed sign-in for an unknown name/);
  assert.ok(!broker.output.includes('my-secret-password-typed-as-name'));
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

test('sign-ins sent together are judged one at a time per address: a crowd gets no more guesses than one by one', async () => {
  assert.match(user(['add', 'erin', '--password-stdin'], `${PASSWORD}\n`), /added erin/);
  const agent = new http.Agent({ localAddress: '127.0.0.9' });  // an address no other test signs in from
  const page = await get('/login');
  const cookie = pair(cookiesOf(page).find((c) => c.startsWith('aipassport_login_csrf=')));
  const attempt = (username, password) => nodeCall(broker.url, 'POST', '/login', {
    agent, raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), next: '/', username, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
  });
  let checked = 0;
  let together = 0;
  let throttled = false;
  for (let round = 0; round < 30 && !throttled; round++) {  // crowds of 20 until the throttle speaks
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt('erin', `wrong ${round} ${i}`)));
    checked += answers.filter((r) => r.status === 401).length;
    together += answers.filter((r) => r.status === 429 && /being checked/.test(r.text)).length;
    throttled = answers.some((r) => r.status === 429 && /Too many failed attempts/.test(r.text));
    for (const r of answers) assert.ok([401, 429].includes(r.status), `${r.status}: ${r.text}`);
  }
  assert.ok(throttled, 'the throttle refused the crowd in the end');
  assert.ok(checked <= 5, `${checked} passwords were checked: the pair's five free failures at most`);
  assert.ok(together > 0, 'attempts sent together waited for each other');
  const right = await attempt('erin', PASSWORD);
  assert.equal(right.status, 429, 'the right password too waits out the failures');
  assert.match(right.text, /Too many failed attempts/);
  // Names nobody has are not put on the record (anyone could grow it); an owner's failures are.
  assert.equal((await attempt('nobody-by-this-name', 'guess')).status, 401);
  const failures = () => cliSync(['audit', 'export', '--kind', 'owner.sign_in_failed', '--data-dir', dataDir],
    { env: { PATH: process.env.PATH } }).toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  await eventually(() => failures().some((e) => e.detail?.username === 'erin' || JSON.stringify(e).includes('"erin"')),
    'erin\'s failures on the record');
  for (const e of failures()) assert.ok(e.owner, `a failure recorded without an owner: ${JSON.stringify(e)}`);
});

test('a flood of guesses from many addresses is bounded, and the owner signing in from a clean address still gets in', async () => {
  assert.match(user(['add', 'frank', '--password-stdin'], `${PASSWORD}\n`), /added frank/);
  const page = await get('/login');
  const cookie = pair(cookiesOf(page).find((c) => c.startsWith('aipassport_login_csrf=')));
  const attempt = (localAddress, password) => nodeCall(broker.url, 'POST', '/login', {
    agent: new http.Agent({ localAddress }),
    raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), next: '/', username: 'frank', password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
  });
  const attackers = Array.from({ length: 40 }, (_, i) => `127.1.0.${i + 1}`);
  for (const a of attackers) assert.equal((await attempt(a, 'first guess')).status, 401);  // each has failed once
  const flood = Promise.all(attackers.map((a) => attempt(a, 'second guess')));
  const owner = await attempt('127.0.0.50', PASSWORD);
  const answers = await flood;
  assert.equal(owner.status, 303, `the owner is neither refused nor kept out: ${owner.status} ${owner.text.slice(0, 200)}`);
  const refused = answers.filter((r) => r.status === 503);
  assert.ok(refused.length > 0, 'the addresses that failed share a bounded number of password checks');
  for (const r of refused) {
    assert.match(r.text, /Too many sign-ins are being checked at once/);
    assert.equal(r.headers['retry-after'], '1');
  }
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
  const page = await nodeCall(secure.url, 'GET', '/login', { ca: ca.ca });
  const csrfCookie = page.headers['set-cookie'].find((c) => c.startsWith('aipassport_login_csrf='));
  assert.match(csrfCookie, /; Secure/);
  const res = await nodeCall(secure.url, 'POST', '/login', {
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

test('a request an owner\'s sign-in started (OAuth or device flow) is that owner\'s alone to see and decide', async () => {
  const alice = await session('alice');
  const bob = await session('bob');
  const added = cliSync(['client', 'add', 'Living Room TV', '--redirect-uri', 'https://tv.example/cb', '--device-grant',
    '--data-dir', dataDir], { env: { PATH: process.env.PATH } }).toString();
  const clientId = added.match(/app_[A-Za-z0-9_-]+/)[0];
  const authorize = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://tv.example/cb', response_type: 'code',
    state: 'alice-state', scope: 'openai:chat', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256' });
  const sent = await get(`/oauth/authorize?${authorize}`, alice);
  assert.equal(sent.status, 303, sent.text);
  const oauthId = sent.headers.get('location').match(/^\/consent\/(.+)$/)[1];
  const device = await fetch(`${broker.url}/oauth/device_authorization`, { method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, scope: 'openai:chat' }).toString() }).then((r) => r.json());
  const entry = await get('/device', alice);
  const typed = await post('/device', { csrf: hidden(entry.text, 'csrf'), user_code: device.user_code }, alice);
  assert.equal(typed.status, 303, typed.text);
  const deviceId = typed.headers.get('location').match(/^\/consent\/(.+)$/)[1];

  const bobHome = await get('/', bob);
  for (const id of [oauthId, deviceId]) {
    assert.ok(!bobHome.text.includes(id), 'bob\'s home page does not list alice\'s request');
    assert.equal((await get(`/consent/${id}`, bob)).status, 404, 'bob cannot open it');
    const decided = await post(`/consent/${id}`, { csrf: hidden(bobHome.text, 'csrf'), lifetime: '3600', decision: 'approve',
      model: 'gpt-4o-mini', capability: 'chat' }, bob);
    assert.equal(decided.status, 404, `bob cannot approve it: ${decided.text}`);
    assert.equal((await post(`/consent/${id}`, { csrf: hidden(bobHome.text, 'csrf'), decision: 'deny' }, bob)).status, 404,
      'nor deny it');
    const listed = await fetch(`${broker.url}/grants`, { headers: { cookie: bob } }).then((r) => r.json());
    assert.ok(!listed.some((g) => g.id === id), 'bob\'s API list does not have it');
    const page = await get(`/consent/${id}`, alice);
    assert.equal(page.status, 200, 'alice still decides it');
    assert.match(page.text, /Living Room TV/);
  }
  const asOperator = (id) => call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken });
  const [oauthGrant, deviceGrant] = [await asOperator(oauthId), await asOperator(deviceId)];
  assert.equal(oauthGrant.status, 200, 'the operator sees them');
  assert.equal(oauthGrant.json.status, 'pending');
  assert.ok(oauthGrant.json.ownerId, 'each names the owner who started it');
  assert.equal(deviceGrant.json.ownerId, oauthGrant.json.ownerId);
  // The operator may decide it, but it stays the owner's, spending the owner's key.
  const byOperator = await call(broker.url, 'POST', `/grants/${deviceId}/approve`, { token: broker.ownerToken, body: {} });
  assert.equal(byOperator.status, 200, byOperator.text);
  assert.equal(byOperator.json.ownerId, oauthGrant.json.ownerId);
  const aliceHome = await get('/', alice);
  const approved = await post(`/consent/${oauthId}`, { csrf: hidden(aliceHome.text, 'csrf'), lifetime: '3600',
    decision: 'approve', model: 'gpt-4o-mini', capability: 'chat' }, alice);
  assert.equal(approved.status, 303, approved.text);
  assert.match(approved.headers.get('location'), /^https:\/\/tv\.example\/cb\?code=.*state=alice-state/);
});

test('the consent screen shows a request in plain words, escaped, and approves exactly what the owner narrowed it to', async () => {
  const mock = await startMock();
  const b = await startBroker({ mock, dataDir: tempDir() });
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', b.dataDir], { input: `${PASSWORD}\n` });
  const saved = broker;
  broker = b;  // the helpers talk to `broker`
  try {
    const req = await call(b.url, 'POST', '/grant-requests', { body: {
      appName: '<img src=x onerror=alert(1)>', appUrl: 'https://notes.example/app', reason: '<b>summaries</b>',
      scope: { provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat', 'embeddings'],
        maxBudgetCents: 500, maxRequests: 100, rateLimit: 10 },
    } });
    const id = req.json.grant.id;
    const cookie = await session('erin');
    assert.match((await get('/', cookie)).text, new RegExp(`href="/consent/${id}"`));
    const page = await get(`/consent/${id}`, cookie);
    assert.equal(page.status, 200);
    assert.match(page.text, /may use gpt-4o-mini and gpt-4o for chat and embeddings, up to \$5\.00, 100 requests, 10 requests a minute/);
    assert.ok(!page.text.includes('<img src=x'), 'the app name is escaped');
    assert.match(page.text, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(page.text, /&lt;b&gt;summaries&lt;\/b&gt;/);
    assert.match(page.text, /\(host <span id="home-host">notes\.example<\/span>\)/);
    const csrf = hidden(page.text, 'csrf');
    const decide = (fields) => {
      const body = new URLSearchParams({ csrf, lifetime: '86400', decision: 'approve', budget: '2.50', max_requests: '10', rate_limit: '5' });
      for (const [k, v] of fields) k.startsWith('-') ? body.delete(k.slice(1)) : body.append(k, v);
      return fetch(`${b.url}/consent/${id}`, {
        method: 'POST', redirect: 'manual', body: body.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      }).then(async (r) => ({ status: r.status, text: await r.text() }));
    };
    const widen = [
      [['model', 'gpt-4.1'], ['capability', 'chat']],
      [['model', 'gpt-4o-mini'], ['capability', 'images']],
      [['model', 'gpt-4o-mini'], ['capability', 'chat'], ['-budget'], ['budget', '6.00']],
      [['model', 'gpt-4o-mini'], ['capability', 'chat'], ['-budget'], ['budget', '']],
      [['model', 'gpt-4o-mini'], ['capability', 'chat'], ['-lifetime'], ['lifetime', '99999999']],
      [['capability', 'chat']],
    ];
    for (const fields of widen) assert.equal((await decide(fields)).status, 400, JSON.stringify(fields));
    const forged = await fetch(`${b.url}/consent/${id}`, { method: 'POST', redirect: 'manual', body: 'decision=approve&csrf=guess',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    assert.equal(forged.status, 403);
    const ok = await decide([['model', 'gpt-4o-mini'], ['capability', 'chat']]);
    assert.equal(ok.status, 303, ok.text);

    const grant = (await call(b.url, 'GET', `/grants/${id}`, { token: b.ownerToken })).json;
    assert.deepEqual(grant.scope, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 250, maxRequests: 10, rateLimit: 5 });
    const lifetime = Date.parse(grant.expiresAt) - Date.parse(grant.approvedAt);
    assert.equal(lifetime, 86400 * 1000);
    const tok = await call(b.url, 'POST', '/tokens', { body: { grantId: id, requestSecret: req.json.requestSecret } });
    const chat = (model) => call(b.url, 'POST', '/openai/v1/chat/completions', { token: tok.json.token, body: { model, messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal((await chat('gpt-4o-mini')).status, 200);
    assert.equal((await chat('gpt-4o')).status, 403, 'the unticked model is refused');
    const embed = await call(b.url, 'POST', '/openai/v1/embeddings', { token: tok.json.token, body: { model: 'gpt-4o-mini', input: 'x' } });
    assert.equal(embed.status, 403, 'the unticked capability is refused');

    assert.equal((await get(`/consent/${id}`, cookie)).status, 404, 'a decided request is not shown again');
    const home = await get('/', cookie);
    const revoke = await fetch(`${b.url}/consent/${id}`, { method: 'POST', redirect: 'manual',
      body: new URLSearchParams({ csrf: hidden(home.text, 'csrf'), decision: 'revoke' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    assert.equal(revoke.status, 303);
    assert.equal((await chat('gpt-4o-mini')).status, 401, 'revoked from the page: the next call is refused');
  } finally {
    broker = saved;
  }
});

test('an app registered on /apps is changed and removed only by the owner who registered it', async () => {
  const alice = await session('alice');
  const bob = await session('bob');
  const page = await get('/apps', alice);
  const registered = await post('/apps', {
    csrf: hidden(page.text, 'csrf'), name: 'Alice Notes', home_url: 'https://notes.example',
    redirect_uris: 'https://notes.example/callback',
  }, alice);
  assert.equal(registered.status, 201, registered.text);
  const id = registered.text.match(/<code id="client_id">([^<]+)<\/code>/)[1];
  const bobsList = await get('/apps', bob);
  assert.ok(bobsList.text.includes('Alice Notes'), 'every owner sees the app');
  assert.ok(!bobsList.text.includes(`/apps/${id}/edit`), 'but no way to change another owner\'s');
  assert.match(bobsList.text, /Alice Notes<\/strong>.*another owner's<\/span>/, 'and it says whose it is');
  assert.equal((await get(`/apps/${id}/edit`, bob)).status, 403);
  // Bob points its sign-ins at his own site: refused, and removing it too.
  const bobCsrf = hidden(bobsList.text, 'csrf');
  const hijack = await post(`/apps/${id}/edit`, {
    csrf: bobCsrf, name: 'Alice Notes', home_url: 'https://notes.example', logo_url: '', redirect_uris: 'https://attacker.example/cb',
  }, bob);
  assert.equal(hijack.status, 403, hijack.text);
  assert.match(hijack.text, /Only the owner who registered this app may change or remove it/);
  assert.equal((await post(`/apps/${id}/remove`, { csrf: bobCsrf }, bob)).status, 403);
  const aliceEdit = await get(`/apps/${id}/edit`, alice);
  assert.equal(aliceEdit.status, 200);
  assert.match(aliceEdit.text, /https:\/\/notes\.example\/callback/, 'the redirect is as Alice left it');
  const moved = await post(`/apps/${id}/edit`, {
    csrf: hidden(aliceEdit.text, 'csrf'), name: 'Alice Notes', home_url: 'https://notes.example', logo_url: '',
    redirect_uris: 'https://notes.example/v2/callback',
  }, alice);
  assert.equal(moved.status, 200, moved.text);
  // The broker vouches for Alice's app to Alice only: to Bob it is what it says it is, and an error
  // in a request in its name is shown, not sent to its redirect URI (no open redirect through /apps).
  const ask = (extra = {}) => '/oauth/authorize?' + new URLSearchParams({ client_id: id,
    redirect_uri: 'https://notes.example/v2/callback', response_type: 'code', state: 's', scope: 'openai:chat',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra });
  const bad = await get(ask({ response_type: 'token' }), bob);
  assert.equal(bad.status, 400, 'an error page, not a redirect');
  assert.equal(bad.headers.get('location'), null);
  const consentOf = async (cookie) => get((await get(ask(), cookie)).headers.get('location'), cookie);
  const toBob = await consentOf(bob);
  assert.match(toBob.text, /id="unverified">Unverified<\/span> An app that calls itself/);
  const toAlice = await consentOf(alice);
  assert.match(toAlice.text, /<h1>Alice Notes asks for access<\/h1>/);
  // The operator's apps (added with the CLI) are changed by the operator only.
  const operators = cliSync(['client', 'add', 'Operator App', '--redirect-uri', 'https://op.example/cb', '--data-dir', dataDir],
    { env: { PATH: process.env.PATH } }).toString();
  const opId = operators.match(/app_[A-Za-z0-9_-]+/)[0];
  assert.equal((await get(`/apps/${opId}/edit`, alice)).status, 403);
  const edited = cliSync(['client', 'edit', opId, '--redirect-uri', 'https://op.example/v2/cb', '--data-dir', dataDir],
    { env: { PATH: process.env.PATH } }).toString();
  assert.match(edited, new RegExp(`changed client ${opId}`));
  const changes = cliSync(['audit', 'export', '--kind', 'client.changed', '--data-dir', dataDir],
    { env: { PATH: process.env.PATH } }).toString().trim().split('\n').map((l) => JSON.parse(l));
  const change = changes.find((e) => JSON.stringify(e).includes(opId));
  assert.ok(change, 'the change is on the record');
  assert.match(JSON.stringify(change), /"redirectUrisBefore":\["https:\/\/op\.example\/cb"\],"redirectUris":\["https:\/\/op\.example\/v2\/cb"\]/);
  assert.equal((await post(`/apps/${id}/remove`, { csrf: hidden(aliceEdit.text, 'csrf') }, alice)).status, 200);
});

// Removing an owner revokes their grants and deletes their keys: the trail records each, as it
// records each grant an app's removal revokes, and owner.removed counts them.
test('user remove records each grant it revokes and each key it deletes', async () => {
  assert.match(user(['add', 'frida', '--password-stdin'], `${PASSWORD}\n`), /added frida/);
  const frida = await session('frida');
  const token = hidden((await get('/', frida)).text, 'csrf');
  const api = async (method, path, body) => {
    const res = await fetch(broker.url + path, { method, body: JSON.stringify(body ?? {}),
      headers: { cookie: frida, 'content-type': 'application/json', 'x-csrf-token': token } });
    return { status: res.status, json: await res.json() };
  };
  const req = await fetch(`${broker.url}/grant-requests`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appName: 'Frida app', appUrl: 'https://frida.example', reason: 'r', scope: { provider: 'openai', models: [], capabilities: ['chat'] } }),
  }).then((r) => r.json());
  assert.equal((await api('POST', `/grants/${req.grant.id}/approve`)).status, 200);
  const key = await api('POST', '/keys', { provider: 'openai', label: 'frida', key: `sk-proj-${'e'.repeat(40)}` });
  assert.equal(key.status, 201, JSON.stringify(key.json));
  assert.match(user(['remove', 'frida']), /removed frida/);
  const exported = (kind) => execFileSync(BIN, ['audit', 'export', '--kind', kind, '--data-dir', dataDir], { env: { PATH: process.env.PATH } })
    .toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const revoked = exported('grant.revoked').filter((r) => r.grantId === req.grant.id);
  assert.equal(revoked.length, 1);
  assert.equal(revoked[0].detail.because, 'owner frida removed');
  const removedKey = exported('key.removed').filter((r) => r.detail.label === 'frida');
  assert.equal(removedKey.length, 1);
  assert.equal(removedKey[0].detail.provider, 'openai');
  assert.doesNotMatch(JSON.stringify(removedKey[0]), /eeeeeeee/, 'never the key');
  const removed = exported('owner.removed').find((r) => r.detail.username === 'frida');
  assert.equal(removed.detail.revokedGrants, 1);
  assert.deepEqual(removed.detail.revokedGrantIds, [req.grant.id]);
  assert.equal(removed.detail.deletedKeys, 1);
});
