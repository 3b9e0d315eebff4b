// The commands end to end on a small synthetic image folder (PNG files of three easy classes):
// train writes a model, metrics log, curves and checkpoint; predict classifies new PNG files of
// other sizes; eval prints loss, accuracy, per-class precision/recall and the confusion matrix;
// an interrupted run resumed from its checkpoint ends with the same weights, bit for bit.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpointFile, loadModelFile } from '../../src/io/files.js';
import { Rng } from '../../src/rng.js';
import { CLASSES, makeImageFolder, runCli, synthImage, writePng } from './helpers.js';

let root: string;
let data: string;
let run: string;
const TRAIN = (out: string, extra: string[] = []) => [
  'train',
  '--data',
  data,
  '--image-size',
  '8x8',
  '--layers',
  '24',
  '--lr',
  '0.01',
  '--batch-size',
  '16',
  '--validation',
  'test',
  '--seed',
  '3',
  '--log-every',
  '1',
  '--out',
  out,
  ...extra,
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-'));
  data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 30, seed: 1 });
  run = path.join(root, 'run');
  const r = await runCli(TRAIN(run, ['--epochs', '12']));
  expect(r.code, r.err).toBe(0);
});

describe('train', () => {
  it('prints the adapter, parameter count, memory estimate, progress, validation and a summary', async () => {
    const r = await runCli(TRAIN(path.join(root, 'again'), ['--epochs', '2']));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^adapter +\S/m);
    expect(r.out).toMatch(/^parameters +(\d|,)+$/m);
    // 192 inputs -> 24 -> 3: 192*24 + 24 + 24*3 + 3 weights and biases.
    expect(r.out).toContain(`parameters ${(192 * 24 + 24 + 24 * 3 + 3).toLocaleString('en-US')}`);
    expect(r.out).toMatch(/^GPU memory ~[\d.]+ (KiB|MiB)/m);
    expect(r.out).toMatch(/^network +192-24-3 /m);
    expect(r.err).toMatch(
      /epoch 1\/2 \[[#.]{20}\] +\d+% +\d+\/6 +\d+ samples\/s +ETA \d+:\d\d +loss \d\.\d{4} +acc [\d.]+%/,
    );
    expect(r.err).toMatch(/epoch 2\/2 +loss \d\.\d{4} +acc [\d.]+% +val_loss \d\.\d{4} +val_acc [\d.]+%/);
    expect(r.out).toMatch(/epoch +loss +accuracy +val loss +val accuracy +time +samples\/s/);
    expect(r.out).toMatch(/^test +loss \d\.\d{4} +accuracy [\d.]+% +\(21 samples\)/m);
  });

  it('writes a loadable model file with shape, normalisation, class names and configuration', async () => {
    const m = await loadModelFile(path.join(run, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([8, 8, 3]);
    expect(m.architecture.layers.map((l) => ('units' in l ? l.units : 0))).toEqual([24, 3]);
    expect(m.classNames).toEqual([...CLASSES]);
    expect(m.normalization.kind).toBe('standardize');
    expect((m.normalization as { mean: number[] }).mean).toHaveLength(3);
    const cfg = (m.training as { config: Record<string, unknown> }).config;
    expect(cfg).toMatchObject({
      layers: [24],
      lr: 0.01,
      batchSize: 16,
      epochs: 12,
      seed: 3,
      imageSize: [8, 8],
    });
    expect((m.training as { test: { accuracy: number } }).test.accuracy).toBeGreaterThan(0.9);
  });

  it('writes a JSON-lines metrics log and an SVG curve', async () => {
    const lines = (await readFile(path.join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs[0].type).toBe('run');
    const epochs = recs.filter((r) => r.type === 'epoch');
    expect(epochs.map((r) => r.epoch)).toEqual([...Array(12).keys()]);
    for (const e of epochs) expect(e).toHaveProperty('valAccuracy');
    const steps = recs.filter((r) => r.type === 'step');
    expect(steps).toHaveLength(12 * 6);
    expect(steps[5]).toMatchObject({ step: 6, epoch: 0, batch: 5, x: 1 });
    expect(recs.filter((r) => r.type === 'test')).toHaveLength(1);
    const svg = await readFile(path.join(run, 'curves.svg'), 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg.match(/<polyline /g)?.length).toBeGreaterThanOrEqual(4);
    expect(svg).toContain('Accuracy');
    expect(svg).not.toContain('NaN');
  });
});

describe('predict', () => {
  it('classifies new PNG files of other sizes, as a table and as JSON', async () => {
    const dir = path.join(root, 'new');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    const rng = new Rng(77);
    const files: string[] = [];
    for (let k = 0; k < CLASSES.length; k++) {
      for (const [w, h] of [
        [31, 23],
        [9, 12],
      ]) {
        const f = path.join(dir, `${CLASSES[k]}-${w}x${h}.png`);
        await writePng(f, w, h, synthImage(k, w, h, rng));
        files.push(f);
      }
    }
    const model = path.join(run, 'model.safetensors');
    const j = await runCli(['predict', model, ...files, '--json', '--top', '3']);
    expect(j.code, j.err).toBe(0);
    const res = JSON.parse(j.out) as {
      file: string;
      class: string;
      probability: number;
      top: { class: string; probability: number }[];
    }[];
    expect(res.map((r) => r.file)).toEqual(files);
    for (const r of res) {
      expect(path.basename(r.file).startsWith(r.class), `${r.file} -> ${r.class}`).toBe(true);
      expect(r.probability).toBeGreaterThan(0.5);
      expect(r.top).toHaveLength(3);
      expect(r.top[0].class).toBe(r.class);
      expect(r.top.reduce((s, t) => s + t.probability, 0)).toBeCloseTo(1, 4);
    }
    const t = await runCli(['predict', model, dir]);
    expect(t.code, t.err).toBe(0);
    const rows = t.out.trim().split('\n');
    expect(rows[0]).toMatch(/^image +class +probability$/);
    expect(rows[1]).toMatch(/^-+ +-+ +-+$/);
    expect(rows).toHaveLength(2 + files.length);
    for (const row of rows.slice(2)) {
      const [file, cls, p] = row.split(/\s+/);
      expect(path.basename(file).startsWith(cls)).toBe(true);
      expect(Number(p)).toBeGreaterThan(0.5);
    }
  });

  it('says which file is not an image', async () => {
    const bad = path.join(root, 'notes.png');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(bad, 'not a png');
    const r = await runCli(['predict', path.join(run, 'model.safetensors'), bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('notes.png');
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('eval', () => {
  it('prints loss, accuracy, per-class precision/recall and a confusion matrix', async () => {
    const model = path.join(run, 'model.safetensors');
    const r = await runCli(['eval', model]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^data +.*shapes, test split, 21 samples$/m);
    expect(r.out).toMatch(/^loss +\d\.\d{4}$/m);
    expect(r.out).toMatch(/^accuracy +[\d.]+%$/m);
    expect(r.out).toMatch(/^class +precision +recall +support$/m);
    CLASSES.forEach((c, k) => expect(r.out).toMatch(new RegExp(`^${k} ${c} +[\\d.]+% +[\\d.]+% +7$`, 'm')));
    expect(r.out).toContain('confusion matrix (rows: true class, columns: predicted class)');
    const cm = r.out.slice(r.out.indexOf('true \\ pred')).trim().split('\n').slice(2);
    expect(cm).toHaveLength(3);
    const counts = cm.map((row) => row.split(/\s+/).slice(2).map(Number));
    expect(counts.flat().reduce((a, b) => a + b, 0)).toBe(21);

    const j = await runCli(['eval', model, '--json']);
    const rep = JSON.parse(j.out) as {
      accuracy: number;
      loss: number;
      samples: number;
      confusion: number[][];
      classes: { name: string; recall: number }[];
    };
    expect(rep.samples).toBe(21);
    expect(rep.confusion).toEqual(counts);
    const diag = rep.confusion.reduce((s, row, k) => s + row[k], 0);
    expect(rep.accuracy).toBeCloseTo(diag / 21, 6);
    expect(rep.classes.map((c) => c.name)).toEqual([...CLASSES]);
    expect(rep.classes[0].recall).toBeCloseTo(rep.confusion[0][0] / 7, 6);
  });

  it('evaluates on the training split too', async () => {
    const r = await runCli([
      'eval',
      path.join(run, 'model.safetensors'),
      '--split',
      'train',
      '--limit',
      '50',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/train split, 50 samples/);
  });
});

describe('interrupt and --resume', () => {
  it('Ctrl-C writes a checkpoint; --resume finishes with the same weights as an uninterrupted run', async () => {
    const full = path.join(root, 'full');
    const a = await runCli(TRAIN(full, ['--epochs', '3']));
    expect(a.code, a.err).toBe(0);

    const cut = path.join(root, 'cut');
    let fire: (() => void) | undefined;
    let fired = false;
    const b = await runCli(TRAIN(cut, ['--epochs', '3']), {
      onInterrupt: (h) => {
        fire = h;
        return () => (fire = undefined);
      },
      onErr: (t) => {
        if (!fired && t.includes('epoch 2/3 [')) {
          fired = true;
          fire?.();
        }
      },
    });
    expect(fired).toBe(true);
    expect(b.code, b.err).toBe(130);
    expect(b.err).toMatch(/checkpoint written: .*checkpoint.safetensors \(epoch 2, step \d\/6\)/);
    expect(existsSync(path.join(cut, 'model.safetensors'))).toBe(false);
    const ckFile = path.join(cut, 'checkpoint.safetensors');
    const ck = await loadCheckpointFile(ckFile);
    expect(ck.state.epoch).toBe(1);
    expect(ck.state.batchInEpoch).toBeGreaterThan(0);
    expect(ck.optimizerState.tensors.m).toBeDefined();

    const c = await runCli(['train', '--resume', ckFile]);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toMatch(/^resuming +.*at epoch 2, step \d\/6$/m);
    const wa = (await loadModelFile(path.join(full, 'model.safetensors'))).weights;
    const wb = (await loadModelFile(path.join(cut, 'model.safetensors'))).weights;
    wa.forEach((w, l) => {
      expect(Buffer.from(wb[l].W.buffer).equals(Buffer.from(w.W.buffer)), `layer ${l} W`).toBe(true);
      expect(Buffer.from(wb[l].b.buffer).equals(Buffer.from(w.b.buffer)), `layer ${l} b`).toBe(true);
    });
    const recs = (await readFile(path.join(cut, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.filter((r) => r.type === 'run')).toHaveLength(2);
    expect(recs.filter((r) => r.type === 'epoch' && r.partial)).toHaveLength(1);
  });

  it('resuming a finished run says so and changes nothing', async () => {
    const r = await runCli(['train', '--resume', path.join(run, 'checkpoint.safetensors')]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/already finished all 12 epochs/);
  });
});
