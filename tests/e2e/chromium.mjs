// Debian's Chromium, headless, driven by playwright-core: the person in the browser tests. Each
// gets a fresh profile; `options` adds to the launch (more args, no JavaScript, a viewport).
import { chromium } from 'playwright-core';
import { tempDir } from './harness.mjs';

export function launchChromium({ args = [], ...options } = {}) {
  return chromium.launchPersistentContext(tempDir(), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
    ...options,
  });
}
