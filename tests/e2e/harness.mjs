// Starts the real `aipassport` binary (broker and mock upstream) on free loopback ports and
// stops it after the tests. Every process started here is killed when the test file ends.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export const BIN = process.env.AIPASSPORT_BIN ?? new URL('../../build/src/aipassport', import.meta.url).pathname;
export const KEYS = { openai: 'test-openai-key', anthropic: 'test-anthropic-key', google: 'test-google-key' };

const running = new Set();
const dirs = [];
// What every process run here printed: a sanitizer build (make asan) reports there, and a report
// fails the test file even when the tests' own checks passed or the process was killed at the end.
const outputs = [];
const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer|: runtime error: /;
// Memory bounds: under AddressSanitizer (make asan sets AIPASSPORT_SANITIZED) freed memory waits in
// its quarantine (at most 256 MB) and each allocation carries shadow memory and redzones, so a bound
// on growth holds with that much more; the release build's run checks the bound itself.
export const SANITIZED = process.env.AIPASSPORT_SANITIZED === '1';
export const memoryBoundMb = (mb) => (SANITIZED ? mb * 2 + 256 : mb);
const SANITIZER_ENV = Object.fromEntries(['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS']
  .filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]));
after(() => {
  for (const p of running) p.kill('SIGKILL');
  const reports = outputs.filter(({ text }) => SANITIZER_REPORT.test(text()));
  if (reports.length > 0)
    throw new Error(`sanitizer report from ${reports.map((r) => r.what).join(', ')}:\n${reports.map((r) => r.text()).join('\n')}`);
});

// Removed when the test file's process exits: a browser a test file's own `after` closes writes
// its profile on the way out, after this file's `after` has run. Never fail a test file over a
// temporary directory.
process.once('exit', () => {
  for (const d of dirs) {
    try { rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }); } catch {}
  }
});

export function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'aipassport-e2e-'));
  dirs.push(d);
  return d;
}

// With AIPASSPORT_E2E_STORE=postgres, each data directory gets its own schema in the test cluster
// (scripts/with-postgres.sh), and every broker and command run on that directory uses it.
const schemas = new Map();
export function databaseUrlFor(dataDir) {
  if (!schemas.has(dataDir)) {
    const base = process.env.AIPASSPORT_TEST_DATABASE_URL;
    if (!base) throw new Error('AIPASSPORT_TEST_DATABASE_URL is not set: run under scripts/with-postgres.sh');
    const schema = `e2e_${process.pid}_${schemas.size + 1}`;
    execFileSync('psql', [base, '-qXc', `CREATE SCHEMA ${schema}`]);
    schemas.set(dataDir, `${base}${base.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}`);
  }
  return schemas.get(dataDir);
}

function withStore(args, env) {
  const at = args.indexOf('--data-dir');
  if (process.env.AIPASSPORT_E2E_STORE !== 'postgres' || at < 0 || env.AIPASSPORT_DATABASE_URL !== undefined) return env;
  return { ...env, AIPASSPORT_DATABASE_URL: databaseUrlFor(args[at + 1]) };
}

// Runs `aipassport <args>` until it prints its URL; resolves to { url, output, proc, stop() }.
// `command` runs the binary under another (e.g. in a namespace of its own): its last word is the binary.
export function start(args, env = {}, command = [BIN]) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command[0], [...command.slice(1), ...args], { env: { PATH: process.env.PATH, ...SANITIZER_ENV, ...withStore(args, env) }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let output = '';
    outputs.push({ what: args.join(' '), text: () => output });
    const timer = setTimeout(() => reject(new Error(`no URL within 10 s from ${args.join(' ')}:\n${output}`)), 10000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/listening on (https?:\/\/[^\s"]+)/);
      if (m && !handle.url) {
        handle.url = m[1];
        clearTimeout(timer);
        resolve(handle);
      }
    };
    const handle = {
      url: null,
      proc,
      get output() { return output; },
      stop(signal = 'SIGTERM') {
        return new Promise((res) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return res(proc.exitCode);
          proc.once('exit', (code) => { running.delete(proc); res(code); });
          proc.kill(signal);
        });
      },
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      running.delete(proc);
      clearTimeout(timer);
      if (!handle.url) reject(new Error(`exited with ${code}: ${output}`));
    });
  });
}

// execFileSync of `aipassport <args>`, on the store its --data-dir uses.
export function cliSync(args, options = {}) {
  return execFileSync(BIN, args, { ...options, env: withStore(args, options.env ?? process.env) });
}

