/**
 * The interactive page (site/) in a real browser: build it with Vite, serve it over HTTP, open it
 * in Debian's chromium driven by playwright-core, and train. The tests check what a visitor would
 * see: accuracy that rises to a useful level, charts that draw, a strategy switched mid-run that
 * the worker picks up, and two configurations side by side on the same seed. Screenshots go to
 * test/.generated/browser/.
 *
 * Without /usr/bin/chromium (`apt-get install -y --no-install-recommends chromium`) the browser
 * tests are skipped with that reason, except when CI is set: then they fail.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, launchChromium, MISSING, needBrowser, recordProblems, REPO, serve } from './browser-helpers.js';

const SITE = join(REPO, 'site');
const SCREENSHOTS = join(REPO, 'test', '.generated', 'browser');

describe('the library core is browser-safe', () => {
  it('nothing reachable from src/index.ts imports a Node module', async () => {
    const result = await esbuild({
      entryPoints: [join(REPO, 'src', 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const imports = Object.entries(result.metafile.inputs).flatMap(([file, input]) => input.imports.map((i) => ({ file, path: i.path, external: i.external === true })));
    const nodeImports = imports.filter((i) => i.external || /^node:/.test(i.path));
    expect(nodeImports, 'imports left external in a browser bundle (Node modules)').toEqual([]);
    // The Node-only helpers exist, and the main entry does not reach them.
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('src/tensor/rng.ts');
    expect(inputs.filter((p) => /src\/(data\/(embeddedMnist|files)|cli\/|node\.ts|train\/checkpointFile|experiments\/(reproduce|writeReport))/.test(p))).toEqual([]);
  });
});

describe("the page's digits file", () => {
  it('holds 2,000 training and 500 test digits of every class, from the fixed split, and reads back', async () => {
    const { pageDigits } = await import('../site/vite.config.js');
    const { decodeDigits, encodeDigits, PIXELS } = await import('../site/src/digitsFile.js');
    const { MNIST_MEAN, MNIST_STD, splitEmbeddedMnist } = await import('asymprop/node');
    const split = splitEmbeddedMnist();
    const bytes = pageDigits(split);
    const digits = decodeDigits(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    expect([digits.trainLabels.length, digits.testLabels.length]).toEqual([2000, 500]);
    expect([digits.mean, digits.std]).toEqual([MNIST_MEAN, MNIST_STD]);
    for (const [labels, size] of [[digits.trainLabels, 2000], [digits.testLabels, 500]] as const) {
      const counts = Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);
      for (const count of counts) expect(count, `class counts ${counts}`).toBeGreaterThan(size / 10 / 2);
    }
    // The first digit of each set is the first of the library's split (every 4th sample is kept).
    expect(digits.trainImages.subarray(0, PIXELS)).toEqual(split.train.images.subarray(0, PIXELS));
    expect(digits.testImages.subarray(PIXELS, 2 * PIXELS)).toEqual(split.test.images.subarray(4 * PIXELS, 5 * PIXELS));
    expect(Buffer.from(encodeDigits(digits)).equals(Buffer.from(bytes)), 'encode(decode(file)) is the file').toBe(true);
    const corrupt = bytes.slice(0, 100);
    expect(() => decodeDigits(corrupt.buffer)).toThrow(/bytes, expected/);
  });
});

// --- the page --------------------------------------------------------------------------------

/** What the page shows about one panel (its `data-*` attributes). */
interface PanelInfo {
  state: string;
  dataset: string;
  step: number;
  testAccuracy: number;
  initialTestLoss: number;
  strategies: string;
  layerStats: { angleVW: number; signConcordance: number; errorAngle: number }[] | null;
}

function panelInfo(page: Page, name: string): Promise<PanelInfo> {
  return page.evaluate((name) => {
    const d = document.querySelector<HTMLElement>(`[data-panel="${name}"]`)?.dataset ?? {};
    return {
      state: d.state ?? '',
      dataset: d.dataset ?? '',
      step: Number(d.step ?? NaN),
      testAccuracy: Number(d.testAccuracy ?? NaN),
      initialTestLoss: Number(d.initialTestLoss ?? NaN),
      strategies: d.strategies ?? '',
      layerStats: d.layerStats ? JSON.parse(d.layerStats) : null,
    };
  }, name);
}

