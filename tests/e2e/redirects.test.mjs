// Redirects that must stay where they belong: an authorization code or error goes only to a
// redirect URI the app registered (issue 16, finding 2), and signing in leads only to a page of
// this site (finding 6). Each test performs the attack and asserts the refusal.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { BIN, call, run, startBroker, nodeCall, tempDir, cliSync } from './harness.mjs';
import { hidden, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REGISTERED = 'http://127.0.0.1/callback';
const LOOPBACK_PORT_VARIANT = 'http://127.0.0.1:53682/callback';
// Each would send the code, or an error, off the registered redirect URI if it were accepted.
const ATTACKS = [
  'http://127.0.0.1:@evil.example/callback',        // empty password: browsers go to evil.example
  'http://127.0.0.1:53682@evil.example/callback',   // "port" as userinfo
  'http://127.0.0.1:pw@evil.example/callback',      // userinfo with a password
  'http://user:pw@127.0.0.1/callback',              // userinfo, even before the right host
  'http://@127.0.0.1/callback',                     // an empty userinfo
  'http://127.0.0.1\\@evil.example/callback',       // backslash
  'http://127.0.0.1:53682/callback#@evil.example',  // fragment
  'http://127.0.0.1:53682/%2e%2e/callback',         // encoded dot segments
  'http://127.0.0.1:53682/callback/%2e%2e/evil',
  'http://127.0.0.1:53682/callback/../evil',
  'HTTP://127.0.0.1:53682/callback',                // uppercase scheme
  'http://EVIL.example/callback',                   // uppercase host
  'https://APP.example/cb',
  'http://127.0.0.1./callback',                     // trailing-dot host
  'https://app.example./cb',
  'http://127.0.0.1.evil.example/callback',
  'http://127.1:53682/callback',                    // a number browsers read as 127.0.0.1
  'http://[::1]:53682/callback',                    // another loopback address than registered
  'http://localhost:53682/callback',                // localhost is not a loopback redirect
  'http://127.0.0.1:53682/callback\t',              // control character
  'https://app.example:443/cb',                     // an https port may not vary, not even to its default
];

let ca, broker, apps, session;
const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function authorizePath(redirectUri, extra = {}) {
  const params = new URLSearchParams({
    client_id: apps.notes.client_id, redirect_uri: redirectUri, response_type: 'code', state: 'st',
    code_challenge: pkce().challenge, code_challenge_method: 'S256', scope: 'openai:chat', ...extra,
  });
  return `/oauth/authorize?${params}`;
}

const get = (path, cookie) => nodeCall(broker.url, 'GET', path, { ca: ca.ca, headers: cookie ? { cookie } : {} });

before(async () => {
  ({ ca, broker, apps } = await oauthBroker({ notes: ['--redirect-uri', 'https://app.example/cb'] },
    { AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION: 'true' }));
  session = await person(broker.url, ca.ca).signIn('erin', PASSWORD);
});

test('finding 2: an unregistered or non-canonical redirect_uri gets an error page, never a Location', async () => {
  for (const attack of ATTACKS) {
    for (const responseType of ['code', 'token']) {
      for (const cookie of [session, undefined]) {
        const res = await get(authorizePath(attack, { response_type: responseType }), cookie);
        const what = `${attack} response_type=${responseType} ${cookie ? 'signed in' : 'stranger'}`;
        assert.equal(res.status, 400, what);
        assert.equal(res.headers.location, undefined, what);
        assert.match(res.text, /redirect_uri is not one registered for this app/, what);
      }
    }
  }
});

test('finding 2: response_type=token redirects only to the verified redirect URI, before sign-in too', async () => {
  for (const [uri, origin] of [[LOOPBACK_PORT_VARIANT, 'http://127.0.0.1:53682'], [REGISTERED, 'http://127.0.0.1'],
    ['https://app.example/cb', 'https://app.example']]) {
    const res = await get(authorizePath(uri, { response_type: 'token' }));
    assert.equal(res.status, 303, uri);
    const back = new URL(res.headers.location);
    assert.equal(back.origin, origin);
    assert.equal(back.username + back.password, '');
    assert.equal(back.searchParams.get('error'), 'unsupported_response_type');
  }
});

test('finding 2: a code sent to a loopback port variant cannot be redeemed with the attack URI', async () => {
  const { verifier, challenge } = pkce();
  const url = new URL(broker.url + authorizePath(LOOPBACK_PORT_VARIANT, { code_challenge: challenge }));
  const back = await person(broker.url, ca.ca).consent(session, url, { models: [], lifetime: '3600' });
  assert.equal(back.origin + back.pathname, LOOPBACK_PORT_VARIANT);
  const code = back.searchParams.get('code');
  assert.ok(code);
  const redeem = (redirectUri) => nodeCall(broker.url, 'POST', '/oauth/token', { ca: ca.ca,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    raw: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri,
      client_id: apps.notes.client_id, code_verifier: verifier }).toString() });
  const stolen = await redeem('http://127.0.0.1:@evil.example/callback');
  assert.equal(stolen.status, 400);
  assert.equal(stolen.json.error, 'invalid_grant');
});

