// The OAuth code flow with PKCE and RAR, driven by an independent client library (oauth4webapi)
// over HTTPS with a test CA; the person's part (sign-in, consent) is played over HTTP by hand here.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { startBroker, nodeCall, cliSync, eventually } from './harness.mjs';
import { caFetchFor, hidden, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
let ca, broker, as, client, confidential, session, webApp;

let you;  // the person signing in and deciding
const options = { [oauth.customFetch]: (...args) => caFetchFor(ca.ca)(...args) };
const signIn = (username) => you.signIn(username, PASSWORD);
const consent = (url, opts) => you.consent(session, url, opts);

function authorizationUrl(challenge, state, extra = {}, forClient = client) {
  const url = new URL(as.authorization_endpoint);
  const params = {
    client_id: forClient.client_id, redirect_uri: REDIRECT, response_type: 'code', state,
    code_challenge: challenge, code_challenge_method: 'S256',
    authorization_details: JSON.stringify([{ type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat'], reason: 'meeting notes', lifetime_seconds: 604800 }]),
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url;
}

before(async () => {
  let apps;
  ({ ca, broker, apps } = await oauthBroker({ notes: ['--home-url', 'https://notes.example', '--device-grant'],
    confidential: ['--confidential', '--device-grant'], web: [] }));
  webApp = apps.web;
  client = { client_id: apps.notes.client_id };
  confidential = apps.confidential;
  const issuer = new URL(broker.url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }));
  you = person(broker.url, ca.ca);
  session = await signIn('erin');
});

test('discovery lists PKCE S256, RAR ai_access and RFC 9207 iss', () => {
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(as.authorization_details_types_supported, ['ai_access']);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
});

test('code flow with PKCE and RAR: the token carries exactly the narrowed grant and works on the proxy', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const back = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), state), { models: ['gpt-4o-mini'] });
  assert.equal(back.origin + back.pathname, REDIRECT, 'a loopback redirect may use another port');
  const params = oauth.validateAuthResponse(as, client, back, state);  // checks state and iss
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, options);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.deepEqual(tokens.authorization_details[0].models, ['gpt-4o-mini'], 'what was granted, not what was asked');

  const jwks = jose.createLocalJWKSet((await nodeCall(broker.url, 'GET', '/.well-known/jwks.json', { ca: ca.ca })).json);
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: as.issuer, audience: 'aipassport' });
  assert.equal(payload.client_id, client.client_id, 'RFC 9068 client_id claim');

  const chat = (model) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token: tokens.access_token,
    body: { model, messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal((await chat('gpt-4o-mini')).status, 200);
  assert.equal((await chat('gpt-4o')).status, 403);

  // The same code again: refused, and the access it gave ends.
  const replay = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, options);
  await assert.rejects(oauth.processAuthorizationCodeResponse(as, client, replay), (e) => e.error === 'invalid_grant');
  assert.equal((await chat('gpt-4o-mini')).status, 401);
});

test('a code replayed after it expired still ends the access it gave (RFC 6749 §4.1.2); one never used is only expired', async () => {
  const flow = async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const back = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 'st', {}, client), { models: ['gpt-4o-mini'] });
    return { verifier, params: oauth.validateAuthResponse(as, client, back, 'st') };
  };
  const redeem = ({ params, verifier }) => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, options);
  const expire = () => execFileSync('sqlite3', ['-cmd', '.timeout 5000', `${broker.dataDir}/aipassport.db`, 'UPDATE authorization_codes SET expires_at = 1']);
  const used = await flow();
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, await redeem(used));
  assert.equal((await chatWith(tokens.access_token)).status, 200);
  expire();
  const late = await (await redeem(used)).json();
  assert.equal(late.error, 'invalid_grant');
  assert.match(late.error_description, /already used; the access it gave is revoked/);
  assert.equal((await chatWith(tokens.access_token)).status, 401);

  const unused = await flow();
  expire();
  const expired = await (await redeem(unused)).json();
  assert.equal(expired.error, 'invalid_grant');
  assert.equal(expired.error_description, 'this code has expired');
});

