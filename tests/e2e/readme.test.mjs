// The README's walkthrough ("A first grant, by hand") runs as pasted: only B and OWNER are filled in.
// Its emulation snippet (the mock upstream and `make run` pointed at it) runs too, with the
// Makefile's own `run` recipe, and the walkthrough then runs against what it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { BIN, call, firstOwnerToken, startBroker, startMock, tempDir } from './harness.mjs';

function shBlocks() {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split('\n## A first grant, by hand\n')[1].split('\n## ')[0];
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, 'the section has its sh blocks: the walkthrough and the emulation');
  return blocks;
}

const walkthrough = () => shBlocks()[0];

// Runs the walkthrough against `url`; returns its four answers.
function runWalkthrough(url, ownerToken) {
  const script = walkthrough()
    .replace('B=http://127.0.0.1:8080', `B=${url}`)
    .replace('OWNER=apo_...', `OWNER=${ownerToken}`);
  assert.doesNotMatch(script, /127\.0\.0\.1:8080|apo_\.\.\./, 'only B and OWNER are placeholders');
  // Each curl's answer on a line of its own, so each step can be checked.
  const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script.replace(/^curl /gm, 'echo; curl ')],
    { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('the README walkthrough runs as pasted against a fresh broker and the emulation', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock });
  const answers = runWalkthrough(broker.url, broker.ownerToken);
  const [approved, answered, revoked, refused] = answers;
  assert.equal(approved.status, 'approved', JSON.stringify(approved));
  assert.match(answered.choices[0].message.content, /Hello/, JSON.stringify(answered));
  assert.equal(revoked.status, 'revoked', JSON.stringify(revoked));
  assert.ok(refused.error, `the call after revoking is refused: ${JSON.stringify(refused)}`);
  const grants = (await call(broker.url, 'GET', '/grants', { token: broker.ownerToken })).json;
  assert.equal(grants.length, 1);
  assert.equal(grants[0].status, 'revoked');
  assert.equal(grants[0].appName, 'Notes');
});

test('the README emulation snippet starts the emulation and a broker that calls it (the Makefile\'s run recipe)', async () => {
  const snippet = shBlocks()[1];
  assert.match(snippet, /aipassport mock-upstream --listen 127\.0\.0\.1:9000/);
  assert.match(snippet, /make run\s*$/);
  // The binary is built already: `make build` has nothing to do, and `make run` is the Makefile's
  // own recipe, on a free port (the README's 8080 and 9000 may be taken on this machine).
  const makefile = readFileSync(new URL('../../Makefile', import.meta.url), 'utf8');
  const recipe = makefile.match(/^run: build\n\t(.+)$/m)[1].replaceAll('$(BUILD)', 'build');
  assert.match(recipe, /127\.0\.0\.1:8080/);
  const work = tempDir();
  mkdirSync(join(work, 'build/src'), { recursive: true });
  symlinkSync(BIN, join(work, 'build/src/aipassport'));
  mkdirSync(join(work, 'bin'));
  writeFileSync(join(work, 'bin/make'), `#!/bin/sh
case "$1" in
  build) exit 0 ;;
  run) exec ${recipe.replace('127.0.0.1:8080', '127.0.0.1:0')} ;;
  *) echo "make $1: not part of the snippet" >&2; exit 2 ;;
esac
`);
  chmodSync(join(work, 'bin/make'), 0o755);
  const port = await freePort();
  const script = snippet.replaceAll('127.0.0.1:9000', `127.0.0.1:${port}`);
  // Its own process group, so the emulation it leaves in the background is stopped with it.
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: work, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: `${join(work, 'bin')}:${process.env.PATH}`, HOME: work },
  });
  let output = '';
  shell.stdout.on('data', (c) => { output += c; });
  shell.stderr.on('data', (c) => { output += c; });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no broker URL within 10 s:\n${output}`)), 10000);
      const look = () => {
        const m = output.match(/broker listening on (http:\/\/[^\s"]+)/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      };
      shell.stdout.on('data', look);
      shell.stderr.on('data', look);
      shell.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the snippet exited with ${code}:\n${output}`)); });
    });
    const ownerToken = firstOwnerToken(output);
    assert.match(ownerToken, /^apo_/, 'a service\'s output names the file holding the first owner token');
    assert.doesNotMatch(output, new RegExp(ownerToken), 'and never holds the token itself');
    assert.match(output, /data directory: \S*\/data\b/, 'the broker keeps its data under ./data');
    const [approved, answered, revoked, refused] = runWalkthrough(url, ownerToken);
    assert.equal(approved.status, 'approved');
    assert.match(answered.choices[0].message.content, /Hello/, JSON.stringify(answered));
    assert.equal(revoked.status, 'revoked');
    assert.ok(refused.error);
    const stats = (await call(`http://127.0.0.1:${port}`, 'GET', '/__mock/stats')).json;
    assert.equal(stats.requests.openai, 1, `the emulation answered the one call: ${JSON.stringify(stats.requests)}`);
    assert.equal(stats.lastKeys.openai, 'test-openai-key', 'with the key the snippet gave the broker');
  } finally {
    try { process.kill(-shell.pid, 'SIGKILL'); } catch {}
  }
});
