// The owner's record: one activity row per proxied call (matching what the emulation reported,
// streams and refusals included), retention, GET /activity and /grants/:id/activity with filters and
// pages, each owner seeing only their own activity and audit records, and the audit trail's chain:
// an edit, a removal, a swap and a truncation made directly in the SQLite file are each caught by
// `aipassport audit verify`, naming the record by its seq.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, startBroker, startMock, approvedGrant, call, run, tempDir, SCOPES, chatBody, cliSync, eventually } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';

// The sqlite3 command (scripts/install-deps.sh installs it): the test edits the file as an attacker would.
const sql = (dataDir, statement) =>
  execFileSync('sqlite3', [join(dataDir, 'aipassport.db'), statement], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// Every page of a listing, following `next`.
async function allPages(broker, path, auth) {
  const items = [];
  let cursor = null;
  for (let pages = 0; pages < 1000; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await call(broker.url, 'GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path, auth);
    assert.equal(res.status, 200, res.text);
    items.push(...res.json.items);
    if (!res.json.next) return items;
    cursor = res.json.next;
  }
  throw new Error('no end of pages');
}

// The data events of an SSE answer, parsed.
const events = (text) => text.split('\n').filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
  .map((l) => JSON.parse(l.slice(6)));

// What the emulation said the call used, read from the answer the app got, by the broker's rules:
// Anthropic's cache reads and writes are input too; Gemini's thoughts are output.
function usageSeen(provider, res, stream) {
  if (provider === 'openai') {
    const u = stream ? events(res.text).filter((e) => e.usage).at(-1).usage : res.json.usage;
    return { input: u.prompt_tokens, output: u.completion_tokens, cached: u.prompt_tokens_details?.cached_tokens ?? 0 };
  }
  if (provider === 'anthropic') {
    let u = res.json?.usage;
    if (stream) {
      const all = events(res.text);
      u = { ...all.find((e) => e.type === 'message_start').message.usage, ...all.findLast((e) => e.type === 'message_delta').usage };
    }
    const reads = u.cache_read_input_tokens ?? 0, writes = u.cache_creation_input_tokens ?? 0;
    return { input: u.input_tokens + reads + writes, output: u.output_tokens, cached: reads };
  }
  const u = stream ? events(res.text).filter((e) => e.usageMetadata).at(-1).usageMetadata : res.json.usageMetadata;
  return { input: u.promptTokenCount, output: u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0), cached: u.cachedContentTokenCount ?? 0 };
}

const CALLS = {
  openai: (stream) => ['/openai/v1/chat/completions', chatBody('gpt-4o-mini', stream ? { stream: true, stream_options: { include_usage: true } } : {})],
  anthropic: (stream) => ['/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 64, stream, messages: [{ role: 'user', content: 'Hello there' }] }],
  google: (stream) => [`/gemini/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    { contents: [{ role: 'user', parts: [{ text: 'Hello there' }] }] }],
};

let mock, broker;
before(async () => {
  mock = await startMock(['--stream-chunks', '4']);
  broker = await startBroker({ mock });
});

const admin = () => ({ token: broker.ownerToken });
const grantActivity = (grantId) => allPages(broker, `/grants/${grantId}/activity?limit=2`, admin());

test('every call is a row that matches what the emulation reported, streamed or not, on every provider', async () => {
  for (const provider of ['openai', 'anthropic', 'google']) {
    const g = await approvedGrant(broker, SCOPES[provider]);
    const expected = [];
    for (const stream of [false, true, false, true]) {
      const [path, body] = CALLS[provider](stream);
      const res = await call(broker.url, 'POST', path, { token: g.token, body });
      assert.equal(res.status, 200, `${provider} ${path}: ${res.text}`);
      expected.push({ ...usageSeen(provider, res, stream), stream });
    }
    const rows = await eventually(async () => {
      const r = await grantActivity(g.grantId);
      return r.length === expected.length && r;
    }, `${provider} activity`, 5000);  // visible within 5 s
    rows.reverse();  // newest first: back to call order
    const usage = (await call(broker.url, 'GET', `/grants/${g.grantId}/usage`, admin())).json;
    for (const [i, row] of rows.entries()) {
      const want = expected[i];
      assert.equal(row.grantId, g.grantId);
      assert.equal(row.appName, 'E2E App');
      assert.equal(row.provider, provider);
      assert.equal(row.model, SCOPES[provider].models[0]);
      assert.equal(row.capability, 'chat');
      assert.equal(row.status, 200);
      assert.equal(row.streamed, want.stream, `${provider} call ${i}`);
      assert.equal(row.inputTokens, want.input, `${provider} call ${i} input`);
      assert.equal(row.outputTokens, want.output, `${provider} call ${i} output`);
      assert.equal(row.cachedInputTokens, want.cached);
      assert.equal(row.refusal, null);
      assert.ok(row.costMicros > 0, 'priced models cost something');
      assert.ok(row.latencyMs >= 0);
      if (want.stream) assert.ok(row.ttftMs >= 0 && row.ttftMs <= row.latencyMs, 'a stream has its time to first event');
      else assert.equal(row.ttftMs, null);
      assert.ok(!Number.isNaN(Date.parse(row.at)));
      for (const content of ['Hello there', 'mock reply', 'Be brief']) assert.ok(!JSON.stringify(row).includes(content), 'no content');
    }
    assert.equal(rows.reduce((s, r) => s + r.costMicros, 0), usage.totals.costMicros, 'the rows cost what the grant was charged');
    assert.equal(rows.reduce((s, r) => s + r.inputTokens, 0), usage.totals.inputTokens);
    assert.equal(rows.reduce((s, r) => s + r.outputTokens, 0), usage.totals.outputTokens);
  }
});

test('refused calls of a known grant are rows too, with the status the app got and the refusal type', async () => {
  const limited = await approvedGrant(broker, { ...SCOPES.openai, rateLimit: 1 });
  const budgeted = await approvedGrant(broker, { ...SCOPES.anthropic, maxBudgetCents: 1 });
  const revoked = await approvedGrant(broker, SCOPES.google);
  const seen = [];
  const attempt = async (g, path, body) => {
    const res = await call(broker.url, 'POST', path, { token: g.token, body });
    seen.push({ grantId: g.grantId, status: res.status });
    return res;
  };
  assert.equal((await attempt(limited, ...CALLS.openai(false))).status, 200);
  assert.equal((await attempt(limited, ...CALLS.openai(false))).status, 429);
  const [chat, body] = CALLS.openai(false);
  assert.equal((await attempt(limited, chat, { ...body, model: 'gpt-4o' })).status, 403);
  const [messages, ask] = CALLS.anthropic(false);
  const tooDear = await attempt(budgeted, messages, { ...ask, max_tokens: 100000 });
  assert.ok(tooDear.status >= 400, tooDear.text);
  assert.equal((await call(broker.url, 'POST', `/grants/${revoked.grantId}/revoke`, admin())).status, 200);
  assert.equal((await attempt(revoked, ...CALLS.google(false))).status, 401);
  assert.equal((await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: 'not-a-token', body })).status, 401);

  const rowsOf = async (g) => eventually(async () => {
    const r = await grantActivity(g.grantId);
    return r.length === seen.filter((s) => s.grantId === g.grantId).length && r.reverse();
  }, 'refusal rows', 5000);
  const [ok, rated, model] = await rowsOf(limited);
  assert.equal(ok.refusal, null);
  assert.equal(rated.status, 429);
  assert.equal(rated.refusal, 'rate_limit_exceeded');
  assert.equal(model.status, 403);
  assert.equal(model.refusal, 'forbidden');
  assert.equal(model.model, 'gpt-4o', 'the model the app asked for');
  for (const r of [rated, model]) assert.deepEqual([r.inputTokens, r.outputTokens, r.costMicros], [0, 0, 0]);
  const [dear] = await rowsOf(budgeted);
  assert.equal(dear.status, tooDear.status);
  assert.equal(dear.refusal, 'budget_exceeded');
  const [gone] = await rowsOf(revoked);
  assert.equal(gone.status, 401);
  assert.equal(gone.refusal, 'unauthorized');
  assert.equal(gone.provider, 'google');
});

test('the reference path /proxy/chat is recorded as well', async () => {
  const g = await approvedGrant(broker, SCOPES.anthropic);
  const res = await call(broker.url, 'POST', '/proxy/chat', { token: g.token, body: chatBody('claude-sonnet-4-5') });
  assert.equal(res.status, 200, res.text);
  const [row] = await eventually(async () => { const r = await grantActivity(g.grantId); return r.length === 1 && r; }, 'row', 5000);
  const usage = (await call(broker.url, 'GET', `/grants/${g.grantId}/usage`, admin())).json.totals;
  assert.equal(row.provider, 'anthropic');
  assert.equal(row.status, 200);
  assert.equal(row.inputTokens, usage.inputTokens);
  assert.equal(row.outputTokens, usage.outputTokens);
  assert.equal(row.costMicros, usage.costMicros);
  assert.ok(row.inputTokens > 0 && row.outputTokens > 0);
});

test('GET /activity filters by time, app, model and status, and pages without losing or repeating a row', async () => {
  const everything = await allPages(broker, '/activity?limit=3', admin());
  const direct = await call(broker.url, 'GET', '/activity?limit=1000', admin());
  assert.equal(direct.json.next, null);
  assert.deepEqual(everything, direct.json.items, 'pages of 3 add up to the whole list');
  assert.ok(everything.length >= 15);
  for (let i = 1; i < everything.length; i++) assert.ok(everything[i - 1].at >= everything[i].at, 'newest first');

  const refused = await allPages(broker, '/activity?status=429&limit=1', admin());
  assert.ok(refused.length >= 1);
  assert.ok(refused.every((r) => r.status === 429));
  assert.equal(refused.length, everything.filter((r) => r.status === 429).length);
  const claude = await allPages(broker, '/activity?model=claude-sonnet-4-5', admin());
  assert.equal(claude.length, everything.filter((r) => r.model === 'claude-sonnet-4-5').length);
  assert.equal((await allPages(broker, '/activity?app=E2E%20App', admin())).length, everything.length);
  assert.equal((await allPages(broker, '/activity?app=Other', admin())).length, 0);

  const middle = everything[Math.floor(everything.length / 2)].at;
  const from = await allPages(broker, `/activity?from=${encodeURIComponent(middle)}`, admin());
  const to = await allPages(broker, `/activity?to=${encodeURIComponent(middle)}`, admin());
  assert.ok(from.every((r) => r.at >= middle) && to.every((r) => r.at < middle));
  assert.equal(from.length + to.length, everything.length);
  assert.equal((await allPages(broker, '/activity?from=2000-01-01&to=2000-01-02', admin())).length, 0);

  // A query that cannot be read is refused whole, not read as one without its filters and cursor.
  for (const bad of ['from=yesterday', 'to=2026-13-01', 'status=abc', 'limit=0', 'limit=5000', 'cursor=nonsense',
    'model=x&y=%zz', 'status=429&model=%']) {
    const res = await call(broker.url, 'GET', `/activity?${bad}`, admin());
    assert.equal(res.status, 400, bad);
  }
  assert.equal((await call(broker.url, 'GET', '/audit?kind=grant.approved&x=%zz', admin())).status, 400);
  assert.equal((await call(broker.url, 'GET', '/activity')).status, 401, 'the record is the owner\'s');
  assert.equal((await call(broker.url, 'GET', '/activity', { token: 'wrong' })).status, 401);
});

test('activity export prints the same rows as the API, as JSON lines or CSV', async () => {
  const api = await allPages(broker, '/activity?limit=1000', admin());
  const jsonl = await run(['activity', 'export', '--format', 'jsonl', '--data-dir', broker.dataDir]);
  assert.equal(jsonl.code, 0, jsonl.stderr);
  assert.deepEqual(jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l)), api);
  const csv = await run(['activity', 'export', '--format', 'csv', '--data-dir', broker.dataDir]);
  const lines = csv.stdout.trim().split('\r\n');
  assert.match(lines[0], /^at,grantId,appName,owner,provider,model,capability,status,inputTokens,outputTokens,cachedInputTokens,costMicros,latencyMs,ttftMs,streamed,refusal$/);
  assert.equal(lines.length, api.length + 1);
  const since = await run(['activity', 'export', '--from', api[0].at, '--data-dir', broker.dataDir]);
  assert.equal(since.stdout.trim().split('\n').length, api.filter((r) => r.at >= api[0].at).length);
  assert.notEqual((await run(['activity', 'export', '--format', 'xml', '--data-dir', broker.dataDir])).code, 0);
});

test('retention: rows older than activity.retention_days are pruned at start and by `activity prune`', async () => {
  const dataDir = tempDir();
  const b = await startBroker({ mock, dataDir });
  const g = await approvedGrant(b, SCOPES.openai);
  assert.equal((await call(b.url, 'POST', CALLS.openai(false)[0], { token: g.token, body: CALLS.openai(false)[1] })).status, 200);
  await eventually(async () => (await call(b.url, 'GET', '/activity', { token: b.ownerToken })).json.items.length === 1, 'row', 5000);
  await b.stop();
  const day = 86400000, now = Date.now();
  // Activity names the grant and its owner (none here) by their numbers in activity_ids.
  const number = (id) => `(SELECT n FROM activity_ids WHERE id = '${id}')`;
  const insert = (at) => `INSERT INTO activity (at, grant_n, app_name, owner_n, provider, model, capability, status,
    input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, streamed, refusal)
    VALUES (${at}, ${number(g.grantId)}, 'Old', ${number('')}, 'openai', 'gpt-4o-mini', 'chat', 200, 1, 1, 0, 1, 1, 0, '')`;
  // Beyond them, more old rows than one prune's page of 2,000 takes: a start prunes them all.
  const many = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4500) ${insert(`${now - 50 * day} + i`)
    .replace('VALUES (', 'SELECT ').replace(/\)$/, ' FROM n')}`;
  sql(dataDir, [`INSERT OR IGNORE INTO activity_ids (id) VALUES ('${g.grantId}'), ('')`,
    insert(now - 40 * day), insert(now - 10 * day), insert(now - 3 * day), many].join(';'));
  assert.equal(sql(dataDir, 'SELECT COUNT(*) FROM activity').trim(), '4504');
  const restarted = await startBroker({ mock, dataDir, env: { AIPASSPORT_ADMIN_TOKEN: 'an-admin-token-long-enough-to-pass' } });
  assert.equal(sql(dataDir, 'SELECT COUNT(*) FROM activity').trim(), '3', 'the default 30 days: every older row went');
  const after = (await call(restarted.url, 'GET', '/activity', { token: 'an-admin-token-long-enough-to-pass' })).json.items;
  assert.equal(after.length, 3, 'the default 30 days: only the 40-day-old row went');
  assert.ok(after.every((r) => Date.parse(r.at) > now - 30 * day));
  await restarted.stop();
  const pruned = await run(['activity', 'prune', '--data-dir', dataDir], { AIPASSPORT_ACTIVITY_RETENTION_DAYS: '5' });
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /pruned 1 activity rows older than 5 days/);
  assert.equal(sql(dataDir, 'SELECT COUNT(*) FROM activity').trim(), '2');
});

test('each signed-in owner sees only their own grants\' activity and audit records; the owner token sees all', async () => {
  const dataDir = tempDir();
  for (const name of ['alice', 'bob'])
    cliSync(['user', 'add', name, '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n`, env: { PATH: process.env.PATH } });
  const b = await startBroker({ mock, dataDir });
  const signIn = async (username, password = PASSWORD) => {
    const page = await fetch(`${b.url}/login`);
    const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
    const csrf = (await page.text()).match(/name="csrf" value="([^"]*)"/)[1];
    const res = await fetch(`${b.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
      body: new URLSearchParams({ csrf, next: '/', username, password }).toString() });
    const session = res.headers.getSetCookie().find((c) => c.startsWith('aipassport_session='));
    return session && session.split(';')[0];
  };
  const alice = await signIn('alice');
  const bob = await signIn('bob');
  assert.ok(alice && bob);
  assert.equal(await signIn('alice', 'a wrong password, typed by someone else'), undefined);
  const as = (cookie) => ({ headers: { cookie } });
  const csrfOf = async (cookie) => (await (await fetch(`${b.url}/`, { headers: { cookie } })).text()).match(/name="csrf" value="([^"]*)"/)[1];
  const grantFor = async (cookie, scope) => {
    const req = await call(b.url, 'POST', '/grant-requests', { body: { appName: 'Owned', appUrl: 'https://owned.example', scope } });
    const id = req.json.grant.id;
    const approved = await call(b.url, 'POST', `/grants/${id}/approve`, { headers: { cookie, 'x-csrf-token': await csrfOf(cookie) }, body: {} });
    assert.equal(approved.status, 200, approved.text);
    const tok = await call(b.url, 'POST', '/tokens', { body: { grantId: id, requestSecret: req.json.requestSecret } });
    return { id, token: tok.json.token };
  };
  const ga = await grantFor(alice, SCOPES.openai);
  const gb = await grantFor(bob, SCOPES.google);
  assert.equal((await call(b.url, 'POST', CALLS.openai(false)[0], { token: ga.token, body: CALLS.openai(false)[1] })).status, 200);
  assert.equal((await call(b.url, 'POST', CALLS.google(false)[0], { token: gb.token, body: CALLS.google(false)[1] })).status, 200);

  const all = await eventually(async () => {
    const items = (await call(b.url, 'GET', '/activity', { token: b.ownerToken })).json.items;
    return items.length === 2 && items;
  }, 'both rows', 5000);
  const aliceRows = (await call(b.url, 'GET', '/activity', as(alice))).json.items;
  const bobRows = (await call(b.url, 'GET', '/activity', as(bob))).json.items;
  assert.deepEqual(aliceRows.map((r) => r.grantId), [ga.id]);
  assert.deepEqual(bobRows.map((r) => r.grantId), [gb.id]);
  assert.ok(aliceRows[0].owner && aliceRows[0].owner !== bobRows[0].owner, 'rows carry their grant\'s owner');
  assert.equal(all.length, 2);
  assert.equal((await call(b.url, 'GET', `/grants/${gb.id}/activity`, as(alice))).status, 404, 'another owner\'s grant is as if it did not exist');
  assert.equal((await call(b.url, 'GET', `/grants/${ga.id}/activity`, as(alice))).json.items.length, 1);

  const audit = await eventually(async () => {
    const items = await allPages(b, '/audit?limit=5', { token: b.ownerToken });
    return items.some((r) => r.kind === 'owner.sign_in_failed') && items;
  }, 'the failed sign-in in the trail', 5000);
  const aliceAudit = await allPages(b, '/audit', as(alice));
  const bobAudit = await allPages(b, '/audit', as(bob));
  const aliceId = aliceRows[0].owner, bobId = bobRows[0].owner;
  assert.ok(aliceAudit.length > 0 && aliceAudit.every((r) => r.owner === aliceId), 'alice sees only her records');
  assert.ok(bobAudit.length > 0 && bobAudit.every((r) => r.owner === bobId));
  assert.ok(audit.some((r) => r.owner === bobId) && audit.some((r) => r.owner === null), 'the owner token sees everything');
  const kinds = (items) => items.map((r) => r.kind);
  assert.ok(kinds(aliceAudit).includes('owner.signed_in'));
  assert.ok(kinds(aliceAudit).includes('owner.sign_in_failed'), 'alice learns someone tried her password');
  assert.ok(kinds(aliceAudit).includes('grant.approved'));
  const approvedByAlice = aliceAudit.find((r) => r.kind === 'grant.approved');
  assert.equal(approvedByAlice.actor, 'owner:alice');
  assert.equal(approvedByAlice.grantId, ga.id);
  assert.ok(!JSON.stringify(audit).includes(PASSWORD) && !JSON.stringify(audit).includes('a wrong password'), 'no password in the trail');
  const onlyFailures = await allPages(b, '/audit?kind=owner.sign_in_failed', as(alice));
  assert.ok(onlyFailures.length === 1 && onlyFailures[0].detail.address === '127.0.0.1');
  assert.equal((await call(b.url, 'GET', '/audit?from=nonsense', as(alice))).status, 400);
  // A mistyped kind is refused, not taken as "none happened".
  const typo = await call(b.url, 'GET', '/audit?kind=grant.revoke', as(alice));
  assert.equal(typo.status, 400);
  assert.match(JSON.stringify(typo.json), /Unknown audit kind 'grant.revoke'; the kinds are grant.requested, .*grant.revoked/);
  const exported = await run(['audit', 'export', '--kind', 'grant.revoke', '--data-dir', b.dataDir]);
  assert.equal(exported.code, 2);
  assert.match(exported.stderr, /Unknown audit kind 'grant.revoke'/);
  await b.stop();
});

test('the audit trail names grant and token events, ends the broker did not cause, and CLI changes', async () => {
  const dataDir = tempDir();
  const b = await startBroker({ mock, dataDir });
  const capped = await approvedGrant(b, { ...SCOPES.openai, maxRequests: 1 });
  const short = await approvedGrant(b, SCOPES.openai, { expiresInSeconds: 2 });  // not 1: see lifecycle.test.mjs
  const patchable = await approvedGrant(b, SCOPES.openai);
  assert.equal((await call(b.url, 'POST', CALLS.openai(false)[0], { token: capped.token, body: CALLS.openai(false)[1] })).status, 200);
  const patched = await call(b.url, 'PATCH', `/grants/${patchable.grantId}`, { token: b.ownerToken, body: { maxRequests: 5 } });
  assert.equal(patched.status, 200, patched.text);
  const denied = await call(b.url, 'POST', '/grant-requests', { body: { appName: 'No', appUrl: 'https://no.example', scope: SCOPES.openai } });
  assert.equal((await call(b.url, 'POST', `/grants/${denied.json.grant.id}/deny`, { token: b.ownerToken })).status, 200);
  const trail = await eventually(async () => {
    const items = (await call(b.url, 'GET', '/audit?limit=1000', { token: b.ownerToken })).json.items;
    const k = items.map((r) => `${r.kind} ${r.grantId}`);
    return k.includes(`grant.exhausted ${capped.grantId}`) && k.includes(`grant.expired ${short.grantId}`) && items;
  }, 'the exhausted and expired grants in the trail', 15000);
  const kinds = new Set(trail.map((r) => r.kind));
  for (const k of ['grant.requested', 'grant.approved', 'grant.denied', 'grant.limits_changed', 'token.issued', 'grant.exhausted', 'grant.expired'])
    assert.ok(kinds.has(k), k);
  const limits = trail.find((r) => r.kind === 'grant.limits_changed');
  assert.deepEqual(limits.detail.changed.maxRequests, { asked: null, granted: 5 });
  assert.equal(trail.find((r) => r.kind === 'grant.exhausted').actor, 'broker');
  await b.stop();

  const cli = (args, input) => cliSync([...args, '--data-dir', dataDir], { input, env: { PATH: process.env.PATH } }).toString();
  cli(['user', 'add', 'carol', '--password-stdin'], `${PASSWORD}\n`);
  cli(['user', 'passwd', 'carol', '--password-stdin'], `${PASSWORD} 2\n`);
  const clientId = cli(['client', 'add', 'Tool', '--redirect-uri', 'http://127.0.0.1/cb']).match(/client_id: (\S+)/)[1];
  cli(['client', 'remove', clientId]);
  cli(['admin-token', '--reset']);
  cli(['user', 'remove', 'carol']);
  const exported = (await run(['audit', 'export', '--data-dir', dataDir])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  const tail = exported.slice(-6);
  assert.deepEqual(tail.map((r) => r.kind),
    ['owner.added', 'owner.password_changed', 'client.added', 'client.removed', 'owner_token.reset', 'owner.removed']);
  assert.ok(tail.every((r) => r.actor === 'cli'));
  assert.equal(tail[2].detail.clientId, clientId);
  assert.equal(tail[0].detail.username, 'carol');
  assert.equal(tail[5].owner, tail[0].owner, 'the removal names the same owner');
  for (const [i, r] of exported.entries()) assert.equal(r.seq, i + 1, 'seq counts from 1 without gaps');
  const verified = await run(['audit', 'verify', '--data-dir', dataDir]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, new RegExp(`audit trail intact: ${exported.length} records`));
});

test('audit verify catches an edit, a removal, a swap and a truncation made in the database, naming the seq', async () => {
  const dataDir = tempDir();
  const b = await startBroker({ mock, dataDir });
  for (let i = 0; i < 3; i++) await approvedGrant(b, SCOPES.openai);  // 3 records each: requested, approved, token
  await eventually(async () => (await call(b.url, 'GET', '/audit?limit=1000', { token: b.ownerToken })).json.items.length >= 10, 'records', 5000);
  await b.stop();
  if (existsSync(join(dataDir, 'aipassport.db-wal'))) sql(dataDir, 'PRAGMA wal_checkpoint(TRUNCATE)');
  const count = Number(sql(dataDir, 'SELECT COUNT(*) FROM audit').trim());
  assert.ok(count >= 10);
  const exported = (await run(['audit', 'export', '--format', 'csv', '--data-dir', dataDir])).stdout.trim().split('\r\n');
  assert.equal(exported.length, count + 1);
  assert.equal((await run(['audit', 'verify', '--data-dir', dataDir])).code, 0);

  const tampered = (statement) => {
    const copy = tempDir();
    cpSync(dataDir, copy, { recursive: true });
    sql(copy, statement);
    return copy;
  };
  const verdict = async (dir) => {
    const r = await run(['audit', 'verify', '--data-dir', dir]);
    return { code: r.code, text: r.stdout + r.stderr };
  };
  const cases = [
    ['edit', `UPDATE audit SET detail = '{"appName":"Innocent"}' WHERE seq = 5`, 5, /record 5 was edited/],
    ['edit of the actor', `UPDATE audit SET actor = 'owner:mallory' WHERE seq = 2`, 2, /record 2 was edited/],
    ['removal', 'DELETE FROM audit WHERE seq = 4', 4, /record 4 was removed/],
    ['swap', 'UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = -1',
      3, /record 3 is out of order: it was written as record 6/],
    ['truncation of the end', `DELETE FROM audit WHERE seq > ${count - 2}`, count - 1, /truncated/],
    ['truncation of the table', 'DELETE FROM audit', 1, /truncated/],
    ['a cut hidden by moving the head back', `DELETE FROM audit WHERE seq = ${count};
      UPDATE settings SET value = (SELECT seq || ' ' || hash FROM audit WHERE seq = ${count - 1}) || ' ' || substr(value, -64)
        WHERE key = 'audit.head'`, count - 1, /head .* was altered/],
  ];
  for (const [what, statement, seq, problem] of cases) {
    const v = await verdict(tampered(statement));
    assert.equal(v.code, 1, `${what}: ${v.text}`);
    assert.match(v.text, new RegExp(`BROKEN at seq ${seq}:`), what);
    assert.match(v.text, problem, what);
  }

  // Appends after a restart go on from the kept head, and a broker on a broken trail still serves.
  const again = await startBroker({ mock, dataDir, env: { AIPASSPORT_ADMIN_TOKEN: 'an-admin-token-long-enough-to-pass' } });
  await call(again.url, 'POST', '/grant-requests', { body: { appName: 'Later', appUrl: 'https://later.example', scope: SCOPES.openai } });
  await eventually(async () => Number(sql(dataDir, 'SELECT COUNT(*) FROM audit').trim()) === count + 1, 'the new record', 5000);
  assert.equal((await run(['audit', 'verify', '--data-dir', dataDir])).code, 0);
  const wrongKey = await run(['audit', 'verify', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  assert.notEqual(wrongKey.code, 0, 'another master key cannot vouch for the trail');

  // Someone who can write the database, and read its head once, cuts the end off later and puts
  // that head back: the chain is whole again, but the broker's mark beside the database saw more.
  const headThen = sql(dataDir, "SELECT value FROM settings WHERE key = 'audit.head'").trim();
  const later = async (n) => {
    await call(again.url, 'POST', '/grant-requests', { body: { appName: 'Later', appUrl: 'https://later.example', scope: SCOPES.openai } });
    await eventually(async () => Number(sql(dataDir, 'SELECT COUNT(*) FROM audit').trim()) === n, `record ${n}`, 5000);
  };
  await later(count + 2);
  await later(count + 3);
  sql(dataDir, `DELETE FROM audit WHERE seq > ${count + 1}; UPDATE settings SET value = '${headThen}' WHERE key = 'audit.head'`);
  const cut = await run(['audit', 'verify', '--data-dir', dataDir]);
  assert.equal(cut.code, 1, cut.stdout + cut.stderr);
  assert.match(cut.stdout, new RegExp(`BROKEN at seq ${count + 2}: the trail's end was cut off: this machine saw it reach seq ${count + 3}`));
  await later(count + 3);  // the broker's next append records the cut first
  const items = (await call(again.url, 'GET', '/audit?limit=2', { token: again.ownerToken })).json.items;
  assert.equal(items[1].kind, 'audit.cut_back', JSON.stringify(items));
  assert.deepEqual([items[1].detail.seenSeq, items[1].detail.headSeq], [count + 3, count + 1]);
  assert.match(again.output, /the audit trail's end was cut off: this machine saw it reach seq/);
  const named = await run(['audit', 'verify', '--data-dir', dataDir]);
  assert.equal(named.code, 3, 'a recorded cut is said apart from a break');
  assert.match(named.stdout, new RegExp(`intact: ${count + 3} records, but record ${count + 2} says its end had been cut off`));
  await again.stop();
});