test('the consent screen says in words what a model pattern allows: a lone star, any model', async () => {
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  const pageFor = async (models) => {
    const url = authorizationUrl(challenge, 'stars', { authorization_details: JSON.stringify([{ type: 'ai_access',
      provider: 'openai', models, capabilities: ['chat'] }]) });
    const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
    assert.equal(start.status, 303, start.text);
    return (await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } })).text;
  };
  assert.match(await pageFor(['gpt-4o-mini', '*']), /may use any OpenAI model for chat/);
  assert.match(await pageFor(['gpt-4o*', 'o3']),
    /may use any model named like gpt-4o\* and o3 \(\* standing for anything\) for chat/);
});

test('the consent screen says for how long the app asks, and refuses a longer lifetime', async () => {
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  const url = authorizationUrl(challenge, 'life');
  const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
  const page = await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.match(page.text, /may use gpt-4o-mini and gpt-4o for chat, for 7 days\./);
  assert.match(page.text, /<option value="604800" selected>7 days<\/option>/);
  assert.ok(!page.text.includes('value="2592000"'), '30 days is longer than asked: not offered');
  const longer = await consent(authorizationUrl(challenge, 'life2'), { models: ['gpt-4o'], lifetime: '2592000' });
  assert.equal(longer.status, 400);
  assert.match(longer.text, /Choose one of the offered lifetimes/);
});

test('a wrong code_verifier is invalid_grant; a denied request comes back as access_denied', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const back = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 's1'), { models: ['gpt-4o'] });
  const params = oauth.validateAuthResponse(as, client, back, 's1');
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, oauth.generateRandomCodeVerifier(), options);
  await assert.rejects(oauth.processAuthorizationCodeResponse(as, client, response), (e) => e.error === 'invalid_grant');

  const denied = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 's2'), { models: ['gpt-4o'], decision: 'deny' });
  assert.throws(() => oauth.validateAuthResponse(as, client, denied, 's2'), (e) => e.error === 'access_denied');
  assert.equal(denied.searchParams.get('iss'), as.issuer);
});

test('PKCE is required (absent or plain is invalid_request), bad details are invalid_authorization_details', async () => {
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  const cases = [
    [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    [{ code_challenge_method: 'plain' }, 'invalid_request'],
    [{ authorization_details: JSON.stringify([{ type: 'payment_initiation' }]) }, 'invalid_authorization_details'],
    [{ authorization_details: JSON.stringify([{ type: 'ai_access', provider: 'openai', capabilities: ['chat'], extra: 1 }]) }, 'invalid_authorization_details'],
    [{ response_type: 'token' }, 'unsupported_response_type'],
  ];
  for (const [extra, error] of cases) {
    const url = authorizationUrl(challenge, 'st', extra);
    if (extra.code_challenge === undefined && 'code_challenge' in extra) { url.searchParams.delete('code_challenge'); url.searchParams.delete('code_challenge_method'); }
    const res = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
    assert.equal(res.status, 303, JSON.stringify(extra));
    const back = new URL(res.headers.location);
    assert.equal(back.searchParams.get('error'), error, JSON.stringify(extra));
    assert.equal(back.searchParams.get('state'), 'st');
    assert.equal(back.searchParams.get('iss'), as.issuer);
  }
});

test('an unknown client or an unregistered redirect URI is shown to the person, never redirected', async () => {
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  for (const extra of [{ client_id: 'app_unknown' }, { redirect_uri: 'https://evil.example/callback' },
    { redirect_uri: 'http://127.0.0.1:53682/callback/../evil' }, { redirect_uri: 'http://127.0.0.1.evil.example/callback' }]) {
    const url = authorizationUrl(challenge, 'st', extra);
    const res = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(res.headers.location, undefined);
  }
});

test('a stranger is sent to sign in first, and comes back to the same request', async () => {
  const url = authorizationUrl(await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), 'st');
  const res = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca });
  assert.equal(res.status, 303);
  const next = new URL(res.headers.location, broker.url);
  assert.equal(next.pathname, '/login');
  assert.equal(next.searchParams.get('next'), url.pathname + url.search);
});

// A whole code flow for `who` (public or confidential), approving gpt-4o-mini; returns the tokens.
async function codeFlow(who, auth) {
  const verifier = oauth.generateRandomCodeVerifier();
  const back = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 'st', {}, who), { models: ['gpt-4o-mini'] });
  const params = oauth.validateAuthResponse(as, who, back, 'st');
  const response = await oauth.authorizationCodeGrantRequest(as, who, auth, params, REDIRECT, verifier, options);
  return oauth.processAuthorizationCodeResponse(as, who, response);
}

const chatWith = (token) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });

