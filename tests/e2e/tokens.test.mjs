// Our tokens, checked by an independent JOSE implementation (the npm `jose` package) against our
// published JWKS; and forgeries made with it, refused by the broker.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { startMock, startBroker, call, approvedGrant, chatBody, SCOPES } from './harness.mjs';

let mock, broker, jwks;
before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
  jwks = (await call(broker.url, 'GET', '/.well-known/jwks.json')).json;
});

test('the JWKS publishes one Ed25519 public key with its thumbprint as kid', async () => {
  assert.equal(jwks.keys.length, 1);
  const [key] = jwks.keys;
  assert.equal(key.kty, 'OKP');
  assert.equal(key.crv, 'Ed25519');
  assert.equal(key.alg, 'EdDSA');
  assert.equal(key.use, 'sig');
  assert.equal(key.d, undefined, 'no private part');
  assert.equal(key.kid, await jose.calculateJwkThumbprint(key, 'sha256'));
});

test('jose verifies our tokens against our JWKS, with every claim the issue asks for', async () => {
  const { token, grantId } = await approvedGrant(broker, SCOPES.openai, { expiresInSeconds: 86400 });
  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    issuer: 'aipassport-broker', audience: 'aipassport', typ: 'at+jwt', algorithms: ['EdDSA'],
  });
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.equal(protectedHeader.kid, jwks.keys[0].kid);
  assert.equal(payload.gid, grantId);
  assert.equal(payload.sub, grantId);
  assert.match(payload.jti, /^[0-9a-f-]{36}$/);
  assert.equal(payload.exp - payload.iat, 3600);
});

test('the signing key file is private to its owner', () => {
  const mode = statSync(join(broker.dataDir, 'signing-key.pem')).mode & 0o777;
  assert.equal(mode, 0o600);
  assert.equal(statSync(broker.dataDir).mode & 0o077, 0, 'the data directory is private too');
});

test('forgeries are refused: another key under our kid, HS256 with our public key, alg none, another broker', async () => {
  const { token, grantId } = await approvedGrant(broker, SCOPES.openai);
  const claims = jose.decodeJwt(token);
  const kid = jwks.keys[0].kid;

  const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const otherKey = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);
  const publicBytes = Buffer.from(jwks.keys[0].x, 'base64url');
  const hs256 = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(publicBytes);
  const none = new jose.UnsecuredJWT(claims).encode();
  const longer = await new jose.SignJWT({ ...claims, exp: claims.exp + 86400 * 365 })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);

  const elsewhere = await startBroker({ mock });
  const foreign = await approvedGrant(elsewhere, SCOPES.openai);

  for (const [name, forged] of Object.entries({ otherKey, hs256, none, longer, foreign: foreign.token })) {
    const res = await call(broker.url, 'POST', '/proxy/chat', { token: forged, body: chatBody('gpt-4o-mini') });
    assert.equal(res.status, 401, name);
    const inspect = await call(broker.url, 'GET', `/tokens/${forged}/inspect`);
    assert.equal(inspect.json.valid, false, name);
  }
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') })).status, 200);
  assert.ok(grantId);
  await elsewhere.stop();
});
