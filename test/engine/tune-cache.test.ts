// The tuners' cache (src/engine/tune-cache.ts): entries round-trip through one file under
// $XDG_CACHE_HOME/webgpu-trainer/; a corrupt file is ignored with one note and replaced by the
// next write, never thrown; the keys carry adapter, driver threads, tuner and shader hash; and
// the matmul and conv tuners' entries live side by side in that one file, read back as 'cache'.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chooseConvAlgo } from '../../src/engine/conv-tune.js';
import { chooseMatmulVariants } from '../../src/engine/tune.js';
import { readTuning, tuningCacheFile, tuningKey, writeTuning } from '../../src/engine/tune-cache.js';
import { variantName } from '../../src/kernels/matmul.js';
import { SHADERS } from '../../src/kernels/shaders.js';
import { resolveModel } from '../../src/nn/layers.js';
import { testGpu } from '../helpers/gpu.js';

let before: string | undefined;
let dir: string;

beforeEach(() => {
  before = process.env.XDG_CACHE_HOME;
  dir = mkdtempSync(path.join(os.tmpdir(), 'wgt-tune-cache-'));
  process.env.XDG_CACHE_HOME = dir;
});

afterEach(() => {
  if (before === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = before;
  vi.restoreAllMocks();
});

const file = () => path.join(dir, 'webgpu-trainer', 'tuning.json');
const stored = () => JSON.parse(readFileSync(file(), 'utf8')) as Record<string, Record<string, string>>;

describe('tuning cache', () => {
  it('round-trips entries through one file, keeping the others', async () => {
    expect(await tuningCacheFile()).toBe(file());
    expect(await readTuning('a')).toBeUndefined();
    await writeTuning('a', { forward: 'reg-8x8' });
    await writeTuning('b', { kind: 'im2col', variant: 'sg-8x1' });
    expect(await readTuning('a')).toEqual({ forward: 'reg-8x8' });
    expect(await readTuning('b')).toEqual({ kind: 'im2col', variant: 'sg-8x1' });
    expect(Object.keys(stored()).sort()).toEqual(['a', 'b']);
  });

  it('keys name the adapter, the driver threads, the tuner, its shaders and the detail', () => {
    const report = { name: 'lavapipe', description: 'llvmpipe (LLVM 19, 256 bits)' };
    const threads = { ...report, driverThreads: { threads: 8, source: 'engine' as const } };
    const k = tuningKey(threads, 'conv', ['shader a', undefined], 'forward B3');
    expect(k).toMatch(
      /^lavapipe \| llvmpipe \(LLVM 19, 256 bits\) \| lp threads 8 \| conv [0-9a-f]{8} \| forward B3$/,
    );
    expect(tuningKey(report, 'matmul', ['x'])).toMatch(/^lavapipe \| llvmpipe .* \| matmul [0-9a-f]{8}$/);
    // Each part changes the key: another thread count, tuner or shader source measures again.
    const other = { ...report, driverThreads: { threads: 2, source: 'user' as const } };
    expect(tuningKey(other, 'conv', ['shader a'], 'forward B3')).not.toBe(k);
    expect(tuningKey(threads, 'matmul', ['shader a'], 'forward B3')).not.toBe(k);
    expect(tuningKey(threads, 'conv', ['shader b'], 'forward B3')).not.toBe(k);
  });

  it('a corrupt file is ignored with one note, not thrown, and the next write replaces it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (const [i, text] of ['{"a": {"forward": "reg-8', '[1, 2]', 'null'].entries()) {
      mkdirSync(path.dirname(file()), { recursive: true });
      writeFileSync(file(), text);
      expect(await readTuning('a')).toBeUndefined();
      expect(await readTuning('a')).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(i + 1); // once per corrupt file, not once per read
      expect(String(warn.mock.calls[i][0])).toContain(file());
      await writeTuning('a', { forward: 'reg-8x8' });
      expect(stored()).toEqual({ a: { forward: 'reg-8x8' } });
    }
  });

  it(
    "both tuners' entries coexist in the one file and are read back from it",
    { timeout: 120_000 },
    async () => {
      const { env, gpu } = await testGpu();
      // A matmul entry under the key the matmul tuner builds (measuring it takes a minute here).
      const matmulKey = tuningKey(gpu.report, 'matmul', [SHADERS.matmul, SHADERS.matmul_sg]);
      const entry = {
        forward: 'reg-8x8',
        weightGrad: 'row-8x1-tm4',
        inputGrad: 'reg-16x4',
        longK: 'reg-8x8-split4',
      };
      await writeTuning(matmulKey, { ...entry, measured: 'test' });
      const matmul = await chooseMatmulVariants(env, gpu.report);
      expect(matmul.key).toBe(matmulKey);
      expect(matmul.source).toBe('cache');
      expect(variantName(matmul.weightGrad)).toBe('row-8x1-tm4');
      expect(variantName(matmul.longK)).toBe('reg-8x8-split4');
      // The conv tuner measures this shape and stores its choice next to the matmul entry.
      const g = resolveModel({
        inputShape: [7, 7, 3],
        layers: [
          { type: 'conv2d', filters: 5, kernelSize: 3, padding: 'same' },
          { type: 'flatten' },
          { units: 1 },
        ],
        loss: 'mse',
      }).layers[0].conv!;
      const conv = await chooseConvAlgo(env, gpu.report, g, 3, 'weightGrad', matmul);
      const entries = Object.entries(stored());
      expect(entries.length).toBe(2);
      expect(entries.find(([k]) => k === matmulKey)?.[1]).toMatchObject(entry);
      const convEntry = entries.find(([k]) => / \| conv [0-9a-f]{8} \| weightGrad B3 /.test(k));
      expect(convEntry?.[1]).toMatchObject({ kind: conv.kind, variant: variantName(conv.variant) });
      expect((await chooseMatmulVariants(env, gpu.report)).source).toBe('cache');
    },
  );
});
