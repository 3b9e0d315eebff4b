// Training that survives faults (src/engine/run-guard.ts, src/cli/faults.ts, src/cli/lock.ts), through the real `train`
// command on a small synthetic image folder:
// - divergence (--lr 1e6 with SGD): exit 1, a message naming the step, the cause and the fix;
//   no model or checkpoint written from NaN weights; a good checkpoint is left byte for byte as
//   it was, and the printed --resume command runs;
// - device loss (a test-only run hook, destroyDeviceAfter in ./helpers.ts, destroys the device mid-run):
//   the last epoch checkpoint is intact and the printed command finishes the run;
// - one run per --out: a live holder is refused by pid, a dead one's lock is taken over;
// - `predict` on a file that is not an image gives CLI advice, not an API option.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { acquireRunLock, LOCK_NAME, pidAlive, RunLockedError } from '../../src/cli/lock.js';
import { acquireGpu } from '../../src/gpu/device.js';
import { loadCheckpointFile, loadModelFile } from '../../src/io/files.js';
import { destroyDeviceAfter, makeImageFolder, runCli, type CliResult } from './helpers.js';

let root: string;
let data: string;

// 3 classes x 12 images of 8x8x3, batch 8, no validation: 36 samples, 5 steps per epoch.
const STEPS_PER_EPOCH = 5;
const TRAIN = (out: string, extra: string[] = []) => [
  'train',
  '--data',
  data,
  '--image-size',
  '8x8',
  '--layers',
  '16',
  '--optimizer',
  'sgd',
  '--schedule',
  'constant',
  '--batch-size',
  '8',
  '--validation',
  'none',
  '--seed',
  '5',
  '--log-every',
  '1',
  '--out',
  out,
  ...extra,
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-faults-'));
  data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 12, seed: 4, splits: [''] });
});

/** The `webgpu-trainer train --resume ...` command a message printed, as argv for runCli. */
function printedResume(err: string): string[] {
  const m = /Continue from it with: webgpu-trainer (train --resume .*)$/m.exec(err);
  expect(m, err).not.toBeNull();
  return m![1].split(' ');
}

function allFinite(weights: { W: Float32Array; b: Float32Array }[]): boolean {
  return weights.every((w) => w.W.every(Number.isFinite) && w.b.every(Number.isFinite));
}

describe('divergence', () => {
  it('stops with the step, the cause and the fix, and writes no model or checkpoint', async () => {
    const out = path.join(root, 'diverge');
    const r = await runCli(TRAIN(out, ['--lr', '1e6', '--epochs', '3']));
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(
      /DivergedError: Training diverged\. The (loss became -?(NaN|Infinity) at step \d+|weights became non-finite by step \d+)/,
    );
    expect(r.err).toMatch(/Likely cause: the learning rate \(--lr 1000000\) is too high/);
    expect(r.err).toMatch(/Fix: lower it \(e\.g\. --lr 100000\), or clip gradients with --max-norm 1\./);
    expect(r.err).toMatch(/No checkpoint was written before this happened/);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
    expect(existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(false);
    expect(existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });

  it('keeps the last good checkpoint byte for byte, and --resume from it works', async () => {
    const out = path.join(root, 'resume');
    const ckpt = path.join(out, 'checkpoint.safetensors');
    // A good run stopped by Ctrl-C at the end of epoch 1 (its checkpoint: epoch 2, step 1) is the good one.
    let interrupt: (() => void) | undefined;
    const good = await runCli(TRAIN(out, ['--lr', '0.05', '--epochs', '4']), {
      onInterrupt: (h) => {
        interrupt = h;
        return () => {};
      },
      onErr: (t) => {
        if (/^epoch 1\/4 +loss/m.test(t)) interrupt?.();
      },
    });
    expect(good.code, good.err).toBe(130);
    const before = await readFile(ckpt);

    // The same run resumed with a learning rate that overflows f32 (from a well-fitted checkpoint
    // 1e6 can settle at loss 0 instead of diverging); no epoch checkpoints, so the one this run
    // resumed from is the last good one (a finite epoch checkpoint would replace it).
    const bad = await runCli(['train', '--resume', ckpt, '--lr', '1e30', '--checkpoint-every', '0']);
    expect(bad.code, bad.err).toBe(1);
    expect(bad.err).toMatch(/Training diverged\./);
    expect(bad.err).toContain(`The last good checkpoint is intact: ${ckpt}`);
    expect(bad.err).toContain(`Continue from it with: webgpu-trainer train --resume ${ckpt} --lr 1e+29`);
    expect(Buffer.compare(await readFile(ckpt), before)).toBe(0);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);

    // The printed command loads and resumes (run on a copy, so the good checkpoint stays for the
    // last step). 1e29 still diverges on this data after an epoch, so that run may replace its
    // checkpoint, but only with one that is finite and loads.
    const copy = path.join(root, 'resume-copy', 'checkpoint.safetensors');
    await mkdir(path.dirname(copy));
    await copyFile(ckpt, copy);
    const again = await runCli(printedResume(bad.err).map((a) => (a === ckpt ? copy : a)));
    expect(again.out).toMatch(/^resuming +\S+checkpoint\.safetensors at epoch 2, step 2\/5$/m);
    expect(allFinite((await loadCheckpointFile(copy)).model.weights)).toBe(true);

    // A sane learning rate from the same checkpoint finishes the run with finite weights.
    const fixed = await runCli(['train', '--resume', ckpt, '--lr', '0.01']);
    expect(fixed.code, fixed.err).toBe(0);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(allFinite(m.weights)).toBe(true);
    expect((m.training as { config: { lr: number } }).config.lr).toBe(0.01);
  });
});

describe('device loss', () => {
  it('ends the run with the last epoch checkpoint intact and prints the command that finishes it', async () => {
    const out = path.join(root, 'lost');
    const ckpt = path.join(out, 'checkpoint.safetensors');
    // Its own device: the hook destroys it, and the other tests keep the shared one.
    const gpu = await acquireGpu({ log: () => {} });
    let err = '';
    const code = await main(TRAIN(out, ['--lr', '0.05', '--epochs', '4', '--checkpoint-every', '1']), {
      io: { out: () => {}, err: (t) => void (err += t), errIsTTY: false, columns: 120 },
      gpu: () => Promise.resolve(gpu),
      onInterrupt: () => () => {},
      runHooks: destroyDeviceAfter(gpu, 2 * STEPS_PER_EPOCH + 2),
    });
    expect(code, err).toBe(1);
    expect(err).toMatch(/RunDeviceLostError: The GPU device was lost during training/);
    expect(err).toContain(`The last good checkpoint is intact: ${ckpt} (epoch 3, step 0/5)`);
    expect(err).toContain(`Continue from it with: webgpu-trainer train --resume ${ckpt}\n`);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
    const c = await loadCheckpointFile(ckpt);
    expect(c.state.step).toBe(2 * STEPS_PER_EPOCH);
    expect(allFinite(c.model.weights)).toBe(true);

    const r: CliResult = await runCli(printedResume(err));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^resuming .* at epoch 3, step 1\/5$/m);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect((m.training as { steps: number }).steps).toBe(4 * STEPS_PER_EPOCH);
  });
});

