// Consent that cannot be spoofed: unverified apps are named as what they call themselves, hidden
// characters and look-alike hosts are shown for what they are, an unlimited request is warned of,
// waiting requests are throttled, bounded and denied in bulk, foreign pages cannot post the owner's
// forms (Origin, Sec-Fetch-Site) even with a stolen CSRF token, and an attacker's failed sign-ins
// do not lock the owner out. Pages are driven by Debian's Chromium where a browser decides what is
// sent; the rest goes over HTTP with the headers a browser sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { launchChromium, clickApprove } from './chromium.mjs';
import { BIN, startBroker, startMock, call, nodeCall, tempDir, SCOPES, cliSync } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
let broker, browser, attacker, attackerUrl, verifiedClient;
const attackerPages = new Map();

const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const agents = new Map();
const agentFrom = (from) => {
  if (!agents.has(from)) agents.set(from, new http.Agent({ keepAlive: false, localAddress: from }));
  return agents.get(from);
};
const get = (path, cookie, from = '127.0.0.1') =>
  nodeCall(broker.url, 'GET', path, { agent: agentFrom(from), headers: cookie ? { cookie } : {} });
const postForm = (path, fields, { cookie, from = '127.0.0.1', headers = {}, base = broker.url } = {}) =>
  nodeCall(base, 'POST', path, { agent: agentFrom(from), raw: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}), ...headers } });

// Signs in over HTTP from `from`; answers the response (303 and a session cookie on success).
async function signIn(username, password, from = '127.0.0.1', base = broker.url) {
  const page = await nodeCall(base, 'GET', '/login', { agent: agentFrom(from) });
  const csrfCookie = page.headers['set-cookie'].find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
  return postForm('/login', { csrf: hidden(page.text, 'csrf'), username, password }, { cookie: csrfCookie, from, base });
}
const sessionOf = (res) => res.headers['set-cookie'].find((c) => c.startsWith('aipassport_session=')).split(';')[0];

async function grantRequest(b, body) {
  return call(b.url, 'POST', '/grant-requests', { body: { appUrl: 'https://app.example', scope: SCOPES.openai, ...body } });
}

