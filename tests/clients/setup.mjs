// What the SDK tests share: the e2e harness (real binary, loopback, free ports) plus helpers to
// read the broker's view of a grant's usage and to wait for the emulation to see something.
export * from '../e2e/harness.mjs';
import { call } from '../e2e/harness.mjs';

export async function usageOf(broker, grantId) {
  const res = await call(broker.url, 'GET', `/grants/${grantId}/usage`, { token: broker.ownerToken });
  if (res.status !== 200) throw new Error(`usage: ${res.status} ${res.text}`);
  return res.json;
}

// Polls `probe` until it returns a truthy value; fails after `ms` (a deadline, not a timing assertion).
export async function eventually(probe, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function revoke(broker, grantId) {
  const res = await call(broker.url, 'POST', `/grants/${grantId}/revoke`, { token: broker.ownerToken });
  if (res.status !== 200) throw new Error(`revoke: ${res.text}`);
}

// Header names as the emulation reports them keep their case; compare them in lower case.
export const lowerKeys = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
