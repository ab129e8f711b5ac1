// The command line: exit codes (0 ok, 1 failure at run time, 2 bad usage or configuration), data
// directories never made by commands other than serve, first-start guidance, config error places.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { databaseUrlFor, run, startBroker, tempDir } from './harness.mjs';

test('bad usage exits 2; --help and --version exit 0', async () => {
  assert.equal((await run(['--version'])).code, 0);
  assert.equal((await run(['--help'])).code, 0);
  assert.equal((await run([])).code, 2, 'no command');
  assert.equal((await run(['frobnicate'])).code, 2, 'unknown command');
  assert.equal((await run(['user', 'add'])).code, 2, 'a required argument missing');
  assert.equal((await run(['serve', '--no-such-flag'])).code, 2);
  assert.equal((await run(['serve', '--config', '/nonexistent.toml'])).code, 2);
});

test('a bad configuration exits 2 and names the line and column of a syntax error', async () => {
  const dir = tempDir();
  const file = join(dir, 'aipassport.toml');
  writeFileSync(file, 'listen = "127.0.0.1:0"\n\nlog_level = = "info"\n');
  const r = await run(['serve', '--config', file, '--data-dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /line 3, column \d+/);
  writeFileSync(file, 'log_format = "xml"\n');
  const bad = await run(['serve', '--config', file, '--data-dir', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /log_format/);
});

test('commands other than serve never create a data directory', async () => {
  const missing = join(tempDir(), 'typo');
  for (const args of [['user', 'list'], ['user', 'add', 'ann', '--password-stdin'], ['client', 'list'],
    ['vault', 'list'], ['audit', 'verify'], ['activity', 'export'], ['admin-token', '--reset'],
    ['keys', 'rotate-signing']]) {
    const r = await run([...args, '--data-dir', missing]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /no data directory at/);
    assert.ok(!existsSync(missing), `${args.join(' ')} made the directory`);
  }
});

test('in an empty directory, listing says no broker data is there; user add and client add set it up', async () => {
  const dir = tempDir();
  for (const args of [['user', 'list'], ['client', 'list'], ['vault', 'list'], ['audit', 'verify'],
    ['activity', 'export'], ['user', 'remove', 'ann'], ['db', 'migrate']]) {
    const r = await run([...args, '--data-dir', dir]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /no broker data at .*aipassport\.db/);
    assert.ok(!existsSync(join(dir, 'aipassport.db')), `${args.join(' ')} made a database`);
  }
  const add = await run(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/cb', '--data-dir', dir]);
  assert.equal(add.code, 0, add.stderr);
  assert.ok(existsSync(join(dir, 'aipassport.db')));
  assert.equal((await run(['client', 'list', '--data-dir', dir])).code, 0);
  const migrate = await run(['db', 'migrate', '--data-dir', dir]);
  assert.equal(migrate.code, 0, migrate.stderr);
  assert.match(migrate.stdout, /aipassport\.db is at schema version \d+, the newest this aipassport knows/);
});

test('a failure at run time exits 1', async () => {
  const dir = tempDir();
  await run(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/cb', '--data-dir', dir]);
  const r = await run(['user', 'passwd', 'nobody', '--password-stdin', '--data-dir', dir]);
  assert.equal(r.code, 1, r.stderr);
});

test('input a command refuses exits 2, saying what is wrong', async () => {
  const dir = tempDir();
  await run(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/cb', '--data-dir', dir]);
  const id = (await run(['client', 'list', '--data-dir', dir])).stdout.split('\t')[0];
  for (const [args, said] of [
    [['user', 'add', 'bad name!', '--password-stdin'], /a username is 1-64 letters/],
    [['activity', 'export', '--format', 'xml'], /--format must be jsonl or csv/],
    [['activity', 'export', '--from', 'yesterday'], /--from must be an ISO 8601 time or date/],
    [['audit', 'export', '--kind', 'grant.revoke'], /Unknown audit kind/],
    [['client', 'edit', id], /nothing to change/],
    [['vault', 'add', '--owner', 'operator', '--provider', 'nope'], /unknown provider 'nope'/],
    [['user', 'remove', 'operator'], /the operator's account cannot be removed/],
    [['user', 'add', 'OPERATOR', '--password-stdin'], /an owner named 'operator' exists: names differing only in case/],
  ]) {
    const r = await run([...args, '--data-dir', dir]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, said);
  }
  const shortToken = tempDir();
  const refused = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', join(shortToken, 'data')],
    { AIPASSPORT_ADMIN_TOKEN: 'short' });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /too short/);
  assert.ok(!existsSync(join(shortToken, 'data')), 'refused before anything was made');
  const patterned = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', join(shortToken, 'data')],
    { AIPASSPORT_ADMIN_TOKEN: 'abcabcabcabcabcabcabcabcabcabc' });
  assert.equal(patterned.code, 2, patterned.stderr);
  assert.match(patterned.stderr, /repeats too few characters to be a secret \(at least 8 different ones\)/);
});

test('the first owner token goes to a new file of the broker\'s own, never through a link left in its place', async () => {
  const dir = tempDir();
  const elsewhere = join(tempDir(), 'collected');
  writeFileSync(elsewhere, 'nothing yet\n');
  symlinkSync(elsewhere, join(dir, 'owner-token'));
  const broker = await startBroker({ dataDir: dir });
  assert.match(broker.ownerToken, /^apo_/);
  assert.equal(readFileSync(elsewhere, 'utf8'), 'nothing yet\n', 'the link\'s target was not written');
  const file = lstatSync(join(dir, 'owner-token'));
  assert.ok(file.isFile() && (file.mode & 0o777) === 0o600);
  await broker.stop();
});

test('the first start says what to do next; a later start does not repeat it', async () => {
  const dir = tempDir();
  const first = await startBroker({ dataDir: dir });
  assert.match(first.output, /next steps:/);
  assert.match(first.output, new RegExp(`aipassport user add NAME --data-dir ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(first.output, new RegExp(`open ${first.url}/ and sign in`));
  assert.match(first.output, /master key is .*master\.key/);
  await first.stop();
  const second = await startBroker({ dataDir: dir });
  assert.doesNotMatch(second.output, /next steps:/);
  assert.match(second.output, /the owner token made at the first start is still in \S*owner-token: delete it/);
});

test('an upstream key variable that is not set stops serve, naming it, and no other command: they need no provider key', async () => {
  const dir = tempDir();
  const file = join(dir, 'aipassport.toml');
  writeFileSync(file, '[[openai_compatible]]\nname = "local"\nbase_url = "http://127.0.0.1:9"\napi_key_env = "LOCAL_LLM_KEY_UNSET"\n');
  const added = await run(['client', 'add', 'Notes', '--redirect-uri', 'http://127.0.0.1/cb', '--config', file, '--data-dir', dir]);
  assert.equal(added.code, 0, added.stderr);
  const serve = await run(['serve', '--config', file, '--data-dir', dir, '--listen', '127.0.0.1:0']);
  assert.equal(serve.code, 2, serve.stderr);
  assert.match(serve.stderr, /openai_compatible 'local': the variable named by api_key_env \('LOCAL_LLM_KEY_UNSET'\) is not set/);
});

// The old owner token is dead once the new one is stored, and a confidential app's secret is stored
// only as a hash: a step after that fails (here the audit trail, whose head no longer fits) must not
// swallow them.
test('a secret the CLI stored is shown even when the audit trail then refuses to record it', async () => {
  const dir = tempDir();
  const sqliteOnly = { AIPASSPORT_DATABASE_URL: '' };
  const made = await run(['user', 'add', 'ann', '--password-stdin', '--data-dir', dir], sqliteOnly, 'correct horse battery staple\n');
  assert.equal(made.code, 0, made.stderr);
  const db = join(dir, 'aipassport.db');
  execFileSync('sqlite3', [db, "UPDATE settings SET value = '-1 damaged head' WHERE key = 'audit.head'"]);
  const reset = await run(['admin-token', '--reset', '--data-dir', dir], sqliteOnly);
  assert.equal(reset.code, 1, reset.stderr);
  assert.match(reset.stderr, /the owner token was reset, but the audit trail did not take it/);
  const token = reset.stdout.match(/new owner token \(shown once, keep it secret\): (apo_\S+)/)?.[1];
  assert.ok(token, reset.stdout);
  const stored = execFileSync('sqlite3', [db, "SELECT value FROM settings WHERE key = 'owner_token_sha256'"]).toString().trim();
  assert.equal(stored, createHash('sha256').update(token).digest('hex'), 'the token shown is the one stored');
  const client = await run(['client', 'add', 'notes', '--redirect-uri', 'http://127.0.0.1/cb', '--confidential', '--data-dir', dir], sqliteOnly);
  assert.equal(client.code, 1, client.stderr);
  assert.match(client.stdout, /^client_id: \S+\nclient_secret \(shown once, keep it secret\): \S+\n/);
});

test('where the broker keeps its data in PostgreSQL, a command given no configuration refuses, rather than make a SQLite database of its own', async () => {
  const dir = tempDir();
  const env = { AIPASSPORT_DATABASE_URL: databaseUrlFor(dir) };
  const broker = await startBroker({ dataDir: dir, env });
  await broker.stop();
  // AIPASSPORT_DATABASE_URL empty, as unset: a command given no configuration (and the harness's
  // PostgreSQL mode adds none).
  const none = { AIPASSPORT_DATABASE_URL: '' };
  const stray = await run(['user', 'add', 'bob', '--password-stdin', '--data-dir', dir], none, 'correct horse battery staple\n');
  assert.equal(stray.code, 2, stray.stderr);
  assert.match(stray.stderr, /keeps its data in PostgreSQL \(its file 'database' says so\), and this command would use a SQLite database of its own there: give it the broker's configuration/);
  assert.ok(!existsSync(join(dir, 'aipassport.db')), 'no SQLite database was made');
  const reset = await run(['admin-token', '--reset', '--data-dir', dir], none);
  assert.equal(reset.code, 2, 'nor is a token reset there that the broker would not know');
  const served = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir], none);
  assert.equal(served.code, 2, `nor does a broker serve an empty SQLite database there: ${served.stderr}`);
  assert.match(served.stderr, /keeps its data in PostgreSQL \(its file 'database' says so\), and this broker would use a SQLite database/);
  assert.ok(!existsSync(join(dir, 'aipassport.db')), 'no SQLite database was made');
  assert.equal(readFileSync(join(dir, 'database'), 'utf8').trim(), 'postgresql', 'the directory still says PostgreSQL');
  const listed = await run(['user', 'list', '--data-dir', dir], env);
  assert.equal(listed.code, 0, listed.stderr);
  const chosen = await run(['user', 'add', 'bob', '--password-stdin', '--data-dir', dir],
    { AIPASSPORT_DATABASE_URL: `sqlite://${dir}/other.db` }, 'correct horse battery staple\n');
  assert.equal(chosen.code, 0, `a SQLite database named outright is the operator's choice: ${chosen.stderr}`);
});
