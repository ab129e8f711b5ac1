// The database as brokers see it: unreachable at start, lost while serving and back again.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { approvedGrant, call, chatBody, databaseUrlFor, run, startBroker, startMock, tempDir, eventually } from './harness.mjs';

const PG_CLUSTER = new URL('../../scripts/pg-cluster.sh', import.meta.url).pathname;
const SCOPE = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] };

// A PostgreSQL cluster of this test's own, which it may stop and start.
function ownCluster() {
  const dir = `/tmp/aipassport-pgtest-${process.pid}-${Date.now()}`;
  const url = execFileSync(PG_CLUSTER, ['init', dir]).toString().trim();
  after(() => execFileSync(PG_CLUSTER, ['remove', dir]));
  return { url, stop: () => execFileSync(PG_CLUSTER, ['stop', dir]), start: () => execFileSync(PG_CLUSTER, ['start', dir]) };
}

const REQUEST = { appName: 'Lost DB', appUrl: 'https://app.example', reason: 'testing', scope: SCOPE };

test('a database lost mid-run: what needs it gets 503, calls within a lease go on until the node timeout, and it recovers without a restart', async () => {
  const pg = ownCluster();
  const mock = await startMock();
  const broker = await startBroker({ mock, env: { AIPASSPORT_DATABASE_URL: pg.url, AIPASSPORT_NODE_TIMEOUT_SECONDS: '6' } });
  const g = await approvedGrant(broker, { ...SCOPE, maxRequests: 100 });
  const first = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(first.status, 200, first.text);
  assert.equal((await call(broker.url, 'GET', '/ready')).status, 200);

  pg.stop();
  const refused = await call(broker.url, 'POST', '/grant-requests', { body: REQUEST });
  assert.equal(refused.status, 503, refused.text);
  assert.doesNotMatch(refused.text, /postgres\?host|password/);
  const ready = await call(broker.url, 'GET', '/ready');
  assert.equal(ready.status, 503);
  assert.match(ready.json.reason, /^database: /);
  // The lease this broker holds still pays for calls: the limits stay exact, the store is not asked.
  const during = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(during.status, 200, during.text);
  // Also once the grant cache is no longer fresh (2 s): the grant cannot be read again either.
  const stopped = Date.now();
  await new Promise((res) => setTimeout(res, 3000));
  const later = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.ok(Date.now() - stopped < 5500, 'still within the node timeout');
  assert.equal(later.status, 200, later.text);
  // Past the node timeout the other brokers count its leases as lost, and it can no longer know of a
  // revocation made on one of them: it refuses rather than serve from memory.
  await new Promise((res) => setTimeout(res, Math.max(0, 6500 - (Date.now() - stopped))));
  const blind = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(blind.status, 503, blind.text);
  assert.match(blind.json.error.message, /cannot reach its database to learn of revocations/);

  pg.start();
  await eventually(async () => (await call(broker.url, 'GET', '/ready')).status === 200, 'ready again');
  const made = await call(broker.url, 'POST', '/grant-requests', { body: REQUEST });
  assert.equal(made.status, 201, made.text);
  const back = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(back.status, 200, back.text);
  // Every call served is counted once the database is back (the usage waiting to be settled was kept).
  await eventually(async () => {
    const usage = (await call(broker.url, 'GET', `/grants/${g.grantId}/usage`, { token: broker.ownerToken })).json;
    return usage?.totals?.requests === 4;
  }, 'the four calls served settled');
});

test('a broker whose database cannot be reached does not start, and says why without the password', async () => {
  const r = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()],
    { AIPASSPORT_DATABASE_URL: 'postgresql://ap:hunter2@127.0.0.1:1/ap?connect_timeout=2' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /postgresql:\/\/ap:\*\*\*@127\.0\.0\.1:1\/ap.*cannot reach PostgreSQL/);
  assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
  const bad = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', tempDir()], { AIPASSPORT_DATABASE_URL: 'postgres:/oops' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /AIPASSPORT_DATABASE_URL/);
});

