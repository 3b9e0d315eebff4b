// Shared pieces of the CLI tests: run a command in-process with captured output on the test GPU,
// spawn the real entry point, and write a small synthetic image folder of PNGs.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from 'fast-png';
import type { CliContext } from '../../src/cli/terminal.js';
import { main } from '../../src/cli/main.js';
import type { StepLog } from '../../src/engine/trainer.js';
import type { GpuDevice } from '../../src/gpu/device.js';
import { Rng } from '../../src/rng.js';
import { expect } from 'vitest';
import { loadModelFile } from '../../src/io/files.js';
import { testGpu } from '../helpers/gpu.js';

type ModelFile = Awaited<ReturnType<typeof loadModelFile>>;

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `webgpu-trainer ...argv` in this process on the shared test device. */
export async function runCli(
  argv: string[],
  opts: { onInterrupt?: (handler: () => void) => () => void; onErr?: (text: string) => void } = {},
): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    io: {
      out: (t) => void (out += t),
      err: (t) => {
        err += t;
        opts.onErr?.(t);
      },
      errIsTTY: false,
      columns: 120,
    },
    gpu: async () => (await testGpu()).gpu,
    onInterrupt: opts.onInterrupt ?? (() => () => {}),
  });
  return { code, out, err };
}

/**
 * A fault for the CLI's test-only run hook (CliContext.runHooks): destroys `gpu` once a step
 * numbered `steps` or later has been reported, to exercise the device-loss stop without a
 * driver fault.
 */
export function destroyDeviceAfter(gpu: GpuDevice, steps: number): NonNullable<CliContext['runHooks']> {
  let done = false;
  return {
    afterStep: (s: StepLog) => {
      if (!done && s.step >= steps) {
        done = true;
        gpu.destroy();
      }
    },
  };
}

/**
 * The resume contract from the command line: `args(whole)` runs to the end; `args(part)` gets a
 * Ctrl-C when stderr shows `at` (exit 130, a checkpoint written), then `train --resume` finishes it.
 * Returns both runs' model files, for the caller to compare.
 */
export async function interruptAndResume(
  args: (out: string) => string[],
  whole: string,
  part: string,
  at = 'epoch 2/3 [',
): Promise<{ whole: ModelFile; part: ModelFile }> {
  const r1 = await runCli(args(whole));
  expect(r1.code, r1.err).toBe(0);
  let fire: (() => void) | undefined;
  let fired = false;
  const r2 = await runCli(args(part), {
    onInterrupt: (h) => {
      fire = h;
      return () => (fire = undefined);
    },
    onErr: (t) => {
      if (!fired && t.includes(at)) {
        fired = true;
        fire?.();
      }
    },
  });
  expect(fired).toBe(true);
  expect(r2.code, r2.err).toBe(130);
  const r3 = await runCli(['train', '--resume', path.join(part, 'checkpoint.safetensors')]);
  expect(r3.code, r3.err).toBe(0);
  return {
    whole: await loadModelFile(path.join(whole, 'model.safetensors')),
    part: await loadModelFile(path.join(part, 'model.safetensors')),
  };
}

/** Starts the CLI as its own process (the path a user's Ctrl-C takes). */
export function spawnCli(argv: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...argv], {
    cwd: REPO,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export const CLASSES = ['ring', 'stripes', 'tl-block'] as const;

/**
 * One synthetic RGB picture of class `k` (size w x h): a ring, vertical stripes, or a bright
 * top-left block, on noise. Easy for a small MLP, so a short training run classifies them all.
 */
export function synthImage(k: number, w: number, h: number, rng: Rng): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = (x + 0.5) / w;
      const v = (y + 0.5) / h;
      let on: boolean;
      if (k === 0) {
        const r = Math.hypot(u - 0.5, v - 0.5);
        on = r > 0.25 && r < 0.42;
      } else if (k === 1) on = Math.floor(u * 4) % 2 === 0;
      else on = u < 0.5 && v < 0.5;
      for (let c = 0; c < 3; c++) {
        const base = on ? 200 : 40;
        px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + rng.uniform(-35, 35) + c * 5)));
      }
    }
  }
  return px;
}

export async function writePng(file: string, w: number, h: number, data: Uint8Array): Promise<void> {
  await writeFile(file, encode({ width: w, height: h, data, channels: 3, depth: 8 }));
}

/** root/<split>/<class>/img-NNN.png with `perClass` images per class, sizes varying around 16x16. */
export async function makeImageFolder(
  root: string,
  opts: { perClass: number; seed: number; splits?: string[] },
): Promise<void> {
  const rng = new Rng(opts.seed);
  for (const split of opts.splits ?? ['train', 'test']) {
    for (let k = 0; k < CLASSES.length; k++) {
      const dir = split ? path.join(root, split, CLASSES[k]) : path.join(root, CLASSES[k]);
      await mkdir(dir, { recursive: true });
      const n = split === 'test' ? Math.max(4, Math.floor(opts.perClass / 4)) : opts.perClass;
      for (let i = 0; i < n; i++) {
        const w = 14 + rng.int(5);
        const h = 14 + rng.int(5);
        await writePng(
          path.join(dir, `img-${String(i).padStart(3, '0')}.png`),
          w,
          h,
          synthImage(k, w, h, rng),
        );
      }
    }
  }
}
