// The reference's whole lifecycle, for each provider: request, approve, token, proxied call,
// cap, revoke, refusal.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, startBroker, call, approvedGrant, chatBody, mockStats, SCOPES, KEYS } from './harness.mjs';

let mock, broker;
before(async () => {
  mock = await startMock();
  broker = await startBroker({ mock });
});

const answers = {
  openai: (j) => j.object === 'chat.completion' && j.choices[0].message.role === 'assistant' && j.usage.prompt_tokens > 0,
  anthropic: (j) => j.type === 'message' && j.content[0].type === 'text' && j.usage.input_tokens > 0,
  google: (j) => j.candidates[0].content.role === 'model' && j.usageMetadata.promptTokenCount > 0,
};
const credentialHeader = { openai: ['authorization', `Bearer ${KEYS.openai}`], anthropic: ['x-api-key', KEYS.anthropic], google: ['x-goog-api-key', KEYS.google] };

for (const provider of ['openai', 'anthropic', 'google']) {
  test(`${provider}: request, approve, token, call, cap, revoke, refusal`, async () => {
    const scope = { ...SCOPES[provider], maxRequests: 2 };
    const req = await call(broker.url, 'POST', '/grant-requests', {
      body: { appName: 'Notes', appUrl: 'https://notes.example', reason: 'summaries', scope },
    });
    assert.equal(req.status, 201);
    assert.equal(req.json.grant.status, 'pending');
    assert.equal(req.json.grantRequest.appName, 'Notes');
    assert.deepEqual(req.json.grant.scope, scope);
    assert.ok(req.json.requestSecret.length >= 40);
    const grantId = req.json.grant.id;

    const pendingToken = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
    assert.equal(pendingToken.status, 400);
    assert.match(pendingToken.json.error, /pending/);

    const approved = await call(broker.url, 'POST', `/grants/${grantId}/approve`, { token: broker.ownerToken, body: { expiresInSeconds: 600 } });
    assert.equal(approved.status, 200);
    assert.equal(approved.json.status, 'approved');
    const lifetime = Date.parse(approved.json.expiresAt) - Date.parse(approved.json.approvedAt);
    assert.equal(lifetime, 600_000);

    const again = await call(broker.url, 'POST', `/grants/${grantId}/approve`, { token: broker.ownerToken });
    assert.equal(again.status, 400);
    assert.match(again.json.error, /approved/);

    const tok = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
    assert.equal(tok.status, 201);
    assert.equal(tok.json.grantId, grantId);
    assert.ok(Date.parse(tok.json.expiresAt) > Date.parse(tok.json.issuedAt));
    const token = tok.json.token;

    const before = (await mockStats(mock)).requests[provider];
    const first = await call(broker.url, 'POST', '/proxy/chat', {
      token, body: chatBody(scope.models[0], { max_tokens: 64, temperature: 0.3 }),
      headers: { 'x-api-key': 'app-supplied', 'x-goog-api-key': 'app-supplied' },
    });
    assert.equal(first.status, 200, first.text);
    assert.ok(answers[provider](first.json), first.text);
    const stats = await mockStats(mock);
    assert.equal(stats.requests[provider], before + 1);
    // Only the broker's key goes upstream; nothing the app sent as a credential does.
    const seen = Object.fromEntries(Object.entries(stats.lastHeaders[provider]).map(([k, v]) => [k.toLowerCase(), v]));
    const [header, value] = credentialHeader[provider];
    assert.equal(seen[header], value);
    assert.ok(!JSON.stringify(seen).includes(token), 'the app token must not reach upstream');
    assert.ok(!JSON.stringify(seen).includes('app-supplied'));

    const second = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody(scope.models[0]) });
    assert.equal(second.status, 200);
    const capped = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody(scope.models[0]) });
    assert.equal(capped.status, 429);
    assert.match(capped.json.error, /Usage cap exceeded \(2 of 2 requests used\)/);
    assert.equal((await mockStats(mock)).requests[provider], before + 2, 'a capped call must not reach upstream');

    const inspect = await call(broker.url, 'GET', `/tokens/${token}/inspect`);
    assert.equal(inspect.json.valid, true);
    assert.equal(inspect.json.grant.usageCount, 2);
    assert.equal(inspect.json.grant.status, 'exhausted');
    assert.deepEqual(Object.keys(inspect.json.grant).sort(),
      ['appName', 'appUrl', 'createdAt', 'expiresAt', 'id', 'scope', 'status', 'usageCount']);

    const revoked = await call(broker.url, 'POST', `/grants/${grantId}/revoke`, { token: broker.ownerToken });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.json.status, 'revoked');
    assert.ok(revoked.json.revokedAt);

    const refused = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody(scope.models[0]) });
    assert.equal(refused.status, 401);
    assert.match(refused.json.error, /revoked/);
    const inspectAfter = await call(broker.url, 'GET', `/tokens/${token}/inspect`);
    assert.deepEqual(inspectAfter.json, { valid: false, reason: "Grant status is 'revoked'" });
    const newToken = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
    assert.equal(newToken.status, 400);
  });
}