before(async () => {
  const dataDir = tempDir();
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  cliSync(['user', 'add', 'olga', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  const out = cliSync(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/callback',
    '--home-url', 'https://notes.example', '--data-dir', dataDir]).toString();
  verifiedClient = out.match(/client_id: (\S+)/)[1];
  broker = await startBroker({ mock: await startMock(), dataDir, env: { AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION: 'true' } });
  // Another origin on the same machine (same site, another port): pages an attacker controls.
  attacker = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(attackerPages.get(new URL(req.url, 'http://x').pathname) ?? 'nothing here');
  });
  await new Promise((r) => attacker.listen(0, '127.0.0.1', r));
  attackerUrl = `http://127.0.0.1:${attacker.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  attacker?.close();
});

// Opens `next`, signing in first unless the browser already holds erin's session.
async function browserSignIn(page, next) {
  await page.goto(`${broker.url}/login?next=${encodeURIComponent(next)}`);
  if (new URL(page.url()).pathname === next) return;
  await page.fill('#username', 'erin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL((u) => new URL(u).pathname === next), page.click('button[type=submit]')]);
}

test('in Chromium: an unverified name cannot close the quotation marks around it, nor a tower of marks draw over the page', async () => {
  const tower = 'Z' + '\u0336\u0489\u0301'.repeat(60);
  const spoof = await grantRequest(broker, {
    appName: 'Notes\u201D, checked by your operator. \u201CNotes',
    appUrl: 'https://notes.example',
    reason: `meeting notes ${tower}`,
    scope: { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] },
  });
  assert.equal(spoof.status, 201, spoof.text);
  const page = await browser.newPage();
  await browserSignIn(page, `/consent/${spoof.json.grant.id}`);
  assert.equal(await page.textContent('h1'),
    'Unverified An app that calls itself \u201CNotes\u27E8U+201D\u27E9, checked by your operator. \u27E8U+201C\u27E9Notes\u201D asks for access');
  const body = await page.textContent('body');
  assert.match(body, /meeting notes Z\u0336\u0489\u0301\u27E8U\+0336\u27E9\u27E8U\+0489\u27E9/, 'three marks on a letter, the rest as escapes');
  assert.ok(!/[\u0300-\u036F\u0483-\u0489]{4}/.test(body), 'no run of four stacking marks reaches the page');
  // Marks drawn like a closing quotation mark in common fonts: the plain one, modifier letters, ditto marks.
  const alike = await grantRequest(broker, { appName: 'Notes\u02EE, checked. \u02BA"\u3003\u05F4Notes', appUrl: 'https://notes.example',
    scope: { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] } });
  await page.goto(`${broker.url}/consent/${alike.json.grant.id}`);
  assert.equal(await page.textContent('h1'), 'Unverified An app that calls itself \u201CNotes\u27E8U+02EE\u27E9, checked. ' +
    '\u27E8U+02BA\u27E9\u27E8U+0022\u27E9\u27E8U+3003\u27E9\u27E8U+05F4\u27E9Notes\u201D asks for access');
  await page.close();
});

test('in Chromium: an unverified app is named as what it calls itself, its real domain large, bidi and invisible characters as escapes, the provider named, no caps warned of and a cap suggested', async () => {
  const spoof = await grantRequest(broker, {
    appName: '\u202Erepleh laiciffO IAnepO', // shows as "OpenAI Official Helper" without the escape
    appUrl: 'https://openai.com.evil.example/\u200Bhelp'.replace('\u200B', '%E2%80%8B'),
    reason: 'Official\u200B integration\u2066 by\u2069 OpenAI\uFEFF',
    scope: { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] },
  });
  assert.equal(spoof.status, 201, spoof.text);
  assert.equal(spoof.json.grant.verified, false);
  const id = spoof.json.grant.id;

  const page = await browser.newPage();
  await browserSignIn(page, `/consent/${id}`);
  assert.equal(await page.textContent('#unverified'), 'Unverified');
  const heading = await page.textContent('h1');
  assert.equal(heading, 'Unverified An app that calls itself \u201C\u27E8U+202E\u27E9repleh laiciffO IAnepO\u201D asks for access');
  assert.equal(await page.textContent('#domain'), 'evil.example', 'the registrable domain, not the openai.com label');
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('#domain')).fontSize), '32px');
  assert.equal(await page.textContent('#provider'), 'It wants to use your OpenAI key.');
  const body = await page.textContent('body');
  assert.match(body, /Official⟨U\+200B⟩ integration⟨U\+2066⟩ by⟨U\+2069⟩ OpenAI⟨U\+FEFF⟩/);
  assert.ok(!/[\u202A-\u202E\u2066-\u2069\u200B-\u200F\uFEFF]/.test(body), 'no hidden character reaches the page');
  assert.match(await page.textContent('#unlimited'), /no budget and no request cap/);
  assert.equal(await page.inputValue('#max_requests'), '1000', 'a cap is suggested, filled in');

  await Promise.all([page.waitForURL(`${broker.url}/`), clickApprove(page)]);
  const grant = await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken });
  assert.equal(grant.json.status, 'approved');
  assert.equal(grant.json.scope.maxRequests, 1000, 'approved as suggested: capped');
  await page.close();
});

test('in Chromium: a look-alike host appears in Unicode beside its punycode', async () => {
  const req = await grantRequest(broker, { appName: 'Apple Notes', appUrl: 'https://xn--pple-43d.com/notes',
    scope: { ...SCOPES.openai, maxRequests: 10 } });
  const page = await browser.newPage();
  await browserSignIn(page, `/consent/${req.json.grant.id}`);
  assert.equal(await page.textContent('#home-host'), '\u0430pple.com (xn--pple-43d.com)');
  assert.equal(await page.textContent('#domain'), '\u0430pple.com (xn--pple-43d.com)');
  assert.equal(await page.locator('#unlimited').count(), 0, 'a capped request gets no warning');
  await page.close();
});

// The OAuth consent screen: an app the owner added is named; one that registered itself is not.
test('OAuth consent: a client added with the CLI is verified, a self-registered one is marked unverified', async () => {
  const signedIn = await signIn('erin', PASSWORD);
  assert.equal(signedIn.status, 303);
  const cookie = sessionOf(signedIn);
  const registered = await call(broker.url, 'POST', '/oauth/register', { body: {
    client_name: 'OpenAI Official Helper', redirect_uris: ['http://127.0.0.1/callback'], client_uri: 'https://helper.example' } });
  assert.equal(registered.status, 201, registered.text);
  const consentOf = async (clientId) => {
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:5555/callback',
      state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', scope: 'openai:chat' });
    const start = await get(`/oauth/authorize?${q}`, cookie);
    assert.equal(start.status, 303, start.text);
    return { path: start.headers.location, page: await get(start.headers.location, cookie) };
  };
  // A malformed request of a self-registered app is refused on a page: sent back, it would make
  // the broker a redirector to any site that registers itself. The app an owner added hears why.
  const malformed = async (clientId) => get(`/oauth/authorize?${new URLSearchParams({ response_type: 'token',
    client_id: clientId, redirect_uri: 'https://phish.example/land', state: 's' })}`);
  const phish = await call(broker.url, 'POST', '/oauth/register', { body: {
    client_name: 'Landing', redirect_uris: ['https://phish.example/land'] } });
  assert.equal(phish.status, 201, phish.text);
  const shown = await malformed(phish.json.client_id);
  assert.equal(shown.status, 400, shown.text);
  assert.equal(shown.headers.location, undefined, 'no redirect before the person has seen a consent screen');
  const self = await consentOf(registered.json.client_id);
  assert.match(self.page.text, /An app that calls itself \u201C<bdi id="app-name">OpenAI Official Helper<\/bdi>\u201D/);
  assert.match(self.page.text, /id="unverified">Unverified/);
  assert.match(self.page.text, /goes back to<\/p><p class="domain" id="domain">127\.0\.0\.1<\/p>/, 'where the code goes, large');
  assert.match(self.page.text, /\(host <span id="return-host">127\.0\.0\.1<\/span>\)/);
  assert.match(self.page.text, /Home page it names: .*\(host <span id="home-host">helper\.example<\/span>\)/);
  assert.doesNotMatch(self.page.text, /id="elsewhere"/, 'an answer to this computer has no domain to compare');
  const notes = await consentOf(verifiedClient);
  assert.match(notes.page.text, /<h1>Notes asks for access<\/h1>/);
  assert.doesNotMatch(notes.page.text, /Unverified/);
  const grants = (await call(broker.url, 'GET', '/grants', { token: broker.ownerToken })).json;
  const byPath = (p) => grants.find((g) => p.endsWith(g.id));
  assert.equal(byPath(self.path).verified, false);
  assert.equal(byPath(notes.path).verified, true);
});

test('OAuth consent: the large domain is where the code goes, not the home page an app names; once the app stopped waiting, nothing can be approved', async () => {
  const cookie = sessionOf(await signIn('erin', PASSWORD));
  const registered = await call(broker.url, 'POST', '/oauth/register', { body: {
    client_name: 'OpenAI', client_uri: 'https://platform.openai.com/', redirect_uris: ['https://attacker-collect.example/cb'] } });
  assert.equal(registered.status, 201, registered.text);
  const q = new URLSearchParams({ response_type: 'code', client_id: registered.json.client_id, redirect_uri: 'https://attacker-collect.example/cb',
    state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', scope: 'openai:chat' });
  const start = await get(`/oauth/authorize?${q}`, cookie);
  assert.equal(start.status, 303, start.text);
  const consentPath = start.headers.location;
  const page = await get(consentPath, cookie);
  assert.match(page.text, /goes back to<\/p><p class="domain" id="domain">attacker-collect\.example<\/p>/);
  assert.doesNotMatch(page.text, /id="domain">openai\.com/, 'the home page it names is not the large domain');
  assert.match(page.text, /Home page it names: .*\(host <span id="home-host">platform\.openai\.com<\/span>\)/);
  assert.match(page.text, /id="elsewhere">Its home page is not on the domain your answer goes back to/);
  // An address that is not this computer's has no domain either, and is no more the home page's.
  const byAddress = await call(broker.url, 'POST', '/oauth/register', { body: {
    client_name: 'Google', client_uri: 'https://accounts.google.com/', redirect_uris: ['https://203.0.113.5/cb'] } });
  assert.equal(byAddress.status, 201, byAddress.text);
  const toAddress = await get(`/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: byAddress.json.client_id,
    redirect_uri: 'https://203.0.113.5/cb', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256', scope: 'openai:chat' })}`, cookie);
  assert.equal(toAddress.status, 303, toAddress.text);
  const addressPage = await get(toAddress.headers.location, cookie);
  assert.match(addressPage.text, /id="domain">203\.0\.113\.5<\/p>/);
  assert.match(addressPage.text, /id="elsewhere">Its home page is not on the domain your answer goes back to/);

  // The sign-in waits ten minutes; the pending grant a day. Approved after the first, it would reach nobody.
  const id = consentPath.split('/').pop();
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', `${broker.dataDir}/aipassport.db`, `UPDATE pending_authorizations SET expires_at = 1 WHERE grant_id = '${id}'`]);
  const late = await get(consentPath, cookie);
  assert.equal(late.status, 410, late.text);
  assert.match(late.text, /stopped waiting for this request/);
  const approve = await postForm(consentPath, { csrf: hidden(page.text, 'csrf'), decision: 'approve', lifetime: '86400',
    capability: 'chat', budget: '', max_requests: '1000', rate_limit: '', max_tokens_per_minute: '', max_concurrent: '' }, { cookie });
  assert.equal(approve.status, 410, approve.text);
  const byApi = await call(broker.url, 'POST', `/grants/${id}/approve`, { token: broker.ownerToken, body: {} });
  assert.equal(byApi.status, 400, 'nor through the owner API');
  assert.match(byApi.json.error, /stopped waiting for this request/);
  assert.equal((await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken })).json.status, 'pending');
  const deny = await postForm(consentPath, { csrf: hidden(page.text, 'csrf'), decision: 'deny' }, { cookie });
  assert.equal(deny.status, 303, 'it can still be denied');
  assert.equal((await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken })).json.status, 'denied');
});

