// The broker serves HTTPS itself when given a certificate and key (made here with a test CA).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMock, startBroker, run, call, cliSync, nodeCall, tempDir, testCa, KEYS, eventually } from './harness.mjs';

let ca, good;
before(() => {
  ca = testCa(tempDir());
  good = ca.makeCert('broker', 'IP:127.0.0.1,DNS:localhost');
});

const tlsEnv = (cert) => ({ AIPASSPORT_TLS_CERT_FILE: cert.certFile, AIPASSPORT_TLS_KEY_FILE: cert.keyFile });

async function approvedOverHttps(broker, scope) {
  const req = await nodeCall(broker.url, 'POST', '/grant-requests', {
    ca: ca.ca, body: { appName: 'TLS App', appUrl: 'https://app.example', reason: 'testing', scope },
  });
  assert.equal(req.status, 201, req.text);
  const grantId = req.json.grant.id;
  const approve = await nodeCall(broker.url, 'POST', `/grants/${grantId}/approve`, { ca: ca.ca, token: broker.ownerToken, body: {} });
  assert.equal(approve.status, 200, approve.text);
  const tok = await nodeCall(broker.url, 'POST', '/tokens', { ca: ca.ca, body: { grantId, requestSecret: req.json.requestSecret } });
  assert.equal(tok.status, 201, tok.text);
  return tok.json.token;
}

test('with a certificate the broker serves HTTPS, proxying included', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: tlsEnv(good) });
  assert.match(broker.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await nodeCall(broker.url, 'GET', '/health', { ca: ca.ca })).status, 200);
  const token = await approvedOverHttps(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  const res = await nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', {
    ca: ca.ca, token, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'over tls' }], stream: true },
  });
  assert.equal(res.status, 200);
  const text = res.text.split('\n').filter((l) => l.startsWith('data: {'))
    .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? '').join('');
  assert.match(text, /mock reply to: over tls/);
  assert.match(res.text, /data: \[DONE\]/);
});

test('HTTPS answers carry Strict-Transport-Security (streamed and refused ones too); plain HTTP answers do not', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock, env: tlsEnv(good) });
  const year = /^max-age=31536000$/;
  assert.match((await nodeCall(broker.url, 'GET', '/health', { ca: ca.ca })).headers['strict-transport-security'], year);
  const refused = await nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token: 'not-a-token', body: {} });
  assert.equal(refused.status, 401);
  assert.match(refused.headers['strict-transport-security'], year);
  const token = await approvedOverHttps(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  const streamed = await nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', {
    ca: ca.ca, token, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
  });
  assert.equal(streamed.status, 200);
  assert.equal(streamed.headers['transfer-encoding'], 'chunked');
  assert.match(streamed.headers['strict-transport-security'], year);

  const plain = await startBroker({ mock });
  const res = await call(plain.url, 'GET', '/health');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('strict-transport-security'), null, 'HSTS over plain HTTP means nothing and is not sent');
});

// The certificate a fresh TLS connection (no session resumed) is shown: its subject's CN.
function servedName(url) {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: ca.ca }, () => {
      const name = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(name);
    });
    socket.on('error', reject);
  });
}

// A certificate renewal as certbot and others do it: new files where the old ones were.
function install(cert, dir) {
  copyFileSync(cert.keyFile, join(dir, 'live.key'));
  copyFileSync(cert.certFile, join(dir, 'live.pem'));
}

test('replaced certificate files are served to new connections after SIGHUP, without a restart', async () => {
  const dir = tempDir();
  install(good, dir);
  const broker = await startBroker({ env: { AIPASSPORT_TLS_CERT_FILE: join(dir, 'live.pem'), AIPASSPORT_TLS_KEY_FILE: join(dir, 'live.key') } });
  assert.equal(await servedName(broker.url), 'broker');
  const kept = await new Promise((resolve, reject) => {  // a connection open across the renewal
    const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(broker.url).port), ca: ca.ca }, () => resolve(socket));
    socket.on('error', reject);
  });

  install(ca.makeCert('renewed', 'IP:127.0.0.1'), dir);
  broker.proc.kill('SIGHUP');
  await eventually(() => /loaded the certificate and key again .*\(SIGHUP\)/.test(broker.output), 'the SIGHUP reload');
  assert.equal(await servedName(broker.url), 'renewed');
  assert.equal(broker.proc.exitCode, null, 'SIGHUP does not stop the broker');
  assert.equal((await nodeCall(broker.url, 'GET', '/health', { ca: ca.ca })).status, 200);
  kept.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const answer = await new Promise((resolve) => {
    let got = '';
    kept.on('data', (d) => { got += d; });
    kept.on('close', () => resolve(got));
  });
  assert.match(answer, /^HTTP\/1\.1 200/, 'a connection made before the renewal goes on working');
});

