// Delegation that narrows (RFC 8693 token exchange), as openid-client asks for it with its generic
// grant request: an app whose owner let it delegate hands its own agents child grants strictly
// inside its own. Every widening is refused, a tree never spends more than its root's budget, the
// child's token names the chain (`act`, checked with jose), and revoking a grant ends its subtree.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeCall, tempDir } from './harness.mjs';
import { caFetchFor, hidden, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
// What the app asks for: two models, two capabilities, $5, 500 requests, two levels of delegation.
const PARENT = { type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat', 'embeddings'],
  max_budget_cents: 500, max_requests: 500, rate_limit: 600, max_concurrent: 500, may_delegate: true, max_delegation_depth: 2 };
let ca, broker, app, otherApp, you, session;

async function discover(clientId) {
  const config = await client.discovery(new URL(broker.url), clientId, undefined, client.None(),
    { algorithm: 'oauth2', [client.customFetch]: caFetchFor(ca.ca) });
  config[client.customFetch] = caFetchFor(ca.ca);
  return config;
}

before(async () => {
  let apps;
  // Tokens last half the parents' hour, so that a child asking for longer meets its token's end first.
  // The emulation's model that quotes its key has a price, so that a budgeted tree may call it.
  const config = join(tempDir(), 'aipassport.toml');
  writeFileSync(config, '[[prices]]\nprovider = "openai"\nmodel = "quote-key"\ninput = 1.0\noutput = 1.0\nmax_output_tokens = 1000\n');
  ({ ca, broker, apps } = await oauthBroker({ app: [], other: [] }, { AIPASSPORT_TOKEN_TTL_SECONDS: '1800', AIPASSPORT_CONFIG: config }));
  app = await discover(apps.app.client_id);
  otherApp = await discover(apps.other.client_id);
  you = person(broker.url, ca.ca);
  session = await you.signIn('erin', PASSWORD);
});

function authorizationUrl(config, details, verifier, state) {
  return client.calculatePKCECodeChallenge(verifier).then((challenge) => client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, state, authorization_details: JSON.stringify([details]),
    code_challenge: challenge, code_challenge_method: 'S256' }));
}

// The code flow for `details`, the owner approving with the consent screen's `fields` (the
// delegation box ticked unless `fields.may_delegate` is '').
async function parentTokens({ config = app, details = PARENT, fields = {}, DPoP } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await authorizationUrl(config, details, verifier, state);
  const extra = { budget: '5.00', max_requests: '500', rate_limit: '600', max_concurrent: String(details.max_concurrent ?? ''),
    may_delegate: 'yes', ...fields };
  if (extra.may_delegate === '') delete extra.may_delegate;
  const back = await you.consent(session, url, { models: details.models, capabilities: details.capabilities, lifetime: '3600', extra });
  assert.ok(back instanceof URL, back.text);
  return retryingNonce(() => client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP }));
}

// The token endpoint wants the broker's DPoP nonce: the first try learns it.
async function retryingNonce(attempt) {
  try {
    return await attempt();
  } catch (e) {
    if (e.error !== 'use_dpop_nonce') throw e;
    return attempt();
  }
}

// A child of the grant behind `subjectToken`, asking `details` (over a gpt-4o-mini chat default).
function exchange(subjectToken, details = {}, { config = app, extra = {}, DPoP } = {}) {
  const item = { type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'],
    max_budget_cents: 100, max_requests: 50, rate_limit: 60, ...details };
  for (const [k, v] of Object.entries(item)) if (v === undefined) delete item[k];
  return retryingNonce(() => client.genericGrantRequest(config, EXCHANGE, { subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN, authorization_details: JSON.stringify([item]), ...extra }, { DPoP }));
}

const refusal = async (promise) => {
  try {
    await promise;
  } catch (e) {
    return `${e.error}: ${e.error_description}`;
  }
  return 'accepted';
};

const chat = (token, model = 'gpt-4o-mini', content = 'hi') => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions',
  { ca: ca.ca, token, body: { model, messages: [{ role: 'user', content }], max_tokens: 100 } });