test('the consent screen writes large limits with separators, lets the owner lower tokens a minute and calls at once, and warns of a request cap that caps nothing', async () => {
  const scope = { ...SCOPES.openai, maxRequests: 1000000, maxTokensPerMinute: 1000000000000, maxConcurrent: 1000000000000 };
  const asked = await grantRequest(broker, { appName: 'Greedy', scope });
  assert.equal(asked.status, 201, asked.text);
  const id = asked.json.grant.id;
  const cookie = sessionOf(await signIn('erin', PASSWORD));
  const page = await get(`/consent/${id}`, cookie);
  assert.match(page.text, /1,000,000 requests, 1,000,000,000,000 tokens a minute, 1,000,000,000,000 calls at once/);
  assert.match(page.text, /id="unlimited">It asks for no budget and 1,000,000 requests: approved as asked, it could spend without limit/);
  assert.match(page.text, /id="max_requests" name="max_requests" inputmode="decimal" value="1000"/, 'a cap is suggested');
  assert.match(page.text, /id="max_concurrent" name="max_concurrent" inputmode="decimal" value="1000000000000" placeholder="the broker's default"/);
  const fields = { csrf: hidden(page.text, 'csrf'), decision: 'approve', lifetime: '86400', model: 'gpt-4o-mini', capability: 'chat',
    budget: '', max_requests: '1000', rate_limit: '', max_tokens_per_minute: '50000', max_concurrent: '4' };
  const raised = await postForm(`/consent/${id}`, { ...fields, max_concurrent: '1000000000001' }, { cookie });
  assert.equal(raised.status, 400);
  assert.match(raised.text, /Calls at once can only be lowered/);
  const removed = await postForm(`/consent/${id}`, { ...fields, max_tokens_per_minute: '' }, { cookie });
  assert.equal(removed.status, 400);
  assert.match(removed.text, /Tokens a minute cannot be removed, only lowered/);
  const done = await postForm(`/consent/${id}`, fields, { cookie });
  assert.equal(done.status, 303, done.text);
  const grant = (await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken })).json;
  assert.equal(grant.status, 'approved');
  assert.deepEqual([grant.scope.maxRequests, grant.scope.maxTokensPerMinute, grant.scope.maxConcurrent], [1000, 50000, 4]);

  // A budget is written with separators, and its field as a plain amount the form takes back.
  const rich = await grantRequest(broker, { appName: 'Rich', scope: { ...SCOPES.openai, maxBudgetCents: 123456789 } });
  const richPage = await get(`/consent/${rich.json.grant.id}`, cookie);
  assert.match(richPage.text, /up to \$1,234,567\.89/);
  assert.match(richPage.text, /id="budget" name="budget" inputmode="decimal" value="1234567.89"/);
  const richFields = { csrf: hidden(richPage.text, 'csrf'), decision: 'approve', lifetime: '86400', model: 'gpt-4o-mini',
    capability: 'chat', budget: '1234567.89', max_requests: '', rate_limit: '', max_tokens_per_minute: '', max_concurrent: '' };
  // It asked for no figure of calls at once: the broker's default (32) holds, which the form may lower only;
  // and a grant of no calls at once, or none a minute, could never be used.
  for (const [field, value, refusal] of [['max_concurrent', '100000', /Calls at once can only be lowered/],
    ['max_concurrent', '0', /At least 1 call at once/], ['rate_limit', '0', /At least 1 a minute/],
    ['max_tokens_per_minute', '0', /At least 1 token a minute/]]) {
    const refused = await postForm(`/consent/${rich.json.grant.id}`, { ...richFields, [field]: value }, { cookie });
    assert.equal(refused.status, 400, `${field} ${value}`);
    assert.match(refused.text, refusal);
  }
  const approved = await postForm(`/consent/${rich.json.grant.id}`, richFields, { cookie });
  assert.equal(approved.status, 303, approved.text);
  assert.equal((await call(broker.url, 'GET', `/grants/${rich.json.grant.id}`, { token: broker.ownerToken })).json.scope.maxBudgetCents, 123456789);
});

