// Lists that stay small: GET /grants pages (limit, Link rel="next", a cursor walk that sees each
// grant exactly once while new grants arrive, 400 for a bad limit or cursor), a signed-in owner's
// pages hold only what they may manage while the owner token sees all; the usage and events lists
// page too. And numbers that mean what they say: `requests.inFlight` counts calls being answered,
// `leased` what brokers took ahead (not calls), and `audioSeconds` is a plain JSON number.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, startBroker, startMock, call, tempDir, SCOPES, chatBody, cliSync, eventually } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ROOMY = { AIPASSPORT_GRANT_REQUESTS_PER_ADDRESS_PER_MINUTE: '100000', AIPASSPORT_GRANT_REQUESTS_MAX_WAITING: '100000' };
const sql = (dataDir, statement) =>
  execFileSync('sqlite3', [join(dataDir, 'aipassport.db'), statement], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.stop(); });

async function request(b, appName = 'Lister') {
  const res = await call(b.url, 'POST', '/grant-requests', { body: { appName, appUrl: 'https://lister.example', scope: SCOPES.openai } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

// The `next` target of an RFC 8288 Link header, or null.
function nextOf(res) {
  const link = res.headers.get('link');
  if (!link) return null;
  const m = link.match(/^<([^>]+)>;\s*rel="next"$/);
  assert.ok(m, `a Link with rel="next": ${link}`);
  return m[1];
}

// Every page of GET /grants from `first`, calling `between` after each page.
async function walk(b, first, auth, between = async () => {}) {
  const pages = [];
  let target = first;
  while (target) {
    const res = await call(b.url, 'GET', target, auth);
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.json), 'GET /grants stays an array');
    pages.push(res.json.map((g) => g.id));
    target = nextOf(res);
    if (pages.length > 1000) throw new Error('no end of pages');
    await between();
  }
  return pages;
}

async function signIn(b, username) {
  const page = await fetch(`${b.url}/login`);
  const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
  const csrf = (await page.text()).match(/name="csrf" value="([^"]*)"/)[1];
  const res = await fetch(`${b.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
    body: new URLSearchParams({ csrf, next: '/', username, password: PASSWORD }).toString() });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('aipassport_session=')).split(';')[0];
  const home = await (await fetch(`${b.url}/`, { headers: { cookie } })).text();
  return { cookie, csrf: home.match(/name="csrf" value="([^"]*)"/)[1] };
}

test('GET /grants pages newest first with limit and Link rel="next"; a walk sees every grant once while more arrive', async () => {
  const b = await startBroker({ mock, env: ROOMY });
  const admin = { token: b.ownerToken };
  const made = [];
  for (let i = 0; i < 23; i++) made.push((await request(b, `App ${i}`)).grant.id);
  for (const id of made.slice(0, 5)) assert.equal((await call(b.url, 'POST', `/grants/${id}/approve`, { ...admin, body: {} })).status, 200);

  const whole = await call(b.url, 'GET', '/grants', admin);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get('link'), null, 'one page holds 23 under the default limit of 500: no next');
  const newestFirst = whole.json.map((g) => g.id);
  assert.deepEqual([...newestFirst].sort(), [...made].sort());
  const times = whole.json.map((g) => Date.parse(g.createdAt));
  assert.ok(times.every((t, i) => i === 0 || times[i - 1] >= t), 'newest first');

  const first = await call(b.url, 'GET', '/grants?limit=5', admin);
  assert.deepEqual(first.json.map((g) => g.id), newestFirst.slice(0, 5));
  assert.match(first.headers.get('link'), /^<\/grants\?limit=5&cursor=[A-Za-z0-9_-]+>; rel="next"$/);

  // New grants arrive while the list is walked: each grant that was there is seen exactly once,
  // in order, and nothing twice.
  let added = 0;
  const pages = await walk(b, '/grants?limit=4', admin, async () => { await request(b, `Late ${added++}`); });
  assert.ok(pages.slice(0, -1).every((p) => p.length === 4), 'every page but the last is full');
  const seen = pages.flat();
  assert.equal(new Set(seen).size, seen.length, `no duplicates: ${seen}`);
  assert.deepEqual(seen.filter((id) => made.includes(id)), newestFirst, 'no gaps, same order');
  assert.ok(added >= 6);

  for (const bad of ['0', '1001', '-3', 'ten', '', '2.5'])
    assert.equal((await call(b.url, 'GET', `/grants?limit=${bad}`, admin)).status, 400, `limit=${bad}`);
  const badCursor = await call(b.url, 'GET', '/grants?cursor=not-a-cursor', admin);
  assert.equal(badCursor.status, 400);
  assert.equal(badCursor.json.type, 'validation_failed');
  assert.equal((await call(b.url, 'GET', '/grants?limit=1000', admin)).json.length, 23 + added);
  assert.equal((await call(b.url, 'GET', '/grants?limit=2')).status, 401, 'still the owner\'s list');
  await b.stop();
});

test('a signed-in owner\'s pages hold only their grants and the waiting requests; the owner token sees all', async () => {
  const dataDir = tempDir();
  for (const name of ['alice', 'bob'])
    cliSync(['user', 'add', name, '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n`, env: { PATH: process.env.PATH } });
  const b = await startBroker({ mock, dataDir, env: ROOMY });
  const alice = await signIn(b, 'alice');
  const bob = await signIn(b, 'bob');
  const as = (who) => ({ headers: { cookie: who.cookie } });
  const mine = { alice: [], bob: [] };
  for (let i = 0; i < 14; i++) {
    const who = i % 2 ? 'bob' : 'alice';
    const s = who === 'bob' ? bob : alice;
    const id = (await request(b, `${who} app ${i}`)).grant.id;
    const approved = await call(b.url, 'POST', `/grants/${id}/approve`, { headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, body: {} });
    assert.equal(approved.status, 200, approved.text);
    mine[who].push(id);
  }
  const waiting = [(await request(b, 'Waiting one')).grant.id, (await request(b, 'Waiting two')).grant.id];

  const alicePages = await walk(b, '/grants?limit=3', as(alice));
  assert.ok(alicePages.slice(0, -1).every((p) => p.length === 3), 'the filter is in the query: pages are full');
  assert.deepEqual(new Set(alicePages.flat()), new Set([...mine.alice, ...waiting]));
  assert.equal(alicePages.flat().length, mine.alice.length + waiting.length);
  const bobSeen = (await walk(b, '/grants?limit=4', as(bob))).flat();
  assert.deepEqual(new Set(bobSeen), new Set([...mine.bob, ...waiting]));
  assert.ok(!bobSeen.some((id) => mine.alice.includes(id)), 'never another owner\'s grant');
  const adminSeen = (await walk(b, '/grants?limit=5', { token: b.ownerToken })).flat();
  assert.equal(adminSeen.length, 16);
  assert.deepEqual(new Set(adminSeen), new Set([...mine.alice, ...mine.bob, ...waiting]));
  await b.stop();
});

