// Ctrl-C on the real process: `train` is spawned, sent SIGINT mid-run, and must write a checkpoint
// that loads, exit with code 130, and let `train --resume` finish the run.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadCheckpointFile, loadModelFile } from '../../src/io/files.js';
import { makeImageFolder, runCli, spawnCli } from './helpers.js';

it('SIGINT writes a checkpoint, exits 130, and --resume completes the run', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'wgt-sigint-'));
  const data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 30, seed: 2 });
  // 90 images, 9 held out for validation: 81 train in batches of 4 = 21 steps per epoch.
  const out = path.join(root, 'run');
  const child = spawnCli([
    'train',
    '--data',
    data,
    '--image-size',
    '8x8',
    '--layers',
    '16',
    '--batch-size',
    '4',
    '--epochs',
    '20',
    '--log-every',
    '1',
    '--progress',
    'lines',
    '--out',
    out,
  ]);
  let stderr = '';
  let sent = false;
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (!sent && stderr.includes('epoch 2/20 [')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  child.stdout!.resume();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  expect(sent, stderr).toBe(true);
  expect(code, stderr).toBe(130);
  expect(stderr).toMatch(/Ctrl-C: stopping after this step and writing a checkpoint/);
  expect(stderr).toMatch(/checkpoint written: .*checkpoint\.safetensors/);
  expect(stderr).toContain('continue with: webgpu-trainer train --resume');
  expect(stderr).not.toMatch(/\n\s+at /);

  const ckFile = path.join(out, 'checkpoint.safetensors');
  const ck = await loadCheckpointFile(ckFile);
  expect(ck.state.epoch).toBeGreaterThanOrEqual(1);
  expect(ck.state.step).toBe(ck.state.epoch * 21 + ck.state.batchInEpoch);
  expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);

  const r = await runCli(['train', '--resume', ckFile]);
  expect(r.code, r.err).toBe(0);
  const m = await loadModelFile(path.join(out, 'model.safetensors'));
  expect((m.training as { steps: number }).steps).toBe(20 * 21);
  const log = await readFile(path.join(out, 'metrics.jsonl'), 'utf8');
  expect(log).toMatch(/"resumedFrom":\{"epoch":\d+,"batch":\d+/);
});