test('the apps list shows a self-registered name\'s hidden characters as escapes', async () => {
  const registered = await call(broker.url, 'POST', '/oauth/register', { body: {
    client_name: 'Notes \u202Edesu yllacol', redirect_uris: ['http://127.0.0.1/cb'] } });
  assert.equal(registered.status, 201, registered.text);
  const list = await get('/apps', sessionOf(await signIn('erin', PASSWORD)));
  assert.equal(list.status, 200);
  assert.match(list.text, /<bdi><strong>Notes \u27E8U\+202E\u27E9desu yllacol<\/strong><\/bdi>/);
  assert.ok(!list.text.includes('\u202E'), 'no override reaches the page');
});

test('in Chromium: the owner denies ticked requests, then every unverified one, from the home page', async () => {
  const ids = [];
  for (const name of ['Spam 1', 'Spam 2', 'Spam 3']) ids.push((await grantRequest(broker, { appName: name })).json.grant.id);
  const page = await browser.newPage();
  await browserSignIn(page, '/');
  await page.check(`input[name=id][value="${ids[0]}"]`);
  await Promise.all([page.waitForURL(`${broker.url}/`), page.click('button[value=selected]')]);
  const status = async (id) => (await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken })).json.status;
  assert.deepEqual([await status(ids[0]), await status(ids[1]), await status(ids[2])], ['denied', 'pending', 'pending']);
  await Promise.all([page.waitForURL(`${broker.url}/`), page.click('button[value=unverified]')]);
  assert.deepEqual([await status(ids[1]), await status(ids[2])], ['denied', 'denied']);
  const listed = await page.textContent('body');
  for (const name of ['Spam 1', 'Spam 2', 'Spam 3']) assert.ok(!listed.includes(name), `${name} no longer waits`);
  await page.close();
});

