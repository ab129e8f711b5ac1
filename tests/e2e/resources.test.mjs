// Protected resources (RFC 9728), resource indicators (RFC 8707), one issuer, and refusals precise
// enough for standard clients (RFC 6750 §3, RFC 9449 §7.1, RFC 9396): checked with oauth4webapi's
// strict RFC 9068 validator, jose, and the official MCP TypeScript SDK's discovery and auth().
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import {
  auth as mcpAuth, discoverAuthorizationServerMetadata, discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { nodeCall } from './harness.mjs';
import { caFetchFor, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
const CHAT = '/openai/v1/chat/completions';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
let ca, broker, as, app, confidential, you, session;
const options = () => ({ [oauth.customFetch]: caFetchFor(ca.ca) });

before(async () => {
  let apps;
  ({ ca, broker, apps } = await oauthBroker({ app: ['--device-grant'], confidential: ['--confidential'] }));
  app = { client_id: apps.app.client_id };
  confidential = apps.confidential;
  const issuer = new URL(broker.url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options(), algorithm: 'oauth2' }));
  you = person(broker.url, ca.ca);
  session = await you.signIn('erin', PASSWORD);
});

const claimsOf = (token) => jose.decodeJwt(token);
const post = (path, fields, at = broker) => nodeCall(at.url, 'POST', path, { ca: ca.ca, raw: new URLSearchParams(fields).toString(), headers: form });
const metadataUrl = (path) => `${broker.url}/.well-known/oauth-protected-resource${path}`;

// The code flow for `app` with `extra` authorization parameters; the person approves `models` (all
// when not given). Returns the redirect back, the token response (or the refusal) and the verifier.
async function codeFlow({ extra = {}, models, maxRequests, tokenFields = {}, at = broker, atAs = as, atSession = session, who = you,
  keyPair } = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(atAs.authorization_endpoint);
  const params = { client_id: app.client_id, redirect_uri: REDIRECT, response_type: 'code', state: 'st',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', scope: 'openai:chat', ...extra };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  const back = await who.consent(atSession, url, { models, maxRequests, lifetime: '3600' });
  if (!(back instanceof URL)) return { back };
  if (keyPair) {
    const DPoP = oauth.DPoP(app, keyPair);
    const exchange = async () => oauth.processAuthorizationCodeResponse(atAs, app, await oauth.authorizationCodeGrantRequest(atAs, app,
      oauth.None(), oauth.validateAuthResponse(atAs, app, back, 'st'), REDIRECT, verifier, { ...options(), DPoP }));
    try { return { back, tokens: await exchange() }; } catch (e) { if (!oauth.isDPoPNonceError(e)) throw e; }
    return { back, tokens: await exchange() };
  }
  const code = back.searchParams.get('code');
  const answer = await post('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier,
    client_id: app.client_id, ...tokenFields }, at);
  return { back, answer, verifier, tokens: answer.status === 200 ? answer.json : undefined };
}

