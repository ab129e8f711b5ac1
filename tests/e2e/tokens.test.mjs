// Our tokens, checked by an independent JOSE implementation (the npm `jose` package) against our
// published JWKS; and forgeries made with it, refused by the broker.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { startMock, startBroker, call, approvedGrant, chatBody, databaseUrlFor, SCOPES } from './harness.mjs';

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
    issuer: broker.url, audience: 'aipassport', typ: 'at+jwt', algorithms: ['EdDSA'],
  });
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.equal(protectedHeader.kid, jwks.keys[0].kid);
  assert.equal(payload.gid, grantId);
  assert.equal(payload.sub, grantId);
  assert.match(payload.jti, /^[0-9a-f-]{36}$/);
  assert.equal(payload.exp - payload.iat, 3600);
});

// An Ed25519 PKCS#8 private key begins with these bytes, then the 32-byte seed.
const PKCS8_ED25519_PREFIX = '302e020100300506032b657004220420';

test('the signing key is kept only sealed in the database: no key file, no private key in clear', () => {
  assert.equal(existsSync(join(broker.dataDir, 'signing-key.pem')), false);
  assert.equal(statSync(broker.dataDir).mode & 0o077, 0, 'the data directory is private');
  let stored;
  if (process.env.AIPASSPORT_E2E_STORE === 'postgres') {
    stored = execFileSync('psql', [databaseUrlFor(broker.dataDir), '-AtXc',
      "SELECT kid, public_jwk, encode(sealed, 'hex'), encode(wrapped_data_key, 'hex') FROM signing_keys"]).toString();
  } else {
    const files = readdirSync(broker.dataDir).filter((f) => f.startsWith('aipassport.db'));
    stored = files.map((f) => readFileSync(join(broker.dataDir, f)).toString('hex')).join('\n') +
      files.map((f) => readFileSync(join(broker.dataDir, f)).toString('latin1')).join('\n');
  }
  assert.ok(stored.includes(jwks.keys[0].kid), 'the ring is there to search');
  assert.ok(stored.includes(jwks.keys[0].x) || stored.includes(Buffer.from(jwks.keys[0].x).toString('hex')), 'its public key in clear');
  assert.equal(stored.includes('PRIVATE KEY'), false, 'no PEM private key');
  assert.equal(stored.includes(PKCS8_ED25519_PREFIX), false, 'no DER private key');
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

test('an app takes at most 60 tokens a minute for a grant: a loop grows the tokens and the audit trail that slowly at most', async () => {
  const looping = await approvedGrant(broker, SCOPES.openai);  // its first token
  const take = () => call(broker.url, 'POST', '/tokens', { body: { grantId: looping.grantId, requestSecret: looping.requestSecret } });
  for (let i = 1; i < 60; i++) assert.equal((await take()).status, 201, `token ${i + 1}`);
  const refused = await take();
  assert.equal(refused.status, 429);
  assert.match(refused.text, /Too many tokens for this grant; try again in \d+ seconds/);
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  assert.equal((await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: looping.token, body: chatBody('gpt-4o-mini') })).status,
    200, 'the tokens it holds still work');
  const other = await approvedGrant(broker, SCOPES.openai);
  assert.ok(other.token, 'another grant is not held back');
});