test('the owner API denies waiting requests in bulk, by id or every unverified one, and only waiting ones', async () => {
  const a = (await grantRequest(broker, { appName: 'A' })).json.grant.id;
  const b = (await grantRequest(broker, { appName: 'B' })).json.grant.id;
  const approved = (await grantRequest(broker, { appName: 'C' })).json.grant.id;
  await call(broker.url, 'POST', `/grants/${approved}/approve`, { token: broker.ownerToken, body: {} });
  const byId = await call(broker.url, 'POST', '/grant-requests/deny', { token: broker.ownerToken, body: { ids: [a, approved] } });
  assert.equal(byId.status, 200, byId.text);
  assert.deepEqual(byId.json.denied, [a], 'an approved grant is not a waiting request');
  const all = await call(broker.url, 'POST', '/grant-requests/deny', { token: broker.ownerToken, body: { unverified: true } });
  assert.ok(all.json.denied.includes(b));
  const grants = (await call(broker.url, 'GET', '/grants', { token: broker.ownerToken })).json;
  for (const id of all.json.denied) assert.equal(grants.find((g) => g.id === id).verified, false, 'only unverified ones');
  assert.ok(grants.some((g) => g.verified && g.status === 'pending'), 'a verified app\'s request still waits');
  const bad = await call(broker.url, 'POST', '/grant-requests/deny', { token: broker.ownerToken, body: { ids: 'x' } });
  assert.equal(bad.status, 400);
  const anonymous = await call(broker.url, 'POST', '/grant-requests/deny', { body: { unverified: true } });
  assert.equal(anonymous.status, 401);
});