/** The pid of a process that has exited (so certainly not alive now). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  expect(pidAlive(child.pid!)).toBe(false);
  return child.pid!;
}

describe('one run per --out', () => {
  it('a second run into the same folder refuses and names the first run', async () => {
    const out = path.join(root, 'locked');
    const lock = await acquireRunLock(out, { command: 'webgpu-trainer train (first run)' });
    try {
      const r = await runCli(TRAIN(out, ['--lr', '0.05', '--epochs', '1']));
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(
        new RegExp(
          `RunLockedError: \\S+locked is in use by another run \\(pid ${process.pid}, started .*\\(first run\\)\\); wait for it to finish, stop it, or pass another --out`,
        ),
      );
      expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
    } finally {
      await lock.release();
    }
    expect(existsSync(path.join(out, LOCK_NAME))).toBe(false);
    const r = await runCli(TRAIN(out, ['--lr', '0.05', '--epochs', '1']));
    expect(r.code, r.err).toBe(0);
    expect(existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });

  it('takes over a lock left by a process that died, with a note', async () => {
    const out = path.join(root, 'stale');
    const pid = await deadPid();
    const held = await acquireRunLock(out);
    await held.release();
    await writeFile(
      path.join(out, LOCK_NAME),
      JSON.stringify({ pid, host: os.hostname(), started: 'earlier', command: 'killed run', token: 'x' }),
    );
    const r = await runCli(TRAIN(out, ['--lr', '0.05', '--epochs', '1']));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`note: taking over the lock ${path.join(out, LOCK_NAME)} left by pid ${pid}`);
    expect(existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });

  it('refuses a lock from another host, takes over a torn one, and never removes a lock it lost', async () => {
    const dir = await mkdtemp(path.join(root, 'lockunit-'));
    const file = path.join(dir, LOCK_NAME);
    await writeFile(file, JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then', token: 'y' }));
    const e = await acquireRunLock(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RunLockedError);
    expect((e as Error).message).toMatch(
      /run on another machine \(elsewhere, pid 1, .*delete .* if that run is over/,
    );

    await writeFile(file, '{"pid": 12'); // a crash between create and write
    const notes: string[] = [];
    const lock = await acquireRunLock(dir, { note: (l) => notes.push(l) });
    expect(notes).toEqual([
      `note: taking over the unreadable lock ${file} (a run that died while creating it)`,
    ]);
    // Someone replaced our lock (e.g. deleted it by hand and started a run): release leaves theirs.
    await writeFile(file, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'theirs' }));
    await lock.release();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ token: 'theirs' });
  });
});

describe('predict on a file that is not an image', () => {
  it('says what a CLI user can do, not an API option', async () => {
    const out = path.join(root, 'predict');
    const t = await runCli(TRAIN(out, ['--lr', '0.05', '--epochs', '1']));
    expect(t.code, t.err).toBe(0);
    const notImage = path.join(root, 'notes.txt');
    await writeFile(notImage, 'root:x:0:0:root:/root:/bin/bash\n');
    const r = await runCli(['predict', path.join(out, 'model.safetensors'), notImage]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `${notImage}: not an image file; predict reads PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF/HEIF files only`,
    );
    expect(r.err).not.toMatch(/skipNonImages/);
  });
});
