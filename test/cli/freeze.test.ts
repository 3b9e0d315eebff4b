// `train --freeze backbone` and `--unfreeze-after N` from the command line: bad combinations are
// one-line usage errors; a head-only epoch leaves the backbone's weights and batch-norm statistics
// exactly as initialised (two learning rates, the same backbone) while the head trains; a run that
// unfreezes after its first epoch says so once and changes the backbone only then; and runs
// interrupted while frozen (it must unfreeze on time) and after unfreezing (it must stay unfrozen,
// at the lower rate) end bit for bit as one that never stopped.

import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/io/files.js';
import type { ModelFile } from '../../src/io/modelfile.js';
import { interruptAndResume, makeImageFolder, runCli } from './helpers.js';

let root: string;
let data: string;
const TRAIN = (out: string, extra: string[]) => [
  ...['train', '--data', data, '--image-size', '12x12', '--arch', 'cnn', '--batch-size', '16'],
  ...['--validation', 'none', '--seed', '5', '--log-every', '1', '--progress', 'lines', '--out', out],
  ...extra,
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-freeze-'));
  data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 12, seed: 4 });
});

const model = (out: string): Promise<ModelFile> => loadModelFile(path.join(out, 'model.safetensors'));
const flat = (w: ModelFile['weights']): number[][] => w.map((l) => [...l.W, ...l.b]);

describe('train --freeze backbone / --unfreeze-after', () => {
  it('refuses bad combinations with a one-line hint', async () => {
    const cases: [string[], RegExp][] = [
      [['--unfreeze-after', '1', '--epochs', '3'], /--unfreeze-after needs --freeze backbone/],
      [
        ['--freeze', 'backbone', '--unfreeze-after', '3', '--epochs', '3'],
        /--unfreeze-after 3 is not before the last epoch \(--epochs 3\)/,
      ],
      [['--freeze', 'backbone', '--unfreeze-lr-factor', '0.5'], /add --unfreeze-after N/],
      [['--freeze', 'head'], /--freeze/],
      [['--freeze', 'backbone', '--unfreeze-after', '0'], /--unfreeze-after/],
    ];
    for (const [extra, want] of cases) {
      const r = await runCli(TRAIN(path.join(root, 'bad'), extra));
      expect(r.code, extra.join(' ')).not.toBe(0);
      expect(r.code, extra.join(' ')).not.toBe(1);
      const lines = r.err.split('\n').filter((l) => /error/i.test(l));
      expect(lines.length, r.err).toBe(1);
      expect(r.err).toMatch(want);
    }
  });

  it('a head-only epoch keeps the backbone; unfreezing after it trains the backbone too', async () => {
    const head = async (lr: string) => {
      const out = path.join(root, `head-${lr}`);
      const r = await runCli(TRAIN(out, ['--freeze', 'backbone', '--epochs', '1', '--lr', lr]));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^frozen +\d+ of \d+ layers \(backbone\), .* parameters; only the head trains$/m);
      return model(out);
    };
    const [a, b] = [await head('0.01'), await head('0.002')];
    const L = a.weights.length;
    expect(flat(a.weights).slice(0, L - 1)).toEqual(flat(b.weights).slice(0, L - 1));
    expect(flat(a.weights)[L - 1]).not.toEqual(flat(b.weights)[L - 1]);
    // The frozen batch norms ran on their running statistics and left them as initialised.
    expect(a.runningStats.length).toBeGreaterThan(0);
    for (const s of a.runningStats) {
      expect([...s.mean].every((v) => v === 0)).toBe(true);
      expect([...s.variance].every((v) => v === 1)).toBe(true);
    }

    const out = path.join(root, 'unfreeze');
    const args = ['--freeze', 'backbone', '--unfreeze-after', '1', '--epochs', '2', '--lr', '0.01'];
    const r = await runCli(TRAIN(out, args));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^frozen .*; every layer trains after epoch 1, at lr x0\.1$/m);
    expect(r.err.match(/unfreezing/g)?.length, r.err).toBe(1);
    // The line comes after epoch 1's summary and before epoch 2's progress.
    expect(r.err.indexOf('unfreezing')).toBeGreaterThan(r.err.indexOf('epoch 1/2  loss'));
    expect(r.err.indexOf('unfreezing')).toBeLessThan(r.err.indexOf('epoch 2/2'));
    const u = await model(out);
    for (let k = 0; k < L - 1; k++) expect(flat(u.weights)[k], `layer ${k}`).not.toEqual(flat(a.weights)[k]);
    expect([...u.runningStats[0].mean].some((v) => v !== 0)).toBe(true);
  });

  it('runs interrupted while frozen and after unfreezing resume as they were, bit for bit', async () => {
    const args = (out: string) =>
      TRAIN(out, ['--freeze', 'backbone', '--unfreeze-after', '1', '--epochs', '3', '--lr', '0.01']);
    for (const at of ['epoch 1/3 [', 'epoch 2/3 [']) {
      const tag = at.slice(6, 7);
      const { whole, part } = await interruptAndResume(
        args,
        path.join(root, `whole-${tag}`),
        path.join(root, `part-${tag}`),
        at,
      );
      expect(flat(part.weights), at).toEqual(flat(whole.weights));
      expect(part.runningStats.map((s) => [...s.mean])).toEqual(whole.runningStats.map((s) => [...s.mean]));
    }
  });
});
