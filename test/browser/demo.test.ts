// The browser demo in a real browser: Debian's Chromium driven by playwright-core, WebGPU on its
// SwiftShader adapter. beforeAll builds demo/ with Vite into a temp folder and serves it, plus the
// shared data folder under /data/, on 127.0.0.1. Screenshots go to test-output/screenshots/.
// Without Chromium (or the MNIST files) the suite is skipped locally and fails in CI (CI=true).

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDir, dataMiddleware, resolveInside } from '../../demo/serve-data.js';
import { needDataRoot } from '../helpers/datasets.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';
const DATA = dataDir(
  needDataRoot(['mnist', 'catvnoncat', 'imagefolder-sample'], 'browser demo (Chromium, WebGPU)') ??
    path.resolve(REPO, '../shared/data'),
);
const SHOTS = path.join(REPO, 'test-output/screenshots');
const CI = process.env.CI === 'true';
const ready = fs.existsSync(CHROMIUM) && fs.existsSync(path.join(DATA, 'mnist/t10k-images-idx3-ubyte.gz'));

const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-vulkan=swiftshader',
];

it.runIf(CI)('Chromium and the MNIST files are present in CI', () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-system.sh`).toBe(true);
  expect(fs.existsSync(path.join(DATA, 'mnist')), `${DATA}/mnist is missing`).toBe(true);
});

describe.skipIf(!ready)('browser demo (Chromium, WebGPU)', () => {
  let server: http.Server;
  let origin = '';
  let outDir = '';
  const contexts: BrowserContext[] = [];
  const profiles: string[] = [];

  beforeAll(async () => {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-build-'));
    await build({
      configFile: path.join(REPO, 'vite.config.ts'),
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
    server = http.createServer(staticHandler(outDir, dataMiddleware(DATA)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await new Promise((resolve) => server?.close(resolve));
    for (const dir of [outDir, ...profiles]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function launch(args: string[]): Promise<BrowserContext> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-chromium-'));
    profiles.push(profile);
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args,
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    contexts.push(ctx);
    return ctx;
  }

  /** Uncaught exceptions and console errors, collected for the zero-errors assertion. */
  function watchErrors(page: Page): string[] {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
    return errors;
  }

  it('serves only files inside the data folder', async () => {
    const inside = resolveInside(DATA, 'mnist/t10k-labels-idx1-ubyte.gz');
    expect(inside).toBe(fs.realpathSync(path.join(DATA, 'mnist/t10k-labels-idx1-ubyte.gz')));
    // `..` is clamped at the folder's root, so these name files that do not exist there.
    for (const bad of ['../../main/package.json', '%2e%2e/%2e%2e/main/package.json', '/etc/passwd', 'mnist/'])
      expect(resolveInside(DATA, bad), bad).toBeUndefined();
    const ok = await fetch(`${origin}/data/mnist/t10k-labels-idx1-ubyte.gz`);
    expect(ok.status).toBe(200);
    expect((await ok.arrayBuffer()).byteLength).toBe(4542);
    for (const bad of [
      '/data/../package.json',
      '/data/%2e%2e/%2e%2e/main/package.json',
      '/data/..%2f..%2fmain%2fpackage.json',
    ])
      expect((await fetch(`${origin}${bad}`)).status, bad).not.toBe(200);
  });

  it('trains MNIST on WebGPU, draws, predicts, saves and reloads, and reports bad files', async () => {
    const ctx = await launch([...BASE_ARGS, ...WEBGPU_ARGS]);
    const page = await ctx.newPage();
    const errors = watchErrors(page);
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-gpu="ready"]', { timeout: 30_000 });
    const adapter = await page.textContent('#gpu-status');
    console.log(`[demo test] ${adapter}`);

    await page.selectOption('#dataset', 'mnist');
    await page.click('#load-url');
    await page.waitForSelector('body[data-dataset="mnist"]', { timeout: 60_000 });
    expect(await page.textContent('#data-stats')).toContain('60000 training and 10000 test images');
    expect(await inkedPixels(page, '#sample-grid')).toBeGreaterThan(1000);
    await page.screenshot({ path: path.join(SHOTS, 'before-training.png'), fullPage: true });

    // A small MLP for a fixed number of steps keeps this quick on a software adapter.
    await page.fill('#train-limit', '12000');
    await page.fill('#test-limit', '2000');
    await page.fill('#sizes', '784, 64, 10');
    await page.fill('#batch', '64');
    await page.fill('#epochs', '2');
    await page.fill('#max-steps', '300');
    const t0 = Date.now();
    await page.click('#train');
    await page.waitForSelector('body[data-train-state="done"]', { timeout: 150_000 });
    const seconds = (Date.now() - t0) / 1000;
    expect(await page.textContent('#m-step')).toBe('300');

    const loss = await series(page, '#loss-chart');
    const train = loss.find((s) => s.label === 'train')!;
    expect(train.n).toBeGreaterThan(10);
    expect(train.last).toBeLessThan(train.first * 0.5);
    expect(loss.find((s) => s.label === 'validation')!.n).toBeGreaterThanOrEqual(1);
    const acc = Number(await page.getAttribute('#m-test-acc', 'data-value'));
    console.log(
      `[demo test] 300 steps in ${seconds.toFixed(1)} s; train loss ${train.first.toFixed(3)} -> ${train.last.toFixed(3)}; ` +
        `test accuracy ${(100 * acc).toFixed(1)}% on 2000 MNIST test images`,
    );
    expect(acc).toBeGreaterThan(0.7);

    // The charts drew their lines and the weights drew as images.
    expect(await colouredPixels(page, '#loss-chart', [26, 115, 232])).toBeGreaterThan(100);
    expect(await colouredPixels(page, '#acc-chart', [26, 115, 232])).toBeGreaterThan(100);
    expect(await distinctColours(page, '#weights')).toBeGreaterThan(50);
    expect(await page.locator('#pred-grid figure').count()).toBe(24);
    expect(await page.locator('#confusion td').count()).toBe(100);

    // Draw a "7": a top bar and a diagonal stroke.
    await page.locator('#drawpad').scrollIntoViewIfNeeded();
    const box = (await page.locator('#drawpad').boundingBox())!;
    const at = (x: number, y: number) => [box.x + x * box.width, box.y + y * box.height] as const;
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    for (const [x, y] of [
      [0.5, 0.2],
      [0.75, 0.2],
      [0.65, 0.45],
      [0.55, 0.65],
      [0.48, 0.85],
    ])
      await page.mouse.move(...at(x, y), { steps: 5 });
    await page.mouse.up();
    await page
      .waitForSelector('#draw-probs[data-state="predicted"] li', { timeout: 10_000 })
      .catch(async (e: unknown) => {
        console.log(
          'DEBUG',
          await page.getAttribute('#draw-probs', 'data-state'),
          await page.textContent('#error'),
          errors,
        );
        throw e;
      });
    const drawn = await probs(page, '#draw-probs li');
    expect(drawn).toHaveLength(10);
    expect(drawn.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    console.log(`[demo test] drawn digit predicted as ${await page.getAttribute('#draw-probs', 'data-top')}`);
    await page.screenshot({ path: path.join(SHOTS, 'after-training.png'), fullPage: true });

    // Save, then load the file back: identical predictions.
    const gridBefore = await probs(page, '#pred-grid figcaption');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-model')]);
    const bytes = fs.readFileSync((await download.path())!);
    expect(bytes.length).toBeGreaterThan(784 * 64 * 4);
    await page.evaluate(() => {
      document.querySelector('#draw-probs')!.removeAttribute('data-state');
      document.querySelector('#pred-grid')!.replaceChildren();
    });
    await page.setInputFiles('#load-model', {
      name: 'mnist.safetensors',
      mimeType: 'application/octet-stream',
      buffer: bytes,
    });
    await page.waitForFunction(() =>
      document.querySelector('#model-info')?.textContent?.includes('loaded from'),
    );
    await page.waitForSelector('#draw-probs[data-state="predicted"] li');
    expect(await probs(page, '#pred-grid figcaption')).toEqual(gridBefore);
    expect(await probs(page, '#draw-probs li')).toEqual(drawn);
    expect(Number(await page.getAttribute('#m-test-acc', 'data-value'))).toBe(acc);

    // Malformed files: a clear message in the page.
    const garbage = Buffer.concat([gzipSync(Buffer.from([0, 0, 8, 3, 0, 0, 0, 9])), Buffer.from('junk')]);
    await page.setInputFiles('#data-files', [
      { name: 'train-images-idx3-ubyte.gz', mimeType: 'application/gzip', buffer: garbage },
      {
        name: 'train-labels-idx1-ubyte.gz',
        mimeType: 'application/gzip',
        buffer: Buffer.from('not gzip at all'),
      },
    ]);
    await page.waitForSelector('#error:not([hidden])');
    const dataError = (await page.textContent('#error'))!;
    expect(dataError).toMatch(/DatasetFormatError: .*(train-images|train-labels)-idx[13]-ubyte\.gz/);
    await page.setInputFiles('#load-model', {
      name: 'broken.safetensors',
      mimeType: 'application/octet-stream',
      buffer: bytes.subarray(0, 100),
    });
    await page.waitForFunction(() =>
      document.querySelector('#error')?.textContent?.includes('broken.safetensors'),
    );
    expect(await page.textContent('#error')).toContain('ModelFormatError');
    console.log(`[demo test] bad data file -> "${dataError}"`);

    expect(errors).toEqual([]);
  });

  it('pauses and resumes, recovers from a lost device, and answers cat or not cat', async () => {
    const ctx = await launch([...BASE_ARGS, ...WEBGPU_ARGS]);
    const page = await ctx.newPage();
    const errors = watchErrors(page);
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-gpu="ready"]', { timeout: 30_000 });
    await page.selectOption('#dataset', 'catvnoncat');
    await page.click('#load-url');
    await page.waitForSelector('body[data-dataset="catvnoncat"]', { timeout: 60_000 });
    expect(await page.inputValue('#sizes')).toBe('12288, 20, 7, 5, 1');
    await page.fill('#epochs', '100000');
    await page.click('#train');
    const step = async () => Number(await page.textContent('#m-step'));
    await page.waitForFunction(() => Number(document.querySelector('#m-step')?.textContent) >= 10);

    await page.click('#pause');
    await page.waitForSelector('body[data-train-state="paused"]');
    const paused = await step();
    await page.waitForTimeout(500);
    expect(await step()).toBe(paused);
    await page.click('#resume');
    await page.waitForFunction((s) => Number(document.querySelector('#m-step')?.textContent) > s + 5, paused);

    // A lost device is reported, and training restarts from the last epoch read back.
    await page.click('details summary');
    await page.click('#simulate-loss');
    await page.waitForSelector('body[data-train-state="lost"]', { timeout: 30_000 });
    expect(await page.textContent('#error')).toMatch(/DeviceLostError/);
    const lostAt = await step();
    await page.click('#restart');
    await page.waitForFunction((s) => Number(document.querySelector('#m-step')?.textContent) > s + 5, lostAt);
    await page.click('#stop');
    await page.waitForSelector('body[data-train-state="stopped"]');

    await page.setInputFiles(
      '#upload-image',
      path.join(DATA, 'imagefolder-sample/catvnoncat-png/cat/test_01.png'),
    );
    await page.waitForFunction(() =>
      document.querySelector('#upload-result')?.textContent?.includes('probability'),
    );
    expect(await page.textContent('#upload-result')).toMatch(
      /test_01\.png: (cat|not a cat) \(probability of cat \d+\.\d%\)/,
    );
    await page.screenshot({ path: path.join(SHOTS, 'cat-after-restart.png'), fullPage: true });
    console.log(
      `[demo test] cat run: paused at ${paused}, lost at ${lostAt}; ${await page.textContent('#upload-result')}`,
    );
    expect(errors).toEqual([]);
  });

  it('explains plainly when WebGPU is missing, and the page stays usable', async () => {
    const ctx = await launch([...BASE_ARGS, '--disable-features=WebGPU,Vulkan']);
    for (const removeGpu of [false, true]) {
      const page = await ctx.newPage();
      const errors = watchErrors(page);
      if (removeGpu)
        await page.addInitScript(() =>
          Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }),
        );
      await page.goto(`${origin}/`);
      await page.waitForSelector('body[data-gpu="missing"]', { timeout: 30_000 });
      const help = (await page.textContent('#gpu-help'))!;
      expect(help).toMatch(
        removeGpu ? /WebGPU is not available in this browser/ : /did not grant a GPU adapter/,
      );
      expect(help).toContain('--enable-unsafe-webgpu');
      expect(await page.isDisabled('#train')).toBe(true);
      // Data still loads without a GPU.
      await page.click('#load-url');
      await page.waitForSelector('body[data-dataset="mnist"]', { timeout: 60_000 });
      if (!removeGpu) {
        // Phone width: nothing wider than the screen.
        await page.setViewportSize({ width: 390, height: 844 });
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
        await page.screenshot({ path: path.join(SHOTS, 'no-webgpu-phone.png'), fullPage: true });
      }
      expect(errors).toEqual([]);
      await page.close();
    }
  });
});

interface SeriesSummary {
  label: string;
  n: number;
  first: number;
  last: number;
}

async function series(page: Page, selector: string): Promise<SeriesSummary[]> {
  return JSON.parse((await page.getAttribute(selector, 'data-series')) ?? '[]') as SeriesSummary[];
}

async function probs(page: Page, selector: string): Promise<number[]> {
  return page.$$eval(selector, (els) => els.map((e) => Number((e as HTMLElement).dataset.prob)));
}

/** Pixels that are neither white nor black. */
async function inkedPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 && d[i] !== 0) n++;
    return n;
  });
}

async function colouredPixels(page: Page, selector: string, rgb: number[]): Promise<number> {
  return page.$eval(
    selector,
    (c, want) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i] - want[0]) + Math.abs(d[i + 1] - want[1]) + Math.abs(d[i + 2] - want[2]) < 40) n++;
      return n;
    },
    rgb,
  );
}

async function distinctColours(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
}

/** Serves the built demo (index.html for "/") and hands /data/ to the data middleware. */
function staticHandler(
  root: string,
  data: ReturnType<typeof dataMiddleware>,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const types: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
  };
  return (req, res) =>
    data(req, res, () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const file = resolveInside(root, url.pathname === '/' ? 'index.html' : url.pathname.slice(1));
      if (!file) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      res.setHeader('content-type', types[path.extname(file)] ?? 'application/octet-stream');
      fs.createReadStream(file).pipe(res);
    });
}