test('finding 2: a loopback port variant still completes the code flow', async () => {
  const { verifier, challenge } = pkce();
  const url = new URL(broker.url + authorizePath(LOOPBACK_PORT_VARIANT, { code_challenge: challenge }));
  const back = await person(broker.url, ca.ca).consent(session, url, { models: [], lifetime: '3600' });
  const tokens = await nodeCall(broker.url, 'POST', '/oauth/token', { ca: ca.ca,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    raw: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code'),
      redirect_uri: LOOPBACK_PORT_VARIANT, client_id: apps.notes.client_id, code_verifier: verifier }).toString() });
  assert.equal(tokens.status, 200, tokens.text);
  assert.ok(tokens.json.access_token);
});

const BAD_REGISTRATIONS = ['http://127.0.0.1:@evil.example/callback', 'http://127.0.0.1:pw@evil.example/callback',
  'http://127.0.0.1\\@evil.example/callback', 'https://app.example/cb#x', 'https://app.example/%2e%2e/cb',
  'https://APP.example/cb', 'https://app.example./cb', 'https://app.example/c b', 'http://localhost/cb'];

test('finding 2: such redirect URIs cannot be registered by the command, dynamic registration or the /apps page', async () => {
  const page = await get('/apps', session);
  for (const uri of BAD_REGISTRATIONS) {
    const cli = await run(['client', 'add', 'Evil', '--redirect-uri', uri, '--data-dir', broker.dataDir]);
    assert.notEqual(cli.code, 0, uri);
    assert.match(cli.stderr, /redirect URI/, uri);

    const dynamic = await nodeCall(broker.url, 'POST', '/oauth/register', { ca: ca.ca,
      body: { client_name: 'Evil', redirect_uris: [uri] } });
    assert.equal(dynamic.status, 400, uri);
    assert.equal(dynamic.json.error, 'invalid_redirect_uri', uri);

    const form = await nodeCall(broker.url, 'POST', '/apps', { ca: ca.ca,
      raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), name: 'Evil', redirect_uris: uri }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
    assert.equal(form.status, 400, uri);
    assert.match(form.text, /Not registered: /, uri);
  }
  const list = cliSync(['client', 'list', '--data-dir', broker.dataDir]).toString();
  assert.ok(!list.includes('Evil'), 'nothing was registered');
});

test('finding 2: the consent page lets its form lead on to the redirect URI\'s origin only', async () => {
  const start = await get(authorizePath(LOOPBACK_PORT_VARIANT), session);
  assert.equal(start.status, 303);
  const page = await get(start.headers.location, session);
  assert.match(page.headers['content-security-policy'], /form-action 'self' http:\/\/127\.0\.0\.1:53682;/);
});