const refresh = (token, fields = {}) => post('/oauth/token', { grant_type: 'refresh_token', refresh_token: token, client_id: app.client_id, ...fields });
const chat = (token, path = CHAT, headers = {}) => nodeCall(broker.url, 'POST', path, { ca: ca.ca, token,
  headers, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
const anthropic = (headers) => nodeCall(broker.url, 'POST', '/anthropic/v1/messages', { ca: ca.ca, headers,
  body: { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } });

test('the consent screen names the resources the app\'s tokens will be bound to', async () => {
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({ client_id: app.client_id, redirect_uri: REDIRECT, response_type: 'code', state: 'st',
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256',
    scope: 'openai:chat', resource: `${broker.url}/openai/v1` }))
    url.searchParams.append(k, v);
  const start = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
  assert.equal(start.status, 303, start.text);
  const page = await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.match(page.text, /<p id="resources">Its tokens will work only at:<\/p><ul><li>([^<]*)<\/li><\/ul>/);
  assert.equal(page.text.match(/<p id="resources">Its tokens will work only at:<\/p><ul><li>([^<]*)<\/li>/)[1], `${broker.url}/openai/v1`);
});

test('each proxy prefix and the broker itself publish RFC 9728 metadata naming the broker as authorization server', async () => {
  assert.equal(as.issuer, broker.url);
  for (const path of ['', '/openai/v1', '/anthropic', '/gemini', '/proxy']) {
    const res = await nodeCall(broker.url, 'GET', `/.well-known/oauth-protected-resource${path}`, { ca: ca.ca });
    assert.equal(res.status, 200, path);
    const m = res.json;
    assert.equal(m.resource, broker.url + path);
    assert.deepEqual(m.authorization_servers, [as.issuer]);
    assert.deepEqual(m.bearer_methods_supported, ['header']);
    assert.deepEqual(m.dpop_signing_alg_values_supported, ['EdDSA', 'Ed25519', 'ES256']);
    assert.equal(typeof m.resource_name, 'string');
    assert.ok(new URL(m.resource_documentation), path);
  }
  assert.deepEqual((await nodeCall(broker.url, 'GET', '/.well-known/oauth-protected-resource/openai/v1', { ca: ca.ca })).json.scopes_supported,
    ['openai:chat']);
  assert.equal((await nodeCall(broker.url, 'GET', '/.well-known/oauth-protected-resource/openai', { ca: ca.ca })).status, 404);
});

test('every 401 from a protected path names its metadata, with error="invalid_token" once a token was presented; bodies keep each provider\'s shape', async () => {
  const bare = await chat(undefined);
  assert.equal(bare.status, 401);
  assert.equal(bare.headers['www-authenticate'], `Bearer resource_metadata="${metadataUrl('/openai/v1')}"`);
  assert.equal(typeof bare.json.error.message, 'string', 'OpenAI\'s error shape');

  const forged = await chat('not-a-token');
  assert.equal(forged.status, 401);
  assert.match(forged.headers['www-authenticate'],
    new RegExp(`^Bearer resource_metadata="${metadataUrl('/openai/v1')}", error="invalid_token", error_description="[^"]+"$`));
  assert.equal(forged.json.error.type, 'invalid_request_error');

  const claude = await anthropic({ 'x-api-key': 'not-a-token', 'anthropic-version': '2023-06-01' });
  assert.equal(claude.status, 401);
  assert.equal(claude.json.type, 'error');
  assert.equal(claude.json.error.type, 'authentication_error');
  assert.match(claude.headers['www-authenticate'], new RegExp(`^Bearer resource_metadata="${metadataUrl('/anthropic')}", error="invalid_token"`));

  const gemini = await nodeCall(broker.url, 'POST', '/gemini/v1beta/models/gemini-2.5-flash:generateContent', { ca: ca.ca,
    headers: { 'x-goog-api-key': 'not-a-token' }, body: { contents: [{ parts: [{ text: 'hi' }] }] } });
  assert.equal(gemini.status, 401);
  assert.equal(gemini.json.error.status, 'UNAUTHENTICATED');
  assert.match(gemini.headers['www-authenticate'], new RegExp(`^Bearer resource_metadata="${metadataUrl('/gemini')}", error="invalid_token"`));

  const reference = await chat(undefined, '/proxy/chat');
  assert.equal(reference.status, 401);
  assert.equal(typeof reference.json.error, 'string', 'the reference\'s error shape');
  assert.equal(reference.headers['www-authenticate'], `Bearer resource_metadata="${metadataUrl('/proxy')}"`);

  const passport = await nodeCall(broker.url, 'GET', '/v1/passport', { ca: ca.ca, token: 'not-a-token' });
  assert.equal(passport.status, 401);
  assert.match(passport.headers['www-authenticate'], new RegExp(`^Bearer resource_metadata="${metadataUrl('')}", error="invalid_token"`));
});

test('a DPoP-bound token without a good proof (missing, bad, replayed) is answered in the DPoP scheme with invalid_dpop_proof and algs', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const { tokens } = await codeFlow({ keyPair });
  assert.equal(tokens.token_type, 'dpop');
  const token = tokens.access_token;
  const proof = async ({ htu = broker.url + CHAT, jti = randomUUID() } = {}) => new jose.SignJWT({
    htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti,
    ath: Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString('base64url'),
  }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(keyPair.publicKey) }).sign(keyPair.privateKey);
  const expected = new RegExp(`^DPoP resource_metadata="${metadataUrl('/openai/v1')}", error="invalid_dpop_proof", ` +
    'error_description="[^"]+", algs="EdDSA Ed25519 ES256"$');

  const missing = await chat(undefined, CHAT, { authorization: `DPoP ${token}` });
  assert.equal(missing.status, 401);
  assert.match(missing.headers['www-authenticate'], expected);
  assert.equal(typeof missing.json.error.message, 'string', 'the body keeps OpenAI\'s shape');
  const asBearer = await chat(token);
  assert.match(asBearer.headers['www-authenticate'], expected);
  const bad = await chat(undefined, CHAT, { authorization: `DPoP ${token}`, dpop: await proof({ htu: `${broker.url}/elsewhere` }) });
  assert.equal(bad.status, 401);
  assert.match(bad.headers['www-authenticate'], expected);
  const good = await proof();
  assert.equal((await chat(undefined, CHAT, { authorization: `DPoP ${token}`, dpop: good })).status, 200);
  const replayed = await chat(undefined, CHAT, { authorization: `DPoP ${token}`, dpop: good });
  assert.equal(replayed.status, 401);
  assert.match(replayed.headers['www-authenticate'], expected);
});