test('POST /grant-requests is throttled per address (429 with Retry-After); other addresses go on', async () => {
  const b = await startBroker({ env: { AIPASSPORT_GRANT_REQUESTS_PER_ADDRESS_PER_MINUTE: '5' } });
  const ask = (from) => nodeCall(b.url, 'POST', '/grant-requests', { agent: agentFrom(from),
    body: { appName: 'Flood', appUrl: 'https://flood.example', scope: SCOPES.openai } });
  for (let i = 0; i < 5; i++) assert.equal((await ask('127.0.0.5')).status, 201);
  const refused = await ask('127.0.0.5');
  assert.equal(refused.status, 429);
  assert.equal(refused.json.type, 'rate_limit_exceeded');
  const retry = Number(refused.headers['retry-after']);
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${refused.headers['retry-after']}`);
  assert.equal((await ask('127.0.0.6')).status, 201, 'another address is not affected');
  await b.stop();
});

test('the number of waiting unverified requests is bounded; denying them makes room', async () => {
  const b = await startBroker({ env: { AIPASSPORT_GRANT_REQUESTS_MAX_WAITING: '3' } });
  // From three addresses: one address's share is a tenth of the bound, at least one.
  const from = (i) => `127.0.1.${i + 1}`;
  const ask = (i, appName) => nodeCall(b.url, 'POST', '/grant-requests', { agent: agentFrom(from(i)),
    body: { appName, appUrl: 'https://app.example', scope: SCOPES.openai } });
  for (let i = 0; i < 3; i++) assert.equal((await ask(i, `W${i}`)).status, 201);
  const full = await grantRequest(b, { appName: 'One too many' });
  assert.equal(full.status, 503);
  assert.equal(full.json.type, 'too_many_waiting_requests');
  assert.ok(Number(full.headers.get('retry-after')) > 0);
  const grants = (await call(b.url, 'GET', '/grants', { token: b.ownerToken })).json;
  assert.equal(grants.length, 3, 'nothing was stored');
  await call(b.url, 'POST', '/grant-requests/deny', { token: b.ownerToken, body: { unverified: true } });
  assert.equal((await grantRequest(b, { appName: 'After' })).status, 201);
  await b.stop();
});

test('one address cannot fill the bound on waiting requests: its share is a tenth, and the others go on', async () => {
  const b = await startBroker();
  const ask = (from, appName) => nodeCall(b.url, 'POST', '/grant-requests', { agent: agentFrom(from),
    body: { appName, appUrl: 'https://flood.example', scope: SCOPES.openai } });
  for (let i = 0; i < 10; i++) assert.equal((await ask('127.0.2.1', `Flood ${i}`)).status, 201);
  const refused = await ask('127.0.2.1', 'Flood 10');
  assert.equal(refused.status, 429);
  assert.equal(refused.json.type, 'too_many_waiting_requests');
  assert.match(refused.json.error, /10 unverified requests from this address/);
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal((await ask('127.0.2.2', 'Honest app')).status, 201, 'another address still asks');
  const waiting = (await call(b.url, 'GET', '/grants', { token: b.ownerToken })).json;
  assert.equal(waiting.length, 11, 'the refused request was not stored');
  await b.stop();
});

// A page of another origin posts the owner's consent form with the right (stolen) CSRF token.
async function forgedPost(page, name, { action, fields, referrerPolicy }) {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
  attackerPages.set(`/${name}`, `<!doctype html><html><head>${referrerPolicy ? `<meta name="referrer" content="${referrerPolicy}">` : ''}</head>` +
    `<body><form id="f" method="post" action="${broker.url}${action}">${inputs}</form>` +
    '<script>document.getElementById("f").submit()</script></body></html>');
  const answered = page.waitForResponse((r) => r.url() === `${broker.url}${action}`);
  await page.goto(`${attackerUrl}/${name}`);
  const res = await answered;
  return { status: res.status(), body: await res.text(), headers: await res.request().allHeaders() };
}

test('in Chromium: a foreign page, or one without an origin, cannot post the owner\'s forms even with the right CSRF token', async () => {
  const req = await grantRequest(broker, { appName: 'Target', scope: { ...SCOPES.openai, maxRequests: 5 } });
  const id = req.json.grant.id;
  const page = await browser.newPage();
  await browserSignIn(page, `/consent/${id}`);
  const csrf = await page.inputValue('input[name=csrf]');
  const fields = { csrf, decision: 'approve', lifetime: '3600', model: 'gpt-4o-mini', capability: 'chat', max_requests: '5' };

  const foreign = await forgedPost(page, 'foreign', { action: `/consent/${id}`, fields });
  assert.equal(foreign.headers.origin, attackerUrl, 'Chromium sent the attacker\'s origin');
  assert.equal(foreign.headers['sec-fetch-site'], 'same-site');
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /Refused: this request came from another site/);

  const noOrigin = await forgedPost(page, 'null', { action: `/consent/${id}`, fields, referrerPolicy: 'no-referrer' });
  assert.equal(noOrigin.headers.origin, 'null', 'Chromium sent Origin: null');
  assert.equal(noOrigin.status, 403);

  const logout = await forgedPost(page, 'logout', { action: '/logout', fields: { csrf } });
  assert.equal(logout.status, 403);
  const deny = await forgedPost(page, 'deny', { action: '/waiting/deny', fields: { csrf, which: 'unverified' } });
  assert.equal(deny.status, 403);

  const grant = await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken });
  assert.equal(grant.json.status, 'pending', 'nothing was decided');
  await page.goto(`${broker.url}/`);
  assert.match(await page.textContent('body'), /Signed in as erin/, 'still signed in');

  // The same form from the broker's own page goes through (same origin).
  await page.goto(`${broker.url}/consent/${id}`);
  await Promise.all([page.waitForURL(`${broker.url}/`), page.click('button[value=deny]')]);
  assert.equal((await call(broker.url, 'GET', `/grants/${id}`, { token: broker.ownerToken })).json.status, 'denied');
  await page.close();
});

test('over HTTP as a browser sends it: the owner API with a session cookie checks Origin and Sec-Fetch-Site before the CSRF token', async () => {
  const res = await signIn('olga', PASSWORD);
  const cookie = sessionOf(res);
  const home = await get('/', cookie);
  const csrf = hidden(home.text, 'csrf');
  const own = new URL(broker.url).origin;
  const id = (await grantRequest(broker, { appName: 'Api target' })).json.grant.id;
  const deny = (headers) => nodeCall(broker.url, 'POST', `/grants/${id}/deny`,
    { headers: { cookie, 'x-csrf-token': csrf, ...headers } });
  for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' },
    { origin: own, 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
    const refused = await deny(headers);
    assert.equal(refused.status, 403, JSON.stringify(headers));
    assert.match(refused.json.error, /^Refused/, JSON.stringify(headers));
  }
  const wrongCsrfForeign = await nodeCall(broker.url, 'POST', `/grants/${id}/deny`,
    { headers: { cookie, 'x-csrf-token': 'wrong', origin: 'https://evil.example' } });
  assert.match(wrongCsrfForeign.json.error, /^Refused: this request came from another origin/, 'the origin is looked at first');
  const patch = await nodeCall(broker.url, 'PATCH', `/grants/${id}`,
    { body: { maxRequests: 1 }, headers: { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' } });
  assert.equal(patch.status, 403);
  const ok = await deny({ origin: own, 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.status, 200, ok.text);
  // The owner token is no browser's: it needs no Origin, and a stray one does not matter.
  const id2 = (await grantRequest(broker, { appName: 'Token target' })).json.grant.id;
  const byToken = await nodeCall(broker.url, 'POST', `/grants/${id2}/deny`,
    { token: broker.ownerToken, headers: { origin: 'https://evil.example' } });
  assert.equal(byToken.status, 200);
  // App endpoints are not owner endpoints: a browser app on another origin still asks.
  const app = await nodeCall(broker.url, 'POST', '/grant-requests',
    { body: { appName: 'Browser app', appUrl: 'https://app.example', scope: SCOPES.openai }, headers: { origin: 'https://app.example' } });
  assert.equal(app.status, 201);
});

test('an attacker\'s failed sign-ins from one address do not lock the owner out of another; many addresses only slow each other', async () => {
  for (let i = 0; i < 30; i++) {
    const res = await signIn('erin', `wrong guess ${i}`, '127.0.0.2');
    assert.ok(res.status === 401 || res.status === 429, `${res.status}`);
  }
  for (let i = 0; i < 5; i++) assert.equal((await signIn('erin', `more guesses ${i}`, '127.0.0.7')).status, 401);
  const blocked = await signIn('erin', PASSWORD, '127.0.0.2');
  assert.equal(blocked.status, 429, 'the guessing address is refused, even with the right password');
  assert.ok(Number(blocked.headers['retry-after']) > 0);

  const started = Date.now();
  const owner = await signIn('erin', PASSWORD, '127.0.0.3');
  const took = Date.now() - started;
  assert.equal(owner.status, 303, owner.text);
  assert.ok(sessionOf(owner));
  assert.ok(took < 1000, `the owner signed in at once (${took} ms)`);

  // Another guessing address, with a failure of its own: its next try is slowed, never refused.
  assert.equal((await signIn('erin', 'wrong again', '127.0.0.4')).status, 401);
  const slowStart = Date.now();
  const slowed = await signIn('erin', 'and again', '127.0.0.4');
  assert.equal(slowed.status, 401);
  assert.ok(Date.now() - slowStart >= 900, `slowed by the account-wide count (${Date.now() - slowStart} ms)`);
});

test('guesses at the owner token from one address are slowed to one at a time; the right token still works', async () => {
  const asOwner = (token, from) => nodeCall(broker.url, 'GET', '/grants', { token, agent: agentFrom(from) });
  for (let i = 0; i < 20; i++) assert.equal((await asOwner(`apo_guess${i}`, '127.0.0.5')).status, 401);
  // Past 20 failures a burst sent together is checked one at a time: the others are refused at once.
  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => asOwner(`apo_burst${i}`, '127.0.0.5')));
  assert.deepEqual(burst.map((r) => r.status).sort(), [401, ...Array(9).fill(429)]);
  const refused = burst.find((r) => r.status === 429);
  assert.ok(Number(refused.headers['retry-after']) >= 1);
  assert.match(refused.json.error, /Too many wrong owner credentials/);

  const right = await asOwner(broker.ownerToken, '127.0.0.5');
  assert.equal(right.status, 200, 'the right token is slowed from the guessing address, never refused');
  const together = await Promise.all([asOwner('apo_more', '127.0.0.5'), asOwner(broker.ownerToken, '127.0.0.5')]);
  assert.equal(together.filter((r) => r.status === 429).length, 1, 'one slowed check at a time from that address');
  assert.equal((await asOwner(broker.ownerToken, '127.0.0.6')).status, 200, 'another address is not slowed');
});