test('changed certificate files are picked up by themselves; a bad one keeps the old certificate and says why', async () => {
  const dir = tempDir();
  install(good, dir);
  const broker = await startBroker({ env: { AIPASSPORT_TLS_CERT_FILE: join(dir, 'live.pem'), AIPASSPORT_TLS_KEY_FILE: join(dir, 'live.key') } });
  assert.equal(await servedName(broker.url), 'broker');

  install(ca.makeCert('watched', 'IP:127.0.0.1'), dir);
  await eventually(async () => (await servedName(broker.url)) === 'watched', 'the new certificate without a signal');

  const before = broker.output.length;
  writeFileSync(join(dir, 'live.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  await eventually(() => /kept the certificate in use \(the files changed\): cannot use the certificate in \S*live\.pem/
    .test(broker.output.slice(before)), 'a log line saying why the bad file was not used');
  assert.equal(await servedName(broker.url), 'watched', 'the old certificate is still served');
  assert.equal((await nodeCall(broker.url, 'GET', '/health', { ca: ca.ca })).status, 200);

  const mismatch = ca.makeCert('mismatch', 'IP:127.0.0.1');
  const atMismatch = broker.output.length;
  copyFileSync(mismatch.certFile, join(dir, 'live.pem'));  // the key stays the old one
  broker.proc.kill('SIGHUP');
  await eventually(() => /kept the certificate in use \(SIGHUP\): the private key in \S*live\.key does not match/
    .test(broker.output.slice(atMismatch)), 'a log line saying the key does not match');
  assert.equal(await servedName(broker.url), 'watched');
  assert.ok(!broker.output.includes('PRIVATE KEY'), 'no key material in the log');
});

test('a client that does not trust the certificate is refused, and plain HTTP on the TLS port gets nothing', async () => {
  const broker = await startBroker({ env: tlsEnv(good) });
  await assert.rejects(nodeCall(broker.url, 'GET', '/health', {}), /self-signed|unable to verify|certificate/i);
  const port = Number(new URL(broker.url).port);
  const answer = await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
  assert.ok(!answer.includes('"status":"ok"'), 'no plain-text answer on the TLS port');
  assert.equal((await nodeCall(broker.url, 'GET', '/health', { ca: ca.ca })).status, 200, 'still healthy');
});

test('a key that does not match the certificate, or only one of the two files, stops the start with a message', async () => {
  const other = ca.makeCert('other', 'IP:127.0.0.1');
  const env = { OPENAI_API_KEY: KEYS.openai };
  const mismatched = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()],
    { ...env, AIPASSPORT_TLS_CERT_FILE: good.certFile, AIPASSPORT_TLS_KEY_FILE: other.keyFile });
  assert.notEqual(mismatched.code, 0);
  assert.match(mismatched.stderr + mismatched.stdout, /does not match the certificate/);
  const half = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()], { ...env, AIPASSPORT_TLS_CERT_FILE: good.certFile });
  assert.notEqual(half.code, 0);
  assert.match(half.stderr + half.stdout, /needs both/);
  assert.ok(!(mismatched.stderr + mismatched.stdout).includes('PRIVATE KEY'), 'no key material in the message');
});

test('plain HTTP is refused on an address that is not loopback', async () => {
  const res = await run(['serve', '--listen', '192.0.2.1:0', '--data-dir', tempDir()]);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr + res.stdout, /only served on loopback/);
});

test('behind a TLS proxy (an https public URL, plain HTTP on loopback) the owner signs in from the public origin, with Secure __Host- cookies', async () => {
  const dataDir = tempDir();
  cliSync(['user', 'add', 'pat', '--password-stdin', '--data-dir', dataDir], { input: 'correct horse battery staple\n' });
  const broker = await startBroker({ mock: await startMock(), dataDir, env: { AIPASSPORT_PUBLIC_URL: 'https://broker.example' } });
  try {
    const page = await nodeCall(broker.url, 'GET', '/login');
    const csrfCookie = page.headers['set-cookie'][0];
    assert.match(csrfCookie, /; Secure/, 'the sign-in form\'s cookie too');
    const csrf = page.text.match(/name="csrf" value="([^"]*)"/)[1];
    const signIn = (origin) => nodeCall(broker.url, 'POST', '/login', { raw: new URLSearchParams({ csrf, username: 'pat',
      password: 'correct horse battery staple' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded',
      cookie: csrfCookie.split(';')[0], origin } });
    const elsewhere = await signIn('https://evil.example');
    assert.equal(elsewhere.status, 403, elsewhere.text);
    const proxied = await signIn('https://broker.example');
    assert.equal(proxied.status, 303, proxied.text);
    const session = proxied.headers['set-cookie'].find((c) => c.startsWith('__Host-aipassport_session='));
    assert.ok(session, proxied.headers['set-cookie'].join(' | '));
    assert.match(session, /; Secure/);
    assert.match(session, /; HttpOnly/);
  } finally {
    await broker.stop();
  }
});
