// Client ID Metadata Documents: an app whose client_id is the https URL of a JSON document about
// itself needs no registration. The documents are served here over HTTPS on 127.0.0.1 with a test
// CA (given to the broker as upstream.ca_file); each broker but one allows private addresses for
// that. Every refusal is a page for the person, never a redirect to a URI nobody verified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { startBroker, startMock, call, nodeCall, tempDir, testCa, cliSync, run } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:53682/callback';
const DETAILS = JSON.stringify([{ type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] }]);
let ca, docs, docsBase, mock;
const brokers = [];
const hits = new Map();
const silent = [];

const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];

// The documents, by path; each names the URL it was fetched from (its Host header) as its client_id.
function documentFor(path, self) {
  const doc = { client_id: self, client_name: 'Agent \u202Egnp.exe', client_uri: 'https://agent.example',
    redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] };
  switch (path) {
    case '/agent.json': return { body: doc, headers: { 'cache-control': 'public, max-age=300' } };
    case '/mismatch.json': return { body: { ...doc, client_id: `${self}/../agent.json` } };
    case '/other-redirect.json': return { body: { ...doc, redirect_uris: ['https://agent.example/callback'] } };
    case '/big.json': return { body: { ...doc, client_description: 'x'.repeat(6000) } };
    case '/big-chunked.json': return { body: { ...doc, client_description: 'x'.repeat(6000) }, chunked: true };
    case '/moved.json': return { status: 302, headers: { location: '/agent.json' } };
    case '/web.json': return { body: { ...doc, grant_types: ['authorization_code'] } };
    case '/slow.json': return { never: true };
    case '/failing.json': return { status: 503, body: { error: 'down for a moment' } };
    default: return { status: 404, body: { error: 'no such document' } };
  }
}

function startDocuments(cert) {
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const path = new URL(req.url, 'https://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const answer = documentFor(path, `https://${req.headers.host}${path}`);
    if (answer.never) { silent.push(res); return; }
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json',
      ...(answer.chunked ? {} : { 'content-length': Buffer.byteLength(text) }), ...(answer.headers ?? {}) });
    if (answer.chunked) { res.write(text.slice(0, 3000)); res.end(text.slice(3000)); } else res.end(text);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// A broker trusting the test CA, with owner erin; `env` adds to or overrides the settings.
async function broker(env = {}) {
  const dataDir = tempDir();
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  const b = await startBroker({ mock, dataDir, env: { AIPASSPORT_UPSTREAM_CA_FILE: ca.caFile,
    AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE: 'true', ...env } });
  brokers.push(b);
  return b;
}

const post = (b, path, fields, cookie) => nodeCall(b.url, 'POST', path, { raw: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) } });
const get = (b, path, cookie) => nodeCall(b.url, 'GET', path, { headers: cookie ? { cookie } : {} });

async function signIn(b) {
  const page = await get(b, '/login');
  const csrf = page.headers['set-cookie'].find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
  const res = await post(b, '/login', { csrf: hidden(page.text, 'csrf'), username: 'erin', password: PASSWORD }, csrf);
  assert.equal(res.status, 303, res.text);
  return res.headers['set-cookie'].find((c) => c.startsWith('aipassport_session=')).split(';')[0];
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizePath(clientId, challenge, extra = {}) {
  const params = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', state: 's1',
    code_challenge: challenge, code_challenge_method: 'S256', authorization_details: DETAILS, ...extra });
  return `/oauth/authorize?${params}`;
}

