// Signing key rotation on a running broker: the new key is published before it signs, and tokens
// signed by the old key keep working until they expire. An older version's key files are imported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { startMock, startBroker, approvedGrant, call, chatBody, SCOPES, cliSync, tempDir, eventually } from './harness.mjs';

const kidOf = (token) => jose.decodeProtectedHeader(token).kid;

test('keys rotate-signing: published at once, signing after the publish delay, old tokens still verify', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_SIGNING_PUBLISH_SECONDS: '6' } });
  const first = await approvedGrant(broker, SCOPES.openai);
  const oldKid = kidOf(first.token);

  const out = cliSync(['keys', 'rotate-signing', '--data-dir', broker.dataDir], { env: { PATH: process.env.PATH } }).toString();
  const newKid = out.match(/new signing key (\S+) is published now/)[1];
  assert.notEqual(newKid, oldKid);
  const audit = await call(broker.url, 'GET', '/audit?kind=vault.signing_key_added', { token: broker.ownerToken });
  assert.equal(audit.json.items.length, 1, audit.text);
  assert.equal(audit.json.items[0].actor, 'cli');
  assert.deepEqual(JSON.parse(JSON.stringify(audit.json.items[0].detail)), { kid: newKid });

  await eventually(async () => (await call(broker.url, 'GET', '/.well-known/jwks.json')).json.keys.length === 2, 'the new key in the JWKS');
  const jwks = (await call(broker.url, 'GET', '/.well-known/jwks.json')).json;
  assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
  const meanwhile = await call(broker.url, 'POST', '/tokens', { body: { grantId: first.grantId, requestSecret: first.requestSecret } });
  assert.equal(kidOf(meanwhile.json.token), oldKid, 'a published key does not sign before its time');

  // Polled twice a second: a grant gets at most 60 tokens a minute.
  const fresh = await eventually(async () => {
    await new Promise((r) => setTimeout(r, 500));
    const t = await call(broker.url, 'POST', '/tokens', { body: { grantId: first.grantId, requestSecret: first.requestSecret } });
    assert.equal(t.status, 201, t.text);
    return kidOf(t.json.token) === newKid && t.json.token;
  }, 'the new key to sign');
  const localJwks = jose.createLocalJWKSet((await call(broker.url, 'GET', '/.well-known/jwks.json')).json);
  await jose.jwtVerify(fresh, localJwks, { issuer: broker.url, audience: 'aipassport' });
  const oldStillWorks = await call(broker.url, 'POST', '/proxy/chat', { token: first.token, body: chatBody('gpt-4o-mini') });
  assert.equal(oldStillWorks.status, 200, 'tokens of the replaced key verify until they expire');
  assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token: fresh, body: chatBody('gpt-4o-mini') })).status, 200);
});

test('keys rotate-signing --drop-older-keys: the new key signs at once, and tokens of the dropped key are refused at once', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock });  // the default publish delay: 10 minutes
  const first = await approvedGrant(broker, SCOPES.openai);
  const oldKid = kidOf(first.token);
  const chat = (token) => call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  assert.equal((await chat(first.token)).status, 200, 'verified (and remembered) before the rotation');

  const out = cliSync(['keys', 'rotate-signing', '--drop-older-keys', '--data-dir', broker.dataDir],
    { env: { PATH: process.env.PATH } }).toString();
  const newKid = out.match(/new signing key (\S+) signs now, and the 1 older key\(s\) are dropped/)[1];
  await eventually(async () => (await chat(first.token)).status === 401, 'the dropped key\'s token refused');
  const jwks = (await call(broker.url, 'GET', '/.well-known/jwks.json')).json;
  assert.deepEqual(jwks.keys.map((k) => k.kid), [newKid]);
  const fresh = await call(broker.url, 'POST', '/tokens', { body: { grantId: first.grantId, requestSecret: first.requestSecret } });
  assert.equal(kidOf(fresh.json.token), newKid, 'the new key signs without waiting for the publish delay');
  assert.equal((await chat(fresh.json.token)).status, 200);
  const audit = await call(broker.url, 'GET', '/audit?kind=vault.signing_key_added', { token: broker.ownerToken });
  assert.deepEqual(JSON.parse(JSON.stringify(audit.json.items[0].detail)), { kid: newKid, dropped: [oldKid] });
});

test('a broker still on the master key from before rotate-master stops when its signing keys are dropped, rather than sign with them', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock });
  const first = await approvedGrant(broker, SCOPES.openai);
  const env = { PATH: process.env.PATH };
  const newKey = `${broker.dataDir}/new-master.key`;
  cliSync(['vault', 'rotate-master', '--new-key-file', newKey, '--data-dir', broker.dataDir], { env });
  cliSync(['keys', 'rotate-signing', '--drop-older-keys', '--data-dir', broker.dataDir],
    { env: { ...env, AIPASSPORT_MASTER_KEY_FILE: newKey } });
  const code = await new Promise((resolve) => {
    if (broker.proc.exitCode !== null) resolve(broker.proc.exitCode);
    broker.proc.once('exit', resolve);
    setTimeout(() => resolve('still running after 15 s'), 15000).unref();
  });
  assert.equal(code, 1, broker.output);
  assert.match(broker.output, /every signing key this broker holds was dropped from the ring .* restart it with the new master key/);
  await assert.rejects(call(broker.url, 'POST', '/proxy/chat', { token: first.token, body: chatBody('gpt-4o-mini') }),
    'nothing answers with the dropped key any more');
});

test('an older version\'s key files are imported into the database once, then no longer read', async () => {
  const mock = await startMock();
  const dataDir = tempDir();
  const keyFile = (path) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return jose.calculateJwkThumbprint(publicKey.export({ format: 'jwk' }), 'sha256');
  };
  const firstKid = await keyFile(join(dataDir, 'signing-key.pem'));
  mkdirSync(join(dataDir, 'signing-keys'), { mode: 0o700 });
  const now = Math.floor(Date.now() / 1000);
  const rotatedKid = await keyFile(join(dataDir, 'signing-keys', `${now - 30}.pem`));  // published, not signing yet

  // One public URL across the restart (a new port): the tokens' issuer stays the same.
  const env = { AIPASSPORT_PUBLIC_URL: 'https://broker.example' };
  const broker = await startBroker({ mock, dataDir, env });
  assert.match(broker.output, /imported 2 signing key\(s\) from .* into the database, sealed under the master key; the key files are no longer read/);
  const kids = async (b) => (await call(b.url, 'GET', '/.well-known/jwks.json')).json.keys.map((k) => k.kid).sort();
  assert.deepEqual(await kids(broker), [firstKid, rotatedKid].sort());
  const g = await approvedGrant(broker, SCOPES.openai);
  assert.equal(kidOf(g.token), firstKid, 'the imported key that signed before signs still, the rotated one keeps its publish delay');
  await broker.stop();

  // Files changed after the import are not read: the ring lives in the database.
  const strayKid = await keyFile(join(dataDir, 'signing-key.pem'));
  const restarted = await startBroker({ mock, dataDir, env });
  assert.doesNotMatch(restarted.output, /imported \d/);
  assert.match(restarted.output, /the signing key files in .* are no longer read .*another broker's were imported first/);
  assert.deepEqual(await kids(restarted), [firstKid, rotatedKid].sort());
  assert.notEqual(strayKid, firstKid);
  const r = await call(restarted.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(r.status, 200, 'a token signed before the upgrade verifies after it');
  await restarted.stop();
});
