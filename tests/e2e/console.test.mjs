// The owner's console as a person sees it, in Debian's Chromium with JavaScript turned off (every
// page must work without it): the home page's budget meter for a known spend, the grant's page
// (the same path still answers API clients with JSON), its chart's bars for known days, a rejected
// limits edit that keeps what was typed and says what is wrong next to the field, revoking through
// a confirmation of its own with a message that it worked, and a session that ended bringing the
// owner back to where they were; long lists paged (home, activity, a grant's calls and events), a
// long-lived grant's recent days charted, its token's last use, and a phone's call table that fits.
// Screenshots (desktop 1280x800, phone 390x844) go to build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
import { BIN, startBroker, startMock, call, tempDir, cliSync } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ERIN_KEY = 'sk-erin-own-openai-key-7Qx9';  // the only key the emulation accepts
const SHOTS = new URL('../../build/screenshots/', import.meta.url).pathname;
let broker, browser, grantId, secret, token, cspViolations = [];

const sql = (statement) =>
  execFileSync('sqlite3', [join(broker.dataDir, 'aipassport.db'), statement], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
// Activity rows name their grant and its owner by number (activity_ids): the statement that
// numbers the grant and its owner, and a row's grant_n, app_name and owner_n.
const numberGrantAndOwner = () => `INSERT OR IGNORE INTO activity_ids (id) SELECT id FROM grants WHERE id = '${grantId}'
  UNION SELECT owner_id FROM grants WHERE id = '${grantId}';`;
const grantAppOwner = (app) => `(SELECT n FROM activity_ids WHERE id = '${grantId}'), '${app}',
  (SELECT n FROM activity_ids WHERE id = grants.owner_id)`;
const admin = () => ({ token: broker.ownerToken });
const day = (daysAgo) => new Date(Date.now() - daysAgo * 86400e3).toISOString().slice(0, 10);

async function shoot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${name}: the page fits a phone's width (${overflow}px too wide)`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function newPage() {
  const page = await browser.newPage();
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  return page;
}

async function signIn(page, next) {
  await page.goto(`${broker.url}/login?next=${encodeURIComponent(next)}`);
  if (new URL(page.url()).pathname === next) return;
  await page.fill('#username', 'erin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL((u) => new URL(u).pathname === next), page.click('button[type=submit]')]);
}

// A chat call whose prompt is long enough (about 100,000 tokens of gpt-4o) to cost real cents.
const costlyChat = () => call(broker.url, 'POST', '/proxy/chat', {
  token, body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'word '.repeat(80000) }], max_tokens: 20 },
});

