// What the OAuth tests share: an HTTPS broker with an owner and apps, a fetch that trusts only the
// test CA (for the client libraries), and the person's part over HTTP (sign in, review and decide on
// the consent screen, type a device code).
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { BIN, nodeCall, startBroker, startMock, tempDir, testCa, cliSync } from './harness.mjs';

// fetch for a client library, trusting only `ca`.
export function caFetchFor(ca) {
  return (url, init = {}) => new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    const req = https.request(url, { method: init.method ?? 'GET', headers, ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(new Response(Buffer.concat(chunks), {
        status: res.statusCode,
        headers: Object.entries(res.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]])),
      })));
    });
    req.on('error', reject);
    req.end(init.body === undefined ? undefined : String(init.body));
  });
}

export const hidden = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

// A person at the broker `base`, trusting `ca`.
export function person(base, ca) {
  const get = (path, cookie) => nodeCall(base, 'GET', path, { ca, headers: cookie ? { cookie } : {} });
  const post = (path, fields, cookie) => nodeCall(base, 'POST', path, { ca, raw: new URLSearchParams(fields).toString(),
    headers: { ...formHeaders, ...(cookie ? { cookie } : {}) } });
  return {
    // Signs in; returns the session cookie.
    async signIn(username, password) {
      const page = await get('/login');
      const csrfCookie = page.headers['set-cookie'][0].split(';')[0];
      const res = await post('/login', { csrf: hidden(page.text, 'csrf'), username, password }, csrfCookie);
      assert.equal(res.status, 303, res.text);
      return res.headers['set-cookie'].find((c) => c.startsWith('__Host-aipassport_session=')).split(';')[0];
    },
    // Opens the authorization URL, reviews, narrows to `models`, decides. Returns the URL the
    // broker sends the browser back to, or the answer when it does not.
    // `extra` adds or overrides form fields (budget, rate_limit, may_delegate).
    async consent(session, authorizationUrl, { models, decision = 'approve', lifetime = '86400', maxRequests = '',
      capabilities = ['chat'], extra = {} } = {}) {
      const start = await get(authorizationUrl.pathname + authorizationUrl.search, session);
      assert.equal(start.status, 303, start.text);
      const consentPath = start.headers.location;
      assert.match(consentPath, /^\/consent\//);
      const page = await get(consentPath, session);
      assert.match(page.text, /Notes asks for access/);
      const fields = new URLSearchParams({ csrf: hidden(page.text, 'csrf'), decision, lifetime, budget: '', max_requests: maxRequests,
        rate_limit: '', max_tokens_per_minute: '', max_concurrent: '', ...extra });
      for (const m of models ?? []) fields.append('model', m);
      for (const c of capabilities) fields.append('capability', c);
      const done = await post(consentPath, fields, session);
      if (done.status !== 303) return done;
      return new URL(done.headers.location);
    },
    // Types the device's code on /device and decides on the consent screen; returns where the
    // person ends up (without a decision: the consent screen's path, left undecided).
    async enterCode(session, userCode, decision) {
      const page = await get(`/device?user_code=${userCode}`, session);
      assert.equal(page.status, 200);
      const entered = await post('/device', { csrf: hidden(page.text, 'csrf'), user_code: userCode.toLowerCase() }, session);
      assert.equal(entered.status, 303, entered.text);
      const consentPage = await get(entered.headers.location, session);
      assert.match(consentPage.text, /Notes<\/bdi>\u201D asks for access/, 'the consent screen names the requesting app');
      assert.match(consentPage.text, /id="device"/, 'and says a device will hold the access');
      if (!decision) return entered.headers.location;
      const done = await post(entered.headers.location, { csrf: hidden(consentPage.text, 'csrf'), decision, lifetime: '3600',
        model: 'gpt-4o-mini', capability: 'chat' }, session);
      assert.equal(done.status, 303);
      return done.headers.location;
    },
  };
}

export const PASSWORD = 'correct horse battery staple';

// An HTTPS broker (certificate from a test CA made here) with an owner, erin, and the apps
// registered with `aipassport client add Notes` plus each entry's extra flags. Returns the CA, the
// certificate, the broker and each app as { client_id, secret } by the entry's name.
export async function oauthBroker(apps, env = {}) {
  const ca = testCa(tempDir());
  const cert = ca.makeCert('broker', 'IP:127.0.0.1');
  const dataDir = tempDir();
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n` });
  const registered = {};
  for (const [name, flags] of Object.entries(apps)) {
    const out = cliSync(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/callback',
      '--data-dir', dataDir, ...flags]).toString();
    registered[name] = { client_id: out.match(/client_id: (\S+)/)[1],
      secret: out.match(/client_secret \(shown once, keep it secret\): (\S+)/)?.[1] };
  }
  const broker = await startBroker({ mock: await startMock(), dataDir,
    env: { AIPASSPORT_TLS_CERT_FILE: cert.certFile, AIPASSPORT_TLS_KEY_FILE: cert.keyFile, ...env } });
  return { ca, cert, broker, apps: registered };
}
