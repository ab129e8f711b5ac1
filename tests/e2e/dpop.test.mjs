// DPoP (RFC 9449): tokens bound to the app's key are useless without it. oauth4webapi binds them
// and calls the proxy with proofs; hand-made proofs (jose) try each attack and see the refusal.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import * as dpop from 'dpop';
import { nodeCall } from './harness.mjs';
import { caFetchFor, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
const CHAT = '/openai/v1/chat/completions';
let ca, broker, as, app, strictApp, you, session;
const options = () => ({ [oauth.customFetch]: caFetchFor(ca.ca) });

before(async () => {
  let apps;
  ({ ca, broker, apps } = await oauthBroker({ app: [], strict: ['--dpop-required'] }));
  app = { client_id: apps.app.client_id };
  strictApp = { client_id: apps.strict.client_id };
  const issuer = new URL(broker.url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options(), algorithm: 'oauth2' }));
  you = person(broker.url, ca.ca);
  session = await you.signIn('erin', PASSWORD);
});

// The token endpoint wants the broker's nonce in proofs: the first try learns it (the DPoP handle
// keeps it from the DPoP-Nonce header), the second uses it, as RFC 9449 §8 has clients do.
async function retryingNonce(attempt) {
  try {
    return await attempt();
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    return attempt();
  }
}

// The code flow, with tokens bound to `keyPair` when one is given.
async function codeFlow(client, keyPair) {
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({ client_id: client.client_id, redirect_uri: REDIRECT, response_type: 'code',
    state: 'st', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', scope: 'openai:chat' }))
    url.searchParams.set(k, v);
  const back = await you.consent(session, url, { lifetime: '3600' });
  const params = oauth.validateAuthResponse(as, client, back, 'st');
  const DPoP = keyPair ? oauth.DPoP(client, keyPair) : undefined;
  return retryingNonce(async () => oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { ...options(), DPoP })));
}

const ath = (token) => createHash('sha256').update(token).digest('base64url');

// A proof made by hand, so that each check can be attacked on its own.
async function proof(keyPair, { htm = 'POST', htu = broker.url + CHAT, iat = Math.floor(Date.now() / 1000), jti = randomUUID(),
  token, alg = 'ES256', jwkOf = keyPair, nonce } = {}) {
  const jwk = await jose.exportJWK(jwkOf.publicKey);
  const claims = { htm, htu, iat, jti };
  if (nonce) claims.nonce = nonce;
  if (token) claims.ath = ath(token);
  return new jose.SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).sign(keyPair.privateKey);
}

// POST /oauth/revoke for `app`, with a proof of `keyPair` when given (made without a nonce
// when `nonce` is null, to learn one).
const revoke = (token, keyPair, nonce) => (keyPair ? proof(keyPair, { htu: `${broker.url}/oauth/revoke`, nonce }) : Promise.resolve())
  .then((dpop) => nodeCall(broker.url, 'POST', '/oauth/revoke', { ca: ca.ca,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(dpop ? { dpop } : {}) },
    raw: new URLSearchParams({ token, client_id: app.client_id }).toString() }));
// The revocation of a bound token by the app that holds its key: the first proof learns the nonce.
const revokeProving = async (keyPair, token) => revoke(token, keyPair, (await revoke(token, keyPair)).headers['dpop-nonce']);

const chat = (token, { scheme = 'DPoP', dpop } = {}) => nodeCall(broker.url, 'POST', CHAT, { ca: ca.ca,
  headers: { authorization: `${scheme} ${token}`, ...(dpop ? { dpop } : {}) },
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });

test('the metadata lists the DPoP algorithms', () => {
  assert.deepEqual(as.dpop_signing_alg_values_supported, ['EdDSA', 'Ed25519', 'ES256']);
});

test('a bound token carries cnf.jkt of the app\'s key and works on the proxy with proofs (oauth4webapi)', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const tokens = await codeFlow(app, keyPair);
  assert.equal(tokens.token_type, 'dpop');
  const jwks = jose.createLocalJWKSet((await nodeCall(broker.url, 'GET', '/.well-known/jwks.json', { ca: ca.ca })).json);
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: broker.url });
  assert.equal(payload.cnf.jkt, await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey)));
  const DPoP = oauth.DPoP(app, keyPair);
  for (let i = 0; i < 2; i++) {
    const res = await oauth.protectedResourceRequest(tokens.access_token, 'POST', new URL(broker.url + CHAT),
      new Headers({ 'content-type': 'application/json' }),
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), { ...options(), DPoP });
    assert.equal(res.status, 200, await res.clone().text());
  }
});