// A psql session that takes a lock and holds it until released.
async function holdLock(url, statement) {
  const psql = spawn('psql', [url, '-qX', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const taken = new Promise((res, rej) => {
    psql.stdout.on('data', (d) => { if (String(d).includes('taken')) res(); });
    psql.on('exit', (code) => rej(new Error(`psql ended (${code}) before the lock was taken`)));
  });
  psql.stdin.write(`BEGIN; ${statement}; SELECT 'taken';\n`);
  await taken;
  return { release: () => new Promise((res) => { psql.on('exit', res); psql.stdin.end('COMMIT;\n'); }) };
}

test('database.pool_size: an owner\'s read stuck on the database does not hold up calls (it has a connection of its own)', async () => {
  const mock = await startMock();
  const url = databaseUrlFor(tempDir());
  const broker = await startBroker({ mock, env: { AIPASSPORT_DATABASE_URL: url, AIPASSPORT_DATABASE_POOL_SIZE: '3' } });
  const g = await approvedGrant(broker, { ...SCOPE, maxRequests: 100 });
  const before = await call(broker.url, 'GET', '/audit', { token: broker.ownerToken });
  assert.equal(before.status, 200, before.text);
  assert.ok(before.json.items.some((e) => e.kind === 'grant.approved'), 'the approval is on record at once');

  const lock = await holdLock(url, 'LOCK TABLE audit IN ACCESS EXCLUSIVE MODE');
  let auditDone = false;
  const audit = call(broker.url, 'GET', '/audit', { token: broker.ownerToken }).then((r) => { auditDone = true; return r; });
  try {
    await new Promise((res) => setTimeout(res, 300));  // the read is waiting for the lock now
    // The grant's first call takes its lease on the store thread, which the stuck read does not hold.
    const served = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
    assert.equal(served.status, 200, served.text);
    assert.equal(auditDone, false, 'the call waited for the stuck read');
  } finally {
    await lock.release();
  }
  const after = await audit;
  assert.equal(after.status, 200, after.text);
  assert.equal(await broker.stop(), 0);
});

// A grant's row held by a broker stopped mid-transaction: its calls are refused after a quarter of
// a second each (and at once for a second after that), so the broker's other grants, whose leases
// queue behind them on its one store thread, are not held up for 5 s a call.
test('a grant row held locked on the database holds up no other grant\'s calls', async () => {
  const mock = await startMock();
  const url = databaseUrlFor(tempDir());
  const broker = await startBroker({ mock, env: { AIPASSPORT_DATABASE_URL: url } });
  const locked = await approvedGrant(broker, { ...SCOPE, maxRequests: 100 });
  const free = await approvedGrant(broker, { ...SCOPE, maxRequests: 100 });
  const chat = (g) => call(broker.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  const lock = await holdLock(url, `SELECT id FROM grants WHERE id = '${locked.grantId}' FOR UPDATE`);
  // Let go after 8 s whatever happens: 20 calls waiting 5 s each would have held the broker 100 s.
  let held = true;
  const released = new Promise((res) => setTimeout(() => { held = false; lock.release().then(res); }, 8000));
  const waiting = Array.from({ length: 20 }, () => chat(locked));  // each needs a lease of the locked grant
  await new Promise((res) => setTimeout(res, 100));
  const served = await chat(free);  // its first call takes its lease on the same store thread
  assert.equal(served.status, 200, served.text);
  assert.ok(held, 'served while the other grant was still locked');
  for (const r of await Promise.all(waiting)) assert.equal(r.status, 503, r.text);
  await released;
  await eventually(async () => (await chat(locked)).status === 200, 'the grant served once let go', 5000);
  assert.equal(await broker.stop(), 0);
});

test('an app cannot erase the activity record on PostgreSQL with a model name the database cannot store', async () => {
  const mock = await startMock();
  const dataDir = tempDir();
  const broker = await startBroker({ mock, dataDir, env: { AIPASSPORT_DATABASE_URL: databaseUrlFor(dataDir) } });
  const g = await approvedGrant(broker, { ...SCOPE, maxRequests: 100 });
  const chat = (raw) => call(broker.url, 'POST', '/openai/v1/chat/completions',
    { token: g.token, raw, headers: { 'content-type': 'application/json' } });
  const messages = '"messages":[{"role":"user","content":"hi"}]';
  // All four land in one batch of activity rows: a NUL or bytes that are not UTF-8 in one row
  // made PostgreSQL refuse the whole batch, the two good calls' rows with it.
  assert.equal((await chat(`{"model":"gpt-4o-mini",${messages}}`)).status, 200);
  assert.equal((await chat(`{"model":"a\\u0000b",${messages}}`)).status, 400);
  assert.equal((await chat(Buffer.concat([Buffer.from('{"model":"c'), Buffer.from([0xff, 0xfe]), Buffer.from(`",${messages}}`)]))).status, 400);
  assert.equal((await chat(`{"model":"gpt-4o-mini",${messages}}`)).status, 200);
  const rows = await eventually(async () => {
    const page = (await call(broker.url, 'GET', `/grants/${g.grantId}/activity?limit=10`, { token: broker.ownerToken })).json;
    return page.items.length === 4 && page.items;
  }, 'four activity rows');
  const models = rows.map((r) => r.model).sort();
  assert.deepEqual(models.filter((m) => m === 'gpt-4o-mini').length, 2);
  assert.ok(models.includes('a?b'), JSON.stringify(models));
  assert.doesNotMatch(broker.output, /activity rows not recorded/);
});

// libpq and the twenty libraries it brings (GnuTLS, Kerberos, LDAP...) cost about 3.5 MB of resident
// memory: a broker maps them only when its store is PostgreSQL (src/store/postgres/libpq.hpp).
test('libpq is loaded by a broker on PostgreSQL, never by one on SQLite', async () => {
  const mapsLibpq = (broker) => /\/libpq\.so\.5/.test(readFileSync(`/proc/${broker.proc.pid}/maps`, 'utf8'));
  const dir = tempDir();
  // Debuggable: a broker not dumpable keeps its maps from a user other than root.
  const sqlite = await startBroker({ dataDir: dir, env: { AIPASSPORT_DATABASE_URL: `sqlite://${dir}/own.db`, AIPASSPORT_DEBUGGABLE: '1' } });
  assert.equal(mapsLibpq(sqlite), false);
  await sqlite.stop();
  const postgres = await startBroker({ env: { AIPASSPORT_DATABASE_URL: databaseUrlFor(tempDir()), AIPASSPORT_DEBUGGABLE: '1' } });
  assert.equal(mapsLibpq(postgres), true);
  assert.equal((await call(postgres.url, 'GET', '/ready')).status, 200);
  await postgres.stop();
});