test('a grant\'s usage rows and events page; audioSeconds is a plain number', async () => {
  const dataDir = tempDir();
  const b = await startBroker({ mock, dataDir, env: ROOMY });
  const admin = { token: b.ownerToken };
  const { grant } = await request(b);
  assert.equal((await call(b.url, 'POST', `/grants/${grant.id}/approve`, { ...admin, body: {} })).status, 200);
  const empty = await call(b.url, 'GET', `/grants/${grant.id}/usage`, admin);
  assert.match(empty.text, /"audioSeconds":0[,}]/, 'zero is written 0, not 0E0');
  assert.doesNotMatch(empty.text, /\dE\d/);
  const rows = [];
  for (let d = 1; d <= 5; d++) rows.push(`('${grant.id}', '2026-11-0${d}', 'whisper-1', 1, 0, 0, 0, ${d * 1500}, 10)`);
  const events = [];
  for (let i = 0; i < 5; i++) events.push(`('${grant.id}', ${1764500000 + i}, 'budget_threshold', '{"percent":${50 + i}}')`);
  sql(dataDir, `INSERT INTO usage (grant_id, day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, cost_micros) VALUES ${rows.join(',')};
    INSERT INTO events (grant_id, at, kind, detail) VALUES ${events.join(',')}`);

  const page1 = await call(b.url, 'GET', `/grants/${grant.id}/usage?limit=2`, admin);
  assert.equal(page1.status, 200, page1.text);
  assert.deepEqual(page1.json.byDayAndModel.map((r) => r.day), ['2026-11-01', '2026-11-02']);
  assert.match(page1.text, /"audioSeconds":1.5[,}]/, '1500 ms is written 1.5');
  assert.equal(page1.json.totals.audioSeconds, 22.5, 'totals cover every row, not the page');
  assert.equal(page1.json.totals.requests, 5);
  const days = [...page1.json.byDayAndModel];
  for (let next = page1.json.next; next;) {
    const res = await call(b.url, 'GET', `/grants/${grant.id}/usage?limit=2&cursor=${encodeURIComponent(next)}`, admin);
    days.push(...res.json.byDayAndModel);
    next = res.json.next;
  }
  assert.deepEqual(days.map((r) => r.audioSeconds), [1.5, 3, 4.5, 6, 7.5]);

  const e1 = await call(b.url, 'GET', `/grants/${grant.id}/events?limit=3`, admin);
  assert.equal(e1.json.events.length, 3);
  const e2 = await call(b.url, 'GET', `/grants/${grant.id}/events?limit=3&cursor=${e1.json.next}`, admin);
  assert.deepEqual([...e1.json.events, ...e2.json.events].map((e) => e.detail.percent), [50, 51, 52, 53, 54]);
  assert.equal(e2.json.next, null);
  assert.equal((await call(b.url, 'GET', `/grants/${grant.id}/events?limit=0`, admin)).status, 400);
  assert.equal((await call(b.url, 'GET', `/grants/${grant.id}/usage?cursor=%21`, admin)).status, 400);
  await b.stop();
});

