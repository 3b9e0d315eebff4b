// `train` on a folder of photos (>= 96 px) with a convolutional preset and no --augment: auto picks
// random-resized crop and flip, the header says so and how the records are stored; the model
// remembers it, so eval takes the same centre crop as validation did and predict agrees with eval.
// Small pictures keep --augment auto at none, and `crop,rrc` together is a usage error.

import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/io/files.js';
import { Rng } from '../../src/rng.js';
import { CLASSES, runCli, synthImage } from './helpers.js';

let root: string;

function folder(name: string, per: number, w: number, h: number): string {
  const dir = path.join(root, name);
  const rng = new Rng(name.length + w);
  CLASSES.forEach((c, k) => {
    mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < per; i++)
      writeFileSync(
        path.join(dir, c, `${i}.png`),
        encode({ width: w, height: h, data: synthImage(k, w, h, rng), channels: 3, depth: 8 }),
      );
  });
  return dir;
}

const row = (out: string, key: string): string | undefined =>
  out.split('\n').find((l) => l.startsWith(`${key} `));

const TRAIN = (data: string, out: string, extra: string[] = []) => [
  'train',
  '--data',
  data,
  '--arch',
  'cnn',
  '--epochs',
  '1',
  '--batch-size',
  '8',
  '--validation',
  '0.25',
  '--out',
  out,
  ...extra,
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-rrc-'));
});

describe('random-resized crop from the command line', () => {
  it('auto on photos: rrc and flip, records at 8/7, and eval and predict see the centre', async () => {
    const data = folder('photos', 4, 112, 104);
    const out = path.join(root, 'out1');
    const r = await runCli(TRAIN(data, out));
    expect(r.code, r.err).toBe(0);
    expect(row(r.out, 'image size')).toBe('image size 104x112 (every picture is 104x112)');
    expect(row(r.out, 'records')).toMatch(
      /^records +119x128, the centre of each picture at 8\/7 the image size/,
    );
    expect(row(r.out, 'augment')).toBe('augment    rrc (area 0.08-1, aspect 0.75-1.33), flip');
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([104, 112, 3]);
    expect((m.training as { config: { augment: unknown } }).config.augment).toMatchObject({ flip: true });

    const ev = await runCli(['eval', path.join(out, 'model.safetensors'), '--json', '--tta', 'none']);
    expect(ev.code, ev.err).toBe(0);
    const evj = JSON.parse(ev.out) as { samples: number; accuracy: number };
    expect(evj.samples).toBe(12);
    // predict on the same files classifies them as eval did (same centre crop of the same records).
    const files = CLASSES.flatMap((c) => [0, 1, 2, 3].map((i) => path.join(data, c, `${i}.png`)));
    const pr = await runCli([
      'predict',
      path.join(out, 'model.safetensors'),
      ...files,
      '--json',
      '--tta',
      'none',
    ]);
    expect(pr.code, pr.err).toBe(0);
    const preds = JSON.parse(pr.out) as { file: string; class: string }[];
    const correct = preds.filter((p) => p.file.split(path.sep).at(-2) === p.class).length;
    expect(correct / files.length).toBeCloseTo(evj.accuracy, 5);
  });

  it('auto on small pictures stays off; crop with rrc is a usage error', async () => {
    const data = folder('small', 3, 24, 24);
    const r = await runCli(TRAIN(data, path.join(root, 'out2')));
    expect(r.code, r.err).toBe(0);
    expect(row(r.out, 'records')).toBeUndefined();
    expect(row(r.out, 'augment')).toBeUndefined();
    const bad = await runCli(TRAIN(data, path.join(root, 'out3'), ['--augment', 'crop,rrc']));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/crop and rrc both move the picture; choose one/);
  });
});
