// The console's activity downloads (CSV, JSON Lines) are written as they are read: a chunked answer
// of every row of the period, a page of rows at a time, with no row cap; a client that goes away
// mid-download costs the broker nothing lasting.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { BIN, call, startBroker, tempDir } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ROWS = 5003;  // five pages of 1,000 and a few rows more
const sql = (dataDir, statement) =>
  execFileSync('sqlite3', [join(dataDir, 'aipassport.db'), statement], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

let broker;
let cookie;
let metricsUrl;
const now = Date.now();

before(async () => {
  const dataDir = tempDir();
  execFileSync(BIN, ['user', 'add', 'alice', '--password-stdin', '--data-dir', dataDir],
    { input: `${PASSWORD}\n`, env: { PATH: process.env.PATH } });
  const alice = sql(dataDir, "SELECT id FROM owners WHERE username = 'alice'").trim();
  // Row i (1..ROWS) is i minutes old, rounded so that three rows share each time: the pages' cursor
  // must break ties by id. inputTokens = i names the row. Another owner's rows must not show.
  // Activity names a grant and an owner by their numbers in activity_ids.
  const columns = `(at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens, output_tokens,
    cached_input_tokens, cost_micros, latency_ms, streamed, refusal)`;
  const number = (id) => `(SELECT n FROM activity_ids WHERE id = '${id}')`;
  sql(dataDir, `INSERT INTO activity_ids (id) VALUES ('grant-a'), ('${alice}'), ('grant-b'), ('someone-else');
    INSERT INTO activity ${columns}
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
    SELECT ${now} - (i / 3) * 60000 - 1000, ${number('grant-a')}, 'App ' || i, ${number(alice)}, 'openai', 'gpt-4o-mini',
           'chat', 200, i, 2 * i, 0, i, 5, 0, '' FROM n;
    INSERT INTO activity ${columns}
    SELECT at, ${number('grant-b')}, 'Not hers', ${number('someone-else')}, provider, model, capability, status,
           input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, streamed, refusal FROM activity LIMIT 50;`);
  broker = await startBroker({ dataDir, env: { AIPASSPORT_METRICS_LISTEN: '127.0.0.1:0' } });
  metricsUrl = broker.output.match(/metrics at (http:\/\/[^\s"]+)/)[1];
  const page = await fetch(`${broker.url}/login`);
  const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith('aipassport_login_csrf=')).split(';')[0];
  const csrf = (await page.text()).match(/name="csrf" value="([^"]*)"/)[1];
  const res = await fetch(`${broker.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
    body: new URLSearchParams({ csrf, next: '/', username: 'alice', password: PASSWORD }).toString(),
  });
  cookie = res.headers.getSetCookie().find((c) => c.startsWith('aipassport_session=')).split(';')[0];
});

// Newest first; rows of the same time, the one written last first.
const expectedOrder = Array.from({ length: ROWS }, (_, k) => k + 1)
  .sort((a, b) => Math.floor(a / 3) - Math.floor(b / 3) || b - a);

// A GET over a fresh connection, with the raw headers and body.
function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.get(broker.url + path, { headers: { cookie }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function scrape(series) {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the CSV download is chunked and holds every row of the period once, newest first, under one header', async () => {
  const res = await get('/console/activity.csv?range=30d&by=app');
  assert.equal(res.status, 200, res.body.slice(0, 500));
  assert.equal(res.headers['transfer-encoding'], 'chunked', 'written as it is read, not built whole');
  assert.equal(res.headers['content-length'], undefined);
  assert.match(res.headers['content-type'], /^text\/csv/);
  assert.match(res.headers['content-disposition'], /^attachment; filename="activity-\d{4}-\d{2}-\d{2}\.csv"$/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.ok(res.complete, 'the answer ended with its last chunk');
  assert.ok(res.body.endsWith('\r\n'));
  const lines = res.body.slice(0, -2).split('\r\n');
  assert.equal(lines[0], 'at,grantId,appName,owner,provider,model,capability,status,inputTokens,outputTokens,'
    + 'cachedInputTokens,costMicros,latencyMs,ttftMs,streamed,refusal');
  assert.equal(lines.filter((l) => l.startsWith('at,')).length, 1, 'one header, not one per page');
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  assert.equal(rows.length, ROWS, 'no row cap, no row twice');
  const input = header.indexOf('inputTokens');
  assert.deepEqual(rows.map((r) => Number(r[input])), expectedOrder);
  const app = header.indexOf('appName');
  assert.ok(rows.every((r) => r[app] === `App ${r[input]}`), 'each line is its row');
  assert.ok(!res.body.includes('Not hers'), "another owner's calls are not in hers");
});

test('the JSON Lines download holds the same rows, one object a line', async () => {
  const res = await get('/console/activity.jsonl?range=30d');
  assert.equal(res.status, 200);
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  assert.equal(res.headers['content-type'], 'application/x-ndjson');
  const rows = res.body.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, ROWS);
  assert.deepEqual(rows.map((r) => r.inputTokens), expectedOrder);
  assert.ok(rows.every((r) => r.outputTokens === 2 * r.inputTokens && r.appName === `App ${r.inputTokens}`));
  const filtered = await get('/console/activity.jsonl?range=30d&app=App%207');
  assert.deepEqual(filtered.body.trimEnd().split('\n').map((l) => JSON.parse(l).inputTokens), [7], 'the filters apply');
  const empty = await get('/console/activity.csv?range=24h&app=nobody');
  assert.equal(empty.body.split('\r\n').filter((l) => l).length, 1, 'a period without calls: the header alone');
  // A filter that cannot be read is no reason to download every call.
  for (const bad of ['range=30d&status=abc', 'range=30d&app=App%207&x=%zz']) {
    const refused = await get(`/console/activity.jsonl?${bad}`);
    assert.equal(refused.status, 400, bad);
    assert.doesNotMatch(refused.body, /inputTokens/, bad);
  }
});

test('a client that goes away mid-download leaves nothing behind: the broker answers on, no request stays in flight', async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve, reject) => {
      const req = http.get(`${broker.url}/console/activity.csv?range=30d`, { headers: { cookie }, agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', (e) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
    });
  }
  const deadline = Date.now() + 10000;
  while ((await scrape('aipassport_requests_in_flight')) !== 0) {
    assert.ok(Date.now() < deadline, 'the abandoned downloads ended');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await call(broker.url, 'GET', '/health')).status, 200);
  const whole = await get('/console/activity.csv?range=30d');
  assert.equal(whole.body.split('\r\n').filter((l) => l).length, ROWS + 1, 'the next download is whole');
  assert.equal(broker.proc.exitCode, null, 'still running');
});