/** Waits until a panel's attributes satisfy `condition`; on timeout, says what they were. */
async function waitForPanel(page: Page, name: string, what: string, condition: (info: PanelInfo) => boolean, timeoutMs: number): Promise<PanelInfo> {
  const deadline = Date.now() + timeoutMs;
  let info = await panelInfo(page, name);
  while (!condition(info)) {
    if (Date.now() > deadline) {
      const status = await page.locator(`[data-panel="${name}"] [data-role="status"]`).textContent();
      throw new Error(`panel ${name}: ${what} not reached in ${timeoutMs / 1000} s; panel is ${JSON.stringify(info)}, status "${status}"`);
    }
    await page.waitForTimeout(100);
    info = await panelInfo(page, name);
  }
  return info;
}

/**
 * Per canvas of a panel: how many pixels are coloured (saturated, as the series, boundary and
 * labels are; axes, grid and text are grey) and how many are not white.
 */
function canvasInk(page: Page, name: string): Promise<Record<string, { coloured: number; inked: number; total: number }>> {
  return page.evaluate((name) => {
    const out: Record<string, { coloured: number; inked: number; total: number }> = {};
    for (const canvas of Array.from(document.querySelectorAll<HTMLCanvasElement>(`[data-panel="${name}"] canvas[data-chart]`))) {
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let coloured = 0, inked = 0;
      for (let i = 0; i < data.length; i += 4) {
        const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!, a = data[i + 3]!;
        if (a === 0) continue;
        if (Math.max(r, g, b) - Math.min(r, g, b) > 50) coloured++;
        if (r + g + b < 720) inked++;
      }
      out[canvas.dataset.chart!] = { coloured, inked, total: canvas.width * canvas.height };
    }
    return out;
  }, name);
}

const panelSelector = (name: string, role: string) => `[data-panel="${name}"] [data-role="${role}"]`;
/** The "all layers" row of a panel's feedback table. */
const allLayers = (name: string, role: string) => `[data-panel="${name}"] tbody tr:first-child [data-role="${role}"]`;

