// The README's walkthrough ("A first grant, by hand") runs as pasted: only B and OWNER are filled in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { call, startBroker, startMock } from './harness.mjs';

function walkthrough() {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split('\n## A first grant, by hand\n')[1].split('\n## ')[0];
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 1, 'the section has its sh blocks');
  return blocks[0];
}

test('the README walkthrough runs as pasted against a fresh broker and the emulation', async () => {
  const mock = await startMock();
  const broker = await startBroker({ mock });
  const script = walkthrough()
    .replace('B=http://127.0.0.1:8080', `B=${broker.url}`)
    .replace('OWNER=apo_...', `OWNER=${broker.ownerToken}`);
  assert.doesNotMatch(script, /127\.0\.0\.1:8080|apo_\.\.\./, 'only B and OWNER are placeholders');
  // Each curl's answer on a line of its own, so each step can be checked.
  const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script.replace(/^curl /gm, 'echo; curl ')],
    { encoding: 'utf8' });
  const answers = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
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
