// The owners' own provider keys: sealed at rest, spent only by their owner's grants, never shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, KEYS, startBroker, startMock, call, chatBody, mockStats, tempDir, run, cliSync, eventually } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ALICE_KEY = 'sk-a1-7Hq2Lw9Zp4XcTu6Mn';
const ALICE_NEW_KEY = 'sk-a2-Vb8Nm3Kd6Ty1Qa5Rs';
const BOB_KEY = 'sk-b1-Rf5Gh2Jk8Ls0QeWx3';
const CLI_KEY = 'sk-ant-c1-Pz4Yx7Wc2Vb9';
const NOT_SHARED = { AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH: '' };
let mock;

// The emulation takes only the keys the broker may legitimately hold, as a provider would.
before(async () => {
  const accepted = [ALICE_KEY, ALICE_NEW_KEY, BOB_KEY, CLI_KEY, ...Object.values(KEYS)];
  mock = await startMock(accepted.flatMap((k) => ['--accept-key', k]));
});
after(async () => { await mock.stop(); });

function cli(dataDir, args, input, env = {}) {
  return cliSync([...args, '--data-dir', dataDir], { input, env: { PATH: process.env.PATH, ...env } }).toString();
}

function addUsers(dataDir, ...names) {
  for (const name of names) cli(dataDir, ['user', 'add', name, '--password-stdin'], `${PASSWORD}\n`);
}

// A signed-in owner: JSON calls with the session cookie and the session's CSRF token.
async function signedIn(broker, username) {
  const page = await fetch(`${broker.url}/login`);
  const loginCsrf = page.headers.getSetCookie()[0].split(';')[0];
  const form = new URLSearchParams({ csrf: (await page.text()).match(/name="csrf" value="([^"]*)"/)[1], username, password: PASSWORD });
  const res = await fetch(`${broker.url}/login`, { method: 'POST', redirect: 'manual', body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCsrf } });
  assert.equal(res.status, 303, `${username} signs in`);
  const cookie = res.headers.getSetCookie().find((c) => /^(__Host-)?aipassport_session=/.test(c)).split(';')[0];
  const home = await (await fetch(`${broker.url}/`, { headers: { cookie } })).text();
  const csrf = home.match(/name="csrf" value="([^"]*)"/)[1];
  const as = (method, path, body) => call(broker.url, method, path, { body, headers: { cookie, 'x-csrf-token': csrf } });
  return Object.assign(as, { cookie, csrf });
}

