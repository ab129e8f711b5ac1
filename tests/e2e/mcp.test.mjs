// An MCP client, unchanged: the official @modelcontextprotocol/sdk starts from the URL of a
// protected resource, discovers the broker through RFC 9728 and RFC 8414, names itself with a
// Client ID Metadata Document served here over loopback HTTPS, sends `resource`, and runs the code
// flow while the owner signs in and approves in Chromium; the official openai SDK then calls the
// provider path with the token, which is refused on another resource.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { launchChromium, clickApprove } from './chromium.mjs';
import * as jose from 'jose';
import OpenAI from 'openai';
import { auth as mcpAuth, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { startBroker, startMock, nodeCall, tempDir, testCa, cliSync } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
let broker, documents, documentUrl, callback, callbackUrl, browser;
const arrivals = [];
let fetched = 0;

before(async () => {
  // The app's redirect target: a native app's loopback listener.
  callback = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/callback') arrivals.push(url);
    res.end('You can close this window.');
  });
  await new Promise((r) => callback.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${callback.address().port}/callback`;
  // The app's metadata document, on its own HTTPS server (a test CA the broker is told to trust).
  const ca = testCa(tempDir());
  const cert = ca.makeCert('documents', 'IP:127.0.0.1');
  documents = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    fetched += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify({ client_id: documentUrl, client_name: 'Research agent', client_uri: 'https://agent.example',
      redirect_uris: [callbackUrl], token_endpoint_auth_method: 'none' }));
  });
  await new Promise((r) => documents.listen(0, '127.0.0.1', r));
  documentUrl = `https://127.0.0.1:${documents.address().port}/oauth/client.json`;

  const dataDir = tempDir();
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  broker = await startBroker({ mock: await startMock(), dataDir,
    env: { AIPASSPORT_UPSTREAM_CA_FILE: ca.caFile, AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE: 'true' } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  callback?.close();
  documents?.close();
});

test('the MCP SDK, a metadata document, the owner in Chromium, and the openai SDK: one flow, unchanged clients', async () => {
  // What an MCP client sees first: a 401 naming the resource's metadata.
  const refused = await fetch(`${broker.url}/openai/v1/chat/completions`, { method: 'POST', body: '{}',
    headers: { 'content-type': 'application/json' } });
  assert.equal(refused.status, 401);
  const { resourceMetadataUrl } = extractWWWAuthenticateParams(refused);
  const serverUrl = new URL(`${broker.url}/openai/v1`);

  let saved = {}, sentTo;
  const provider = {
    get redirectUrl() { return callbackUrl; },
    get clientMetadataUrl() { return documentUrl; },
    get clientMetadata() { return { client_name: 'Research agent', redirect_uris: [callbackUrl] }; },
    clientInformation: () => saved.client,
    saveClientInformation: (info) => { saved.client = info; },
    tokens: () => saved.tokens,
    saveTokens: (t) => { saved.tokens = t; },
    redirectToAuthorization: (url) => { sentTo = url; },
    saveCodeVerifier: (v) => { saved.verifier = v; },
    codeVerifier: () => saved.verifier,
  };
  assert.equal(await mcpAuth(provider, { serverUrl, resourceMetadataUrl }), 'REDIRECT');
  assert.equal(saved.client.client_id, documentUrl, 'the SDK named itself by its document');
  assert.equal(sentTo.searchParams.get('client_id'), documentUrl);
  assert.equal(sentTo.searchParams.get('resource'), serverUrl.href);

  // The owner's part, in a real browser: sign in, read who asks, approve.
  const page = await browser.newPage();
  await page.goto(sentTo.href);
  assert.match(new URL(page.url()).pathname, /^\/login/);
  await page.fill('#username', 'erin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/consent\//), page.click('button[type=submit]')]);
  const text = await page.textContent('body');
  assert.match(text, /Unverified/);
  assert.match(text, /calls itself .Research agent. asks for access/);
  assert.equal((await page.textContent('#metadata-host')).trim(), '127.0.0.1, port ' + documents.address().port);
  assert.equal((await page.textContent('#resources + ul li')).trim(), serverUrl.href, 'the consent names the resource');
  assert.equal(fetched, 1, 'the broker fetched the document once');
  await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/), clickApprove(page)]);
  assert.equal(arrivals.length, 1);

  assert.equal(await mcpAuth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: arrivals[0].searchParams.get('code') }),
    'AUTHORIZED');
  const token = saved.tokens.access_token;
  const claims = jose.decodeJwt(token);
  assert.equal(claims.aud, serverUrl.href);
  assert.equal(claims.client_id, documentUrl);

  // The official openai SDK calls the provider path with it.
  const openai = new OpenAI({ apiKey: token, baseURL: serverUrl.href, maxRetries: 0 });
  const answer = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  assert.match(answer.choices[0].message.content, /hello/);

  // Another resource refuses it.
  const elsewhere = await nodeCall(broker.url, 'POST', '/anthropic/v1/messages', {
    headers: { authorization: `Bearer ${token}`, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(elsewhere.status, 401);
  assert.match(elsewhere.headers['www-authenticate'], /error="invalid_token"/);
});
