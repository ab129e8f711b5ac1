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

// Clicks the consent page's Approve as a person does: after reading the page a moment, moving the
// pointer onto it. The page holds Approve until then (browser.test.mjs: double-clickjacking).
export async function clickApprove(page) {
  await page.waitForTimeout(700);
  await page.hover('button[value=approve]');
  await page.click('button[value=approve]');
}
