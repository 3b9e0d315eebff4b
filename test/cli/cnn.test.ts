// CNNs from the command line on a small synthetic image folder: --arch lenet and cnn build
// networks that fit the data's shape, --model takes a JSON layer stack (the output layer added
// when missing), the model file holds PyTorch layouts and loads back for eval and predict, a CNN
// run resumes exactly, and bad stacks or flat data get one-line errors.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpointFile, loadModelFile } from '../../src/io/files.js';
import { interruptAndResume, makeImageFolder, runCli } from './helpers.js';

let root: string;
let data: string;
const TRAIN = (out: string, extra: string[]) => [
  'train',
  '--data',
  data,
  '--image-size',
  '12x12',
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
  '--progress',
  'none',
  '--out',
  out,
  ...extra,
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-cnn-'));
  data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 20, seed: 2 });
});

describe('train --model / --arch', () => {
  it('--model trains a stack with batch norm and dropout; the file loads for eval and predict', async () => {
    const net = path.join(root, 'net.json');
    await writeFile(
      net,
      JSON.stringify({
        layers: [
          { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
          { type: 'batchnorm', activation: 'relu' },
          { type: 'maxpool2d', size: 2 },
          { type: 'dropout', rate: 0.1 },
          { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
          { type: 'globalavgpool' },
        ],
      }),
    );
    const out = path.join(root, 'model-run');
    const r = await runCli(TRAIN(out, ['--model', net, '--epochs', '6']));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/network +12x12x3 -> conv2d 3x3\/1 same, 6 -> batchnorm relu -> maxpool2d 2x2\/2/);
    expect(r.out).toMatch(/-> globalavgpool -> dense 3 softmax/);
    // The layer table under it: conv 3x3, 3 -> 6 channels, no bias: 162 weights, 12*12*6*27 MACs.
    expect(r.out).toMatch(/^layers +layer +output +params +MACs$/m);
    expect(r.out).toMatch(/^ +conv2d 3x3\/1 same, 6 +12x12x6 +162 +23,328$/m);
    expect(r.out).toMatch(/^ +activations [\d.]+ MiB per batch of \d+ /m);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([12, 12, 3]);
    expect(m.architecture.layers).toHaveLength(7);
    expect(m.runningStats).toHaveLength(1);
    expect(m.batchesTracked).toBeGreaterThan(0);
    const acc = Number(/^test +loss \S+ +accuracy ([\d.]+)%/m.exec(r.out)?.[1]);
    expect(acc).toBeGreaterThan(50);

    const e = await runCli(['eval', path.join(out, 'model.safetensors'), '--data', data]);
    expect(e.code, e.err).toBe(0);
    expect(Number(/^accuracy +([\d.]+)%/m.exec(e.out)?.[1])).toBeCloseTo(acc, 6);
    const p = await runCli([
      'predict',
      path.join(out, 'model.safetensors'),
      path.join(data, 'test'),
      '--json',
    ]);
    expect(p.code, p.err).toBe(0);
    expect((JSON.parse(p.out) as unknown[]).length).toBeGreaterThan(0);
  });

  it('--arch lenet and cnn adapt to the image shape', async () => {
    for (const arch of ['lenet', 'cnn']) {
      const out = path.join(root, `arch-${arch}`);
      const r = await runCli(TRAIN(out, ['--arch', arch, '--epochs', '1', '--limit', '32']));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(
        arch === 'lenet' ? /conv2d 5x5\/1 same, 8/ : /conv2d 3x3\/1 same, 32 -> batchnorm relu/,
      );
    }
  });

  it('--precision f16 trains a CNN in mixed precision and logs the loss scale; bad values are one-line errors', async () => {
    const out = path.join(root, 'f16');
    const r = await runCli(TRAIN(out, ['--arch', 'lenet', '--epochs', '2', '--precision', 'f16']));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^precision +f16 mixed precision/m);
    expect(r.err).toMatch(/epoch 2\/2 .*loss scale 2\^\d+, \d+ skipped/);
    const acc = Number(/^test +loss \S+ +accuracy ([\d.]+)%/m.exec(r.out)?.[1]);
    expect(acc).toBeGreaterThan(40);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.weights.every((w) => w.W.every(Number.isFinite))).toBe(true);
    const bad = await runCli(TRAIN(path.join(root, 'f16-bad'), ['--precision', 'f8']));
    expect(bad.code).not.toBe(0);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/--precision/);
  });

  it('an f16 run interrupted and resumed keeps its loss scale in the checkpoint and ends the same', async () => {
    const args = (out: string) =>
      TRAIN(out, ['--arch', 'lenet', '--epochs', '3', '--precision', 'f16']).filter(
        (a) => a !== 'none' && a !== '--progress',
      );
    const whole = path.join(root, 'f16-whole');
    const r1 = await runCli(args(whole));
    expect(r1.code, r1.err).toBe(0);
    const part = path.join(root, 'f16-part');
    let fire: (() => void) | undefined;
    let fired = false;
    const r2 = await runCli(args(part), {
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
    expect(r2.code, r2.err).toBe(130);
    const ckpt = await loadCheckpointFile(path.join(part, 'checkpoint.safetensors'));
    expect(ckpt.state.lossScale?.scale).toBe(65536);
    expect(ckpt.state.lossScale?.steps).toBe(ckpt.state.step);
    const r3 = await runCli(['train', '--resume', path.join(part, 'checkpoint.safetensors')]);
    expect(r3.code, r3.err).toBe(0);
    expect(r3.out).toMatch(/^precision +f16 mixed precision/m);
    const a = await loadModelFile(path.join(whole, 'model.safetensors'));
    const b = await loadModelFile(path.join(part, 'model.safetensors'));
    a.weights.forEach((w, k) => {
      expect(Array.from(b.weights[k].W), `param ${k} W`).toEqual(Array.from(w.W));
    });
  });

  it('a CNN run interrupted and resumed ends with the same weights and running stats', async () => {
    const net = path.join(root, 'net-resume.json');
    await writeFile(
      net,
      JSON.stringify({
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same' },
          { type: 'batchnorm', activation: 'relu' },
          { type: 'maxpool2d', size: 3 },
          { type: 'flatten' },
          { type: 'dropout', rate: 0.2 },
        ],
      }),
    );
    const args = (out: string) =>
      TRAIN(out, ['--model', net, '--epochs', '3']).filter((a) => a !== 'none' && a !== '--progress');
    const { whole: a, part: b } = await interruptAndResume(
      args,
      path.join(root, 'whole'),
      path.join(root, 'part'),
    );
    a.weights.forEach((w, k) => {
      expect(Array.from(b.weights[k].W), `param ${k} W`).toEqual(Array.from(w.W));
      expect(Array.from(b.weights[k].b), `param ${k} b`).toEqual(Array.from(w.b));
    });
    expect(Array.from(b.runningStats[0].mean)).toEqual(Array.from(a.runningStats[0].mean));
    expect(Array.from(b.runningStats[0].variance)).toEqual(Array.from(a.runningStats[0].variance));
    expect(b.batchesTracked).toBe(a.batchesTracked);
  });

  it('bad stacks and flat data get one-line errors', async () => {
    const bad = path.join(root, 'bad.json');
    await writeFile(bad, JSON.stringify({ layers: [{ type: 'maxpool2d', size: 20 }] }));
    const r = await runCli(TRAIN(path.join(root, 'bad'), ['--model', bad, '--epochs', '1']));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(
      /--model .*bad\.json: Invalid model: layer 0 \(maxpool2d\): a 20x20 window does not fit the 12x12 input map/,
    );
    expect(
      r.err
        .trim()
        .split('\n')
        .filter((l) => l.includes('error')).length,
    ).toBe(1);
    const missing = await runCli(TRAIN(path.join(root, 'bad2'), ['--model', path.join(root, 'nope.json')]));
    expect(missing.err).toMatch(/--model: cannot read .*nope\.json \(ENOENT\)/);
    const flat = await runCli([
      'train',
      '--data',
      data,
      '--image-size',
      '1x3',
      '--arch',
      'cnn',
      '--epochs',
      '1',
    ]);
    expect(flat.err).toMatch(/--arch cnn: the cnn preset needs image data/);
  });
});
