// Upstreams are reached over HTTPS with certificate verification: a certificate from an unknown CA
// or for another host is refused; the owner can add a CA with AIPASSPORT_UPSTREAM_CA_FILE.
// The test CA and certificates are made here, at test time, with the openssl command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startBroker, call, approvedGrant, chatBody, tempDir, testCa, SCOPES } from './harness.mjs';

let ca, servers = [];

// A tiny HTTPS stand-in for OpenAI that answers chat completions and records what it saw.
function startTlsUpstream({ key, cert }) {
  return new Promise((resolve) => {
    const seen = [];
    const server = https.createServer({ key, cert }, (req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        seen.push({ path: req.url, authorization: req.headers.authorization, host: req.headers.host });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: 'chatcmpl-tls', object: 'chat.completion', model: JSON.parse(body).model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'over tls' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }));
      });
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port }));
    servers.push(server);
  });
}

before(() => { ca = testCa(tempDir()); });
after(() => { for (const s of servers) s.close(); });

test('HTTPS upstream: refused without trust, accepted with the CA file, refused for the wrong host', async () => {
  const good = await startTlsUpstream(ca.makeCert('good', 'IP:127.0.0.1'));
  const base = `https://127.0.0.1:${good.port}/prefix`;
  const env = { AIPASSPORT_OPENAI_BASE_URL: base };

  const untrusting = await startBroker({ env });
  const g1 = await approvedGrant(untrusting, SCOPES.openai);
  const refused = await call(untrusting.url, 'POST', '/proxy/chat', { token: g1.token, body: chatBody('gpt-4o-mini') });
  assert.equal(refused.status, 502);
  assert.equal(good.seen.length, 0, 'nothing was sent to an unverified server');
  assert.match(untrusting.output, /openai call failed: .*TLS handshake.*certificate verify failed/, 'the operator sees why');
  await untrusting.stop();

  const trusting = await startBroker({ env: { ...env, AIPASSPORT_UPSTREAM_CA_FILE: ca.caFile } });
  const g2 = await approvedGrant(trusting, SCOPES.openai);
  const ok = await call(trusting.url, 'POST', '/proxy/chat', { token: g2.token, body: chatBody('gpt-4o-mini') });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.choices[0].message.content, 'over tls');
  assert.equal(good.seen[0].path, '/prefix/v1/chat/completions', 'the provider path is appended to the base URL prefix');
  assert.equal(good.seen[0].authorization, 'Bearer test-openai-key');
  await trusting.stop();

  const wrong = await startTlsUpstream(ca.makeCert('wrong', 'DNS:elsewhere.example'));
  const mismatched = await startBroker({ env: { AIPASSPORT_OPENAI_BASE_URL: `https://127.0.0.1:${wrong.port}`, AIPASSPORT_UPSTREAM_CA_FILE: ca.caFile } });
  const g3 = await approvedGrant(mismatched, SCOPES.openai);
  const hostCheck = await call(mismatched.url, 'POST', '/proxy/chat', { token: g3.token, body: chatBody('gpt-4o-mini') });
  assert.equal(hostCheck.status, 502);
  assert.equal(wrong.seen.length, 0);
  await mismatched.stop();
});

test('a provider reached over plain http off this host is warned of at start; one on loopback is not', async () => {
  // 192.0.2.1 (TEST-NET-1) is never contacted: the warning is about the configuration.
  const far = await startBroker({ env: { AIPASSPORT_ANTHROPIC_BASE_URL: 'http://192.0.2.1:8080' } });
  assert.match(far.output, /provider anthropic is reached over plain http at http:\/\/192\.0\.2\.1:8080: its key and every prompt cross the network unencrypted/);
  assert.doesNotMatch(far.output, /provider openai is reached over plain http/, 'the harness points openai at 127.0.0.1:9');
  const near = await startBroker();
  assert.doesNotMatch(near.output, /reached over plain http/);
});