test('requests.inFlight counts calls being answered; leased is what the broker took ahead, not calls', async () => {
  const slow = await startMock(['--latency-ms', '1500']);
  const b = await startBroker({ mock: slow, env: ROOMY });
  const admin = { token: b.ownerToken };
  const { grant, requestSecret } = await request(b);
  const approve = await call(b.url, 'POST', `/grants/${grant.id}/approve`, { ...admin, body: {} });
  assert.equal(approve.status, 200);
  assert.equal((await call(b.url, 'PATCH', `/grants/${grant.id}`, { ...admin, body: { maxRequests: 20 } })).status, 200);
  const token = (await call(b.url, 'POST', '/tokens', { body: { grantId: grant.id, requestSecret } })).json.token;

  const running = call(b.url, 'POST', '/proxy/chat', { token, body: chatBody('gpt-4o-mini') });
  // The call reaches the emulation, which holds it 1.5 s: meanwhile it is in flight.
  await eventually(async () => (await call(b.url, 'GET', `/grants/${grant.id}`, admin)).json.requests.inFlight === 1,
    'the call in flight', 1400);
  assert.equal((await running).status, 200);

  const done = await call(b.url, 'GET', `/grants/${grant.id}`, admin);
  const { requests, budget } = done.json;
  assert.equal(requests.inFlight, 0, 'the only call has finished');
  assert.equal(requests.used, 1);
  assert.equal(requests.held, undefined, 'no "held" that reads as calls in flight');
  assert.equal(budget.heldMicros, undefined);
  assert.ok(Number.isInteger(requests.leased) && requests.leased >= 0, JSON.stringify(requests));
  assert.equal(requests.remaining, 19, 'what is leased is still the app\'s to use');
  assert.ok(Number.isInteger(budget.leasedMicros));
  const listed = (await call(b.url, 'GET', '/grants', admin)).json.find((g) => g.id === grant.id);
  assert.equal(listed.requests.inFlight, 0);
  const passport = (await call(b.url, 'GET', '/v1/passport', { token })).json;
  assert.equal(passport.requests.inFlight, 0);
  await b.stop();
  await slow.stop();
});

test('empty fields are left out of a grant', async () => {
  const b = await startBroker({ mock, env: ROOMY });
  const res = await call(b.url, 'POST', '/grant-requests', { body: { appName: 'No reason', appUrl: 'https://x.example', scope: SCOPES.openai } });
  assert.equal(res.status, 201);
  assert.equal('reason' in res.json.grantRequest, false, JSON.stringify(res.json.grantRequest));
  assert.equal(res.json.grant.appUrl, 'https://x.example');
  assert.equal('notes' in res.json.grant, false);
  await b.stop();
});

test('the other lists are bounded: 100 keys per owner, 1000 self-registered apps', async () => {
  const dataDir = tempDir();
  const b = await startBroker({ mock, dataDir, env: { ...ROOMY, AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION: 'true' } });
  const admin = { token: b.ownerToken };
  const key = (i) => ({ provider: 'openai', label: `k${i}`, key: `sk-test-${String(i).padStart(4, '0')}-abcdefghijkl` });
  for (let i = 0; i < 100; i++) {
    const res = await call(b.url, 'POST', '/keys', { ...admin, body: key(i) });
    assert.equal(res.status, 201, res.text);
  }
  const over = await call(b.url, 'POST', '/keys', { ...admin, body: key(100) });
  assert.equal(over.status, 400, over.text);
  assert.match(over.json.details.fieldErrors.label[0], /remove one first/);
  const rotate = await call(b.url, 'POST', '/keys', { ...admin, body: { ...key(7), key: 'sk-test-rotated-abcdefghijkl' } });
  assert.equal(rotate.status, 201, 'replacing a key by its label still works');
  const listed = (await call(b.url, 'GET', '/keys', admin)).json.keys;
  assert.equal(listed.filter((k) => k.provider === 'openai' && !k.id.startsWith('environment-')).length, 100);

  const rows = [];
  for (let i = 0; i < 999; i++)
    rows.push(`('self-${i}', 'Self ${i}', '', '', 'http://127.0.0.1/cb', 0, '', 0, 1, 1)`);
  sql(dataDir, `INSERT INTO clients (id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, created_at, self_registered) VALUES ${rows.join(',')}`);
  const register = () => call(b.url, 'POST', '/oauth/register', { body: { client_name: 'One more', redirect_uris: ['http://127.0.0.1/callback'] } });
  assert.equal((await register()).status, 201, 'the 1000th');
  const full = await register();
  assert.equal(full.status, 503, full.text);
  assert.equal(full.json.error, 'temporarily_unavailable');
  assert.ok(Number(full.headers.get('retry-after')) > 0);
  await b.stop();
});