// Finding 6: signing in leads to a page of this site only.
let plain;
const ESCAPES = ['/\t/evil.example/x', '/\\/evil.example/x', '\\\\evil.example/x', '//evil.example/x', '/\r/evil.example/x',
  '/\n/evil.example/x', '/\0/evil.example/x', '/\x7f/evil.example/x', '/ /evil.example/x', 'https://evil.example/x',
  '/\x0b/evil.example', '/\u00e9/evil.example'];

async function plainFetch(path, { cookie, form } = {}) {
  const res = await fetch(plain.url + path, {
    method: form ? 'POST' : 'GET', redirect: 'manual', body: form ? new URLSearchParams(form).toString() : undefined,
    headers: { ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...(cookie ? { cookie } : {}) },
  });
  return { status: res.status, location: res.headers.get('location'), cookies: res.headers.getSetCookie(), text: await res.text() };
}

// Signs alice in with `next` through the form; returns the answer.
async function signIn(next) {
  const page = await plainFetch('/login');
  const csrfCookie = page.cookies.find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
  return plainFetch('/login', { cookie: csrfCookie, form: { csrf: hidden(page.text, 'csrf'), next, username: 'alice', password: PASSWORD } });
}

function assertHome(res, what) {
  assert.equal(res.status, 303, what);
  assert.equal(res.location, '/', what);
  assert.equal(new URL(res.location, plain.url).origin, new URL(plain.url).origin, what);
}

before(async () => {
  const dataDir = tempDir();
  cliSync(['user', 'add', 'alice', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  plain = await startBroker({ dataDir });
});

test('finding 6: GET /login?next=/%09/evil.example/x and its variants lead home when signed in', async () => {
  const signedIn = await signIn('/');
  assertHome(signedIn, 'sign-in');
  const cookie = signedIn.cookies.find((c) => c.startsWith('aipassport_session=')).split(';')[0];
  assertHome(await plainFetch('/login?next=/%09/evil.example/x', { cookie }), 'the reported TAB');
  for (const raw of ['/%5C/evil.example/x', '%5C%5Cevil.example', '//evil.example/x', '/%0d/evil.example', '/%0a/evil.example',
    '/%00/evil.example', '/%7f/evil.example', '/%20/evil.example', '/%C3%A9', '/%2F/evil.example', 'https:%2F%2Fevil.example'])
    assertHome(await plainFetch(`/login?next=${raw}`, { cookie }), raw);
  for (const next of ESCAPES) assertHome(await plainFetch(`/login?next=${encodeURIComponent(next)}`, { cookie }), JSON.stringify(next));
  const apps = await plainFetch('/login?next=/apps%3Fx%3D1', { cookie });
  assert.equal(apps.location, '/apps?x=1', 'a path on this site is kept');
});

test('finding 6: the sign-in form leads home for the same values, and the page does not carry them', async () => {
  for (const next of ESCAPES) {
    assertHome(await signIn(next), JSON.stringify(next));
    const page = await plainFetch(`/login?next=${encodeURIComponent(next)}`);
    assert.equal(hidden(page.text, 'next'), '/', JSON.stringify(next));
  }
  const kept = await signIn('/apps');
  assert.equal(kept.location, '/apps');
});

// Same class, found in review: the app's home page is shown to the owner on the consent screen, so
// it may not hide its real host behind userinfo or a host Boost.URL 1.81 misreads.
test('review: an appUrl with userinfo, or one whose host would be misread, is refused', async () => {
  for (const appUrl of ['https://bank.example@evil.example/', 'https://@evil.example/', 'https://127.0.0.1.evil.example/']) {
    const res = await call(plain.url, 'POST', '/grant-requests', {
      body: { appName: 'Bank', appUrl, reason: 'r', scope: { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] } } });
    assert.equal(res.status, 400, appUrl);
  }
});
