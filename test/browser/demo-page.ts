// The browser side of test/browser/demo.test.ts: Chromium's flags and launch, the built demo's
// server, and probes that read the page (its clock and long tasks, errors, charts, canvases), and
// the check that malformed files give named errors.

import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { resolveInside, type dataMiddleware } from '../../demo/serve-data.js';

export const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
export const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-vulkan=swiftshader',
];

/**
 * A Chromium with a fresh profile (listed in `profiles` for removal) that records every
 * main-thread long task of its pages in window.__longTasks.
 */
export async function launchChromium(
  executablePath: string,
  args: string[],
  profiles: string[],
): Promise<BrowserContext> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-chromium-'));
  profiles.push(profile);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  // Main-thread long tasks (> 50 ms each), from the first script on.
  await ctx.addInitScript(() => {
    const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
    w.__longTasks = [];
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      // No longtask support: the measurement below then finds none, and says so.
    }
  });
  return ctx;
}

/** A new page of the demo at `origin` with its WebGPU adapter ready, and its errors collected. */
export async function openDemo(
  ctx: BrowserContext,
  origin: string,
): Promise<{ page: Page; errors: string[] }> {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-gpu="ready"]', { timeout: 30_000 });
  return { page, errors };
}

/** The page's clock, to bracket a phase whose long tasks are measured. */
export async function clock(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

/** The longest main-thread task that overlapped [from, to] on the page's clock (0 if none). */
export async function longestTask(page: Page, from: number, to: number): Promise<number> {
  return page.evaluate(
    ([a, b]) => {
      const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
      return w.__longTasks
        .filter((t) => t.start < b && t.start + t.duration > a)
        .reduce((m, t) => Math.max(m, t.duration), 0);
    },
    [from, to],
  );
}

export async function supportsLongTasks(page: Page): Promise<boolean> {
  return page.evaluate(() => PerformanceObserver.supportedEntryTypes.includes('longtask'));
}

/** Uncaught exceptions and console errors, collected for the zero-errors assertion. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  return errors;
}

/** Draws a "7" on the digit pad (a top bar and a diagonal stroke) and waits for its prediction. */
export async function drawSeven(page: Page, errors: string[]): Promise<void> {
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
}

export interface SeriesSummary {
  label: string;
  n: number;
  first: number;
  last: number;
}

export async function series(page: Page, selector: string): Promise<SeriesSummary[]> {
  return JSON.parse((await page.getAttribute(selector, 'data-series')) ?? '[]') as SeriesSummary[];
}

export async function probs(page: Page, selector: string): Promise<number[]> {
  return page.$$eval(selector, (els) => els.map((e) => Number((e as HTMLElement).dataset.prob)));
}

/** Pixels that are neither white nor black. */
export async function inkedPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 && d[i] !== 0) n++;
    return n;
  });
}

export async function colouredPixels(page: Page, selector: string, rgb: number[]): Promise<number> {
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

export async function distinctColours(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
}

/** Serves the built demo (index.html for "/") and hands /data/ to the data middleware. */
export function staticHandler(
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

/** Malformed dataset and model files: a clear, named error in the page. */
export async function rejectsMalformedFiles(page: Page, modelBytes: Buffer): Promise<void> {
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
    buffer: modelBytes.subarray(0, 100),
  });
  await page.waitForFunction(() =>
    document.querySelector('#error')?.textContent?.includes('broken.safetensors'),
  );
  expect(await page.textContent('#error')).toContain('ModelFormatError');
  console.log(`[demo test] bad data file -> "${dataError}"`);
}