test('one issuer: the metadata\'s is the tokens\' iss, RFC 9207\'s iss and introspection\'s; a strict RFC 9068 validator accepts the token', async () => {
  const { back, tokens } = await codeFlow();
  assert.equal(back.searchParams.get('iss'), broker.url);
  oauth.validateAuthResponse(as, app, back, 'st');  // checks iss against the metadata's issuer
  const request = new Request(broker.url + CHAT, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, 'aipassport', options());
  assert.equal(claims.iss, broker.url);
  assert.equal(claims.client_id, app.client_id);
  const jwks = jose.createLocalJWKSet((await nodeCall(broker.url, 'GET', '/.well-known/jwks.json', { ca: ca.ca })).json);
  await jose.jwtVerify(tokens.access_token, jwks, { issuer: as.issuer, audience: 'aipassport', typ: 'at+jwt' });
  const introspected = await nodeCall(broker.url, 'POST', '/oauth/introspect', { ca: ca.ca, token: broker.ownerToken,
    raw: new URLSearchParams({ token: tokens.access_token }).toString(), headers: form });
  assert.equal(introspected.json.active, true);
  assert.equal(introspected.json.iss, broker.url);
  assert.equal(introspected.json.aud, 'aipassport');
});

test('AIPASSPORT_ISSUER overrides the issuer everywhere at once', async () => {
  const issuer = 'https://login.example.com';
  const other = await oauthBroker({ app: ['--device-grant'] }, { AIPASSPORT_ISSUER: issuer });
  const them = person(other.broker.url, other.ca.ca);
  const theirSession = await them.signIn('erin', PASSWORD);
  const theirAs = (await nodeCall(other.broker.url, 'GET', '/.well-known/oauth-authorization-server', { ca: other.ca.ca })).json;
  assert.equal(theirAs.issuer, issuer);
  assert.equal(theirAs.token_endpoint, `${other.broker.url}/oauth/token`, 'endpoints stay at the broker');
  const prm = (await nodeCall(other.broker.url, 'GET', '/.well-known/oauth-protected-resource/openai/v1', { ca: other.ca.ca })).json;
  assert.deepEqual(prm.authorization_servers, [issuer]);
  const savedApp = app;
  app = { client_id: other.apps.app.client_id };
  try {
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(theirAs.authorization_endpoint);
    for (const [k, v] of Object.entries({ client_id: app.client_id, redirect_uri: REDIRECT, response_type: 'code', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', scope: 'openai:chat' }))
      url.searchParams.set(k, v);
    const back = await them.consent(theirSession, url, { lifetime: '3600' });
    assert.equal(back.searchParams.get('iss'), issuer);
    const answer = await nodeCall(other.broker.url, 'POST', '/oauth/token', { ca: other.ca.ca, headers: form,
      raw: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code'), redirect_uri: REDIRECT,
        code_verifier: verifier, client_id: app.client_id }).toString() });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(claimsOf(answer.json.access_token).iss, issuer);
    const introspected = await nodeCall(other.broker.url, 'POST', '/oauth/introspect', { ca: other.ca.ca, token: other.broker.ownerToken,
      raw: new URLSearchParams({ token: answer.json.access_token }).toString(), headers: form });
    assert.equal(introspected.json.iss, issuer);
    const called = await nodeCall(other.broker.url, 'POST', CHAT, { ca: other.ca.ca, token: answer.json.access_token,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(called.status, 200, 'the broker accepts the tokens it issued under that issuer');
  } finally {
    app = savedApp;
  }
});

test('resource indicators: a token asked for /openai/v1 carries it as aud and is refused on every other resource', async () => {
  const resource = `${broker.url}/openai/v1`;
  const { tokens } = await codeFlow({ extra: { resource } });
  assert.equal(claimsOf(tokens.access_token).aud, resource);
  const request = new Request(broker.url + CHAT, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal((await oauth.validateJwtAccessToken(as, request, resource, options())).aud, resource);
  assert.equal((await chat(tokens.access_token)).status, 200);
  for (const path of ['/proxy/chat']) {
    const elsewhere = await chat(tokens.access_token, path);
    assert.equal(elsewhere.status, 401, path);
    assert.match(elsewhere.headers['www-authenticate'], /error="invalid_token"/);
  }
  const claude = await anthropic({ authorization: `Bearer ${tokens.access_token}`, 'anthropic-version': '2023-06-01' });
  assert.equal(claude.status, 401);
  assert.equal(claude.json.error.type, 'authentication_error');
  assert.match(claude.headers['www-authenticate'], new RegExp(`resource_metadata="${metadataUrl('/anthropic')}", error="invalid_token"`));
  const passport = await nodeCall(broker.url, 'GET', '/v1/passport', { ca: ca.ca, token: tokens.access_token });
  assert.equal(passport.status, 401);

  // A refresh keeps the binding, may narrow within it, and may not reach another resource.
  const outside = await refresh(tokens.refresh_token, { resource: `${broker.url}/proxy` });
  assert.equal(outside.status, 400);
  assert.equal(outside.json.error, 'invalid_target');
  const refreshed = await refresh(tokens.refresh_token);
  assert.equal(refreshed.status, 200, 'a refused refresh leaves its token working');
  assert.equal(claimsOf(refreshed.json.access_token).aud, resource);

  // Without resource, today's audience, good on every path.
  const { tokens: plain } = await codeFlow();
  assert.equal(claimsOf(plain.access_token).aud, 'aipassport');
  assert.equal((await chat(plain.access_token, '/proxy/chat')).status, 200);
  assert.equal((await nodeCall(broker.url, 'GET', '/v1/passport', { ca: ca.ca, token: plain.access_token })).status, 200);
  // Asked at the token request only: bound there.
  const { tokens: late } = await codeFlow({ tokenFields: { resource: `${broker.url}/proxy` } });
  assert.equal(claimsOf(late.access_token).aud, `${broker.url}/proxy`);
  assert.equal((await chat(late.access_token, '/proxy/chat')).status, 200);
  assert.equal((await chat(late.access_token)).status, 401);
});

test('a token request the grant cannot answer leaves its code for a corrected retry, which does not count as a replay', async () => {
  const { back, answer, verifier } = await codeFlow({ tokenFields: { resource: 'https://elsewhere.example/' } });
  assert.equal(answer.status, 400);
  assert.equal(answer.json.error, 'invalid_target');
  const widened = await post('/oauth/token', { grant_type: 'authorization_code', code: back.searchParams.get('code'),
    redirect_uri: REDIRECT, code_verifier: verifier, client_id: app.client_id, scope: 'anthropic:chat' });
  assert.equal(widened.status, 400);
  assert.equal(widened.json.error, 'invalid_scope');
  const retried = await post('/oauth/token', { grant_type: 'authorization_code', code: back.searchParams.get('code'),
    redirect_uri: REDIRECT, code_verifier: verifier, client_id: app.client_id });
  assert.equal(retried.status, 200, `the code was not used up: ${retried.text}`);
  assert.equal((await chat(retried.json.access_token, '/proxy/chat')).status, 200, 'the grant was not revoked');
});

test('refreshes count against the grant\'s 60 tokens a minute; a refused one is slow_down and revokes nothing', async () => {
  const { tokens } = await codeFlow();  // the first of the minute
  let current = tokens;
  for (let i = 1; i < 60; i++) {
    const next = await refresh(current.refresh_token);
    assert.equal(next.status, 200, `refresh ${i}: ${next.text}`);
    current = next.json;
  }
  const refused = await refresh(current.refresh_token);
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error, 'slow_down');
  assert.match(refused.json.error_description, /Too many tokens for this grant/);
  assert.equal((await chat(current.access_token, '/proxy/chat')).status, 200, 'the grant was not revoked as a replay');
});

test('resource indicators: an unknown resource, or one of another provider, is invalid_target', async () => {
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  for (const resource of [`${broker.url}/openai`, 'https://elsewhere.example/openai/v1', `${broker.url}/anthropic`]) {
    const url = new URL(as.authorization_endpoint);
    for (const [k, v] of Object.entries({ client_id: app.client_id, redirect_uri: REDIRECT, response_type: 'code', state: 'x',
      code_challenge: challenge, code_challenge_method: 'S256', scope: 'openai:chat', resource })) url.searchParams.set(k, v);
    const res = await nodeCall(broker.url, 'GET', url.pathname + url.search, { ca: ca.ca, headers: { cookie: session } });
    assert.equal(res.status, 303, resource);
    const back = new URL(res.headers.location);
    assert.equal(back.origin + back.pathname, REDIRECT);
    assert.equal(back.searchParams.get('error'), 'invalid_target', resource);
    assert.equal(back.searchParams.get('state'), 'x');
    assert.equal(back.searchParams.get('iss'), broker.url);
  }
  const device = await post('/oauth/device_authorization', { client_id: app.client_id, scope: 'openai:chat', resource: `${broker.url}/nowhere` });
  assert.equal(device.status, 400);
  assert.equal(device.json.error, 'invalid_target');
  const token = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: 'x', client_id: app.client_id,
    resource: 'https://elsewhere.example/' });
  assert.equal(token.status, 400);
  assert.equal(token.json.error, 'invalid_target');
});

test('resource indicators in the device flow: asked in the device request, narrowed at the token request', async () => {
  const fields = new URLSearchParams({ client_id: app.client_id, scope: 'openai:chat' });
  fields.append('resource', `${broker.url}/openai/v1`);
  fields.append('resource', `${broker.url}/proxy`);
  const started = await nodeCall(broker.url, 'POST', '/oauth/device_authorization', { ca: ca.ca, raw: fields.toString(), headers: form });
  assert.equal(started.status, 200, started.text);
  assert.equal(await you.enterCode(session, started.json.user_code, 'approve'), '/device?done=approved');
  const outside = await post('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: started.json.device_code, client_id: app.client_id, resource: broker.url });
  assert.equal(outside.json.error, 'invalid_target', 'the broker itself was not asked for');
  // That refusal used the device code (it is handed out once); a second device request is narrowed.
  const again = await nodeCall(broker.url, 'POST', '/oauth/device_authorization', { ca: ca.ca, raw: fields.toString(), headers: form });
  assert.equal(await you.enterCode(session, again.json.user_code, 'approve'), '/device?done=approved');
  const tokens = await post('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: again.json.device_code, client_id: app.client_id, resource: `${broker.url}/proxy` });
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal(claimsOf(tokens.json.access_token).aud, `${broker.url}/proxy`);
  const both = await refresh(tokens.json.refresh_token);
  assert.deepEqual(claimsOf(both.json.access_token).aud, [`${broker.url}/openai/v1`, `${broker.url}/proxy`],
    'a refresh without resource gets every resource the device asked for');
  assert.equal((await chat(both.json.access_token)).status, 200);
});

test('a token or refresh request asking for more than the grant holds is refused, never narrowed in silence', async () => {
  const details = (item) => JSON.stringify([{ type: 'ai_access', provider: 'openai', capabilities: ['chat'], ...item }]);
  const asked = details({ models: ['gpt-4o-mini', 'gpt-4o'], max_requests: 10, lifetime_seconds: 3600 });
  const wider = await codeFlow({ extra: { scope: undefined, authorization_details: asked }, models: ['gpt-4o-mini'], maxRequests: '10',
    tokenFields: { authorization_details: details({ models: ['gpt-4o'], max_requests: 10 }) } });
  assert.ok(wider.answer, `the consent did not send the person back: ${(wider.back?.text ?? "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 900)}`);
  assert.equal(wider.answer.status, 400);
  assert.equal(wider.answer.json.error, 'invalid_authorization_details');
  assert.match(wider.answer.json.error_description, /gpt-4o/);

  const { tokens } = await codeFlow({ extra: { scope: undefined, authorization_details: asked }, models: ['gpt-4o-mini'], maxRequests: '10' });
  assert.deepEqual(tokens.authorization_details[0].models, ['gpt-4o-mini']);
  const cases = [
    [{ authorization_details: details({ models: ['gpt-4o-mini'], capabilities: ['chat', 'images'], max_requests: 10 }) }, 'invalid_authorization_details', /images/],
    [{ authorization_details: details({ models: ['gpt-4o-mini'], max_requests: 11 }) }, 'invalid_authorization_details', /max_requests/],
    [{ authorization_details: details({ models: ['gpt-4o-mini'] }) }, 'invalid_authorization_details', /max_requests/],
    [{ authorization_details: details({ models: ['gpt-4o-mini'], max_requests: 10, lifetime_seconds: 7200 }) }, 'invalid_authorization_details', /lifetime/],
    [{ scope: 'openai:chat openai:images' }, 'invalid_scope', /images/],
    [{ scope: 'anthropic:chat' }, 'invalid_scope', /openai/],
  ];
  for (const [fields, error, why] of cases) {
    const res = await refresh(tokens.refresh_token, fields);
    assert.equal(res.status, 400, JSON.stringify(fields));
    assert.equal(res.json.error, error, JSON.stringify(fields));
    assert.match(res.json.error_description, why);
  }
  const same = await refresh(tokens.refresh_token, { authorization_details: details({ models: ['gpt-4o-mini'], max_requests: 5 }) });
  assert.equal(same.status, 200, 'each refused refresh left the token working; one inside the grant is answered');
  assert.deepEqual(same.json.authorization_details, tokens.authorization_details, 'the answer says what the token carries');
  // A client repeating the shorthand it could have been granted (RFC 6749 §6) is not refused for the
  // models and cap the owner chose, which the shorthand cannot name.
  const repeated = await refresh(same.json.refresh_token, { scope: 'openai:chat' });
  assert.equal(repeated.status, 200, repeated.text);
  assert.deepEqual(repeated.json.authorization_details, tokens.authorization_details);
});

test('the official MCP SDK discovers the broker from a 401, finds its authorization server, and completes auth() with resource', async () => {
  const fetchFn = caFetchFor(ca.ca);
  const refused = await fetchFn(broker.url + CHAT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(refused.status, 401);
  const { resourceMetadataUrl } = extractWWWAuthenticateParams(refused);
  assert.equal(String(resourceMetadataUrl), metadataUrl('/openai/v1'));
  const serverUrl = new URL(`${broker.url}/openai/v1`);
  const prm = await discoverOAuthProtectedResourceMetadata(serverUrl, { resourceMetadataUrl }, fetchFn);
  assert.equal(prm.resource, serverUrl.href);
  const found = await discoverAuthorizationServerMetadata(prm.authorization_servers[0], { fetchFn });
  assert.equal(found.issuer, broker.url);
  assert.equal(found.token_endpoint, `${broker.url}/oauth/token`);
  // Without being told where the metadata is: path-aware discovery from the server URL alone.
  assert.equal((await discoverOAuthProtectedResourceMetadata(serverUrl, {}, fetchFn)).resource, serverUrl.href);

  // auth() with a provider for the registered app: it redirects the person, then trades the code.
  let saved = {}, sentTo;
  const provider = {
    get redirectUrl() { return REDIRECT; },
    get clientMetadata() { return { client_name: 'Notes', redirect_uris: [REDIRECT] }; },
    clientInformation: () => ({ client_id: app.client_id }),
    tokens: () => saved.tokens,
    saveTokens: (t) => { saved.tokens = t; },
    redirectToAuthorization: (url) => { sentTo = url; },
    saveCodeVerifier: (v) => { saved.verifier = v; },
    codeVerifier: () => saved.verifier,
  };
  assert.equal(await mcpAuth(provider, { serverUrl, resourceMetadataUrl, fetchFn }), 'REDIRECT');
  assert.equal(sentTo.searchParams.get('resource'), serverUrl.href);
  assert.equal(sentTo.searchParams.get('scope'), 'openai:chat', 'from the metadata\'s scopes_supported');
  const back = await you.consent(session, sentTo, { lifetime: '3600' });
  assert.equal(await mcpAuth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: back.searchParams.get('code'), fetchFn }), 'AUTHORIZED');
  const token = saved.tokens.access_token;
  assert.equal(claimsOf(token).aud, serverUrl.href);
  assert.equal((await chat(token)).status, 200);
  const elsewhere = await anthropic({ authorization: `Bearer ${token}`, 'anthropic-version': '2023-06-01' });
  assert.equal(elsewhere.status, 401, 'the token is refused on another resource');
  assert.equal(extractWWWAuthenticateParams(new Response(null, { status: 401,
    headers: { 'www-authenticate': elsewhere.headers['www-authenticate'] } })).error, 'invalid_token');
});
