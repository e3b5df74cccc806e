/**
 * What the real-browser tests share: Debian's chromium driven by playwright-core, a tiny static
 * file server, and the rule for a missing chromium (skipped with the reason, except when CI is
 * set: then a failure).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TestContext } from 'vitest';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export const MISSING = existsSync(CHROMIUM)
  ? null
  : `${CHROMIUM} not found; install Debian's chromium with \`apt-get install -y --no-install-recommends chromium\``;

/** Skips a browser test when chromium is missing; on CI a missing chromium is a failure. */
export function needBrowser(context: TestContext): void {
  if (!MISSING) return;
  if (process.env.CI) throw new Error(`CI is set and ${MISSING}`);
  context.skip(MISSING);
}

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
};

/** The two headers that make a page cross-origin isolated (and so give it SharedArrayBuffer). */
export const CROSS_ORIGIN_ISOLATION: Readonly<OutgoingHttpHeaders> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * A static file server for one directory, on an ephemeral port of 127.0.0.1; `headers` go on
 * every response (the 404s too).
 */
export async function serve(root: string, headers: Readonly<OutgoingHttpHeaders> = {}): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, headers).end('not found');
      return;
    }
    response.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** Closes a server of {@link serve} (or nothing). */
export function closeServer(server: Server | null | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

/** Starts headless chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--mute-audio'],
    timeout: 30_000,
  });
}

/** Collects a page's errors, console errors and failed requests into `problems`. */
export function recordProblems(page: Page, problems: string[]): void {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
}