const grant = async (id) => (await nodeCall(broker.url, 'GET', `/grants/${id}`, { ca: ca.ca, token: broker.ownerToken })).json;
const claimsOf = (token) => jose.decodeJwt(token);

test('the metadata names the token-exchange grant type', () => {
  assert.ok(app.serverMetadata().grant_types_supported.includes(EXCHANGE));
});

test('the consent screen offers delegation only when the app asked, ticked; the owner may untick it', async () => {
  const verifier = client.randomPKCECodeVerifier();
  const start = await nodeCall(broker.url, 'GET', (await authorizationUrl(app, PARENT, verifier, 's')).href.slice(broker.url.length),
    { ca: ca.ca, headers: { cookie: session } });
  const page = await nodeCall(broker.url, 'GET', start.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.match(page.text, /<input type="checkbox" id="may_delegate" name="may_delegate" value="yes" checked/);
  assert.match(page.text, /2 levels below it/);
  assert.match(page.text, /what they spend, how often they call and how many calls they run at once count against this grant&#39;s limits|what they spend, how often they call and how many calls they run at once count against this grant's limits/);
  const plain = { ...PARENT, may_delegate: undefined, max_delegation_depth: undefined };
  delete plain.may_delegate;
  delete plain.max_delegation_depth;
  const start2 = await nodeCall(broker.url, 'GET', (await authorizationUrl(app, plain, verifier, 's')).href.slice(broker.url.length),
    { ca: ca.ca, headers: { cookie: session } });
  const page2 = await nodeCall(broker.url, 'GET', start2.headers.location, { ca: ca.ca, headers: { cookie: session } });
  assert.equal(page2.status, 200);
  assert.doesNotMatch(page2.text, /may_delegate/);
  assert.ok(hidden(page2.text, 'csrf'));

  const unticked = await parentTokens({ fields: { may_delegate: '' } });
  assert.equal(unticked.authorization_details[0].may_delegate, undefined);
  assert.match(await refusal(exchange(unticked.access_token)), /invalid_authorization_details: .*may not delegate/);
});

test('a child narrower in every dimension works, names its parent, and its token carries act', async () => {
  const parent = await parentTokens();
  assert.equal(parent.authorization_details[0].may_delegate, true);
  assert.equal(parent.authorization_details[0].max_delegation_depth, 2);
  const child = await exchange(parent.access_token, { may_delegate: true, lifetime_seconds: 600 });
  assert.equal(child.issued_token_type, ACCESS_TOKEN);
  assert.equal(child.token_type.toLowerCase(), 'bearer');
  assert.equal(child.refresh_token, undefined);
  assert.ok(child.expires_in <= 600);
  assert.deepEqual(child.authorization_details[0].models, ['gpt-4o-mini']);
  assert.equal(child.authorization_details[0].max_delegation_depth, 1);
  assert.equal((await chat(child.access_token)).status, 200);
  assert.equal((await chat(child.access_token, 'gpt-4o')).status, 403, 'a model its parent has but it was not given');

  const parentId = claimsOf(parent.access_token).gid;
  const childId = claimsOf(child.access_token).gid;
  assert.equal((await grant(childId)).parentGrantId, parentId);
  assert.deepEqual((await grant(parentId)).children, [childId]);
  assert.equal((await grant(childId)).scope.maxConcurrent, 500, 'what it did not name it runs at its parent\'s pace');
  // The owner sees the tree on the grants' pages.
  const page = (id) => nodeCall(broker.url, 'GET', `/grants/${id}`, { ca: ca.ca, headers: { cookie: session, accept: 'text/html' } });
  const parentPage = await page(parentId);
  assert.match(parentPage.text, /Handed on to its agents/);
  assert.ok(parentPage.text.includes(`<li><a href="/grants/${childId}">gpt-4o-mini for chat</a> <span class="status status-approved">`),
    'the parent lists its child: what it may do, its status');
  const childPage = await page(childId);
  assert.ok(childPage.text.includes(`<a href="/grants/${parentId}" id="parent-grant">`), 'the child links its parent');
  assert.match(childPage.text, /may hand narrower access to its own agents, one level below it/);

  // The grandchild's token, verified against the broker's published keys, names the chain.
  const grandchild = await exchange(child.access_token, { max_budget_cents: 10, max_requests: 5, rate_limit: 5 });
  const jwks = jose.createLocalJWKSet((await nodeCall(broker.url, 'GET', '/.well-known/jwks.json', { ca: ca.ca })).json);
  const { payload } = await jose.jwtVerify(grandchild.access_token, jwks, { issuer: broker.url, typ: 'at+jwt' });
  const clientId = app.clientMetadata().client_id;
  assert.deepEqual(payload.act, { sub: childId, client_id: clientId, act: { sub: parentId, client_id: clientId } });
  assert.equal(payload.client_id, clientId);
  assert.equal((await chat(grandchild.access_token)).status, 200);
  // What the children spent, the parent spent too; each child shows its own (and its subtree's).
  const [p, c, g] = [await grant(parentId), await grant(childId), await grant(claimsOf(grandchild.access_token).gid)];
  assert.equal(g.budget.spentMicros + (c.budget.spentMicros - g.budget.spentMicros), c.budget.spentMicros);
  assert.equal(p.budget.spentMicros, c.budget.spentMicros, 'the parent made no call of its own');
  assert.equal(p.usageCount, 2);
  assert.ok(g.budget.spentMicros > 0);
});

test('every widening is refused, saying what, and leaves the parent working', async () => {
  const parent = await parentTokens();
  const cases = [
    [{ models: ['gpt-4.1'] }, /model gpt-4.1/],
    [{ models: [] }, /holds only the models/],
    [{ capabilities: ['images'] }, /capability images/],
    [{ provider: 'anthropic', models: [] }, /is for openai/],
    [{ max_budget_cents: 501 }, /max_budget_cents 501 is more than/],
    [{ max_budget_cents: undefined }, /max_budget_cents is 500/],
    [{ max_requests: 501 }, /max_requests 501/],
    [{ rate_limit: 601 }, /rate_limit 601/],
    [{ lifetime_seconds: 7200 }, /lifetime_seconds 7200/],
    [{ may_delegate: true, max_delegation_depth: 2 }, /max_delegation_depth 2/],
  ];
  for (const [details, why] of cases)
    assert.match(await refusal(exchange(parent.access_token, details)), new RegExp(`invalid_authorization_details: .*${why.source}`),
      JSON.stringify(details));
  // A child that did not ask to delegate cannot; nor can one at the last level.
  const child = await exchange(parent.access_token);
  assert.match(await refusal(exchange(child.access_token, { max_budget_cents: 1 })), /may not delegate/);
  const deep = await exchange(parent.access_token, { may_delegate: true });
  const deeper = await exchange(deep.access_token, { max_budget_cents: 1, max_requests: 1, rate_limit: 1 });
  assert.match(await refusal(exchange(deep.access_token, { may_delegate: true, max_budget_cents: 1 })), /children may not delegate/);
  assert.match(await refusal(exchange(deeper.access_token, { max_budget_cents: 1 })), /may not delegate/);
  // Another app cannot use this app's token; a token that is not one is refused.
  assert.match(await refusal(exchange(parent.access_token, {}, { config: otherApp })), /invalid_grant: the subject_token was not issued to this app/);
  assert.match(await refusal(exchange('not-a-token')), /invalid_grant: the subject_token is not valid/);
  assert.match(await refusal(exchange(parent.access_token, {}, { extra: { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' } })),
    /invalid_request: subject_token_type must be/);
  assert.match(await refusal(exchange(parent.access_token, {}, { extra: { actor_token: 'x', actor_token_type: ACCESS_TOKEN } })),
    /actor_token is not supported/);
  assert.equal((await chat(parent.access_token, 'gpt-4o')).status, 200);
});

test('a child ends with the token it was exchanged for: a stolen bearer token buys no longer life', async () => {
  const parent = await parentTokens();
  const subjectEnd = claimsOf(parent.access_token).exp;
  // Tokens last 1800 s here: a lifetime named beyond what the token has left is refused, saying so;
  // the default (an hour) is cut to it.
  assert.match(await refusal(exchange(parent.access_token, { lifetime_seconds: 3000 })),
    /invalid_authorization_details: lifetime_seconds 3000 is beyond what the subject_token has left \(\d+ s\)/);
  const child = await exchange(parent.access_token, { may_delegate: true });
  const childClaims = claimsOf(child.access_token);
  const ends = async (id) => Date.parse((await grant(id)).expiresAt) / 1000;
  assert.ok(await ends(childClaims.gid) <= subjectEnd, 'the child grant ends by its subject token\'s expiry');
  assert.ok(childClaims.exp <= subjectEnd);
  // Nor does a chain of exchanges: the grandchild ends by then too.
  const grandchild = claimsOf((await exchange(child.access_token)).access_token);
  assert.ok(await ends(grandchild.gid) <= subjectEnd);
  assert.ok(grandchild.exp <= subjectEnd);
});

test('a DPoP-bound token is exchanged only with a proof of its key, and the child is bound to it', async () => {
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(app, keyPair);
  const parent = await parentTokens({ DPoP });
  assert.equal(parent.token_type.toLowerCase(), 'dpop');
  assert.match(await refusal(exchange(parent.access_token)), /invalid_dpop_proof: the subject_token is bound to a DPoP key/);
  const stranger = client.getDPoPHandle(app, await client.randomDPoPKeyPair('ES256'));
  assert.match(await refusal(exchange(parent.access_token, {}, { DPoP: stranger })), /invalid_dpop_proof/);
  const child = await exchange(parent.access_token, {}, { DPoP });
  assert.equal(child.token_type.toLowerCase(), 'dpop');
  assert.equal(claimsOf(child.access_token).cnf.jkt, claimsOf(parent.access_token).cnf.jkt);
  assert.equal((await chat(child.access_token)).status, 401, 'useless without a proof');
});

test('200 concurrent calls over a parent and three children never spend more than the parent\'s budget', async () => {
  const parent = await parentTokens({ fields: { budget: '0.01' } });
  // Each child may spend the whole cent the parent has: together they could spend four.
  const children = [];
  for (let i = 0; i < 3; i++)
    children.push((await exchange(parent.access_token, { models: ['gpt-4o'], max_budget_cents: 1, max_requests: 500 })).access_token);
  const tokens = [parent.access_token, ...children];
  // gpt-4o answering a 200-character question: a handful of calls spend the cent.
  const prompt = 'spend '.repeat(33) + 'it';
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(tokens[i % 4], 'gpt-4o', prompt)));
  const ok = results.filter((r) => r.status === 200).length;
  assert.ok(ok > 0, `some calls fit: ${results[0].status} ${results[0].text.slice(0, 300)}`);
  for (const r of results.filter((r) => r.status !== 200)) assert.equal(r.status, 402, r.text);
  const parentId = claimsOf(parent.access_token).gid;
  let view;
  for (const deadline = Date.now() + 5000; ;) {
    view = await grant(parentId);
    assert.ok(view.budget.spentMicros <= 10000, `spent ${view.budget.spentMicros} of 10000`);
    if (view.usageCount === ok || Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(view.usageCount, ok, 'every answered call, the children\'s too, counted against the parent');
  // The parent's spend is its own calls' (its usage rows) and its children's.
  let childrenSpent = 0;
  for (const t of children) childrenSpent += (await grant(claimsOf(t).gid)).budget.spentMicros;
  const own = (await nodeCall(broker.url, 'GET', `/grants/${parentId}/usage`, { ca: ca.ca, token: broker.ownerToken })).json;
  assert.equal(view.budget.spentMicros, own.totals.costMicros + childrenSpent);
  assert.ok(view.budget.spentMicros > 2000, `the budget was really spent (${view.budget.spentMicros})`);
});

test('a parent\'s requests a minute hold for it and its children together, not for each', async () => {
  const parent = await parentTokens({ details: { ...PARENT, rate_limit: 2 }, fields: { rate_limit: '2' } });
  const child = (await exchange(parent.access_token, { rate_limit: 2 })).access_token;
  assert.equal((await chat(child)).status, 200);
  assert.equal((await chat(parent.access_token)).status, 200);
  const third = await chat(child);  // its own bucket has one left; the tree's is empty
  assert.equal(third.status, 429, third.text);
  assert.match(third.json.error.message, /Rate limit reached: 2 requests per minute \(the limit of the grant this one was delegated from/);
  assert.equal((await chat(parent.access_token)).status, 429);
});

test('a child is bounded as a budgeted grant is, since its parent may be given a budget at any time', async () => {
  // No budget anywhere: the owner may give one later, to the parent only.
  const details = { ...PARENT };
  delete details.max_budget_cents;
  const parent = await parentTokens({ details, fields: { budget: '' } });
  const child = await exchange(parent.access_token, { max_budget_cents: undefined });
  assert.equal((await grant(claimsOf(child.access_token).gid)).budget.limitMicros, null, 'the child has no budget of its own');
  const call = (body) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions',
    { ca: ca.ca, token: child.access_token, body: { model: 'gpt-4o-mini', max_tokens: 16, ...body } });
  // Billed above the table's rates: refused, as on any budgeted grant.
  const priority = await call({ service_tier: 'priority', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(priority.status, 403, priority.text);
  assert.match(priority.json.error.message, /'service_tier' 'priority' is billed above/);
  // An image is billed as far more tokens than its URL's bytes: only the model's context window
  // (128,000 tokens, each of an image's billed 33.34 times by gpt-4o-mini: $0.64) bounds what it may cost.
  const image = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] };
  assert.equal((await call(image)).status, 200, 'with no budget in the chain, the bound refuses nothing');

  const parentId = claimsOf(parent.access_token).gid;
  const spent = (await grant(parentId)).budget.spentMicros;
  const patch = await nodeCall(broker.url, 'PATCH', `/grants/${parentId}`, { ca: ca.ca, token: broker.ownerToken, body: { maxBudgetCents: 1 } });
  assert.equal(patch.status, 200, patch.text);
  const tooDear = await call(image);
  assert.equal(tooDear.status, 402, `the image's worst case is more than the parent's 1 cent: ${tooDear.text}`);
  assert.equal((await grant(parentId)).budget.spentMicros, spent, 'nothing was charged for it');
});

test('revoking a grant ends its whole subtree at once; revoking a child alone leaves its parent', async () => {
  const parent = await parentTokens();
  const child = await exchange(parent.access_token, { may_delegate: true });
  const grandchild = await exchange(child.access_token, { max_budget_cents: 1, max_requests: 5, rate_limit: 5 });
  const sibling = await exchange(parent.access_token, { may_delegate: true });
  const nephew = await exchange(sibling.access_token, { max_budget_cents: 1, max_requests: 5, rate_limit: 5 });
  assert.equal((await chat(grandchild.access_token)).status, 200);
  // The child alone: its grandchild goes with it, the parent and the sibling stay.
  const childId = claimsOf(child.access_token).gid;
  const revoke = await nodeCall(broker.url, 'POST', `/grants/${childId}/revoke`, { ca: ca.ca, token: broker.ownerToken });
  assert.equal(revoke.status, 200, revoke.text);
  assert.equal((await chat(grandchild.access_token)).status, 401);
  assert.ok((await grant(claimsOf(grandchild.access_token).gid)).revokedAt);
  assert.equal((await chat(sibling.access_token)).status, 200);
  assert.equal((await chat(nephew.access_token)).status, 200);
  assert.equal((await chat(parent.access_token)).status, 200);
  // The parent: everything below it.
  const parentId = claimsOf(parent.access_token).gid;
  assert.equal((await nodeCall(broker.url, 'POST', `/grants/${parentId}/revoke`, { ca: ca.ca, token: broker.ownerToken })).status, 200);
  assert.equal((await chat(nephew.access_token)).status, 401, 'a grandchild\'s next call is refused at once');
  assert.equal((await chat(sibling.access_token)).status, 401);
  assert.ok((await grant(claimsOf(sibling.access_token).gid)).revokedAt);
  assert.ok((await grant(claimsOf(nephew.access_token).gid)).revokedAt);
  assert.match(await refusal(exchange(parent.access_token)), /invalid_grant/);
  const trail = (await nodeCall(broker.url, 'GET', `/audit?kind=grant.delegated`, { ca: ca.ca, token: broker.ownerToken })).json;
  assert.ok(JSON.stringify(trail).includes(childId), 'the audit trail names each child made');
});

// Each child spends its parent's key, and an app can always exchange for another: answers that
// quote the key count for the whole tree, and the grant the owner approved goes, its tree with it.
test('answers that quote the key count for the whole tree: the third revokes the approved grant and every child', async () => {
  const parent = await parentTokens({ details: { ...PARENT, models: ['quote-key', 'gpt-4o-mini'], max_delegation_depth: 1 } });
  const first = await exchange(parent.access_token, { models: ['quote-key'] });
  for (let i = 0; i < 2; ++i) {
    const res = await chat(first.access_token, 'quote-key');
    assert.equal(res.status, 200, `answer ${i + 1} is served, scrubbed: ${res.text}`);
  }
  const second = await exchange(parent.access_token, { models: ['quote-key'] });
  const third = await chat(second.access_token, 'quote-key');
  assert.equal(third.status, 200, third.text);
  const parentId = claimsOf(parent.access_token).gid;
  for (const token of [parent.access_token, first.access_token, second.access_token]) {
    assert.equal((await chat(token)).status, 401, 'the tree is revoked');
    assert.ok((await grant(claimsOf(token).gid)).revokedAt);
  }
  assert.match(await refusal(exchange(parent.access_token, { models: ['quote-key'] })), /invalid_grant/);
  const trail = (await nodeCall(broker.url, 'GET', '/audit?kind=grant.revoked', { ca: ca.ca, token: broker.ownerToken })).json;
  const secondId = claimsOf(second.access_token).gid;
  assert.ok(trail.items.some((r) => r.actor === 'broker:key-quoted' && r.grantId === parentId &&
    r.detail?.because === `3 provider answers quoted its key, the last one of grant ${secondId} below it`), JSON.stringify(trail.items));
});

test('each child counts against its parent\'s 60 tokens a minute: a token exchanged in a loop is slowed down', async () => {
  const parent = await parentTokens({ details: { ...PARENT, max_delegation_depth: 1 } });  // the minute's first token
  for (let i = 1; i < 50; i++) await exchange(parent.access_token);
  let current = parent;
  for (let i = 50; i < 60; i++) current = await retryingNonce(() => client.refreshTokenGrant(app, current.refresh_token));
  assert.match(await refusal(exchange(current.access_token)), /^slow_down: Too many tokens for this grant/);
  assert.equal((await chat(current.access_token)).status, 200, 'the grant itself goes on');
});

// Each grant of a tree may run at its parent's pace: the live bound is the tree's, so the tree
// runs at most 51 times the approved grant's pace, however its children delegate again.
test('at most 50 grants below the approved one are in use at once, however deep', async () => {
  const parent = await parentTokens();
  const child = await exchange(parent.access_token, { may_delegate: true });
  for (let i = 0; i < 49; i++) await exchange(child.access_token);
  const full = /^invalid_request: 50 grants handed on below the one the owner approved are in use/;
  assert.match(await refusal(exchange(child.access_token)), full, 'the child has 49 children, but the tree holds 50');
  assert.match(await refusal(exchange(parent.access_token)), full);
});

test('a parent that sets no calls at once runs with the broker\'s default: a child may not ask for more', async () => {
  const parent = await parentTokens({ details: { ...PARENT, max_concurrent: undefined } });
  assert.equal(parent.authorization_details[0].max_concurrent, undefined);
  assert.match(await refusal(exchange(parent.access_token, { max_concurrent: 1000 })), /^invalid_authorization_details: .*max_concurrent/);
  const child = await exchange(parent.access_token, { max_concurrent: 8 });
  assert.equal(child.authorization_details[0].max_concurrent, 8);
  const unnamed = await exchange(parent.access_token);
  assert.equal((await grant(claimsOf(unnamed.access_token).gid)).scope.maxConcurrent, 32, 'the default its parent runs with');
});