// Runs `aipassport <args>` to its end, `input` on its standard input (which is closed after it, so
// that a command that reads it never waits).
export function run(args, env = {}, input = '') {
  return new Promise((resolve) => {
    const child = execFile(BIN, args, { env: { PATH: process.env.PATH, ...SANITIZER_ENV, ...withStore(args, env) } }, (error, stdout, stderr) => {
      outputs.push({ what: args.join(' '), text: () => stderr });
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
    child.stdin.on('error', () => {});  // a command that exits before reading it
    child.stdin.end(input);
  });
}

export async function startMock(extra = []) {
  return start(['mock-upstream', '--listen', '127.0.0.1:0', ...extra]);
}

// The owner token a broker's first start made, from its output: printed on a terminal, else in the
// file the output names (tests read a pipe).
export function firstOwnerToken(output) {
  const printed = output.match(/owner token \(shown once, keep it secret\): ([^\s"]+)/);
  if (printed) return printed[1];
  const file = output.match(/owner token \(shown once\) is in ([^\s"]+) /);
  return file ? readFileSync(file[1], 'utf8').trim() : null;
}

// A broker wired to `mock` (or to `upstreams` per provider), with the mock's keys.
export async function startBroker({ mock, dataDir = tempDir(), env = {}, args = [], command } = {}) {
  const base = mock?.url ?? 'http://127.0.0.1:9';
  const broker = await start(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    OPENAI_API_KEY: KEYS.openai,
    CLAUDE_API_KEY: KEYS.anthropic,
    GEMINI_API_KEY: KEYS.google,
    AIPASSPORT_OPENAI_BASE_URL: base,
    AIPASSPORT_ANTHROPIC_BASE_URL: base,
    AIPASSPORT_GOOGLE_BASE_URL: base,
    // Most tests play a one-person broker whose signed-in owners spend the environment's keys;
    // the tests of the sharing rule (vault.test.mjs) set it themselves.
    AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH: '*',
    ...env,
  }, command);
  broker.ownerToken = env.AIPASSPORT_ADMIN_TOKEN ?? firstOwnerToken(broker.output);
  broker.dataDir = dataDir;
  return broker;
}

// Polls `probe` until it returns something truthy (which it returns), for at most `ms`.
export async function eventually(probe, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function call(base, method, path, { body, token, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

export const SCOPES = {
  openai: { provider: 'openai', models: ['gpt-4o-mini'], capabilities: ['chat'] },
  anthropic: { provider: 'anthropic', models: ['claude-sonnet-4-5'], capabilities: ['chat'] },
  google: { provider: 'google', models: ['gemini-2.5-flash'], capabilities: ['chat'] },
};

// Request, approve and take a token: what every app does first.
export async function approvedGrant(broker, scope, { expiresInSeconds } = {}) {
  const req = await call(broker.url, 'POST', '/grant-requests', {
    body: { appName: 'E2E App', appUrl: 'https://app.example', reason: 'testing', scope },
  });
  if (req.status !== 201) throw new Error(`grant request failed: ${req.text}`);
  const grantId = req.json.grant.id;
  const approve = await call(broker.url, 'POST', `/grants/${grantId}/approve`, {
    token: broker.ownerToken, body: expiresInSeconds ? { expiresInSeconds } : {},
  });
  if (approve.status !== 200) throw new Error(`approve failed: ${approve.text}`);
  const tok = await call(broker.url, 'POST', '/tokens', { body: { grantId, requestSecret: req.json.requestSecret } });
  if (tok.status !== 201) throw new Error(`token failed: ${tok.text}`);
  return { grantId, requestSecret: req.json.requestSecret, token: tok.json.token, tokenResponse: tok.json };
}

export function chatBody(model, extra = {}) {
  return { model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }], ...extra };
}

export async function mockStats(mock) {
  return (await call(mock.url, 'GET', '/__mock/stats')).json;
}

// A certificate authority made at test time with the openssl command, in `dir`. makeCert(name,
// subjectAltName) issues a P-256 certificate and returns the paths and contents of it and its key.
export function testCa(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '1', '-subj', '/CN=aipassport test CA');
  return {
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem')),
    makeCert(name, subjectAltName) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\n`);
      openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
        '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
        '-out', `${name}.pem`, '-extfile', `${name}.ext`);
      const keyFile = join(dir, `${name}.key`), certFile = join(dir, `${name}.pem`);
      return { keyFile, certFile, key: readFileSync(keyFile), cert: readFileSync(certFile) };
    },
  };
}

// Like call(), with node's own client where fetch cannot do what a test needs: HTTPS trusting `ca`
// only (fetch takes no CA without undici), or an `agent` of the test's (a source address, say).
export function nodeCall(base, method, path, { body, raw, token, ca, agent, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    const data = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    if (body !== undefined) h['content-type'] = 'application/json';
    if (data) h['content-length'] = Buffer.byteLength(data);
    const url = new URL(path, base);
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { method, headers: h, ca, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
