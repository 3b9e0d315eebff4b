// Test-time augmentation (--tta, src/engine/tta.ts): the mirror against a per-pixel one written
// here, the scores against hand-worked numbers, the auto rule and its errors, and a flip-trained
// run whose printed test accuracy is recomputed independently from the model file, then matched
// by eval and changed by --tta none.

import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadData } from '../../src/cli/data-flags.js';
import { toTrainingData } from '../../src/data/batches.js';
import { inferenceTrainer, loadModelForUse } from '../../src/cli/model.js';
import {
  meanOfViews,
  mirrorImages,
  resolveTta,
  scoreProbabilities,
  trainedWithFlip,
} from '../../src/engine/tta.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';
import { makeImageFolder, runCli } from './helpers.js';

/** Pixel (x, y, c) of image n goes to (w - 1 - x, y, c): written out, no row tricks. */
function naiveMirror(src: Uint8Array, n: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(n * h * w * c).fill(77);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++)
          out[((i * h + y) * w + (w - 1 - x)) * c + k] = src[((i * h + y) * w + x) * c + k];
  return out;
}

describe('tta: the pieces', () => {
  it('mirrorImages matches the per-pixel mirror at awkward shapes and undoes itself', () => {
    const rng = new Rng(5);
    for (const [n, h, w, c] of [
      [1, 1, 1, 1],
      [3, 5, 7, 3],
      [2, 1, 13, 1],
      [4, 6, 2, 3],
      [1, 28, 28, 1],
    ]) {
      const src = Uint8Array.from({ length: n * h * w * c }, () => rng.int(256));
      const m = mirrorImages(src, n, h, w, c);
      expect(Array.from(m)).toEqual(Array.from(naiveMirror(src, n, h, w, c)));
      expect(Array.from(mirrorImages(m, n, h, w, c))).toEqual(Array.from(src));
    }
    expect(() => mirrorImages(new Uint8Array(10), 1, 2, 2, 3)).toThrow(/fewer than 1 images of 2x2x3/);
  });

  it('scores: softmax-ce and bce from probabilities, worked by hand', () => {
    // Two samples, three classes: the first right with p = 0.7, the second wrong (label 2, p 0.2).
    const p = Float32Array.of(0.7, 0.2, 0.1, 0.5, 0.3, 0.2);
    const s = scoreProbabilities(p, Int32Array.of(0, 2), 3, 'softmax-ce');
    expect(s.correct).toBe(1);
    expect(s.count).toBe(2);
    expect(s.loss).toBeCloseTo(-Math.log(0.7) - Math.log(0.2), 6);
    // bce, one output: 0.9 for label 1 (right), 0.6 for label 0 (wrong), 0.4 for 0 (right).
    const b = scoreProbabilities(Float32Array.of(0.9, 0.6, 0.4), Int32Array.of(1, 0, 0), 1, 'bce');
    expect(b.correct).toBe(2);
    expect(b.loss).toBeCloseTo(-Math.log(0.9) - Math.log(0.4) - Math.log(0.6), 6);
    // A probability that is 0 in float32 costs a finite loss.
    expect(
      Number.isFinite(scoreProbabilities(Float32Array.of(1, 0), Int32Array.of(1), 2, 'softmax-ce').loss),
    ).toBe(true);
    expect(Array.from(meanOfViews(Float32Array.of(0.2, 0.8), Float32Array.of(0.6, 0.4)))).toEqual([
      Math.fround(0.4),
      Math.fround(0.6),
    ]);
    expect(() => scoreProbabilities(p, Int32Array.of(0), 3, 'softmax-ce')).toThrow(/6 outputs for 1 samples/);
  });

  it('auto is flip exactly when the run trained with flip; flip on flat data or mse is a one-line error', () => {
    const img = [28, 28, 1] as const;
    expect(resolveTta('auto', true, img, 'softmax-ce')).toBe('flip');
    expect(resolveTta('auto', false, img, 'softmax-ce')).toBe('none');
    expect(resolveTta('flip', false, img, 'bce')).toBe('flip');
    expect(resolveTta('none', true, img, 'softmax-ce')).toBe('none');
    expect(resolveTta('auto', true, [1, 20, 1], 'softmax-ce')).toBe('none');
    expect(resolveTta('auto', true, img, 'mse')).toBe('none');
    expect(() => resolveTta('flip', true, [1, 20, 1], 'softmax-ce', '--tta')).toThrow(
      /^--tta flip: the input is 1x20x1: flat features, not images; use --tta none$/,
    );
    expect(() => resolveTta('flip', true, img, 'mse', '--tta')).toThrow(/mse loss.*use --tta none$/);
    // The library's own error names its option.
    expect(() => resolveTta('flip', true, img, 'mse')).toThrow(/^tta flip: .*mse loss.*use tta none$/);
    expect(trainedWithFlip({ augment: { flip: true, crop: { padding: 4, mode: 'zero' } } })).toBe(true);
    expect(trainedWithFlip({ augment: { crop: { padding: 4, mode: 'zero' } } })).toBe(false);
    expect(trainedWithFlip({ augment: null })).toBe(false);
    expect(trainedWithFlip(undefined)).toBe(false);
  });
});

