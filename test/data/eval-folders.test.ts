// `eval --data FOLDER` on a plain class-per-folder tree (no train/ or test/): all of it is
// evaluated without --split, class folders are matched to the model's classes by name (a subset
// in any order is fine), and a class the model does not know is a one-line error.

import { mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLASSES, makeImageFolder, runCli } from '../cli/helpers.js';

let root = '';
let model = '';

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-evalf-'));
  // Training data as train/<class>/ only: the held-out validation comes out of it.
  await makeImageFolder(path.join(root, 'shapes'), { perClass: 12, seed: 2, splits: ['train'] });
  const out = path.join(root, 'run');
  const r = await runCli([
    'train',
    '--data',
    path.join(root, 'shapes'),
    '--image-size',
    '8x8',
    '--layers',
    '8',
    '--epochs',
    '1',
    '--batch-size',
    '8',
    '--out',
    out,
  ]);
  expect(r.code, r.err).toBe(0);
  model = path.join(out, 'model.safetensors');
}, 300_000);

describe('eval on plain folders', () => {
  it('evaluates all of a plain folder, matching classes by name', async () => {
    const plain = path.join(root, 'plain');
    await makeImageFolder(plain, { perClass: 5, seed: 3, splits: [''] });
    // Drop the first class: the data's class 0 is then the model's class 1.
    await rm(path.join(plain, CLASSES[0]), { recursive: true });
    const r = await runCli(['eval', model, '--data', plain, '--json']);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as { samples: number; split: string; classes: { support: number }[] };
    expect(rep.samples).toBe(10);
    expect(rep.split).toBe('all');
    expect(rep.classes.map((c) => c.support)).toEqual([0, 5, 5]);
    const t = await runCli(['eval', model, '--data', plain]);
    expect(t.out).toMatch(/^data +.*plain, all of it, 10 samples$/m);
  }, 120_000);

  it('a class the model does not know is a one-line error', async () => {
    const other = path.join(root, 'other');
    await makeImageFolder(other, { perClass: 3, seed: 4, splits: [''] });
    await rename(path.join(other, CLASSES[2]), path.join(other, 'zebra'));
    const r = await runCli(['eval', model, '--data', other]);
    expect(r.code).not.toBe(0);
    expect(
      r.err
        .trim()
        .split('\n')
        .filter((l) => l.includes('zebra')),
    ).toEqual([
      expect.stringMatching(/zebra is not among the model's classes \(ring, stripes, tl-block\)/) as string,
    ]);
  }, 120_000);
});
