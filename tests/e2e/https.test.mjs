// The broker serves HTTPS itself when given a certificate and key (made here with a test CA).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMock, startBroker, run, nodeCall, tempDir, testCa, KEYS } from './harness.mjs';

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
