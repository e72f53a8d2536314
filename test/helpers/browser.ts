import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const ARTIFACTS_DIR = path.join(ROOT, 'test-artifacts');

const HEADLESS_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A system Chromium: `CHROMIUM_PATH`, else Debian's `chromium` when installed; undefined when there is none. */
export function systemChromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
    return found && existsSync(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Launches headless Chromium: the system's when present (or `CHROMIUM_PATH`), otherwise the one
 * that `npm ci` brought (@sparticuz/chromium unpacks its bundled build into the temp directory),
 * so `npm ci && npm test` needs nothing but Node. `YINGJI_BROWSER=npm` forces the npm build.
 */
export async function launchBrowser(): Promise<Browser> {
  const system = process.env.YINGJI_BROWSER === 'npm' ? undefined : systemChromiumPath();
  if (system) {
    if (!existsSync(system)) throw new Error(`CHROMIUM_PATH ${system} does not exist`);
    return chromium.launch({ executablePath: system, args: HEADLESS_ARGS });
  }
  const { default: bundled } = await import('@sparticuz/chromium');
  const executablePath = await bundled.executablePath();
  // Not bundled.args: they are tuned for AWS Lambda (--single-process, --no-zygote), which
  // crashes the browser as soon as a test opens a second context (board and phone).
  return chromium.launch({ executablePath, args: HEADLESS_ARGS });
}

export const DESKTOP = { viewport: { width: 1600, height: 1000 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** Logs in through the real login form. */
export async function loginThroughForm(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(url);
  await page.locator('input[name=username]').fill(username);
  await page.locator('input[name=password]').fill(password);
  await page.locator('button[type=submit]').click();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Collects page errors so a test can assert the app threw nothing. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

export type { Browser, BrowserContext, Page };

/** A violation axe-core reports, reduced to what a failing test should print. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core (the accessibility engine from npm, injected into the page) and returns the
 * violations of impact "serious" or "critical" — the ones the browser tests fail on.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  const { createRequire } = await import('node:module');
  const { readFile } = await import('node:fs/promises');
  const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not
  // govern; a <script> tag would be refused, as it should be.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
}