test('proofs made by the dpop package work on every provider path, each call with its own', async () => {
  const keyPair = await dpop.generateKeyPair('ES256');
  const { access_token: token } = await codeFlow(app, keyPair);
  for (let i = 0; i < 3; i++) {
    const res = await chat(token, { dpop: await dpop.generateProof(keyPair, broker.url + CHAT, 'POST', undefined, token) });
    assert.equal(res.status, 200, res.text);
  }
  const models = await nodeCall(broker.url, 'GET', '/openai/v1/models?limit=5', { ca: ca.ca,
    headers: { authorization: `DPoP ${token}`, dpop: await dpop.generateProof(keyPair, `${broker.url}/openai/v1/models`, 'GET', undefined, token) } });
  assert.equal(models.status, 200, 'htu leaves the query out');
  const passport = await nodeCall(broker.url, 'GET', '/v1/passport', { ca: ca.ca,
    headers: { authorization: `DPoP ${token}`, dpop: await dpop.generateProof(keyPair, `${broker.url}/v1/passport`, 'GET', undefined, token) } });
  assert.equal(passport.status, 200);
  assert.equal(payloadJkt(token), await dpop.calculateThumbprint(keyPair.publicKey));
});

test('the token of a revoked grant is refused before its proof is kept: it cannot fill the replay store', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const tokens = await codeFlow(app, keyPair);
  assert.equal((await revokeProving(keyPair, tokens.refresh_token)).status, 200);
  const fresh = await proof(keyPair, { token: tokens.access_token });
  for (let i = 0; i < 2; i++) {
    const res = await chat(tokens.access_token, { dpop: fresh });
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error.message, /revoked/, 'the same proof twice: never "already used"');
  }
});

const payloadJkt = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).cnf.jkt;

test('a stolen bound token is refused: as Bearer, with a replayed proof, another method, URL or key, or a stale iat', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const thief = await oauth.generateKeyPair('ES256');
  const { access_token: token } = await codeFlow(app, keyPair);
  const refused = async (res, pattern) => {
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error.message, pattern);
  };
  await refused(await chat(token, { scheme: 'Bearer' }), /This token is DPoP-bound/);
  await refused(await chat(token), /Invalid DPoP proof: a DPoP header is required/);
  const good = await proof(keyPair, { token });
  assert.equal((await chat(token, { dpop: good })).status, 200);
  await refused(await chat(token, { dpop: good }), /this proof was already used/);
  await refused(await chat(token, { dpop: await proof(keyPair, { token, htm: 'GET' }) }), /htm does not match/);
  await refused(await chat(token, { dpop: await proof(keyPair, { token, htu: `${broker.url}/openai/v1/embeddings` }) }), /htu does not match/);
  await refused(await chat(token, { dpop: await proof(thief, { token }) }), /signed by another key than the token's/);
  await refused(await chat(token, { dpop: await proof(thief, { token, jwkOf: keyPair }) }), /the signature does not verify/);
  await refused(await chat(token, { dpop: await proof(keyPair, { token, iat: Math.floor(Date.now() / 1000) - 600 }) }), /iat is too old/);
  await refused(await chat(token, { dpop: await proof(keyPair, { token, iat: Math.floor(Date.now() / 1000) + 600 }) }), /iat is in the future/);
  await refused(await chat(token, { dpop: await proof(keyPair, { token: 'another token' }) }), /ath does not match/);
  await refused(await chat(token, { dpop: await proof(keyPair) }), /ath does not match/);
});

test('an unbound token is refused under the DPoP scheme; Ed25519 keys bind as well as P-256 (alg EdDSA or Ed25519)', async () => {
  const plain = await codeFlow(app);
  assert.equal(plain.token_type, 'bearer');
  const res = await chat(plain.access_token, { dpop: 'x' });
  assert.equal(res.status, 401);
  assert.match(res.json.error.message, /not DPoP-bound/);
  const ed = await jose.generateKeyPair('EdDSA');
  const tokens = await codeFlow(app, ed);
  assert.equal((await chat(tokens.access_token, { dpop: await proof(ed, { token: tokens.access_token, alg: 'EdDSA' }) })).status, 200);
  assert.equal((await chat(tokens.access_token, { dpop: await proof(ed, { token: tokens.access_token, alg: 'Ed25519' }) })).status, 200);
});

