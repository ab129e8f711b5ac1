// A person in a real browser (Debian's Chromium, driven by playwright-core): signs in, reads the
// consent screen, narrows the request, approves; the app then redeems the code with an independent
// OAuth client and its token carries exactly the narrowed grant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execSync } from 'node:child_process';
import { launchChromium, clickApprove } from './chromium.mjs';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { nodeCall } from './harness.mjs';
import { caFetchFor, oauthBroker, PASSWORD } from './oauth_person.mjs';

let ca, broker, as, client, browser, callback, callbackUrl, spki;
const arrivals = [];

const options = { [oauth.customFetch]: (...args) => caFetchFor(ca.ca)(...args) };

before(async () => {
  let cert, apps;
  ({ ca, cert, broker, apps } = await oauthBroker({ notes: ['--home-url', 'https://notes.example'] }));
  client = { client_id: apps.notes.client_id };
  // The browser trusts exactly this certificate's key, nothing else it would not trust anyway.
  spki = execSync(`openssl x509 -in ${cert.certFile} -pubkey -noout | openssl pkey -pubin -outform der | ` +
    'openssl dgst -sha256 -binary | base64').toString().trim();
  const issuer = new URL(broker.url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }));
  // The app's redirect target: a native app's loopback listener on a port of its choosing.
  callback = http.createServer((req, res) => {
    const url = new URL(req.url, callbackUrl);
    if (url.pathname === '/callback') arrivals.push(url);  // not the browser's /favicon.ico
    res.end('You can close this window.');
  });
  await new Promise((r) => callback.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${callback.address().port}/callback`;
  browser = await launchChromium({ args: [`--ignore-certificate-errors-spki-list=${spki}`] });
});

after(async () => {
  await browser?.close();
  callback?.close();
});

// The app's authorization request (PKCE with `verifier`), asking for `ask` (authorization_details or scope).
async function authorizationUrl(ask, { state = oauth.generateRandomState(), verifier = oauth.generateRandomCodeVerifier() } = {}) {
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: client.client_id, redirect_uri: callbackUrl, response_type: 'code', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...ask,
  })) url.searchParams.set(k, v);
  return url;
}

test('in a browser: sign in, narrow the request on the consent screen, approve; the token carries the narrowed grant', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = await authorizationUrl({
    authorization_details: JSON.stringify([{ type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'],
      capabilities: ['chat'], max_budget_cents: 500, reason: 'meeting <b>notes</b>', lifetime_seconds: 604800 }]),
  }, { state, verifier });

  const page = await browser.newPage();
  await page.goto(url.href);
  assert.match(new URL(page.url()).pathname, /^\/login/, 'a stranger signs in first');
  await page.fill('#username', 'erin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/consent\//), page.click('button[type=submit]')]);

  const text = await page.textContent('body');
  assert.match(text, /Notes asks for access/);
  assert.match(text, /may use gpt-4o-mini and gpt-4o for chat, up to \$5\.00, for 7 days\./);
  assert.match(text, /meeting <b>notes<\/b>/, 'the reason is shown as text, not markup');
  assert.equal(await page.locator('b', { hasText: 'notes' }).count(), 0);

  await page.uncheck('input[name=model][value="gpt-4o"]');
  await page.fill('#budget', '1.50');
  await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/), clickApprove(page)]);
  assert.equal(arrivals.length, 1);
  assert.equal(await page.textContent('body'), 'You can close this window.');

  const params = oauth.validateAuthResponse(as, client, arrivals[0], state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, callbackUrl, verifier, options);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  const granted = tokens.authorization_details[0];
  assert.deepEqual(granted.models, ['gpt-4o-mini']);
  assert.equal(granted.max_budget_cents, 150);
  assert.equal(granted.lifetime_seconds, 604800);

  const jwks = jose.createLocalJWKSet((await nodeCall(broker.url, 'GET', '/.well-known/jwks.json', { ca: ca.ca })).json);
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: broker.url, audience: 'aipassport' });
  assert.equal(payload.client_id, client.client_id);
  const passport = await nodeCall(broker.url, 'GET', '/v1/passport', { ca: ca.ca, token: tokens.access_token });
  assert.deepEqual(passport.json.scope.models, ['gpt-4o-mini']);
  assert.equal(passport.json.budget.limitMicros, 1_500_000);
  const chat = (model) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token: tokens.access_token,
    body: { model, messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal((await chat('gpt-4o-mini')).status, 200);
  assert.equal((await chat('gpt-4o')).status, 403);
});

test('in a browser: Approve counts only once its window has been in front a moment and the person moved (double-clickjacking)', async () => {
  // Another site asks for a double-click, sends its opener here behind its own window, and closes
  // that on the first click, so that the second lands on Approve. Headless Chromium keeps every
  // window focused, so the window's losing and regaining the focus is played by its events.
  const url = await authorizationUrl({ scope: 'openai:chat' });
  const page = await browser.newPage();
  await page.goto(url.href);
  if (new URL(page.url()).pathname.startsWith('/login')) {
    await page.fill('#username', 'erin');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/consent\//), page.click('button[type=submit]')]);
  }
  const consentUrl = page.url();
  const served = await nodeCall(broker.url, 'GET', new URL(consentUrl).pathname, { ca: ca.ca,
    headers: { cookie: (await browser.cookies(broker.url)).map((c) => `${c.name}=${c.value}`).join('; ') } });
  assert.match(served.text, /<button type="submit" name="decision" value="approve">Approve<\/button>/,
    'enabled as sent: a browser without scripts still approves');
  assert.match(served.headers['content-security-policy'], /script-src 'sha256-[A-Za-z0-9+/]+=*';/,
    'the one script the page runs, by its hash');
  const approve = 'button[value=approve]';
  assert.equal(await page.getAttribute(approve, 'aria-disabled'), 'true', 'held from the start');
  const moment = () => new Promise((resolve) => setTimeout(resolve, 800));
  // Each step runs in one turn of the page's script, so no timer fires inside it.
  const step = (events) => page.evaluate(([selector, events]) => {
    const button = document.querySelector(selector);
    for (const e of events) {
      if (e === 'blur' || e === 'focus') window.dispatchEvent(new Event(e));
      else if (e === 'click') button.click();
      else document.dispatchEvent(new PointerEvent(e.split(':')[0], { pointerType: e.split(':')[1] }));
    }
    return { held: button.getAttribute('aria-disabled'), hint: document.getElementById('approve-hint')?.textContent };
  }, [approve, events]);
  // The other site's window comes in front, and closes on the first click; the second lands here.
  const attack = await step(['blur', 'focus', 'pointermove:mouse', 'pointerdown:mouse', 'click']);
  assert.equal(attack.held, 'true');
  assert.match(attack.hint ?? '', /Not approved yet: this window has only just come to the front/);
  await moment();
  const again = await step(['pointerdown:mouse', 'click']);
  assert.equal(again.held, 'true', 'a press starts the moment over: a quick run of clicks never approves');
  assert.match(again.hint ?? '', /only just come to the front/);
  await moment();
  assert.equal((await step(['pointerdown:touch'])).held, null, 'a finger on a phone, after the moment, arms it');
  assert.equal((await step(['blur', 'focus'])).held, 'true', 'the focus lost, it starts over');
  assert.equal(page.url(), consentUrl, 'nothing was approved');
  await moment();
  // A screen reader's or voice control's click moves nothing: after the moment it arms Approve
  // and says to press again; the second press approves.
  const spoken = await step(['click']);
  assert.equal(spoken.held, null);
  assert.match(spoken.hint ?? '', /Press Approve again to approve/);
  const before = arrivals.length;
  await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/), step(['click']).catch(() => {})]);
  assert.equal(arrivals.length, before + 1);
  await page.close();
});

test('on a phone: a tap after reading approves, though a finger sends no pointer move first', async () => {
  const phone = await launchChromium({ hasTouch: true, isMobile: true, viewport: { width: 390, height: 844 },
    args: [`--ignore-certificate-errors-spki-list=${spki}`] });
  try {
    const url = await authorizationUrl({ scope: 'openai:chat' });
    const page = await phone.newPage();
    await page.goto(url.href);
    await page.fill('#username', 'erin');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/consent\//), page.tap('button[type=submit]')]);
    const approve = 'button[value=approve]';
    assert.equal(await page.getAttribute(approve, 'aria-disabled'), 'true', 'held as the page comes up');
    await page.locator(approve).scrollIntoViewIfNeeded();
    await page.waitForTimeout(700);  // the person reads (quick taps before this: browser test above)
    const before = arrivals.length;
    // Forced: Playwright waits for a button marked aria-disabled, and the tap itself is what arms it.
    await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/), page.tap(approve, { force: true })]);
    assert.equal(arrivals.length, before + 1);
  } finally {
    await phone.close();
  }
});
