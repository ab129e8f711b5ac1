// Finding 7: unauthenticated state must not grow without bound. One address floods the device
// authorization endpoint with a public client id and DPoP proofs at the token endpoint; past the
// throttle the broker answers 429 slow_down with Retry-After, remembers nothing more, and its memory
// stays put. Other addresses and other apps are served, as the throttles promise.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { BIN, memoryBoundMb, nodeCall, startBroker, tempDir, cliSync } from './harness.mjs';

const PER_ADDRESS = 20;  // api::Throttles::kDeviceAuthorizationsPerAddress, per minute
const PER_CLIENT = 200;  // api::Throttles::kDeviceAuthorizationsPerClient, per minute
const TOKEN_PROOFS_PER_ADDRESS = 300;  // api::Throttles::kTokenProofsPerAddress, per minute

let broker, apps;

before(async () => {
  const dataDir = tempDir();
  apps = {};
  for (const name of ['cli', 'other']) {
    const out = cliSync(['client', 'add', name, '--redirect-uri', 'http://127.0.0.1/callback', '--device-grant',
      '--data-dir', dataDir]).toString();
    apps[name] = out.match(/client_id: (\S+)/)[1];
  }
  broker = await startBroker({ dataDir });
});

// A POST of a form from the source address `from` (any of 127.0.0.0/8 reaches the broker).
const agents = new Map();
function post(path, fields, { from = '127.0.0.1', headers = {} } = {}) {
  if (!agents.has(from)) agents.set(from, new http.Agent({ keepAlive: true, maxSockets: 16, localAddress: from }));
  return nodeCall(broker.url, 'POST', path, { raw: new URLSearchParams(fields).toString(), agent: agents.get(from),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

// As large a request as the broker accepts (80 long model names, the longest reason), as an attacker
// would send to make each remembered request cost the most.
const LARGE_DETAILS = JSON.stringify([{ type: 'ai_access', provider: 'openai', capabilities: ['chat'],
  models: Array.from({ length: 80 }, (_, i) => `gpt-4o-mini-${String(i).padStart(3, '0')}-${'x'.repeat(84)}`),
  reason: 'r'.repeat(2000) }]);
const askDevice = (clientId, from, fields = { scope: 'openai:chat' }) =>
  post('/oauth/device_authorization', { client_id: clientId, ...fields }, { from });

// Runs `count` calls of `fn(i)`, `concurrency` at a time; resolves to the answers in order.
async function flood(count, concurrency, fn) {
  const answers = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      answers[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

const rssKb = () => Number(readFileSync(`/proc/${broker.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);

function assertThrottled(answer, why) {
  assert.equal(answer.status, 429, `${why}: ${answer.text}`);
  assert.equal(answer.json.error, 'slow_down', why);
  assert.match(answer.json.error_description, /^Too many /);
  const retry = Number(answer.headers['retry-after']);
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${answer.headers['retry-after']}`);
}

test('5,000 device authorization requests from one address: 429 past the throttle and under 30 MB more memory', async () => {
  const first = await askDevice(apps.cli, '127.0.0.1');
  assert.equal(first.status, 200, first.text);
  assert.match(first.json.device_code, /^[A-Za-z0-9_-]{43}$/);
  const before = rssKb();
  const answers = await flood(5000, 32, () => askDevice(apps.cli, '127.0.0.1', { authorization_details: LARGE_DETAILS }));
  const after = rssKb();
  assert.ok(after - before < memoryBoundMb(30) * 1024, `RSS grew by ${((after - before) / 1024).toFixed(1)} MB`);
  const ok = answers.filter((a) => a.status === 200).length;
  assert.ok(ok <= PER_ADDRESS, `${ok} requests were admitted; the throttle allows ${PER_ADDRESS} a minute`);
  assert.ok(ok >= PER_ADDRESS - 1 - 2, 'the allowance itself is served');  // a minute may turn during the flood
  const refused = answers.filter((a) => a.status !== 200);
  for (const a of refused) assertThrottled(a, 'past the per-address throttle');
  assert.match(refused[0].json.error_description, /from this address/);

  const fromElsewhere = await askDevice(apps.cli, '127.0.0.2');
  assert.equal(fromElsewhere.status, 200, 'the same app from another address is served: ' + fromElsewhere.text);
});

test('one app asked for from many addresses is throttled per app; another app is still served', async () => {
  const addresses = Array.from({ length: 14 }, (_, i) => `127.0.1.${i + 1}`);
  const answers = await flood(addresses.length * PER_ADDRESS, 8, (i) => askDevice(apps.cli, addresses[i % addresses.length]));
  const ok = answers.filter((a) => a.status === 200).length;
  assert.ok(ok <= PER_CLIENT, `${ok} admitted for one app; the throttle allows ${PER_CLIENT} a minute`);
  const refused = answers.filter((a) => a.status !== 200);
  assert.ok(refused.length > 0);
  for (const a of refused) assertThrottled(a, 'past the per-app throttle');
  assert.ok(refused.some((a) => /for this app/.test(a.json.error_description)));

  const otherApp = await askDevice(apps.other, '127.0.2.1');
  assert.equal(otherApp.status, 200, 'another app is served: ' + otherApp.text);
});

test('after the window the throttled address and app are served again', async () => {
  const refused = await askDevice(apps.cli, '127.0.0.1');
  assertThrottled(refused, 'still inside the window');
  const wait = Number(refused.headers['retry-after']);
  await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 1100));
  const again = await askDevice(apps.cli, '127.0.0.1');
  assert.equal(again.status, 200, again.text);
});

test('DPoP proofs flooding the token endpoint from one address are throttled before their jtis are remembered', async () => {
  const from = '127.0.3.1';
  const keyPair = await jose.generateKeyPair('ES256');
  const jwk = await jose.exportJWK(keyPair.publicKey);
  const htu = `${broker.url}/oauth/token`;
  const proof = (nonce) => new jose.SignJWT({ htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), nonce })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(keyPair.privateKey);
  const token = async (nonce) => post('/oauth/token', { grant_type: 'refresh_token', refresh_token: 'not-one', client_id: apps.other },
    { from, headers: { dpop: await proof(nonce) } });
  const learn = await token(undefined);
  assert.equal(learn.json.error, 'use_dpop_nonce', learn.text);
  const nonce = learn.headers['dpop-nonce'];
  const answers = await flood(TOKEN_PROOFS_PER_ADDRESS + 50, 16, () => token(nonce));
  const accepted = answers.filter((a) => a.status === 400);
  for (const a of accepted) assert.equal(a.json.error, 'invalid_grant', 'the proof passed; only the refresh token is wrong');
  assert.ok(accepted.length <= TOKEN_PROOFS_PER_ADDRESS, `${accepted.length} proofs were checked and remembered`);
  const refused = answers.filter((a) => a.status !== 400);
  assert.ok(refused.length >= 49, `${refused.length} refused`);
  for (const a of refused) assertThrottled(a, 'past the DPoP proof throttle');
});