test('refresh tokens rotate; presenting a used one ends the whole family and the grant\'s access', async () => {
  const first = await codeFlow(client, oauth.None());
  assert.ok(first.refresh_token);
  const second = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, options));
  assert.notEqual(second.refresh_token, first.refresh_token, 'a new refresh token at every use');
  assert.deepEqual(second.authorization_details, first.authorization_details, 'a refresh never widens the grant');
  assert.equal((await chatWith(second.access_token)).status, 200);
  const replay = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, options);
  await assert.rejects(oauth.processRefreshTokenResponse(as, client, replay), (e) => e.error === 'invalid_grant');
  assert.equal((await chatWith(second.access_token)).status, 401, 'the stolen family\'s access ends');
  const newest = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), second.refresh_token, options);
  await assert.rejects(oauth.processRefreshTokenResponse(as, client, newest), (e) => e.error === 'invalid_grant');
});

// The refresh token presented is used up in the transaction that stores its successor: a failure
// there uses nothing up, and the app, told to try again, presents the same token (not a replay).
test('a refresh whose new token the broker could not store uses nothing up: the app tries again with the same token', async () => {
  const sql = (q) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', `${broker.dataDir}/aipassport.db`, q]);
  const first = await codeFlow(client, oauth.None());
  sql("CREATE TRIGGER refuse_refresh BEFORE INSERT ON refresh_tokens BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
  let refused;
  try {
    refused = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, options);
  } finally {
    sql('DROP TRIGGER refuse_refresh');
  }
  assert.equal(refused.status, 503);
  const body = await refused.json();
  assert.equal(body.error, 'temporarily_unavailable');
  assert.doesNotMatch(JSON.stringify(body), /disk full/, 'the database\'s words stay in the broker');
  assert.equal((await chatWith(first.access_token)).status, 200, 'the grant was not revoked');
  const retried = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token, options));
  assert.equal((await chatWith(retried.access_token)).status, 200, 'the same refresh token worked the second time');
  const next = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), retried.refresh_token, options));
  assert.equal((await chatWith(next.access_token)).status, 200, 'and its successor after it');
});

test('revocation (RFC 7009): a refresh token ends the grant\'s access; unknown tokens are fine', async () => {
  const tokens = await codeFlow(client, oauth.None());
  assert.equal((await chatWith(tokens.access_token)).status, 200);
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), 'not-a-token', options));
  assert.equal((await chatWith(tokens.access_token)).status, 200, 'an unknown token changes nothing');
  const other = await codeFlow(confidential, oauth.ClientSecretBasic(confidential.secret));
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), other.refresh_token, options));
  assert.equal((await chatWith(other.access_token)).status, 200, 'another client\'s token is left alone');
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), tokens.refresh_token, options));
  assert.equal((await chatWith(tokens.access_token)).status, 401);
});