describe('the interactive page in chromium', () => {
  let outDir = '';
  let server: Server | null = null;
  let url = '';
  let browser: Browser | null = null;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (MISSING) return;
    outDir = mkdtempSync(join(tmpdir(), 'asymprop-site-'));
    await viteBuild({
      root: SITE,
      configFile: join(SITE, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
    ({ server, url } = await serve(outDir));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    recordProblems(page, problems);
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await closeServer(server);
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('spirals: training lifts test accuracy from chance to over 90% and draws every chart', async (context) => {
    needBrowser(context);
    await page.goto(url);
    const ready = await waitForPanel(page, 'A', 'a built run', (i) => i.state === 'ready', 15_000);
    expect(ready.dataset).toBe('spirals');
    expect(ready.strategies).toBe('bp,bp,bp');
    expect(ready.testAccuracy).toBeLessThan(0.6); // 3 classes: an untrained network is near chance
    const before = await canvasInk(page, 'A');

    await page.click('#start');
    const trained = await waitForPanel(page, 'A', 'test accuracy ≥ 90%', (i) => i.testAccuracy >= 0.9 && i.layerStats !== null, 30_000);
    expect(trained.state).toBe('running');
    // Backprop: V is W, so V and W agree exactly and the error is backprop's.
    for (const layer of trained.layerStats!) {
      expect(layer.angleVW).toBeLessThan(0.5);
      expect(layer.signConcordance).toBe(1);
      expect(layer.errorAngle).toBeLessThan(0.5);
    }

    const after = await canvasInk(page, 'A');
    // The training curves: lines in series colours where there was only a legend.
    for (const chart of ['loss', 'accuracy', 'angleVW', 'signConcordance', 'errorAngle']) {
      expect(after[chart]!.coloured - before[chart]!.coloured, `coloured pixels added to the ${chart} chart`).toBeGreaterThan(150);
    }
    // The boundary fills its canvas with class colours.
    expect(after.boundary!.coloured / after.boundary!.total).toBeGreaterThan(0.5);
    await page.screenshot({ path: join(SCREENSHOTS, 'spirals.png'), fullPage: true });
  });

  it('switching every layer to uSF mid-run reaches the worker: V keeps W\'s signs but not its magnitudes', async (context) => {
    needBrowser(context);
    const stepBefore = (await panelInfo(page, 'A')).step;
    await page.selectOption(allLayers('A', 'method'), 'usf');
    await expect.poll(() => page.locator(panelSelector('A', 'v')).first().textContent()).toMatch(/sign/);
    const switched = await waitForPanel(
      page, 'A', 'uSF statistics',
      (i) => i.strategies === 'usf,usf,usf' && i.step > stepBefore + 3 && (i.layerStats?.every((l) => l.angleVW > 5) ?? false),
      15_000,
    );
    for (const layer of switched.layerStats!) {
      expect(layer.angleVW).toBeGreaterThan(5);
      expect(layer.angleVW).toBeLessThan(80);
      expect(layer.signConcordance).toBe(1);
    }
  });

  it('MNIST: uSF alone stays near chance; with Batch Normalization test accuracy passes 80%', async (context) => {
    needBrowser(context);
    // Changing the problem rebuilds the run; training goes on, still with uSF in every layer.
    await page.selectOption('#dataset', 'mnist');
    const plain = await waitForPanel(page, 'A', 'two epochs of MNIST', (i) => i.dataset === 'mnist' && i.step >= 40, 40_000);
    expect(plain.strategies).toBe('usf,usf,usf');
    expect(plain.testAccuracy, 'uSF without BN or Batch Manhattan (the paper: it fails)').toBeLessThan(0.5);

    await page.check(panelSelector('A', 'bn'));
    const bn = await waitForPanel(page, 'A', 'test accuracy ≥ 80% with BN', (i) => i.state === 'running' && i.testAccuracy >= 0.8, 40_000);
    expect(bn.strategies).toBe('usf,usf,usf');
    const ink = await canvasInk(page, 'A');
    expect(ink.digits!.inked, 'the test digits were drawn').toBeGreaterThan(2000);
  });

  it('side by side: B starts from the same seed as A, trains with its own strategy, and Pause stops both', async (context) => {
    needBrowser(context);
    await page.check('#compare');
    const b0 = await waitForPanel(page, 'B', 'a built run', (i) => i.dataset === 'mnist' && Number.isFinite(i.initialTestLoss), 20_000);
    const a0 = await waitForPanel(page, 'A', 'a rebuilt run', (i) => Number.isFinite(i.initialTestLoss), 20_000);
    // Same seed, same settings (B starts as a copy of A): the same untrained network.
    expect(b0.initialTestLoss).toBe(a0.initialTestLoss);
    expect(b0.strategies).toBe('usf,usf,usf');

    await page.selectOption(allLayers('B', 'method'), 'fa');
    const b = await waitForPanel(page, 'B', 'random feedback statistics', (i) => i.strategies === 'fa,fa,fa' && i.step >= 20 && i.layerStats !== null && i.layerStats.every((l) => l.signConcordance < 0.7), 40_000);
    const a = await waitForPanel(page, 'A', 'training', (i) => i.step >= 20 && i.layerStats !== null, 20_000);
    expect(a.strategies).toBe('usf,usf,usf');
    for (const layer of a.layerStats!) expect(layer.signConcordance).toBe(1);
    for (const layer of b.layerStats!) {
      expect(layer.signConcordance).toBeGreaterThan(0.3); // random B: about half its signs agree with W
      expect(layer.angleVW).toBeGreaterThan(60);
    }
    const inkB = await canvasInk(page, 'B');
    for (const chart of ['loss', 'accuracy', 'angleVW', 'signConcordance', 'errorAngle']) {
      expect(inkB[chart]!.coloured, `coloured pixels in B's ${chart} chart`).toBeGreaterThan(150);
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'side-by-side.png'), fullPage: true });

    await page.click('#pause');
    await waitForPanel(page, 'A', 'paused', (i) => i.state === 'paused', 5_000);
    await page.waitForTimeout(300); // a report already on its way may still arrive
    const stopped = [(await panelInfo(page, 'A')).step, (await panelInfo(page, 'B')).step];
    await page.waitForTimeout(1000);
    expect([(await panelInfo(page, 'A')).step, (await panelInfo(page, 'B')).step]).toEqual(stopped);
  });

  it('reported no page error, console error or failed request', (context) => {
    needBrowser(context);
    expect(problems).toEqual([]);
  });
});