test('revocation takes effect on the very next call, even for a token already in use', async () => {
  const { grantId, token } = await approvedGrant(broker, SCOPES.openai);
  for (let i = 0; i < 3; i++) assert.equal((await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') })).status, 200);
  assert.equal((await call(broker.url, 'POST', `/grants/${grantId}/revoke`, { token: broker.ownerToken })).status, 200);
  const next = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  assert.equal(next.status, 401);
});

test('deny: a denied grant gives no token and cannot be approved later', async () => {
  const req = await call(broker.url, 'POST', '/grant-requests', { body: { appName: 'X', appUrl: 'https://x.example', scope: SCOPES.openai } });
  const grantId = req.json.grant.id;
  const denied = await call(broker.url, 'POST', `/grants/${grantId}/deny`, { token: broker.ownerToken });
  assert.equal(denied.status, 200);
  assert.equal(denied.json.status, 'denied');
  assert.ok(denied.json.deniedAt);
  const tok = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
  assert.equal(tok.status, 400);
  assert.match(tok.json.error, /denied/);
  const approve = await call(broker.url, 'POST', `/grants/${grantId}/approve`, { token: broker.ownerToken });
  assert.equal(approve.status, 400);
  assert.match(approve.json.error, /denied/);
});

test('owner lists grants newest first and reads one', async () => {
  const a = await call(broker.url, 'POST', '/grant-requests', { body: { appName: 'First', appUrl: 'https://a.example', scope: SCOPES.openai } });
  await new Promise((r) => setTimeout(r, 1100));  // createdAt has one-second resolution
  const b = await call(broker.url, 'POST', '/grant-requests', { body: { appName: 'Second', appUrl: 'https://b.example', scope: SCOPES.google } });
  const list = await call(broker.url, 'GET', '/grants', { token: broker.ownerToken });
  assert.equal(list.status, 200);
  assert.ok(Array.isArray(list.json));
  const ids = list.json.map((g) => g.id);
  assert.ok(ids.indexOf(b.json.grant.id) < ids.indexOf(a.json.grant.id));
  const one = await call(broker.url, 'GET', `/grants/${a.json.grant.id}`, { token: broker.ownerToken });
  assert.equal(one.status, 200);
  assert.equal(one.json.appName, 'First');
  for (const key of ['id', 'requestId', 'appName', 'appUrl', 'scope', 'status', 'createdAt', 'expiresAt', 'usageCount', 'usageBudgetCents', 'version'])
    assert.ok(key in one.json, key);
  assert.ok(!JSON.stringify(list.json).includes(a.json.requestSecret), 'request secrets are never listed');
});

test('an expired grant stops working and shows as expired', async () => {
  // Two seconds, not one: expiry is kept in whole seconds, so a grant of one second approved late in
  // a second could lapse before its token is asked for (seen under ASan).
  const { grantId, token } = await approvedGrant(broker, SCOPES.anthropic, { expiresInSeconds: 2 });
  await new Promise((r) => setTimeout(r, 3100));
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('claude-sonnet-4-5') });
  assert.equal(res.status, 401);
  const grant = await call(broker.url, 'GET', `/grants/${grantId}`, { token: broker.ownerToken });
  assert.equal(grant.json.status, 'expired');
});

test('the token never outlives its grant', async () => {
  const { tokenResponse } = await approvedGrant(broker, SCOPES.openai, { expiresInSeconds: 120 });
  const lifetime = Date.parse(tokenResponse.expiresAt) - Date.parse(tokenResponse.issuedAt);
  assert.ok(lifetime <= 120_000 && lifetime > 110_000, `token lifetime ${lifetime}`);
});

test('compatibility details: string version, expiresAt on pending grants, idempotent revoke, reference wording', async () => {
  const req = await call(broker.url, 'POST', '/grant-requests', { body: { appName: 'Compat', appUrl: 'https://c.example', reason: 'r', scope: SCOPES.openai } });
  const grant = req.json.grant;
  assert.equal(grant.version, '1');
  assert.equal(Date.parse(grant.expiresAt) - Date.parse(grant.createdAt), 24 * 3600 * 1000, 'a pending request lapses after a day');
  const token = await call(broker.url, 'POST', '/tokens', { body: { grantId: grant.id, requestSecret: req.json.requestSecret } });
  assert.equal(token.json.error, "Grant is 'pending', must be 'approved'");
  const first = await call(broker.url, 'POST', `/grants/${grant.id}/revoke`, { token: broker.ownerToken });
  const second = await call(broker.url, 'POST', `/grants/${grant.id}/revoke`, { token: broker.ownerToken });
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  assert.equal(second.json.revokedAt, first.json.revokedAt);
  assert.equal(second.json.version, first.json.version, 'revoking again changes nothing');
  const approve = await call(broker.url, 'POST', `/grants/${grant.id}/approve`, { token: broker.ownerToken });
  assert.equal(approve.json.error, "Grant is 'revoked', must be 'pending'");
});

test('an empty model list allows any model of the provider, as in the reference', async () => {
  const { token } = await approvedGrant(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  const res = await call(broker.url, 'POST', '/proxy/chat', { token, body: chatBody('any-model-at-all') });
  assert.equal(res.status, 200);
});

test('CORS: browser apps on other origins may call the broker', async () => {
  const preflight = await fetch(`${broker.url}/proxy/chat`, {
    method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization,content-type');
  const health = await fetch(`${broker.url}/health`, { headers: { origin: 'https://app.example' } });
  assert.equal(health.headers.get('access-control-allow-origin'), '*');
  assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
});