test('a public client\'s refresh token is bound too: without the key it is refused and not burned', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const thief = await oauth.generateKeyPair('ES256');
  const tokens = await codeFlow(app, keyPair);
  const refresh = (DPoP) => retryingNonce(async () => oauth.processRefreshTokenResponse(as, app,
    await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token, { ...options(), DPoP })));
  await assert.rejects(refresh(undefined), (e) => e.error === 'invalid_dpop_proof');
  await assert.rejects(refresh(oauth.DPoP(app, thief)), (e) => e.error === 'invalid_dpop_proof');
  const renewed = await refresh(oauth.DPoP(app, keyPair));
  assert.equal(renewed.token_type, 'dpop');
  assert.notEqual(renewed.refresh_token, tokens.refresh_token);
});

test('an app registered with DPoP required gets no token without a proof', async () => {
  await assert.rejects(codeFlow(strictApp), (e) => e.error === 'invalid_dpop_proof');
  const tokens = await codeFlow(strictApp, await oauth.generateKeyPair('ES256'));
  assert.equal(tokens.token_type, 'dpop');
});

test('the token endpoint wants the broker\'s nonce (use_dpop_nonce), and refuses a proof used twice', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const tokens = await codeFlow(app, keyPair);
  const send = (dpop) => nodeCall(broker.url, 'POST', '/oauth/token', { ca: ca.ca, headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
    raw: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: app.client_id }).toString() });
  const htu = `${broker.url}/oauth/token`;
  const noNonce = await send(await proof(keyPair, { htu }));
  assert.equal(noNonce.status, 400);
  assert.equal(noNonce.json.error, 'use_dpop_nonce');
  const nonce = noNonce.headers['dpop-nonce'];
  assert.match(nonce, /^[A-Za-z0-9_-]{43}$/);
  assert.equal((await send(await proof(keyPair, { htu, nonce: 'made-up' }))).json.error, 'use_dpop_nonce');
  const dpop = await proof(keyPair, { htu, nonce });
  const first = await send(dpop);
  assert.equal(first.status, 200, first.text);
  const again = await send(dpop);
  assert.equal(again.status, 400);
  assert.equal(again.json.error, 'invalid_dpop_proof');
  assert.match(again.json.error_description, /already used/);
});

test('a bound token is revoked only with a proof of its key: a thief holding the refresh or access token cannot end the access', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const thiefKey = await oauth.generateKeyPair('ES256');
  const tokens = await codeFlow(app, keyPair);
  const usable = async () => (await chat(tokens.access_token, { dpop: await proof(keyPair, { token: tokens.access_token }) })).status;
  for (const token of [tokens.refresh_token, tokens.access_token]) {
    const bare = await revoke(token);
    assert.equal(bare.status, 400, bare.text);
    assert.equal(bare.json.error, 'invalid_dpop_proof');
    assert.match(bare.json.error_description, /bound to a DPoP key/);
    const learn = await revoke(token, thiefKey);
    assert.equal(learn.json.error, 'use_dpop_nonce');
    const nonce = learn.headers['dpop-nonce'];
    const thief = await revoke(token, thiefKey, nonce);
    assert.equal(thief.status, 400, thief.text);
    assert.equal(thief.json.error, 'invalid_dpop_proof');
    const elsewhere = await nodeCall(broker.url, 'POST', '/oauth/revoke', { ca: ca.ca, headers: {
      'content-type': 'application/x-www-form-urlencoded', dpop: await proof(keyPair, { htu: `${broker.url}/oauth/token`, nonce }) },
    raw: new URLSearchParams({ token, client_id: app.client_id }).toString() });
    assert.equal(elsewhere.status, 400, 'a proof made for another endpoint');
    assert.equal(await usable(), 200, 'the grant lives on');
  }
  const owner = await revokeProving(keyPair, tokens.refresh_token);
  assert.equal(owner.status, 200, owner.text);
  assert.equal(await usable(), 401, 'the app itself, with its key, ended it');
});
