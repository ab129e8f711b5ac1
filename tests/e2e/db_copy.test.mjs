// Moving up: a used SQLite deployment copied into an empty PostgreSQL database (the cluster
// scripts/with-postgres.sh starts) with `aipassport db copy`, then served from there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approvedGrant, call, chatBody, cliSync, databaseUrlFor, eventually, run, startBroker, startMock, tempDir } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const PROVIDER_KEY = 'sk-erin-own-key-0123456789abcdef';

test('a used SQLite deployment copies into PostgreSQL and goes on serving from there', async () => {
  const mock = await startMock();
  const dataDir = tempDir();
  const sqliteEnv = { PATH: process.env.PATH, AIPASSPORT_DATABASE_URL: '' };
  // One public URL on both (each listens on a port of its own): the tokens' issuer stays the same.
  const sqlite = await startBroker({ mock, dataDir, env: { AIPASSPORT_DATABASE_URL: '', AIPASSPORT_PUBLIC_URL: 'https://broker.example' } });
  cliSync(['user', 'add', 'erin', '--password-stdin', '--data-dir', dataDir], { input: `${PASSWORD}\n`, env: sqliteEnv });
  cliSync(['vault', 'add', '--owner', 'erin', '--provider', 'openai', '--label', 'personal', '--data-dir', dataDir],
    { input: `${PROVIDER_KEY}\n`, env: sqliteEnv });
  const g = await approvedGrant(sqlite, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxBudgetCents: 50, maxRequests: 10 });
  for (let i = 0; i < 3; i++) {
    const r = await call(sqlite.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
    assert.equal(r.status, 200, r.text);
  }
  const before = (await call(sqlite.url, 'GET', `/grants/${g.grantId}/usage`, { token: sqlite.ownerToken })).json;
  assert.equal(before.totals.requests, 3);
  const early = await run(['db', 'copy', '--from', `sqlite://${dataDir}/aipassport.db`], { AIPASSPORT_DATABASE_URL: databaseUrlFor(tempDir()) });
  assert.equal(early.code, 1, 'a copy of a database a broker still serves from would lose what it spends meanwhile');
  assert.match(early.stderr, /nothing was copied: a broker \(node .+\) used the source database \d+ seconds ago: stop every broker on it first/);
  assert.equal(await sqlite.stop(), 0);

  const target = databaseUrlFor(tempDir());
  // The target from the environment: a password on the command line is readable by every user.
  const copy = await run(['db', 'copy', '--from', `sqlite://${dataDir}/aipassport.db`], { AIPASSPORT_DATABASE_URL: target });
  assert.equal(copy.code, 0, copy.stderr);
  assert.doesNotMatch(copy.stderr, /warning/);
  const counts = Object.fromEntries([...copy.stdout.matchAll(/^ {2}(\w+) +(\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  assert.equal(counts.grants, 1);
  assert.equal(counts.owners, 2);  // erin and the operator account
  assert.equal(counts.provider_keys, 1);
  assert.equal(counts.activity, 3);
  assert.equal(counts.token_uses, 1);
  assert.equal(counts.signing_keys, 1);  // so the tokens it issued still verify
  assert.ok(counts.usage >= 1 && counts.audit >= 3 && counts.settings >= 3, copy.stdout);
  assert.match(copy.stdout, /copied and verified/);

  // The same data directory (signing keys, master key), now on PostgreSQL.
  const pg = await startBroker({ mock, dataDir, env: { AIPASSPORT_DATABASE_URL: target, AIPASSPORT_ADMIN_TOKEN: undefined, AIPASSPORT_PUBLIC_URL: 'https://broker.example' } });
  pg.ownerToken = sqlite.ownerToken;
  const after = (await call(pg.url, 'GET', `/grants/${g.grantId}/usage`, { token: pg.ownerToken })).json;
  assert.deepEqual(after.totals, before.totals);
  assert.equal(after.budget.spentMicros, before.budget.spentMicros);
  // The record goes on after the copied one. A new grant's first call, the first row the new
  // database records, is recorded under its own id (activity_ids hands out numbers after the copied
  // ones), and the old grant's fourth call joins its three.
  const fresh = await approvedGrant(pg, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'], maxRequests: 1 });
  const first = await call(pg.url, 'POST', '/openai/v1/chat/completions', { token: fresh.token, body: chatBody('gpt-4o-mini') });
  assert.equal(first.status, 200, first.text);
  const activity = async (grantId) => (await call(pg.url, 'GET', `/grants/${grantId}/activity`, { token: pg.ownerToken })).json.items;
  await eventually(async () => (await activity(fresh.grantId)).length === 1, 'the new grant\'s call in its record', 5000);
  assert.doesNotMatch(pg.output, /record activity|duplicate key/, 'the first write of the record did not fail');
  const fourth = await call(pg.url, 'POST', '/openai/v1/chat/completions', { token: g.token, body: chatBody('gpt-4o-mini') });
  assert.equal(fourth.status, 200, fourth.text);
  await eventually(async () => (await activity(g.grantId)).length === 4, 'the fourth call with the copied three', 5000);
  assert.ok((await activity(g.grantId)).every((row) => row.grantId === g.grantId));
  const keys = cliSync(['vault', 'list', '--data-dir', dataDir], { env: { PATH: process.env.PATH, AIPASSPORT_DATABASE_URL: target } }).toString();
  assert.match(keys, /erin\s+openai\s+personal/);
  const verify = await run(['audit', 'verify', '--data-dir', dataDir], { AIPASSPORT_DATABASE_URL: target });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  const again = await run(['db', 'copy', '--from', `sqlite://${dataDir}/aipassport.db`, '--to', target]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /nothing was copied: the target database is not empty/);
});

test('db copy refuses bad input with a clear message and never shows a password', async () => {
  const missing = await run(['db', 'copy', '--from', 'sqlite:///nowhere/aipassport.db', '--to', 'postgresql://ap:hunter2@127.0.0.1:1/ap']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no database at \/nowhere\/aipassport\.db/);
  const scheme = await run(['db', 'copy', '--from', 'sqlite:///tmp/x.db', '--to', 'mysql://root:hunter2@db/ap']);
  assert.equal(scheme.code, 2);
  assert.match(scheme.stderr, /mysql:\/\/root:\*\*\*@db\/ap/);
  const dir = tempDir();
  const sqlite = await startBroker({ dataDir: dir, env: { AIPASSPORT_DATABASE_URL: '' } });
  await sqlite.stop();
  const unreachable = await run(['db', 'copy', '--from', `sqlite://${dir}/aipassport.db`, '--to', 'postgresql://ap:hunter2@127.0.0.1:1/ap?connect_timeout=2']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach PostgreSQL/);
  assert.match(unreachable.stderr, /warning: a password on the command line can be read by every user of this host/);
  const nowhere = await run(['db', 'copy', '--from', `sqlite://${dir}/aipassport.db`], { AIPASSPORT_DATABASE_URL: '' });
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /give the database to copy into: --to, or AIPASSPORT_DATABASE_URL/);
  // A PostgreSQL source with its password on the command line is warned of as well.
  const fromPostgres = await run(['db', 'copy', '--from', 'postgresql://ap:hunter2@127.0.0.1:1/ap?connect_timeout=2', '--to', `sqlite://${tempDir()}/copy.db`]);
  assert.equal(fromPostgres.code, 1);
  assert.match(fromPostgres.stderr, /warning: a password on the command line can be read by every user of this host/);
  for (const r of [missing, scheme, unreachable, fromPostgres]) assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
});