describe('tta: train, eval and predict', () => {
  let root: string;
  let data: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-tta-'));
    data = path.join(root, 'shapes');
    await makeImageFolder(data, { perClass: 16, seed: 9 });
  });
  const train = (out: string, extra: string[]) =>
    runCli([
      'train',
      '--data',
      data,
      '--image-size',
      '10x10',
      '--arch',
      'lenet',
      '--epochs',
      '3',
      '--batch-size',
      '16',
      '--lr',
      '0.01',
      '--seed',
      '4',
      '--progress',
      'none',
      '--out',
      out,
      ...extra,
    ]);
  const testAcc = (o: string) => Number(/^test +loss \S+ +accuracy ([\d.]+)%/m.exec(o)?.[1]);

  it('a flip-trained run scores its test split on both views; eval and an independent recomputation agree', async () => {
    const out = path.join(root, 'flip');
    const r = await train(out, ['--augment', 'flip']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^tta +flip: the test split is scored on the mean of each image and its mirror/m);
    expect(r.out).toMatch(
      /^test +loss \S+ +accuracy [\d.]+% +\(12 samples\)\n +flip TTA \(each image and its mirror\); one view: loss \d\.\d{4} +accuracy [\d.]+%$/m,
    );
    const printed = testAcc(r.out);
    const printedLoss = Number(/^test +loss (\S+)/m.exec(r.out)?.[1]);
    const oneView = Number(/one view: loss \S+ +accuracy ([\d.]+)%/.exec(r.out)?.[1]);
    const oneViewLoss = Number(/one view: loss (\S+)/.exec(r.out)?.[1]);
    // The two views were really both scored: their mean's loss is not the first view's.
    expect(printedLoss).not.toBe(oneViewLoss);

    // The same number from the model file: both views through predict, mirrored here, averaged.
    const file = path.join(out, 'model.safetensors');
    const m = await loadModelForUse(file);
    const d = await loadData(data, { imageSize: [10, 10], channels: 3, resize: 'resize' }, null, () => {});
    const set = d.test!;
    const trainer = await inferenceTrainer((await testGpu()).gpu, m);
    const td = toTrainingData(set, m.normalization);
    const a = await trainer.predict(td);
    const b = await trainer.predict({ ...td, images: naiveMirror(set.images, set.count, 10, 10, 3) });
    trainer.destroy();
    let right = 0;
    let rightOne = 0;
    let loss = 0;
    for (let i = 0; i < set.count; i++) {
      const mean = [0, 1, 2].map((k) => a[i * 3 + k] + b[i * 3 + k]);
      loss -= Math.log(mean[set.labels[i]] / 2);
      if (mean.indexOf(Math.max(...mean)) === set.labels[i]) right++;
      const one = [0, 1, 2].map((k) => a[i * 3 + k]);
      if (one.indexOf(Math.max(...one)) === set.labels[i]) rightOne++;
    }
    expect(printed).toBeCloseTo((100 * right) / set.count, 2);
    expect(printedLoss).toBeCloseTo(loss / set.count, 3);
    expect(oneView).toBeCloseTo((100 * rightOne) / set.count, 2);

    // eval defaults to the model's own rule; --tta none gives the one-view number, from the engine.
    const e = await runCli(['eval', file]);
    expect(e.code, e.err).toBe(0);
    expect(Number(/^accuracy +([\d.]+)%/m.exec(e.out)?.[1])).toBeCloseTo(printed, 6);
    expect(e.out).toMatch(/^tta +flip/m);
    // Read a chunk of 4 images at a time from a decoded cache: the same scores.
    const chunked = await runCli(['eval', file, '--memory-budget', '1KiB', '--batch-size', '4']);
    expect(chunked.code, chunked.err).toBe(0);
    expect(chunked.out).toMatch(/in chunks of 4\)$/m);
    expect(chunked.out).toMatch(/^tta +flip/m);
    expect(Number(/^accuracy +([\d.]+)%/m.exec(chunked.out)?.[1])).toBeCloseTo(printed, 6);
    expect(Number(/^loss +(\S+)/m.exec(chunked.out)?.[1])).toBeCloseTo(printedLoss, 3);
    const none = await runCli(['eval', file, '--tta', 'none', '--json']);
    expect(none.code, none.err).toBe(0);
    const j = JSON.parse(none.out) as { accuracy: number; tta: string };
    expect(j.tta).toBe('none');
    expect(100 * j.accuracy).toBeCloseTo(oneView, 6);

    // predict: the averaged probabilities differ from one view's.
    const p1 = await runCli(['predict', file, path.join(data, 'test'), '--json']);
    const p0 = await runCli(['predict', file, path.join(data, 'test'), '--json', '--tta', 'none']);
    expect(p1.code, p1.err).toBe(0);
    expect(p0.code, p0.err).toBe(0);
    const prob = (o: string) => (JSON.parse(o) as { probability: number }[]).map((x) => x.probability);
    expect(prob(p1.out)).toHaveLength(12);
    expect(prob(p1.out)).not.toEqual(prob(p0.out));
  }, 300_000);

  it('a run without flip scores one view; --tta none and bad values', async () => {
    const out = path.join(root, 'crop');
    const r = await train(out, ['--augment', 'crop:1']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/^tta/m);
    expect(r.out).not.toMatch(/flip TTA/);
    const e = await runCli(['eval', path.join(out, 'model.safetensors'), '--json']);
    expect((JSON.parse(e.out) as { tta: string }).tta).toBe('none');
    expect(100 * (JSON.parse(e.out) as { accuracy: number }).accuracy).toBeCloseTo(testAcc(r.out), 6);

    // A run that asked for one view keeps it in eval; --resume takes --tta.
    const kept = path.join(root, 'flip-none');
    const k = await train(kept, ['--augment', 'flip', '--tta', 'none']);
    expect(k.code, k.err).toBe(0);
    expect(k.out).not.toMatch(/flip TTA/);
    const ke = await runCli(['eval', path.join(kept, 'model.safetensors'), '--json']);
    expect((JSON.parse(ke.out) as { tta: string }).tta).toBe('none');
    expect(100 * (JSON.parse(ke.out) as { accuracy: number }).accuracy).toBeCloseTo(testAcc(k.out), 6);
    const res = await runCli([
      'train',
      '--resume',
      path.join(kept, 'checkpoint.safetensors'),
      '--tta',
      'flip',
    ]);
    expect(res.code, res.err).toBe(0);
    expect(res.err).toMatch(/already finished all 3 epochs/);

    const bad = await runCli(['eval', path.join(out, 'model.safetensors'), '--tta', 'mirror']);
    expect(bad.code).not.toBe(0);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/--tta/);
  }, 300_000);
});