before(async () => {
  const dataDir = tempDir();
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  // Erin may not spend the environment's keys: her calls must go out with the key she adds on the Keys page.
  broker = await startBroker({ mock: await startMock(['--accept-key', ERIN_KEY]), dataDir,
    env: { AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH: '' } });
  browser = await launchChromium({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
  const req = await call(broker.url, 'POST', '/grant-requests', { body: {
    appName: 'Notes', appUrl: 'https://notes.example', reason: 'summaries',
    scope: { provider: 'openai', models: ['gpt-4o', 'gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 500, maxRequests: 10 },
  } });
  assert.equal(req.status, 201, req.text);
  grantId = req.json.grant.id;
  secret = req.json.requestSecret;
});

after(async () => {
  await browser?.close();
});

test('the Keys page names the providers without a key, refuses a bad label next to the field (never echoing the key), saves a good key and shows only its hint', async () => {
  const page = await newPage();
  await signIn(page, '/keys');
  assert.match(await page.textContent('#missing'), /No key yet for OpenAI, Anthropic and Google Gemini/);
  await page.selectOption('#provider', 'openai');
  await page.fill('#label', 'team/ops');
  await page.fill('#key', ERIN_KEY);
  await Promise.all([page.waitForLoadState(), page.click('#key-form button[type=submit]')]);
  assert.equal(await page.inputValue('#label'), 'team/ops', 'the label typed is kept');
  assert.match(await page.textContent('#label-error'), /letters, digits, spaces/);
  assert.equal(await page.inputValue('#key'), '', 'the key is never sent back');
  assert.match(await page.textContent('#key-error'), /type it again/);
  assert.ok(!(await page.content()).includes(ERIN_KEY.slice(0, 8)));
  await page.fill('#label', 'team');
  await page.fill('#key', ERIN_KEY);
  await Promise.all([page.waitForURL(/done=key-added/), page.click('#key-form button[type=submit]')]);
  assert.match(await page.textContent('#notice'), /Key saved/);
  const row = await page.textContent('#keys tbody tr');
  assert.match(row, /OpenAI\s*team\s*…7Qx9\s*no active grant\s*never/);
  const html = await page.content();
  for (let i = 0; i + 8 <= ERIN_KEY.length; i++) assert.ok(!html.includes(ERIN_KEY.slice(i, i + 8)), 'no run of 8 of the key');
  assert.equal(await page.getAttribute('#key', 'type'), 'password');
  assert.match(await page.textContent('#missing'), /No key yet for Anthropic and Google Gemini/);
  const api = await call(broker.url, 'GET', '/keys', admin());
  assert.ok(Array.isArray(api.json.keys), 'API clients still get JSON');
  await shoot(page, 'keys');
  await page.close();
});

test('in Chromium without JavaScript: erin approves on the consent screen; the home page shows the spend of the budget as a meter', async () => {
  const page = await newPage();
  await signIn(page, '/');
  assert.match(await page.textContent('#waiting'), /Unverified\s*Notes/);
  await Promise.all([page.waitForURL(/\/consent\//), page.click(`#waiting a[href="/consent/${grantId}"]`)]);
  await page.selectOption('#lifetime', '86400');
  await Promise.all([page.waitForURL(`${broker.url}/`), page.click('button[value=approve]')]);
  token = (await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: secret } })).json.token;
  for (let i = 0; i < 2; i++) assert.equal((await costlyChat()).status, 200);
  const usageAnswer = await call(broker.url, 'GET', `/grants/${grantId}/usage`, admin());
  assert.match(usageAnswer.text, /"audioSeconds":0,/, 'a whole number of seconds is written as one, not 0E0');
  const usage = usageAnswer.json;
  const spent = usage.totals.costMicros;
  for (let i = 0; i < 50; i++) {  // the record is written in batches, visible within 5 s
    if ((await call(broker.url, 'GET', `/grants/${grantId}/activity`, admin())).json.items.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(spent > 100000, `the calls cost more than ten cents (${spent} micro-USD)`);

  await page.goto(`${broker.url}/`);
  const card = page.locator(`#grant-${grantId}`);
  const meter = card.locator('meter.budget');
  assert.equal(Number(await meter.getAttribute('value')), Number((spent / 5e6).toFixed(4)), 'value = spent / budget');
  assert.equal(await meter.getAttribute('max'), '1');
  const dollars = `$${(Math.round(spent / 1e4) / 100).toFixed(2)}`;
  const text = await card.textContent();
  assert.ok(text.includes(`${dollars} of $5.00`), text);
  assert.match(text, /2 of 10 requests/);
  assert.match(text, /Last used\s*just now/);
  assert.match(text, /Expires\s*in (1 day|23 hours)/);
  assert.match(text, /notes\.example/);
  // The stylesheet loaded (the CSP lets it) and Revoke looks like danger, not like the others.
  const revokeColour = await card.locator('a.danger-link').evaluate((e) => getComputedStyle(e).color);
  const detailsColour = await card.locator('a.button:not(.danger-link)').evaluate((e) => getComputedStyle(e).color);
  assert.notEqual(revokeColour, detailsColour, 'Revoke stands out');
  await shoot(page, 'home');
  await page.close();
});

test('the grant\'s page for a browser, JSON for API clients on the same path; the charts have a bar per known day and model', async () => {
  sql(`INSERT INTO usage (grant_id, day, model, requests, input_tokens, output_tokens, cost_micros)
       VALUES ('${grantId}', '${day(3)}', 'gpt-4o-mini', 7, 1200, 300, 420000)`);
  const api = await call(broker.url, 'GET', `/grants/${grantId}`, admin());
  assert.equal(api.status, 200);
  assert.equal(api.json.id, grantId, 'API clients still get the grant as JSON');
  assert.equal(api.json.scope.maxBudgetCents, 500);

  const page = await newPage();
  await signIn(page, `/grants/${grantId}`);
  const body = await page.textContent('main');
  assert.match(body, /What it may do/);
  assert.match(body, /gpt-4o and gpt-4o-mini/);
  assert.ok(!/Home page:\s*\(\)/.test(body));
  const bars = page.locator('#spend-chart rect.bar');
  const titles = await bars.locator('title').allTextContents();
  assert.equal(await bars.count(), 2, titles.join(' | '));
  assert.ok(titles.includes(`${day(3)} gpt-4o-mini $0.42`), titles.join(' | '));
  const spent = (await call(broker.url, 'GET', `/grants/${grantId}/usage`, admin())).json.byDayAndModel
    .find((r) => r.day === day(0) && r.model === 'gpt-4o');
  assert.ok(titles.includes(`${day(0)} gpt-4o $${(Math.round(spent.costMicros / 1e4) / 100).toFixed(2)}`), titles.join(' | '));
  const tokenTitles = await page.locator('#token-chart rect.bar title').allTextContents();
  assert.ok(tokenTitles.includes(`${day(3)} gpt-4o-mini 1,500`), tokenTitles.join(' | '));
  assert.match(await page.textContent('#spend-chart svg title'), /Spend per day, by model \(US dollars\)/);
  assert.equal(await page.locator('table.calls tbody tr').count(), 2, 'its two calls');
  await shoot(page, 'grant');
  await page.close();
});

test('a rejected limits edit keeps what was typed and says what is wrong next to the field; a good one is saved', async () => {
  const page = await newPage();
  await signIn(page, `/grants/${grantId}`);
  await page.fill('#budget', 'twelve');
  await page.fill('#max_requests', '25');
  await page.fill('#rate_limit', '6');
  await Promise.all([page.waitForLoadState(), page.click('#limits-form button[type=submit]')]);
  assert.equal(await page.inputValue('#budget'), 'twelve', 'what was typed is kept');
  assert.equal(await page.inputValue('#max_requests'), '25');
  assert.equal(await page.inputValue('#rate_limit'), '6');
  assert.match(await page.textContent('#budget-error'), /amount in dollars/);
  assert.equal(await page.getAttribute('#budget', 'aria-invalid'), 'true');
  assert.equal(await page.locator('#max_requests-error').count(), 0, 'the good fields are not marked');
  await shoot(page, 'limits-error');
  let grant = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json;
  assert.equal(grant.scope.maxRequests, 10, 'nothing was changed');

  await page.fill('#budget', '12.50');
  await page.selectOption('#ends', '3600');
  await Promise.all([page.waitForURL(/done=limits/), page.click('#limits-form button[type=submit]')]);
  assert.match(await page.textContent('#notice'), /Saved/);
  grant = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json;
  assert.deepEqual([grant.scope.maxBudgetCents, grant.scope.maxRequests, grant.scope.rateLimit], [1250, 25, 6]);
  assert.equal(await page.inputValue('#budget'), '12.50');
  assert.match(await page.textContent('#grant-facts'), /Ends\s*in (1 hour|59 minutes)/, 'the lifetime was shortened to an hour');
  await page.close();
});

// The page was opened, then the budget changed elsewhere (another tab, the API); saving the page
// with only the rate limit typed over leaves the newer budget, not the one the page showed.
test('a limits edit writes only the limits typed over: one changed elsewhere since the page was opened keeps its new value', async () => {
  const page = await newPage();
  await signIn(page, `/grants/${grantId}`);
  const before = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json.scope;
  assert.equal(await page.inputValue('#budget'), (before.maxBudgetCents / 100).toFixed(2));
  const lowered = await call(broker.url, 'PATCH', `/grants/${grantId}`, { ...admin(), body: { maxBudgetCents: 300 } });
  assert.equal(lowered.status, 200, lowered.text);
  await page.fill('#rate_limit', '7');
  await Promise.all([page.waitForURL(/done=limits/), page.click('#limits-form button[type=submit]')]);
  const after = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json.scope;
  assert.deepEqual([after.maxBudgetCents, after.maxRequests, after.rateLimit], [300, before.maxRequests, 7],
    'the lowered budget stands');
  assert.equal(await page.inputValue('#budget'), '3.00', 'the page now shows it');
  await page.close();
});

test('Revoke asks first on a page of its own, then says it took effect; the app is refused at once', async () => {
  const page = await newPage();
  await signIn(page, '/');
  await Promise.all([page.waitForURL(/\/revoke$/), page.click(`#grant-${grantId} a.danger-link`)]);
  assert.match(await page.textContent('h1'), /Revoke Notes\?/);
  assert.match(await page.textContent('#revoke-warning'), /very next call/);
  let grant = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json;
  assert.equal(grant.status, 'approved', 'opening the confirmation changes nothing');
  await shoot(page, 'revoke-confirm');
  await Promise.all([page.waitForURL(/done=revoked/), page.click('#revoke-form button[value=yes]')]);
  assert.match(await page.textContent('#notice'), /Revoked\. Its tokens stopped working/);
  grant = (await call(broker.url, 'GET', `/grants/${grantId}`, admin())).json;
  assert.equal(grant.status, 'revoked');
  assert.equal((await costlyChat()).status, 401);
  await page.goto(`${broker.url}/`);
  assert.match(await page.textContent('#finished'), /Notes\s*revoked\s*revoked on \d{4}-\d\d-\d\d/);
  await page.close();
});

test('a session that ended sends the owner to sign in again, says so, and brings them back to the page', async () => {
  const page = await newPage();
  await signIn(page, '/');
  const url = new URL(broker.url);
  await browser.addCookies([{ name: 'aipassport_session', value: 'ended-long-ago', domain: url.hostname, path: '/' }]);
  await page.goto(`${broker.url}/grants/${grantId}`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.match(await page.textContent('main'), /Your session ended\. Sign in again/);
  await page.fill('#username', 'erin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL((u) => new URL(u).pathname === `/grants/${grantId}`), page.click('button[type=submit]')]);
  assert.match(await page.textContent('h1'), /Notes/);
  await page.close();
});

test('the Activity page: spend over the period stacked by app or by model, top apps and models, the filtered call log and its downloads', async () => {
  const page = await newPage();
  await signIn(page, '/activity');
  const calls = (await call(broker.url, 'GET', `/grants/${grantId}/activity`, admin())).json.items;
  const ok = calls.filter((c) => c.status === 200);
  assert.equal(ok.length, 2);
  const cost = `$${(Math.round(ok.reduce((s, c) => s + c.costMicros, 0) / 1e4) / 100).toFixed(2)}`;
  let titles = await page.locator('#activity-chart rect.bar title').allTextContents();
  assert.deepEqual(titles, [`${day(0)} Notes ${cost}`]);
  await page.selectOption('#by', 'model');
  await page.fill('#status', '200');
  await Promise.all([page.waitForURL(/by=model/), page.click('#filters button[type=submit]')]);
  titles = await page.locator('#activity-chart rect.bar title').allTextContents();
  assert.deepEqual(titles, [`${day(0)} gpt-4o ${cost}`]);
  assert.match(await page.textContent('#top-apps'), new RegExp(`Notes\\s*2\\s*\\${cost}`));
  assert.match(await page.textContent('#top-models'), /gpt-4o/);
  assert.equal(await page.locator('table.calls tbody tr').count(), 2, 'status=200 leaves out the refused call');
  await page.selectOption('#range', '24h');
  await Promise.all([page.waitForURL(/range=24h/), page.click('#filters button[type=submit]')]);
  assert.equal(await page.locator('#activity-chart rect.bar').count(), 1);
  assert.equal(await page.locator('#activity-chart text.column').first().textContent(), new Date(Date.now() - 23 * 3600e3).toISOString().slice(11, 14) + '00');
  const csvHref = await page.getAttribute('a[href^="/console/activity.csv"]', 'href');
  const csv = await page.request.get(broker.url + csvHref);
  assert.equal(csv.status(), 200);
  const lines = (await csv.text()).trim().split('\r\n');
  assert.match(lines[0], /^at,grantId,appName/);
  assert.equal(lines.length, 3, 'a header and the two answered calls');
  const jsonl = await page.request.get(broker.url + (await page.getAttribute('a[href^="/console/activity.jsonl"]', 'href')));
  const rows = (await jsonl.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => r.status), [200, 200]);
  const stranger = await call(broker.url, 'GET', csvHref);
  assert.ok(!stranger.text.includes('grantId') && /Sign in/.test(stranger.text), 'no download without signing in');
  assert.equal((await call(broker.url, 'GET', '/activity', admin())).json.items.length >= 2, true, 'the JSON API is unchanged');
  await shoot(page, 'activity');
  await page.close();
});

test('a refused consent edit keeps what was typed and ticked, with the problem next to the field', async () => {
  const req = await call(broker.url, 'POST', '/grant-requests', { body: {
    appName: 'Drafts', appUrl: 'https://drafts.example',
    scope: { provider: 'openai', models: ['gpt-4o', 'gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 300 },
  } });
  const id = req.json.grant.id;
  const page = await newPage();
  await signIn(page, `/consent/${id}`);
  const look = (sel) => page.locator(sel).evaluate((e) => { const c = getComputedStyle(e); return `${c.backgroundColor} ${c.color}`; });
  assert.notEqual(await look('button[value=approve]'), await look('button[value=deny]'), 'Approve and Deny look different');
  await page.uncheck('input[name=model][value="gpt-4o"]');
  await page.fill('#budget', '9.00');
  await page.fill('#rate_limit', '5');
  await Promise.all([page.waitForLoadState(), page.click('button[value=approve]')]);
  assert.match(await page.textContent('#budget-error'), /can only be lowered/);
  assert.equal(await page.getAttribute('#budget', 'aria-invalid'), 'true');
  assert.equal(await page.inputValue('#budget'), '9.00');
  assert.equal(await page.inputValue('#rate_limit'), '5');
  assert.equal(await page.isChecked('input[name=model][value="gpt-4o"]'), false, 'the unticked model stays unticked');
  assert.equal(await page.isChecked('input[name=model][value="gpt-4o-mini"]'), true);
  assert.equal((await call(broker.url, 'GET', `/grants/${id}`, admin())).json.status, 'pending');
  for (const [typed, said] of [['-1', /must be an amount like 5\.00, at least 0/], ['9999999999999999999999', /is too large/]]) {
    await page.fill('#budget', typed);
    await Promise.all([page.waitForLoadState(), page.click('button[value=approve]')]);
    assert.match(await page.textContent('#budget-error'), said);
  }
  await page.fill('#budget', '9.00');
  await Promise.all([page.waitForLoadState(), page.click('button[value=approve]')]);
  await shoot(page, 'consent-error');
  await page.close();
});

test('the Audit page lists what happened, filterable by kind; removing a key from the Keys page is recorded', async () => {
  const page = await newPage();
  await signIn(page, '/keys');
  await Promise.all([page.waitForURL(/done=key-removed/), page.click('#keys button.danger')]);
  assert.match(await page.textContent('#notice'), /Key removed/);
  assert.match(await page.textContent('#missing'), /No key yet for OpenAI, Anthropic and Google Gemini/);
  await page.goto(`${broker.url}/audit`);
  const kinds = await page.locator('#audit tbody td:nth-child(3)').allTextContents();
  for (const k of ['key.added', 'grant.approved', 'grant.limits_changed', 'grant.revoked', 'key.removed'])
    assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  await page.fill('#kind', 'grant.revoked');
  await Promise.all([page.waitForURL(/kind=grant.revoked/), page.click('#audit-filters button[type=submit]')]);
  assert.deepEqual(await page.locator('#audit tbody td:nth-child(3)').allTextContents(), ['grant.revoked']);
  await shoot(page, 'audit');
  await page.close();
});

test('the Apps page: edit an app (a bad redirect URI is refused and the typed fields kept), then remove it', async () => {
  const page = await newPage();
  await signIn(page, '/apps');
  await page.fill('#name', 'Journal');
  await page.fill('#redirect_uris', 'https://journal.example/cb');
  await Promise.all([page.waitForLoadState(), page.click('form[action="/apps"] button[type=submit]')]);
  const clientId = await page.textContent('#client_id');
  await Promise.all([page.waitForURL(/\/edit$/), page.click(`a[href="/apps/${clientId}/edit"]`)]);
  assert.equal(await page.inputValue('#name'), 'Journal');
  await page.fill('#name', 'Journal Pro');
  await page.fill('#redirect_uris', 'http://journal.example/cb');
  await Promise.all([page.waitForLoadState(), page.click('#app-form button[type=submit]')]);
  assert.match(await page.textContent('#app-error'), /Not saved/);
  assert.equal(await page.inputValue('#name'), 'Journal Pro', 'what was typed is kept');
  assert.equal(await page.inputValue('#redirect_uris'), 'http://journal.example/cb');
  await page.fill('#redirect_uris', 'https://journal.example/callback');
  assert.equal(await page.isChecked('#device_grant'), false, 'the device flow is off unless ticked');
  await page.check('#device_grant');
  await Promise.all([page.waitForLoadState(), page.click('#app-form button[type=submit]')]);
  assert.match(await page.textContent('#notice'), /Saved Journal Pro/);
  assert.match(await page.textContent('#apps'), /Journal Pro.*device flow/);
  await Promise.all([page.waitForURL(/\/edit$/), page.click(`a[href="/apps/${clientId}/edit"]`)]);
  assert.equal(await page.inputValue('#redirect_uris'), 'https://journal.example/callback');
  assert.equal(await page.isChecked('#device_grant'), true);
  await Promise.all([page.waitForLoadState(), page.click('#remove-app button')]);
  assert.match(await page.textContent('#notice'), /Removed/);
  assert.ok(!(await page.textContent('main')).includes('Journal'));
  await page.close();
});

test('a long-lived grant\'s page charts its recent days (not its first ones), pages its calls and events, and shows its token\'s last use', async () => {
  // 6,000 day-and-model rows from a year ago, more than a page once read (oldest first) before any recent day.
  sql(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 5999)
       INSERT INTO usage (grant_id, day, model, requests, input_tokens, output_tokens, cost_micros)
       SELECT '${grantId}', date('now', '-' || (400 + i / 20) || ' days'), 'old-model-' || (i % 20), 1, 10, 10, 1000 FROM n`);
  sql(`INSERT INTO usage (grant_id, day, model, requests, input_tokens, output_tokens, cost_micros)
       VALUES ('${grantId}', '${day(1)}', 'gpt-4o-mini', 3, 900, 100, 370000),
              ('${grantId}', '${day(60)}', 'gpt-4o-mini', 1, 10, 10, 250000)`);
  // 30 calls and 25 events from a hundred days ago, older than the two real calls.
  const old = Date.now() - 100 * 86400e3;
  sql(`${numberGrantAndOwner()}
       WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 29)
       INSERT INTO activity (at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens,
         output_tokens, cached_input_tokens, cost_micros, latency_ms, streamed, refusal)
       SELECT ${old} + i * 1000, ${grantAppOwner('Notes')}, 'openai', 'old-call-' || i, 'chat', 200, 1, 1, 0, 1, 5, 0, ''
       FROM n, grants WHERE grants.id = '${grantId}'`);
  sql(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 24)
       INSERT INTO events (grant_id, at, kind, detail) SELECT '${grantId}', ${Math.floor(old / 1000)} + i, 'budget_threshold',
       '{"percent":' || i || '}' FROM n`);

  const page = await newPage();
  await signIn(page, `/grants/${grantId}`);
  const titles = await page.locator('#spend-chart rect.bar title').allTextContents();
  assert.ok(titles.includes(`${day(1)} gpt-4o-mini $0.37`), titles.join(' | '));
  assert.ok(!titles.some((t) => t.includes('old-model')), 'a year-old day is not in the last 30 days');
  assert.equal(await page.locator('#chart-cut').count(), 0, 'nothing was cut from these days');
  assert.match(await page.textContent('#days'), /Last 30 days/);
  assert.ok(!titles.some((t) => t.startsWith(day(60))));
  await Promise.all([page.waitForURL(/days=90/), page.click('a[href*="days=90"]')]);
  const ninety = await page.locator('#spend-chart rect.bar title').allTextContents();
  assert.ok(ninety.includes(`${day(60)} gpt-4o-mini $0.25`), ninety.join(' | '));

  // The newest calls first (the two real ones), then older pages.
  const calls = page.locator('table.calls tbody tr');
  assert.equal(await calls.count(), 20);
  assert.match(await calls.first().textContent(), /^just now/, 'its latest call first, not its first one');
  await Promise.all([page.waitForURL(/calls=/), page.click('#call-pages a[rel=next]')]);
  assert.match(await page.textContent('h2#calls'), /Older calls/);
  const older = await page.locator('table.calls tbody td[data-label=Model]').allTextContents();
  const total = (await call(broker.url, 'GET', `/grants/${grantId}/activity?limit=200`, admin())).json.items.length;
  assert.equal(older.length, total - 20, `the rest of its ${total} calls`);
  assert.equal(older.at(-1), 'old-call-0', 'down to its very first call');
  assert.ok(new URL(page.url()).search.includes('days=90'), 'the chart\'s choice is kept');
  await Promise.all([page.waitForURL((u) => !new URL(u).search.includes('calls=')), page.click('#call-pages a:not([rel])')]);
  assert.equal(await calls.count(), 20);

  // Its newest events, then the older ones.
  const events = page.locator('#events li');
  assert.equal(await events.count(), 20);
  assert.match(await events.first().textContent(), /24% of the budget spent/);
  await Promise.all([page.waitForURL(/events=/), page.click('#event-pages a[rel=next]')]);
  assert.equal(await events.count(), 5);
  assert.match(await events.last().textContent(), /0% of the budget spent/);

  // The access token the app called with: its jti's start, when it was issued, its last use and its calls.
  const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti;
  const row = await page.textContent('#tokens-table tbody tr');
  assert.ok(row.includes(jti.slice(0, 8)), row);
  assert.ok(!(await page.content()).includes(token.split('.')[2].slice(0, 12)), 'never the token itself');
  const realCalls = (await call(broker.url, 'GET', `/grants/${grantId}/activity?limit=200`, admin())).json.items
    .filter((c) => !(c.model ?? '').startsWith('old-call-')).length;
  const cell = (label) => page.textContent(`#tokens-table tbody tr:first-child td[data-label="${label}"]`);
  assert.match(await cell('Last used'), /^(just now|\d+ minutes? ago)$/);
  assert.match(await cell('Issued'), /^(just now|\d+ minutes? ago)$/);
  assert.match(await cell('Expires'), /^in \d+ minutes$/);
  assert.equal(await cell('Calls'), String(realCalls), 'each of its calls, the refused one after Revoke included');
  await page.close();
});

test('on a phone the recent calls fit the screen: each call is a card, every cell readable', async () => {
  const page = await newPage();
  await signIn(page, `/grants/${grantId}`);
  await page.setViewportSize({ width: 390, height: 844 });
  const fit = await page.locator('table.calls').evaluate((t) => ({
    table: t.scrollWidth, box: t.parentElement.clientWidth, right: t.getBoundingClientRect().right, view: window.innerWidth,
    cost: [...t.querySelectorAll('td[data-label=Cost]')].every((c) => c.getBoundingClientRect().right <= window.innerWidth),
  }));
  assert.ok(fit.table <= fit.box, `the table fits its container (${fit.table} > ${fit.box})`);
  assert.ok(fit.right <= fit.view, `the table ends within the screen (${fit.right} > ${fit.view})`);
  assert.ok(fit.cost, 'every call\'s cost is on the screen, not scrolled away');
  const label = await page.locator('table.calls td[data-label=Cost]').first()
    .evaluate((c) => getComputedStyle(c, '::before').content);
  assert.equal(label, '"Cost"', 'each cell says what it is');
  await shoot(page, 'grant-calls');
  await page.close();
});

test('the home page pages its grants: a known grant is on the second page, reached by Older and left by Newer', async () => {
  // 100 newer finished grants fill the first page (100 grants to a page).
  sql(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
       INSERT INTO grants (id, request_id, app_name, app_url, reason, scope_json, status, created_at, denied_at,
         request_secret_hash, owner_id, verified)
       SELECT 'filler-' || i, g.request_id, 'Filler ' || i, '', '', g.scope_json, 'denied', strftime('%s', 'now') + 60 + i,
         strftime('%s', 'now'), g.request_secret_hash, g.owner_id, 1 FROM n, grants g WHERE g.id = '${grantId}'`);
  const page = await newPage();
  await signIn(page, '/');
  assert.match(await page.textContent('#finished summary'), /100 finished grants on this page/);
  assert.ok(!(await page.textContent('main')).includes('Notes'), 'the known grant is not on the first page');
  assert.equal(await page.locator('#grant-pages a').count(), 1, 'only Older on the newest page');
  await Promise.all([page.waitForURL(/older=/), page.click('#grant-pages a[rel=next]')]);
  assert.match(await page.textContent('#finished'), /Notes\s*revoked\s*revoked on \d{4}-\d\d-\d\d/);
  assert.match(await page.textContent('#waiting'), /Drafts/, 'the waiting request on this page is listed first');
  assert.match(await page.textContent('#page-note'), /100 to a page/);
  await shoot(page, 'home-page-2');
  await Promise.all([page.waitForURL(/newer=/), page.click('#grant-pages a[rel=prev]')]);
  assert.match(await page.textContent('#finished'), /Filler 100.*Filler 1\b/s);
  assert.ok(!(await page.textContent('main')).includes('Notes'));
  const bad = await page.goto(`${broker.url}/?older=not-a-cursor`);
  assert.equal(bad.status(), 400);
  assert.match(await page.textContent('main'), /This page link is not valid \(it was cut or changed\)/);
  for (const limit of ['0', '501', 'ten']) {
    const outOfRange = await page.goto(`${broker.url}/?limit=${limit}`);
    assert.equal(outOfRange.status(), 400, `limit=${limit}`);
    assert.match(await page.textContent('main'), /its limit must be a whole number from 1 to 500/, `limit=${limit}`);
  }
  await page.close();
});

test('the Activity page pages its call log: Older, then Newer back to the same calls', async () => {
  const at = Date.now() - 3600e3;
  sql(`${numberGrantAndOwner()}
       WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 119)
       INSERT INTO activity (at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens,
         output_tokens, cached_input_tokens, cost_micros, latency_ms, streamed, refusal)
       SELECT ${at} + i * 1000, ${grantAppOwner('Notes')}, 'openai', 'paged-model', 'chat', 200, 1, 1, 0, 1, i, 0, ''
       FROM n, grants WHERE grants.id = '${grantId}'`);
  const page = await newPage();
  await signIn(page, '/activity');
  await page.fill('#model', 'paged-model');
  await Promise.all([page.waitForURL(/model=paged-model/), page.click('#filters button[type=submit]')]);
  const times = () => page.locator('table.calls tbody td[data-label=Time]').allTextContents();
  const first = await times();
  assert.equal(first.length, 100);
  assert.equal(first[0], '119 ms', 'the newest call first');
  await Promise.all([page.waitForURL(/cursor=/), page.click('#call-pages a[rel=next]')]);
  const second = await times();
  assert.equal(second.length, 20);
  assert.equal(second.at(-1), '0 ms', 'down to the oldest call');
  assert.equal(await page.locator('#call-pages a[rel=next]').count(), 0, 'no Older link past the last call');
  await Promise.all([page.waitForURL(/newer=/), page.click('#call-pages a[rel=prev]')]);
  assert.deepEqual(await times(), first, 'Newer leads back to the same hundred calls');
  assert.equal(await page.locator('#call-pages a[rel=prev]').count(), 0, 'no Newer link on the newest calls');
  await page.close();
});

test('the stylesheet is one cached file and no page broke the Content Security Policy', async () => {
  const css = await call(broker.url, 'GET', '/static/console.css');
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.match(css.headers.get('cache-control'), /max-age=31536000/);
  assert.deepEqual(cspViolations, []);
});
