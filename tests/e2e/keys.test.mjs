// Signing key rotation on a running broker: the new key is published before it signs, and tokens
// signed by the old key keep working until they expire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as jose from 'jose';
import { BIN, startMock, startBroker, approvedGrant, call, chatBody, SCOPES, cliSync } from './harness.mjs';

async function eventually(probe, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const kidOf = (token) => jose.decodeProtectedHeader(token).kid;

test('keys rotate-signing: published at once, signing after the publish delay, old tokens still verify', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_SIGNING_PUBLISH_SECONDS: '6' } });
  const first = await approvedGrant(broker, SCOPES.openai);
  const oldKid = kidOf(first.token);

  const out = cliSync(['keys', 'rotate-signing', '--data-dir', broker.dataDir], { env: { PATH: process.env.PATH } }).toString();
  const newKid = out.match(/new signing key (\S+) is published now/)[1];
  assert.notEqual(newKid, oldKid);

  await eventually(async () => (await call(broker.url, 'GET', '/.well-known/jwks.json')).json.keys.length === 2, 'the new key in the JWKS');
  const jwks = (await call(broker.url, 'GET', '/.well-known/jwks.json')).json;
  assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
  const meanwhile = await call(broker.url, 'POST', '/tokens', { body: { grantId: first.grantId, requestSecret: first.requestSecret } });
  assert.equal(kidOf(meanwhile.json.token), oldKid, 'a published key does not sign before its time');

  const fresh = await eventually(async () => {
    const t = await call(broker.url, 'POST', '/tokens', { body: { grantId: first.grantId, requestSecret: first.requestSecret } });
    return kidOf(t.json.token) === newKid && t.json.token;
  }, 'the new key to sign');
  const localJwks = jose.createLocalJWKSet((await call(broker.url, 'GET', '/.well-known/jwks.json')).json);
  await jose.jwtVerify(fresh, localJwks, { issuer: 'aipassport-broker', audience: 'aipassport' });
  const oldStillWorks = await call(broker.url, 'POST', '/proxy/chat', { token: first.token, body: chatBody('gpt-4o-mini') });
  assert.equal(oldStillWorks.status, 200, 'tokens of the replaced key verify until they expire');
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token: fresh, body: chatBody('gpt-4o-mini') })).status, 200);
});