async function request(broker, scope) {
  const res = await call(broker.url, 'POST', '/grant-requests', {
    body: { appName: 'Vault App', appUrl: 'https://vault.example', reason: 'testing', scope } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

// The app's token once `approve` (an owner's call, or the owner token's) approved its request.
async function grantApprovedBy(broker, approve, scope = { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] }, body = {}) {
  const req = await request(broker, scope);
  const approved = await approve('POST', `/grants/${req.grant.id}/approve`, body);
  assert.equal(approved.status, 200, approved.text);
  const tok = await call(broker.url, 'POST', '/tokens', { body: { grantId: req.grant.id, requestSecret: req.requestSecret } });
  return { grantId: req.grant.id, token: tok.json.token, grant: approved.json };
}

const asAdmin = (broker) => (method, path, body) => call(broker.url, method, path, { body, token: broker.ownerToken });

async function chat(broker, token) {
  return call(broker.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody('gpt-4o-mini') });
}

async function keyUpstreamSaw() {
  return `Bearer ${(await mockStats(mock)).lastKeys.openai}`;
}

// Every run of 8 characters of `secret` that occurs in `haystack`.
function runsOf(secret, haystack) {
  const found = [];
  for (let i = 0; i + 8 <= secret.length; ++i) if (haystack.includes(secret.slice(i, i + 8))) found.push(secret.slice(i, i + 8));
  return found;
}

test('each owner\'s grants spend that owner\'s key; nobody spends another\'s; the environment key is the operator\'s', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice', 'bob', 'carol');
  const broker = await startBroker({ mock, dataDir, env: NOT_SHARED });
  const alice = await signedIn(broker, 'alice');
  const bob = await signedIn(broker, 'bob');
  const carol = await signedIn(broker, 'carol');

  const added = await alice('POST', '/keys', { provider: 'openai', label: 'personal', key: ALICE_KEY });
  assert.equal(added.status, 201, added.text);
  assert.deepEqual(Object.keys(added.json).sort(), ['createdAt', 'hint', 'id', 'label', 'lastUsedAt', 'provider', 'source']);
  assert.equal(added.json.hint, ALICE_KEY.slice(-4));
  assert.equal(added.json.lastUsedAt, null);
  assert.deepEqual(runsOf(ALICE_KEY.slice(0, -4), added.text), [], 'no part of the key but its hint comes back');
  assert.equal((await bob('POST', '/keys', { provider: 'openai', key: BOB_KEY })).status, 201);

  const a = await grantApprovedBy(broker, alice);
  assert.equal(a.grant.keyLabel, 'personal');
  assert.equal((await chat(broker, a.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${ALICE_KEY}`);
  const b = await grantApprovedBy(broker, bob);
  assert.equal(b.grant.keyLabel, 'default');
  assert.equal((await chat(broker, b.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${BOB_KEY}`);
  const op = await grantApprovedBy(broker, asAdmin(broker));
  assert.equal(op.grant.keyLabel, 'environment');
  assert.equal((await chat(broker, op.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${KEYS.openai}`, 'the owner token spends the operator\'s (environment) key');

  // Carol has no key and the operator shares none: she cannot approve, and cannot bind Alice's label.
  const waiting = await request(broker, { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] });
  const refused = await carol('POST', `/grants/${waiting.grant.id}/approve`, {});
  assert.equal(refused.status, 503);
  assert.equal(refused.json.type, 'key_missing');
  const borrowed = await bob('POST', `/grants/${waiting.grant.id}/approve`, { keyLabel: 'personal' });
  assert.equal(borrowed.status, 400, 'bob cannot bind a label only alice holds');
  assert.equal(borrowed.json.details?.keyLabel ?? borrowed.json.type, borrowed.json.details?.keyLabel ?? 'validation_failed');

  // Each owner lists only their own keys; the owner token lists the operator's, environment ones included.
  const aliceKeys = (await alice('GET', '/keys')).json.keys;
  assert.deepEqual(aliceKeys.map((k) => [k.provider, k.label, k.hint]), [['openai', 'personal', ALICE_KEY.slice(-4)]]);
  const operatorKeys = (await asAdmin(broker)('GET', '/keys')).json.keys;
  assert.deepEqual(operatorKeys.map((k) => [k.provider, k.label, k.source]).sort(),
    [['anthropic', 'environment', 'environment'], ['google', 'environment', 'environment'], ['openai', 'environment', 'environment']]);
  assert.equal((await bob('DELETE', `/keys/${added.json.id}`)).status, 404, 'bob cannot remove alice\'s key');

  // The time of last use reaches the store within seconds.
  await eventually(async () => (await alice('GET', '/keys')).json.keys[0].lastUsedAt, 'lastUsedAt of alice\'s key');

  // A key added under an existing label replaces it: the grant goes on with the new key.
  const replaced = await alice('POST', '/keys', { provider: 'openai', label: 'personal', key: ALICE_NEW_KEY });
  assert.equal(replaced.status, 201);
  assert.equal((await chat(broker, a.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${ALICE_NEW_KEY}`);
  assert.equal((await alice('GET', '/keys')).json.keys.length, 1);

  // Removing it stops its grants with a clear 503, and the log says what is missing, not the key.
  assert.equal((await alice('DELETE', `/keys/${replaced.json.id}`)).status, 204);
  const trail = await eventually(async () => {
    const items = (await alice('GET', '/audit')).json.items.filter((r) => r.kind.startsWith('key.'));
    return items.length === 3 && items;
  }, 'the key events in alice\'s audit trail');
  assert.deepEqual(trail.map((r) => r.kind).sort(), ['key.added', 'key.removed', 'key.rotated']);
  for (const r of trail) assert.equal(r.detail.label, 'personal');
  assert.ok(!(await bob('GET', '/audit')).json.items.some((r) => r.kind.startsWith('key.') && r.detail.label === 'personal'),
    'bob does not see alice\'s key events');
  for (const secret of [ALICE_KEY, ALICE_NEW_KEY]) assert.deepEqual(runsOf(secret.slice(0, -4), JSON.stringify(trail)), []);
  const stopped = await chat(broker, a.token);
  assert.equal(stopped.status, 503);
  assert.equal(stopped.json.error.code, 'key_missing');
  assert.match(stopped.json.error.message, /has no openai key for it any more/);
  assert.doesNotMatch(stopped.text, /personal/, 'the label is for the owner\'s log, not the app');
  assert.match(broker.output, /grant \S+: its owner has no openai key labelled 'personal'/);
  // An app retrying the refused call does not fill the log: one line a minute per grant.
  for (let i = 0; i < 3; i++) assert.equal((await chat(broker, a.token)).status, 503);
  assert.equal(broker.output.match(/its owner has no openai key labelled 'personal'/g).length, 1, 'logged once a minute');
  assert.equal((await chat(broker, b.token)).status, 200, 'bob\'s grant is untouched');
  await broker.stop();
  for (const secret of [ALICE_KEY, ALICE_NEW_KEY, BOB_KEY]) assert.deepEqual(runsOf(secret, broker.output), [], 'no key in the log');
});

test('a key is refused with a clear error that never repeats it', async () => {
  const broker = await startBroker({ mock, env: NOT_SHARED });
  const admin = asAdmin(broker);
  const cases = [
    [{ provider: 'openai', key: 'short' }, 'key'],
    [{ provider: 'openai', key: 'sk-has a space-0123456789' }, 'key'],
    [{ provider: 'nope', key: 'sk-0123456789abcdefgh' }, 'provider'],
    [{ provider: 'openai', label: '', key: 'sk-0123456789abcdefgh' }, 'label'],
    [{ provider: 'openai', label: 'a\u202eb', key: 'sk-0123456789abcdefgh' }, 'label'],
    [{ provider: 'openai', label: 'x'.repeat(41), key: 'sk-0123456789abcdefgh' }, 'label'],
    [{ provider: 'openai' }, 'key'],
    [{ provider: 'openai', key: 12345678901234567 }, 'key'],
  ];
  for (const [body, field] of cases) {
    const res = await admin('POST', '/keys', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.ok(res.json.details?.[field] ?? res.json.fieldErrors?.[field] ?? res.text.includes(`"${field}"`), `${field}: ${res.text}`);
    if (typeof body.key === 'string' && body.key.length >= 8) assert.deepEqual(runsOf(body.key, res.text), []);
  }
  assert.equal((await call(broker.url, 'POST', '/keys', { body: { provider: 'openai', key: 'sk-0123456789abcdefgh' } })).status, 401);
  assert.equal((await call(broker.url, 'GET', '/keys')).status, 401);
  await broker.stop();
});

test('the operator may share the environment\'s keys with named owners, and only with them', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice', 'bob');
  const broker = await startBroker({ mock, dataDir, env: { AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH: 'alice' } });
  const alice = await signedIn(broker, 'alice');
  const bob = await signedIn(broker, 'bob');
  const a = await grantApprovedBy(broker, alice);
  assert.equal(a.grant.keyLabel, 'environment');
  assert.equal((await chat(broker, a.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${KEYS.openai}`);
  const waiting = await request(broker, { provider: 'openai', models: [], capabilities: ['chat'] });
  const refused = await bob('POST', `/grants/${waiting.grant.id}/approve`, {});
  assert.equal(refused.status, 503);
  assert.equal(refused.json.type, 'key_missing');
  await broker.stop();
});

test('the CLI adds, lists and removes keys on a running broker, which picks them up; only hints are printed', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice');
  const broker = await startBroker({ mock, dataDir, env: NOT_SHARED });
  // The blanks a copied key brings are dropped (the provider gets the key alone: below).
  const out = cli(dataDir, ['vault', 'add', '--owner', 'alice', '--provider', 'anthropic', '--label', 'team'], ` ${CLI_KEY}\t\r\n`);
  assert.match(out, /added alice's anthropic key 'team' \(…2Vb9\)/);
  assert.deepEqual(runsOf(CLI_KEY.slice(0, -4), out), []);
  assert.throws(() => cli(dataDir, ['vault', 'add', '--owner', 'nobody', '--provider', 'openai'], `${CLI_KEY}\n`), /no owner named 'nobody'/);
  assert.throws(() => cli(dataDir, ['vault', 'add', '--owner', 'alice', '--provider', 'nope'], `${CLI_KEY}\n`), /unknown provider/);
  assert.throws(() => cli(dataDir, ['vault', 'add', '--owner', 'alice', '--provider', 'openai'], 'short\n'), /key: Expected/);
  assert.throws(() => cli(dataDir, ['vault', 'add', '--owner', 'alice', '--provider', 'openai'], `${CLI_KEY}\n${CLI_KEY}\n`),
    /stdin holds more than one line: give it the one key/);
  const list = cli(dataDir, ['vault', 'list']);
  assert.match(list, /\talice\tanthropic\tteam\t…2Vb9\t/);
  assert.deepEqual(runsOf(CLI_KEY.slice(0, -4), list), []);

  const alice = await signedIn(broker, 'alice');
  const scope = { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'] };
  const req = await request(broker, scope);
  const approved = await eventually(async () => {
    const res = await alice('POST', `/grants/${req.grant.id}/approve`, {});
    return res.status === 200 && res;
  }, 'the running broker takes the CLI\'s key (approval stops saying key_missing)');
  assert.equal(approved.json.keyLabel, 'team');
  const token = (await call(broker.url, 'POST', '/tokens', { body: { grantId: req.grant.id, requestSecret: req.requestSecret } })).json.token;
  const message = () => call(broker.url, 'POST', '/anthropic/v1/messages', { headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } });
  const res = await message();
  assert.equal(res.status, 200, res.text);
  assert.equal((await mockStats(mock)).lastKeys.anthropic, CLI_KEY);

  const id = list.split('\t')[0];
  assert.match(cli(dataDir, ['vault', 'remove', id]), /removed the anthropic key 'team'/);
  const gone = await eventually(async () => { const r = await message(); return r.status === 503 && r; },
    'the running broker drops the removed key');
  assert.equal(gone.json.error.type, 'api_error');
  assert.match(gone.json.error.message, /has no anthropic key for it any more/);
  assert.match(broker.output, /its owner has no anthropic key labelled 'team'/);
  await broker.stop();
});

test('no stored key is in the database, its WAL or the logs in plain text; the master key file is private', async () => {
  const fresh = await startBroker({ mock, env: NOT_SHARED });  // a broker that makes it says so too
  assert.match(fresh.output, /warning: created the vault's master key in .*master\.key; in production keep it elsewhere/);
  await fresh.stop();
  const dataDir = tempDir();
  // Whichever makes the master key says so: here `user add` (its audit record needs the key).
  const added = spawnSync(BIN, ['user', 'add', 'alice', '--password-stdin', '--data-dir', dataDir],
    { input: `${PASSWORD}\n`, env: { PATH: process.env.PATH } });
  assert.equal(added.status, 0, String(added.stderr));
  assert.match(String(added.stderr), /warning: created the vault's master key in .*master\.key; in production keep it elsewhere/);
  const broker = await startBroker({ mock, dataDir, env: { ...NOT_SHARED, AIPASSPORT_LOG_LEVEL: 'debug' } });
  assert.doesNotMatch(broker.output, /created the vault's master key/, 'the broker found the key made before');
  const alice = await signedIn(broker, 'alice');
  assert.equal((await alice('POST', '/keys', { provider: 'openai', label: 'personal', key: ALICE_KEY })).status, 201);
  assert.equal((await alice('POST', '/keys', { provider: 'openai', label: 'personal', key: ALICE_NEW_KEY })).status, 201);
  cli(dataDir, ['vault', 'add', '--owner', 'alice', '--provider', 'anthropic'], `${CLI_KEY}\n`);
  const g = await grantApprovedBy(broker, alice);
  assert.equal((await chat(broker, g.token)).status, 200);
  const files = readdirSync(dataDir).filter((f) => f.startsWith('aipassport.db'));
  assert.ok(files.includes('aipassport.db-wal'), `the WAL is there to search: ${files}`);
  const bytes = files.map((f) => readFileSync(join(dataDir, f)).toString('latin1')).join('\n');
  await broker.stop();
  for (const secret of [ALICE_KEY, ALICE_NEW_KEY, CLI_KEY]) {
    assert.deepEqual(runsOf(secret, bytes), [], 'no run of 8 characters of a key in the database files');
    assert.deepEqual(runsOf(secret, broker.output), [], 'nor in the debug log');
  }
  const mode = execFileSync('stat', ['-c', '%a', join(dataDir, 'master.key')]).toString().trim();
  assert.equal(mode, '600');
});

test('the master key rotates while a broker serves calls; a wrong or missing master key stops the start', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice');
  // One public URL across the restart (a new port): the tokens' issuer stays the same.
  const broker = await startBroker({ mock, dataDir, env: { ...NOT_SHARED, AIPASSPORT_PUBLIC_URL: 'https://broker.example' } });
  const alice = await signedIn(broker, 'alice');
  assert.equal((await alice('POST', '/keys', { provider: 'openai', key: ALICE_KEY })).status, 201);
  const g = await grantApprovedBy(broker, alice);
  const newKeyFile = join(tempDir(), 'new-master.key');
  let rotated = false;
  const rotation = new Promise((resolve) => execFile(BIN, ['vault', 'rotate-master', '--new-key-file', newKeyFile, '--data-dir', dataDir],
    { env: { PATH: process.env.PATH } }, (error, stdout, stderr) => { rotated = true; resolve({ error, stdout, stderr }); }));
  const statuses = [];
  while (!rotated || statuses.length < 20) {
    const batch = await Promise.all([chat(broker, g.token), chat(broker, g.token)]);
    statuses.push(...batch.map((r) => r.status));
  }
  const { error, stdout, stderr } = await rotation;
  assert.equal(error, null, stderr);
  assert.match(stdout, /re-wrapped 1 keys under the new master key/);
  assert.deepEqual([...new Set(statuses)], [200], 'every call during the rotation succeeded');
  // Once it has tried to read the re-wrapped signing keys, which its master key no longer opens, it
  // serves on with the keys it holds (none was dropped).
  await eventually(() => broker.output.includes('signing keys not reloaded'), 'the ring read after the rotation');
  for (let i = 0; i < 5; ++i) assert.equal((await chat(broker, g.token)).status, 200);
  assert.equal(await broker.stop(), 0, 'still running until stopped');

  const stale = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  assert.notEqual(stale.code, 0, 'the old master key no longer opens the vault');
  assert.match(stale.stderr, /is not the one the stored provider keys are sealed with/);
  const wrong = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /AIPASSPORT_MASTER_KEY .*is not the one/);
  const garbage = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY: 'not-a-key' });
  assert.match(garbage.stderr, /AIPASSPORT_MASTER_KEY does not hold a master key/);
  const missing = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY_FILE: join(dataDir, 'absent.key') });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /master key file .*absent\.key is missing/);

  // The audit trail, keyed under a key the rotation re-wrapped, still verifies, rotation included.
  const verified = await run(['audit', 'verify', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY_FILE: newKeyFile });
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  const exported = await run(['audit', 'export', '--data-dir', dataDir], { AIPASSPORT_MASTER_KEY_FILE: newKeyFile });
  assert.match(exported.stdout, /"kind":"vault.master_key_rotated"/);
  assert.match(exported.stdout, /"kind":"key.added"/);

  const renewed = await startBroker({ mock, dataDir, env: { ...NOT_SHARED, AIPASSPORT_MASTER_KEY_FILE: newKeyFile, AIPASSPORT_PUBLIC_URL: 'https://broker.example' } });
  assert.equal((await chat(renewed, g.token)).status, 200);
  assert.equal(await keyUpstreamSaw(), `Bearer ${ALICE_KEY}`);
  await renewed.stop();
});

test('the consent screen offers the owner\'s keys by label, or says a key is needed first; an owner\'s key a provider quotes never reaches the app', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice', 'bob');
  const broker = await startBroker({ mock, dataDir, env: NOT_SHARED });
  const alice = await signedIn(broker, 'alice');
  const bob = await signedIn(broker, 'bob');
  assert.equal((await alice('POST', '/keys', { provider: 'openai', label: 'personal', key: ALICE_KEY })).status, 201);
  assert.equal((await alice('POST', '/keys', { provider: 'openai', label: 'team', key: ALICE_NEW_KEY })).status, 201);
  const scope = { provider: 'openai', models: ['gpt-4o-mini', 'quote-key*'], capabilities: ['chat'] };
  const req = await request(broker, scope);

  const page = async (who) => (await who('GET', `/consent/${req.grant.id}`)).text;
  const alicePage = await page(alice);
  assert.match(alicePage, /<select id="key_label" name="key_label"><option value="personal">personal<\/option><option value="team">team<\/option><\/select>/);
  const bobPage = await page(bob);
  assert.match(bobPage, /id="no-key"[^>]*>You have no OpenAI key yet, so this cannot be approved/);
  assert.match(bobPage, /value="approve" disabled/);

  const approved = await alice('POST', `/grants/${req.grant.id}/approve`, { keyLabel: 'team' });
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.json.keyLabel, 'team');
  const token = (await call(broker.url, 'POST', '/tokens', { body: { grantId: req.grant.id, requestSecret: req.requestSecret } })).json.token;
  for (const model of ['quote-key', 'quote-key-error']) {
    const res = await call(broker.url, 'POST', '/openai/v1/chat/completions', { token, body: chatBody(model) });
    assert.equal(await keyUpstreamSaw(), `Bearer ${ALICE_NEW_KEY}`);
    // Of its secret: the public prefix a provider prints in the clear (`sk-`) is not key material.
    const secret = ALICE_NEW_KEY.slice('sk-'.length);
    assert.deepEqual(runsOf(secret, res.text + JSON.stringify([...res.headers])), [], `${model}: ${res.text}`);
    assert.match(res.text, /\[redacted\]/, 'the quoted key was there to be removed');
  }
  await broker.stop();
  assert.match(broker.output, /openai answer had key material removed|key material/);
});

// Over HTTP, cookies ignore ports and who set them: another site on the host plants its own
// owner's session for the keys page's path, which the browser then sends first, beside the owner's.
test('a session cookie planted beside the owner\'s own signs nobody in: the key typed is stored for no one', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'alice', 'mallory');
  const b = await startBroker({ mock, dataDir, env: NOT_SHARED });
  try {
    const alice = await signedIn(b, 'alice');
    const mallory = await signedIn(b, 'mallory');
    const page = await call(b.url, 'GET', '/keys', { headers: { accept: 'text/html', cookie: `${mallory.cookie}; ${alice.cookie}` } });
    assert.match(page.text, /name="password"/, 'sent to sign in, not shown mallory\'s keys page');
    assert.match(page.text, /two different sign-in cookies/, 'told why, and left there rather than sent back in a loop');
    const typed = await call(b.url, 'POST', '/console/keys', {
      raw: new URLSearchParams({ csrf: mallory.csrf, provider: 'openai', label: 'mine', key: 'sk-alice-abcdefghijklmnopWXYZ' }).toString(),
      headers: { cookie: `${mallory.cookie}; ${alice.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.match(typed.text, /<title>Sign in/, 'sent to sign in');
    for (const who of [mallory, alice])
      assert.equal((await who('GET', '/keys')).json.keys.filter((k) => k.source === 'vault').length, 0);
  } finally {
    await b.stop();
  }
});

test('the key form keeps the bound the API keeps: 100 keys an owner, none for a server that takes none', async () => {
  const dataDir = tempDir();
  addUsers(dataDir, 'kim');
  const config = join(dataDir, 'aipassport.toml');
  writeFileSync(config, `[[openai_compatible]]\nname = "local"\nbase_url = "${mock.url}"\n`);
  const b = await startBroker({ mock, dataDir, env: NOT_SHARED, args: ['--config', config] });
  const kim = await signedIn(b, 'kim');
  const key = (i) => `sk-kim-${String(i).padStart(4, '0')}-abcdefghijkl`;
  for (let i = 0; i < 100; i++)
    assert.equal((await kim('POST', '/keys', { provider: 'openai', label: `k${i}`, key: key(i) })).status, 201);
  const form = (fields) => call(b.url, 'POST', '/console/keys', {
    raw: new URLSearchParams({ csrf: kim.csrf, ...fields }).toString(),
    headers: { cookie: kim.cookie, 'content-type': 'application/x-www-form-urlencoded' },
  });
  const over = await form({ provider: 'openai', label: 'k100', key: key(100) });
  assert.equal(over.status, 400, over.text);
  assert.match(over.text, /the most an owner may keep; remove one first/);
  assert.ok(!over.text.includes(key(100)), 'the key is not sent back');
  const rotated = await form({ provider: 'openai', label: 'k7', key: 'sk-kim-rotated-abcdefghWXYZ' });
  assert.equal(rotated.status, 200, rotated.text);  // the keys page, after the redirect
  const listed = (await kim('GET', '/keys')).json.keys.filter((k) => k.source === 'vault');
  assert.equal(listed.length, 100);
  assert.equal(listed.find((k) => k.label === 'k7').hint, 'WXYZ', 'replacing a key by its label still works');
  const keyless = await kim('POST', '/keys', { provider: 'local', label: 'x', key: 'sk-local-abcdefghijklmnop' });
  assert.equal(keyless.status, 400, keyless.text);
  assert.match(JSON.stringify(keyless.json), /Expected one of: openai, anthropic(,| and) google/);
  await b.stop();
});