// The person's answer to an authorization request that must be refused: a page, never a redirect.
async function refusedAuthorization(b, clientId, cookie) {
  const res = await get(b, authorizePath(clientId, pkce().challenge), cookie);
  assert.equal(res.status, 400, `${res.status} ${res.headers.location ?? ''} ${res.text}`);
  assert.equal(res.headers.location, undefined, 'never sent on to a redirect URI');
  assert.match(res.text, /^The app's sign-in request cannot be used: /);
  return res.text;
}

before(async () => {
  ca = testCa(tempDir());
  docs = await startDocuments(ca.makeCert('documents', 'IP:127.0.0.1,DNS:localhost'));
  docsBase = `https://127.0.0.1:${docs.address().port}`;
  mock = await startMock();
});

after(async () => {
  for (const res of silent) res.destroy();
  docs.close();
  for (const b of brokers) await b.stop();
  await mock.stop();
});

let main;
const mainBroker = async () => (main ??= await broker());

test('the metadata says client_id URLs are accepted, unless they are turned off', async () => {
  const on = await call((await mainBroker()).url, 'GET', '/.well-known/oauth-authorization-server');
  assert.equal(on.json.client_id_metadata_document_supported, true);
  const off = await broker({ AIPASSPORT_CLIENT_METADATA_MODE: 'off' });
  const meta = await call(off.url, 'GET', '/.well-known/oauth-authorization-server');
  assert.equal(meta.json.client_id_metadata_document_supported, undefined);
  const text = await refusedAuthorization(off, `${docsBase}/agent.json`);
  assert.match(text, /client metadata documents are turned off/);
  assert.equal(hits.get('/agent.json') ?? 0, 0, 'nothing was fetched');
});

test('code flow with PKCE for an app known only by its document: unverified on the consent screen, a public client', async () => {
  const b = await mainBroker();
  const session = await signIn(b);
  const clientId = `${docsBase}/agent.json`;
  const { verifier, challenge } = pkce();
  const start = await get(b, authorizePath(clientId, challenge), session);
  assert.equal(start.status, 303, start.text);
  assert.match(start.headers.location, /^\/consent\//);

  const page = await get(b, start.headers.location, session);
  assert.equal(page.status, 200);
  assert.match(page.text, /id="unverified">Unverified</, 'shown as unverified');
  assert.match(page.text, /id="metadata-host">127\.0\.0\.1, port \d+</, 'names the host its document came from');
  assert.ok(page.text.includes('Agent ⟨U+202E⟩gnp.exe'), 'the name it gives itself is shown with its hidden characters');
  assert.ok(!page.text.includes('\u202E'));

  const done = await post(b, start.headers.location, { csrf: hidden(page.text, 'csrf'), decision: 'approve',
    lifetime: '3600', model: 'gpt-4o-mini', capability: 'chat', budget: '', max_requests: '100', rate_limit: '' }, session);
  assert.equal(done.status, 303, done.text);
  const back = new URL(done.headers.location);
  assert.equal(back.origin + back.pathname, REDIRECT);
  const code = back.searchParams.get('code');
  assert.ok(code);

  const withSecret = await post(b, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
    client_id: clientId, client_secret: 'anything', code_verifier: verifier });
  assert.equal(withSecret.status, 401, 'a public client has no secret');
  assert.equal(withSecret.json.error, 'invalid_client');

  const tokens = await post(b, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
    client_id: clientId, code_verifier: verifier });
  assert.equal(tokens.status, 200, tokens.text);
  assert.ok(tokens.json.refresh_token);
  const payload = JSON.parse(Buffer.from(tokens.json.access_token.split('.')[1], 'base64url'));
  assert.equal(payload.client_id, clientId);
  const chat = await call(b.url, 'POST', '/openai/v1/chat/completions', { token: tokens.json.access_token,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(chat.status, 200, chat.text);

  const refreshed = await post(b, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token,
    client_id: clientId });
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(hits.get('/agent.json'), 1, 'the document was fetched once and then kept as its Cache-Control allows');
});

test('PKCE stays required for such an app; its malformed requests are refused on a page, never sent on', async () => {
  const b = await mainBroker();
  const { verifier } = pkce();
  // Sent back, an error would make the broker a redirector to wherever a document points.
  for (const extra of [{ code_challenge_method: 'plain' }, { response_type: 'token' }]) {
    const res = await get(b, authorizePath(`${docsBase}/agent.json`, verifier, extra));
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(res.headers.location, undefined);
  }
  const res = await get(b, authorizePath(`${docsBase}/agent.json`, verifier, { code_challenge_method: 'plain' }));
  assert.match(res.text, /PKCE/);
});

test('device flow and its token polls accept a client_id URL whose document names the device grant', async () => {
  const b = await mainBroker();
  const session = await signIn(b);
  const clientId = `${docsBase}/agent.json`;
  const web = await post(b, '/oauth/device_authorization', { client_id: `${docsBase}/web.json`, scope: 'openai:chat' });
  assert.equal(web.json.error, 'unauthorized_client', 'a document that does not name the device grant');
  assert.match(web.json.error_description, /client_id document must name urn:ietf:params:oauth:grant-type:device_code/);
  const device = await post(b, '/oauth/device_authorization', { client_id: clientId, scope: 'openai:chat' });
  assert.equal(device.status, 200, device.text);
  const poll = () => post(b, '/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: device.json.device_code, client_id: clientId });
  assert.equal((await poll()).json.error, 'authorization_pending');
  const entry = await get(b, `/device?user_code=${device.json.user_code}`, session);
  const entered = await post(b, '/device', { csrf: hidden(entry.text, 'csrf'), user_code: device.json.user_code }, session);
  assert.equal(entered.status, 303, entered.text);
  const page = await get(b, entered.headers.location, session);
  assert.match(page.text, /id="unverified">Unverified</);
  assert.match(page.text, /id="metadata-host">127\.0\.0\.1, port \d+</);
  // Anyone may start a device's request with this id: the page says the device gets the access,
  // and no longer that the document's host chose where the answer goes.
  assert.match(page.text, /id="device">This request was started on a device/);
  assert.doesNotMatch(page.text, /where your answer goes/);
  const done = await post(b, entered.headers.location, { csrf: hidden(page.text, 'csrf'), decision: 'approve',
    lifetime: '3600', capability: 'chat', budget: '', max_requests: '10', rate_limit: '' }, session);
  assert.equal(done.status, 303, done.text);
  await new Promise((r) => setTimeout(r, 5100));  // the poll interval
  const tokens = await poll();
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal(tokens.json.token_type, 'Bearer');
});

test('documents that are refused, each with a reason shown to the person', async () => {
  const b = await mainBroker();
  const cases = [
    [`http://127.0.0.1:${docs.address().port}/agent.json`, /client_id URL must use https/],
    [`${docsBase}/agent.json#x`, /client_id URL has a fragment/],
    [`${docsBase}/mismatch.json`, /names another client_id/],
    [`${docsBase}/big.json`, /larger than 5 KB/],
    [`${docsBase}/big-chunked.json`, /larger than 5 KB/],
    [`${docsBase}/moved.json`, /redirect \(HTTP 302\), and redirects are not followed/],
    [`${docsBase}/missing.json`, /answered HTTP 404/],
  ];
  for (const [clientId, why] of cases) assert.match(await refusedAuthorization(b, clientId), why, clientId);
  assert.equal(hits.get('/agent.json'), 1, 'the redirect was not followed');

  const unlisted = await get(b, authorizePath(`${docsBase}/other-redirect.json`, pkce().challenge));
  assert.equal(unlisted.status, 400);
  assert.equal(unlisted.headers.location, undefined);
  assert.match(unlisted.text, /redirect_uri is not one of the redirect_uris of the app's metadata document/);

  const token = await post(b, '/oauth/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT,
    client_id: `${docsBase}/mismatch.json`, code_verifier: pkce().verifier });
  assert.equal(token.status, 401);
  assert.equal(token.json.error, 'invalid_client');
  assert.match(token.json.error_description, /names another client_id/);
});

// Not the app's fault, and maybe gone at the next try: 503, never 401 invalid_client, which a
// polling device or a refreshing app takes as final.
test('a document server that never answers is given up on after 5 seconds, and one that fails is answered 503', async (t) => {
  const b = await mainBroker();
  const started = Date.now();
  const slow = await get(b, authorizePath(`${docsBase}/slow.json`, pkce().challenge));
  assert.equal(slow.status, 503, slow.text);
  assert.match(slow.text, /could not be fetched now \(the URL did not answer within 5 seconds\); try again shortly/);
  assert.equal(hits.get('/slow.json'), 1, 'the request reached the server, which kept it waiting');
  t.diagnostic(`refused after ${Date.now() - started} ms`);

  const failing = await get(b, authorizePath(`${docsBase}/failing.json`, pkce().challenge));
  assert.equal(failing.status, 503, failing.text);
  assert.match(failing.text, /answered HTTP 503/);
  const token = await post(b, '/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: 'x', client_id: `${docsBase}/failing.json` });
  assert.equal(token.status, 503, token.text);
  assert.equal(token.json.error, 'temporarily_unavailable');
  assert.ok(Number(token.headers['retry-after']) > 0, token.headers['retry-after']);
});

test('private and loopback addresses are refused unless the operator allows them', async () => {
  const strict = await broker({ AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE: 'false' });
  const before = hits.get('/agent.json');
  for (const host of ['127.0.0.1', 'localhost']) {
    const text = await refusedAuthorization(strict, `https://${host}:${docs.address().port}/agent.json`);
    assert.match(text, /has no public address \(it does not resolve, or only to a private, loopback or link-local address, which this broker does not fetch from\)/);
    assert.doesNotMatch(text, /resolve\)|Host not found/);
  }
  assert.equal(hits.get('/agent.json'), before, 'no connection reached the document server');
  // A name the DNS does not know is told as one it knows on a private address: an outsider cannot
  // use the broker to learn which internal names exist.
  const port = docs.address().port;
  const unknown = await refusedAuthorization(strict, `https://no-such-host.invalid:${port}/agent.json`);
  const known = await refusedAuthorization(strict, `https://localhost:${port}/agent.json`);
  assert.equal(unknown.replaceAll('no-such-host.invalid', 'HOST'), known.replaceAll('localhost', 'HOST'));
});

test('an allow list admits only its hosts', async () => {
  const listed = await broker({ AIPASSPORT_CLIENT_METADATA_MODE: 'allow_list', AIPASSPORT_CLIENT_METADATA_HOSTS: 'localhost' });
  const text = await refusedAuthorization(listed, `${docsBase}/agent.json`);
  assert.match(text, /apps described at 127\.0\.0\.1 are not accepted here/);
  const clientId = `https://localhost:${docs.address().port}/agent.json`;
  const admitted = await get(listed, authorizePath(clientId, pkce().challenge));
  assert.equal(admitted.status, 303, admitted.text);
  assert.match(admitted.headers.location, /^\/login/, 'on to sign in: the app was accepted');
});

test('bad settings stop the start with a clear reason', async () => {
  const cases = [
    [{ AIPASSPORT_CLIENT_METADATA_MODE: 'some' }, /AIPASSPORT_CLIENT_METADATA_MODE must be "any", "allow_list" or "off"/],
    [{ AIPASSPORT_CLIENT_METADATA_MODE: 'allow_list' }, /"allow_list" but no host is listed/],
    [{ AIPASSPORT_CLIENT_METADATA_HOSTS: 'apps.example' }, /only used with oauth.client_metadata.mode = "allow_list"/],
    [{ AIPASSPORT_CLIENT_METADATA_MODE: 'allow_list', AIPASSPORT_CLIENT_METADATA_HOSTS: 'Apps.Example' }, /host names in lowercase/],
    [{ AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE: 'yes' }, /AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE must be true or false/],
  ];
  for (const [env, why] of cases) {
    const res = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()], env);
    assert.notEqual(res.code, 0);
    assert.match(res.stdout + res.stderr, why);
  }
});