test('introspection (RFC 7662): authenticated callers only; inactive or foreign tokens are exactly {active:false}', async () => {
  const own = await codeFlow(confidential, oauth.ClientSecretBasic(confidential.secret));
  const introspect = async (token, auth = oauth.ClientSecretBasic(confidential.secret)) =>
    oauth.processIntrospectionResponse(as, confidential, await oauth.introspectionRequest(as, confidential, auth, token, options));
  const active = await introspect(own.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, confidential.client_id);
  assert.deepEqual(active.authorization_details[0].models, ['gpt-4o-mini']);
  const foreign = await codeFlow(client, oauth.None());
  const raw = async (token) => (await nodeCall(broker.url, 'POST', '/oauth/introspect', { ca: ca.ca,
    raw: new URLSearchParams({ token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${confidential.client_id}:${confidential.secret}`).toString('base64')}` } })).text;
  assert.equal(await raw(foreign.access_token), '{"active":false}');
  assert.equal(await raw('garbage'), '{"active":false}');
  const anonymous = await nodeCall(broker.url, 'POST', '/oauth/introspect', { ca: ca.ca, raw: `token=${own.access_token}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(anonymous.status, 401);
  const publicCaller = await nodeCall(broker.url, 'POST', '/oauth/introspect', { ca: ca.ca,
    raw: `client_id=${client.client_id}&token=${foreign.access_token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(publicCaller.status, 401, 'a public client cannot introspect');
  const admin = await nodeCall(broker.url, 'POST', '/oauth/introspect', { ca: ca.ca, raw: `token=${foreign.access_token}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${broker.ownerToken}` } });
  assert.equal(admin.json.active, true, 'the admin token may introspect any token');
});

const DETAILS = [{ type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat'], reason: 'CLI access' }];

async function startDevice() {
  const response = await oauth.deviceAuthorizationRequest(as, client, oauth.None(),
    { authorization_details: JSON.stringify(DETAILS) }, options);
  return oauth.processDeviceAuthorizationResponse(as, client, response);
}

const enterCode = (userCode, decision) => you.enterCode(session, userCode, decision);

const poll = async (device) => oauth.processDeviceCodeResponse(as, client,
  await oauth.deviceCodeGrantRequest(as, client, oauth.None(), device.device_code, options));

test('device flow: a user code of 8 letters from 20, polling answers pending then slow_down', async () => {
  const device = await startDevice();
  assert.match(device.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(device.verification_uri, `${broker.url}/device`);
  await assert.rejects(poll(device), (e) => e.error === 'authorization_pending');
  await assert.rejects(poll(device), (e) => e.error === 'slow_down');
});

test('device flow: the person approves on /device and the consent screen; the device gets the narrowed grant once', async () => {
  const device = await startDevice();
  assert.equal(await enterCode(device.user_code, 'approve'), '/device?done=approved');
  const tokens = await poll(device);
  assert.deepEqual(tokens.authorization_details[0].models, ['gpt-4o-mini']);
  assert.equal((await chatWith(tokens.access_token)).status, 200);
  await assert.rejects(poll(device), (e) => e.error === 'invalid_grant', 'the device code is single-use');
});

test('only an app allowed the device grant may start the device flow: the operator allows it, or the app registering itself asks', async () => {
  const start = (clientId, url = broker.url) => nodeCall(url, 'POST', '/oauth/device_authorization', { ca: ca.ca,
    raw: new URLSearchParams({ client_id: clientId, scope: 'openai:chat' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  // Anyone may start one in a public web app's name and send its code to the person: refused.
  const refused = await start(webApp.client_id);
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error, 'unauthorized_client');
  assert.match(refused.json.error_description, new RegExp(`client edit ${webApp.client_id} --device-grant on`));
  const listed = cliSync(['client', 'list', '--data-dir', broker.dataDir]).toString();
  assert.match(listed, new RegExp(`^${client.client_id}\tNotes\tpublic\thttp://127\\.0\\.0\\.1/callback\tdevice grant$`, 'm'));
  assert.match(listed, new RegExp(`^${webApp.client_id}\t.*\tno device grant$`, 'm'));
  cliSync(['client', 'edit', webApp.client_id, '--device-grant', 'on', '--data-dir', broker.dataDir]);
  const allowed = await start(webApp.client_id);
  assert.equal(allowed.status, 200, allowed.text);
  cliSync(['client', 'edit', webApp.client_id, '--device-grant', 'off', '--data-dir', broker.dataDir]);
  const poll = await nodeCall(broker.url, 'POST', '/oauth/token', { ca: ca.ca,
    raw: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: allowed.json.device_code,
      client_id: webApp.client_id }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(poll.json.error, 'unauthorized_client', 'turned off while its flow waited: its polls are refused too');

  const cert = ca.makeCert('registering-broker', 'IP:127.0.0.1');
  const open = await startBroker({ env: { AIPASSPORT_TLS_CERT_FILE: cert.certFile, AIPASSPORT_TLS_KEY_FILE: cert.keyFile,
    AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION: 'true' } });
  const register = (extra) => nodeCall(open.url, 'POST', '/oauth/register', { ca: ca.ca,
    body: { client_name: 'Self', redirect_uris: [REDIRECT], ...extra } });
  const web = await register({});
  assert.deepEqual(web.json.grant_types, ['authorization_code', 'refresh_token']);
  assert.equal((await start(web.json.client_id, open.url)).json.error, 'unauthorized_client');
  const tv = await register({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] });
  assert.deepEqual(tv.json.grant_types, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']);
  assert.equal((await start(tv.json.client_id, open.url)).status, 200);
  assert.equal((await register({ grant_types: 'device_code' })).json.error, 'invalid_client_metadata');
  await open.stop();
});

test('an app registered on /apps may start the device flow only if its owner ticked it, on registering or later', async () => {
  const start = (clientId) => nodeCall(broker.url, 'POST', '/oauth/device_authorization', { ca: ca.ca,
    raw: new URLSearchParams({ client_id: clientId, scope: 'openai:chat' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const form = (path, fields) => nodeCall(broker.url, 'POST', path, { ca: ca.ca,
    raw: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
  const page = await nodeCall(broker.url, 'GET', '/apps', { ca: ca.ca, headers: { cookie: session } });
  assert.match(page.text, /name="device_grant" value="yes"> Signs in on a device/, 'off by default');
  const csrf = hidden(page.text, 'csrf');
  const idOf = (made) => made.text.match(/<code id="client_id">([^<]+)</)[1];
  const web = await form('/apps', { csrf, name: 'Paged Web', redirect_uris: 'https://web.example/cb' });
  assert.equal(web.status, 201, web.text);
  const webId = idOf(web);
  const unasked = await start(webId);
  assert.equal(unasked.json.error, 'unauthorized_client', 'a web app does not get the flow unasked');
  assert.match(unasked.json.error_description, /the owner who registered it may allow it on its page \(\/apps\)/);
  const tv = await form('/apps', { csrf, name: 'Paged TV', redirect_uris: 'http://127.0.0.1/cb', device_grant: 'yes' });
  assert.equal(tv.status, 201, tv.text);
  assert.match(tv.text, new RegExp(`Paged TV</strong></bdi> <code>${idOf(tv)}</code> \\(public, device flow\\)`));
  assert.equal((await start(idOf(tv))).status, 200, 'ticked on registering');

  const edit = await nodeCall(broker.url, 'GET', `/apps/${webId}/edit`, { ca: ca.ca, headers: { cookie: session } });
  assert.match(edit.text, /name="device_grant" value="yes"> Signs/, 'shown unticked');
  const fields = { csrf, name: 'Paged Web', home_url: '', logo_url: '', redirect_uris: 'https://web.example/cb' };
  assert.equal((await form(`/apps/${webId}/edit`, { ...fields, device_grant: 'yes' })).status, 200);
  assert.equal((await start(webId)).status, 200, 'ticked later');
  const ticked = await nodeCall(broker.url, 'GET', `/apps/${webId}/edit`, { ca: ca.ca, headers: { cookie: session } });
  assert.match(ticked.text, /name="device_grant" value="yes" checked>/);
  assert.equal((await form(`/apps/${webId}/edit`, fields)).status, 200);
  assert.equal((await start(webId)).json.error, 'unauthorized_client', 'and unticked again');
  const changes = cliSync(['audit', 'export', '--kind', 'client.changed', '--data-dir', broker.dataDir]).toString()
    .trim().split('\n').filter((line) => line.includes(webId));
  assert.equal(changes.length, 2, 'both changes are on the record');
  assert.match(changes[0], /"deviceGrantBefore":false,"deviceGrant":true/);
  assert.match(changes[1], /"deviceGrantBefore":true,"deviceGrant":false/);
});

test('device flow: a public app\'s request is unverified, since anyone may start one with its id; a confidential app\'s is not', async () => {
  const consentPageFor = async (who, auth) => {
    const device = await oauth.processDeviceAuthorizationResponse(as, who,
      await oauth.deviceAuthorizationRequest(as, who, auth, { scope: 'openai:chat' }, options));
    const page = await nodeCall(broker.url, 'GET', `/device?user_code=${device.user_code}`, { ca: ca.ca, headers: { cookie: session } });
    const entered = await nodeCall(broker.url, 'POST', '/device', { ca: ca.ca,
      raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), user_code: device.user_code }).toString(),
      headers: { cookie: session, 'content-type': 'application/x-www-form-urlencoded', origin: broker.url } });
    assert.equal(entered.status, 303, entered.text);
    return (await nodeCall(broker.url, 'GET', entered.headers.location, { ca: ca.ca, headers: { cookie: session } })).text;
  };
  const open = await consentPageFor(client, oauth.None());
  assert.match(open, /id="unverified">Unverified/);
  assert.match(open, /id="device">This request was started on a device; if you approve it, the access goes to that device, whatever app it names\./);
  const proven = await consentPageFor(confidential, oauth.ClientSecretBasic(confidential.secret));
  assert.match(proven, /<h1>Notes asks for access<\/h1>/);
  assert.match(proven, /id="device">This request was started on a device; if you approve it, the access goes to that device\. Only/,
    'a device still holds what is approved');
});

test('device flow: a request the owner decides elsewhere than on its consent screen reaches the device too', async () => {
  const decideBy = async (action) => {
    const device = await startDevice();
    const grantId = (await enterCode(device.user_code)).split('/').pop();
    const decided = await nodeCall(broker.url, 'POST', `/grants/${grantId}/${action}`, { ca: ca.ca,
      headers: { authorization: `Bearer ${broker.ownerToken}` }, body: {} });
    assert.equal(decided.status, 200, decided.text);
    return { device, grantId };
  };
  const revoked = await decideBy('revoke');
  await assert.rejects(poll(revoked.device), (e) => e.error === 'access_denied', 'not authorization_pending until it expires');
  const approved = await decideBy('approve');
  const tokens = await poll(approved.device);
  assert.equal((await chatWith(tokens.access_token)).status, 200);
  await assert.rejects(poll(approved.device), (e) => e.error === 'invalid_grant', 'the device code is single-use');
});

test('device flow: a denial reaches the device as access_denied; wrong codes are throttled', async () => {
  const device = await startDevice();
  assert.equal(await enterCode(device.user_code, 'deny'), '/device?done=denied');
  await assert.rejects(poll(device), (e) => e.error === 'access_denied');
  const page = await nodeCall(broker.url, 'GET', '/device', { ca: ca.ca, headers: { cookie: session } });
  const guess = () => nodeCall(broker.url, 'POST', '/device', { ca: ca.ca,
    raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), user_code: 'BBBB-BBBB' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
  for (let i = 0; i < 5; i++) assert.equal((await guess()).status, 404);
  const blocked = await guess();
  assert.equal(blocked.status, 429);
  assert.ok(Number(blocked.headers['retry-after']) > 0);
});

test('dynamic registration (RFC 7591) is off by default; when the owner turns it on, apps register and sign in', async () => {
  assert.equal(as.registration_endpoint, undefined);
  const off = await nodeCall(broker.url, 'POST', '/oauth/register', { ca: ca.ca, body: { client_name: 'X', redirect_uris: [REDIRECT] } });
  assert.equal(off.status, 403);

  const cert = ca.makeCert('open-broker', 'IP:127.0.0.1');
  const open = await startBroker({ env: { AIPASSPORT_TLS_CERT_FILE: cert.certFile, AIPASSPORT_TLS_KEY_FILE: cert.keyFile,
    AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION: 'true' } });
  const issuer = new URL(open.url);
  const openAs = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }));
  assert.equal(openAs.registration_endpoint, `${open.url}/oauth/register`);
  const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(openAs,
    { client_name: 'Self-registered', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic', client_uri: 'https://self.example' }, options));
  assert.match(registered.client_id, /^app_/);
  assert.ok(registered.client_secret.length >= 43);
  const bad = async (metadata) => nodeCall(open.url, 'POST', '/oauth/register', { ca: ca.ca, body: metadata });
  assert.equal((await bad({ client_name: 'X', redirect_uris: ['http://evil.example/cb'] })).json.error, 'invalid_redirect_uri');
  assert.equal((await bad({ client_name: 'X', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt' })).json.error, 'invalid_client_metadata');
  assert.equal((await bad({ redirect_uris: [REDIRECT] })).json.error, 'invalid_client_metadata');
  // Copied into every grant the app asks for: a home page or logo URL is as long as a redirect URI may be.
  for (const field of ['client_uri', 'logo_uri']) {
    const long = await bad({ client_name: 'X', redirect_uris: [REDIRECT], [field]: `https://self.example/${'a'.repeat(100000)}` });
    assert.equal(long.status, 400, field);
    assert.equal(long.json.error, 'invalid_client_metadata', field);
  }
});

test('apps registered from the /apps page sign in like any other; a confidential one gets its secret once', async () => {
  const page = await nodeCall(broker.url, 'GET', '/apps', { ca: ca.ca, headers: { cookie: session } });
  assert.equal(page.status, 200);
  assert.match(page.text, new RegExp(client.client_id), 'the apps registered from the shell are listed');
  const register = (fields, csrf = hidden(page.text, 'csrf')) => nodeCall(broker.url, 'POST', '/apps', { ca: ca.ca,
    raw: new URLSearchParams({ csrf, ...fields }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });

  const forged = await register({ name: 'Evil', redirect_uris: 'http://127.0.0.1/cb' }, 'not-the-token');
  assert.equal(forged.status, 403);
  const bad = await register({ name: 'Bad', redirect_uris: 'http://evil.example/cb' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /Not registered: /);

  const made = await register({ name: 'Paged <App>', home_url: 'https://paged.example',
    redirect_uris: 'http://127.0.0.1/callback\r\nhttps://paged.example/cb', confidential: 'yes' });
  assert.equal(made.status, 201, made.text);
  assert.match(made.text, /Registered <strong>Paged &lt;App&gt;<\/strong>/);
  const paged = { client_id: made.text.match(/<code id="client_id">([^<]+)</)[1] };
  const secret = made.text.match(/<code id="client_secret">([^<]+)</)[1];
  const again = await nodeCall(broker.url, 'GET', '/apps', { ca: ca.ca, headers: { cookie: session } });
  assert.ok(again.text.includes(paged.client_id) && !again.text.includes(secret), 'the secret is not shown again');

  const verifier = oauth.generateRandomCodeVerifier();
  const url = authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 'pg', {}, paged);
  const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
  assert.equal(start.status, 303);
  const review = await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.match(review.text, /Paged &lt;App&gt; asks for access/);
  const introspected = await oauth.processIntrospectionResponse(as, paged, await oauth.introspectionRequest(as, paged,
    oauth.ClientSecretBasic(secret), 'garbage', options));
  assert.equal(introspected.active, false, 'the shown secret authenticates the app');
});

test('removing an app revokes at once every grant it was given, waiting ones too, on /apps or with the CLI; other apps\' are left', async () => {
  const page = await nodeCall(broker.url, 'GET', '/apps', { ca: ca.ca, headers: { cookie: session } });
  const form = (path, fields) => nodeCall(broker.url, 'POST', path, { ca: ca.ca,
    raw: new URLSearchParams({ csrf: hidden(page.text, 'csrf'), ...fields }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
  const made = await form('/apps', { name: 'Short Notes', redirect_uris: 'http://127.0.0.1/callback' });
  assert.equal(made.status, 201, made.text);
  const paged = { client_id: made.text.match(/<code id="client_id">([^<]+)</)[1] };
  const tokens = await codeFlow(paged, oauth.None());
  const others = await codeFlow(client, oauth.None());
  const waiting = await nodeCall(broker.url, 'GET', (u => u.pathname + u.search)(authorizationUrl('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'w', {}, paged)),
    { ca: ca.ca, headers: { cookie: session } });
  assert.equal(waiting.status, 303, 'a request of the app waits on the consent screen');
  assert.equal((await chatWith(tokens.access_token)).status, 200);

  const removed = await form(`/apps/${paged.client_id}/remove`, {});
  assert.equal(removed.status, 200, removed.text);
  assert.match(removed.text, /Removed\. The 2 grants it was given are revoked\./);
  assert.equal((await chatWith(tokens.access_token)).status, 401, 'its access ends with it');
  const refreshed = await oauth.refreshTokenGrantRequest(as, paged, oauth.None(), tokens.refresh_token, options);
  assert.equal(refreshed.status >= 400, true, 'and its refresh token');
  assert.equal((await nodeCall(broker.url, 'GET', waiting.headers.location, { ca: ca.ca, headers: { cookie: session } })).status, 404,
    'its waiting request is gone from the consent screen');
  assert.equal((await chatWith(others.access_token)).status, 200, 'another app\'s grant goes on');
  const trail = (await nodeCall(broker.url, 'GET', '/audit?limit=50', { ca: ca.ca, token: broker.ownerToken })).json.items;
  const removal = trail.find((r) => r.kind === 'client.removed' && r.detail.clientId === paged.client_id);
  assert.equal(removal?.detail.revokedGrants, 2, JSON.stringify(removal));
  const revocations = trail.filter((r) => r.kind === 'grant.revoked' && r.detail.because === `app ${paged.client_id} removed`);
  assert.deepEqual(revocations.map((r) => r.grantId).sort(), [...removal.detail.revokedGrantIds].sort());
  assert.ok(revocations.every((r) => r.actor === 'owner:erin'));

  // The operator's CLI, while the broker runs: the broker hears of it from the database. An id that
  // names no app (a typo, an app removed already) is refused before anything is revoked.
  const typo = (() => { try { cliSync(['client', 'remove', paged.client_id, '--data-dir', broker.dataDir]); return null; } catch (e) { return e; } })();
  assert.ok(typo, 'removing it again fails');
  assert.match(typo.stderr.toString(), /No such client|not found/i);
  assert.equal((await chatWith(others.access_token)).status, 200);
  const added = cliSync(['client', 'add', 'CLI Notes', '--redirect-uri', 'http://127.0.0.1/callback', '--data-dir', broker.dataDir]).toString();
  const cliApp = { client_id: added.match(/client_id: (\S+)/)[1] };
  const cliTokens = await codeFlow(cliApp, oauth.None());
  assert.equal((await chatWith(cliTokens.access_token)).status, 200);
  const out = cliSync(['client', 'remove', cliApp.client_id, '--data-dir', broker.dataDir]).toString().trim();
  assert.match(out, new RegExp(`removed client ${cliApp.client_id}; revoked the grant it was given$`));
  await eventually(async () => (await chatWith(cliTokens.access_token)).status === 401, 'the CLI\'s revocation reaches the broker', 5000);
  assert.equal((await chatWith(others.access_token)).status, 200);
});

test('the consent screen shows an app\'s home page only if it has one', async () => {
  const consentFor = async (app) => {
    const url = authorizationUrl(await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), 'hp', {}, app);
    const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
    assert.equal(start.status, 303);
    return (await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } })).text;
  };
  assert.match(await consentFor(client), /Home page: <a href="https:\/\/notes\.example"/);
  const without = await consentFor(webApp);
  assert.match(without, /Notes asks for access/);
  assert.doesNotMatch(without, /Home page|not a valid host name/, 'added without one: no line saying "(host (not a valid host name))"');
});

test('a code redeemed by another client is invalid_grant; the consent page is framed by nobody', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const url = authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 'x1');
  const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
  const page = await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.match(page.headers['content-security-policy'], /style-src 'self';/, 'no inline style');
  const [, hash] = page.headers['content-security-policy'].match(/script-src 'sha256-([^']+)';/);
  const [, inline] = page.text.match(/<script>([\s\S]*?)<\/script>/);
  assert.equal(createHash('sha256').update(inline).digest('base64'), hash, 'its one script, allowed by its hash');
  const apps = await nodeCall(broker.url, 'GET', '/apps', { ca: ca.ca, headers: { cookie: session } });
  assert.doesNotMatch(apps.headers['content-security-policy'], /script-src/, 'other pages run no script');
  assert.match(page.headers['content-security-policy'], /form-action 'self' http:\/\/127\.0\.0\.1:53682;/,
    'the approval may lead on to the app, and nowhere else');
  const back = await consent(authorizationUrl(await oauth.calculatePKCECodeChallenge(verifier), 'x2'), { models: ['gpt-4o'] });
  const params = oauth.validateAuthResponse(as, client, back, 'x2');
  const stolen = await oauth.authorizationCodeGrantRequest(as, confidential, oauth.ClientSecretBasic(confidential.secret),
    params, REDIRECT, verifier, options);
  await assert.rejects(oauth.processAuthorizationCodeResponse(as, confidential, stolen),
    (e) => e.error === 'invalid_grant' && /another client/.test(e.error_description));
  const chatAs = (token) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token,
    body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] } });  // the model this consent allowed
  // Nor does the code's own client without its verifier: a leaked code is useless, and neither
  // uses it up nor ends what it gives.
  const guessed = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT,
    oauth.generateRandomCodeVerifier(), options);
  await assert.rejects(oauth.processAuthorizationCodeResponse(as, client, guessed),
    (e) => e.error === 'invalid_grant' && /code_verifier/.test(e.error_description));
  const own = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, options));
  assert.equal((await chatAs(own.access_token)).status, 200, 'the app redeems its code after both');
  // A refresh token presented by another client is refused, and neither used up nor its family ended.
  const foreign = await oauth.refreshTokenGrantRequest(as, confidential, oauth.ClientSecretBasic(confidential.secret),
    own.refresh_token, options);
  await assert.rejects(oauth.processRefreshTokenResponse(as, confidential, foreign),
    (e) => e.error === 'invalid_grant' && /another client/.test(e.error_description));
  assert.equal((await chatAs(own.access_token)).status, 200, 'its access goes on');
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), own.refresh_token, options));
  assert.equal((await chatAs(refreshed.access_token)).status, 200, 'and the app refreshes it');
});
