// `train --from MODEL`: a run starts from a model file's network and weights. The backbone here is
// built by hand (saveModel): a conv, a batch norm with running statistics no fresh run has
// (variances near 1000), a global average pool and a 3-class head 'fc', at 12x12 with ImageNet's
// normalisation and an import's provenance. Runs use SGD at lr 1e-30, so the weights a run saves
// are the weights it started from. Also: predict --json's per-class probabilities, info MODEL.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import { loadModelFile } from '../../src/io/files.js';
import { saveModel, type Architecture, type ModelFile } from '../../src/io/modelfile.js';
import { specOf } from '../../src/io/architecture.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';
import { CLASSES, interruptAndResume, makeImageFolder, runCli } from './helpers.js';

const IMAGENET = { kind: 'standardize', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const SOURCE = { format: 'torchvision', arch: 'resnet18', file: 'resnet18.pth', sha256: 'ab'.repeat(32) };
const ARCH: Architecture = {
  inputShape: [12, 12, 3],
  inputSize: 432,
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu' },
    { type: 'globalavgpool' },
    { type: 'dense', name: 'fc', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

let root: string;
let backbone: string;
let file: ModelFile;
let three: string;
let two: string;
const TRAIN = (data: string, out: string, extra: string[] = [], from = backbone) => [
  ...['train', '--data', data, '--from', from, '--optimizer', 'sgd', '--lr', '1e-30'],
  ...['--schedule', 'constant', '--epochs', '1', '--batch-size', '64', '--validation', 'none'],
  ...['--seed', '5', '--progress', 'none', '--out', out, ...extra],
];

function uniform(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-from-'));
  const rng = new Rng(11);
  backbone = path.join(root, 'backbone.safetensors');
  await writeFile(
    backbone,
    saveModel({
      architecture: ARCH,
      normalization: IMAGENET,
      classNames: [...CLASSES],
      training: { source: SOURCE },
      weights: [
        { W: uniform(rng, 4 * 3 * 3 * 3), b: new Float32Array(0) },
        { W: uniform(rng, 4), b: uniform(rng, 4) },
        { W: uniform(rng, 3 * 4), b: uniform(rng, 3) },
      ],
      runningStats: [{ mean: uniform(rng, 4), variance: Float32Array.of(1000, 1100, 1200, 1300) }],
      batchesTracked: 7,
    }),
  );
  file = await loadModelFile(backbone);
  three = path.join(root, 'three');
  await makeImageFolder(three, { perClass: 8, seed: 4, splits: [''] });
  two = path.join(root, 'two');
  await makeImageFolder(two, { perClass: 8, seed: 5, splits: [''] });
  await rm(path.join(two, CLASSES[2]), { recursive: true });
});

/** A backbone with a dense layer on a flattened map below its head: its weights fix the input size. */
function flattenBackbone(): Uint8Array {
  const rng = new Rng(12);
  return saveModel({
    architecture: {
      ...ARCH,
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 3, padding: 'same' },
        { type: 'flatten' },
        { type: 'dense', units: 4, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    },
    normalization: IMAGENET,
    classNames: [...CLASSES],
    training: {},
    weights: [
      { W: uniform(rng, 2 * 3 * 3 * 3), b: uniform(rng, 2) },
      { W: uniform(rng, 4 * 288), b: uniform(rng, 4) },
      { W: uniform(rng, 3 * 4), b: uniform(rng, 3) },
    ],
  });
}

const close = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= 1e-6 * (1 + Math.abs(b[i])));

describe('train --from', () => {
  it('replaces the head for other classes, keeps every other weight, takes size and normalisation from the file', async () => {
    const out = path.join(root, 'two-run');
    const r = await runCli(TRAIN(two, out));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^image size 12x12 \(from the backbone\)$/m);
    expect(r.out).toMatch(
      /^normalize +standardize, mean 0\.485, 0\.456, 0\.406, std 0\.229, 0\.224, 0\.225 \(from the backbone\)$/m,
    );
    expect(r.out).toMatch(/^head +layer 3 'fc' \(dense\) replaced: 3 -> 2 outputs .*\(seed 5\)$/m);
    expect(r.out).toMatch(
      /^backbone +\S+backbone\.safetensors \(sha256 [0-9a-f]{12}; torchvision resnet18 from resnet18\.pth\)$/m,
    );
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([12, 12, 3]);
    expect(m.architecture.layers.slice(0, 3)).toEqual(ARCH.layers.slice(0, 3));
    expect(m.architecture.layers[3]).toEqual({ type: 'dense', name: 'fc', units: 2, activation: 'softmax' });
    expect(m.classNames).toEqual([CLASSES[0], CLASSES[1]]);
    expect(m.normalization).toEqual(IMAGENET);
    const sha = createHash('sha256')
      .update(await readFile(backbone))
      .digest('hex');
    expect(m.training.from).toEqual({ file: backbone, sha256: sha, source: SOURCE });
    for (const k of [0, 1]) {
      expect(close(m.weights[k].W, file.weights[k].W), `param ${k} W`).toBe(true);
      expect(close(m.weights[k].b, file.weights[k].b), `param ${k} b`).toBe(true);
    }
    // One training step: running = 0.9 file + 0.1 batch; a fresh start would hold about 1.
    m.runningStats[0].variance.forEach((v, c) =>
      expect(v).toBeGreaterThan(0.85 * file.runningStats[0].variance[c]),
    );
    // The head: the engine's own initialisation of this network, seeded by --seed.
    const { gpu } = await testGpu();
    const fresh = await Trainer.create(gpu, specOf(m.architecture), {
      seed: 5,
      optimizer: { name: 'sgd', lr: 1 },
    });
    const init = (await fresh.getWeights())[2];
    fresh.destroy();
    expect(m.weights[2].W).toHaveLength(2 * 4);
    expect(close(m.weights[2].W, init.W)).toBe(true);
    expect(close(m.weights[2].W.subarray(0, 8), file.weights[2].W.subarray(0, 8))).toBe(false);
  });

  it("keeps the head for the file's own classes; --image-size and --normalize win", async () => {
    const out = path.join(root, 'three-run');
    const r = await runCli(TRAIN(three, out, ['--image-size', '16x16', '--normalize', 'scale']));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^image size 16x16 \(--image-size\)$/m);
    expect(r.out).toMatch(/^normalize +scale \(--normalize\)$/m);
    expect(r.out).toMatch(/^head +kept: the data's classes are the file's/m);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([16, 16, 3]);
    expect(m.normalization).toEqual({ kind: 'scale' });
    expect(m.architecture.layers).toEqual(ARCH.layers);
    file.weights.forEach((w, k) => expect(close(m.weights[k].W, w.W), `param ${k} W`).toBe(true));
  });

  it('a run from a model file resumes exactly, and keeps its provenance', async () => {
    const args = (out: string) => [
      ...['train', '--data', three, '--from', backbone, '--image-size', '8x8', '--lr', '0.01'],
      ...['--batch-size', '4', '--epochs', '3', '--validation', 'none', '--log-every', '1'],
      ...['--seed', '2', '--out', out],
    ];
    const { whole, part } = await interruptAndResume(args, path.join(root, 'whole'), path.join(root, 'part'));
    whole.weights.forEach((w, k) =>
      expect(Array.from(part.weights[k].W), `param ${k} W`).toEqual(Array.from(w.W)),
    );
    expect(part.training.from).toEqual(whole.training.from);
    expect((part.training.from as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('each mistake is one line', async () => {
    const ckpt = path.join(root, 'two-run', 'checkpoint.safetensors');
    const garbage = path.join(root, 'garbage.safetensors');
    await writeFile(garbage, new Uint8Array(64).fill(7));
    const flat = path.join(root, 'flatten.safetensors');
    await writeFile(flat, flattenBackbone());
    const pth = path.join(root, 'weights.pth');
    await writeFile(pth, Buffer.from('PK\x03\x04 not a real zip, but a zip to the eye'));
    const cases: [string[], number, RegExp][] = [
      [
        TRAIN(two, path.join(root, 'e1'), ['--channels', '1']),
        2,
        /takes 3-channel images, but .* has 1; drop --channels 1/,
      ],
      [
        TRAIN(two, path.join(root, 'e2'), ['--arch', 'cnn']),
        2,
        /--from \S+ brings its own network; drop --arch/,
      ],
      [
        TRAIN(two, path.join(root, 'e3'), [], path.join(root, 'none.safetensors')),
        2,
        /--from: cannot read \S+none\.safetensors \(no such file\)/,
      ],
      [
        TRAIN(two, path.join(root, 'e4'), [], ckpt),
        2,
        /is a checkpoint; pass its run's model\.safetensors, or continue the run with --resume/,
      ],
      [
        TRAIN(two, path.join(root, 'e5'), [], garbage),
        1,
        /ModelFormatError: .*garbage\.safetensors: .*; --from takes a model file written by `train` or `import`/,
      ],
      // A PyTorch file is imported as a torchvision state dict: a damaged one is the reader's error.
      [
        TRAIN(two, path.join(root, 'e6'), [], pth),
        1,
        /ModelFormatError: \S+weights\.pth: no end-of-central-directory record: the file is truncated/,
      ],
      [
        TRAIN(two, path.join(root, 'e6b'), ['--arch', 'cnn'], pth),
        2,
        /--arch cnn is not a torchvision architecture; --from \S+ \(a PyTorch state dict\) takes --arch resnet18\|/,
      ],
      [['train', '--resume', ckpt, '--from', backbone], 2, /--from cannot be combined with --resume/],
      [
        TRAIN(two, path.join(root, 'e7'), ['--image-size', '16x16'], flat),
        2,
        /layer 2 \(dense\) needs dense weights of 4x512 on 16x16x3 inputs, but the file's are 4x288 .*; try --image-size 12x12 \(the file's\)/,
      ],
    ];
    for (const [argv, code, message] of cases) {
      const r = await runCli(argv);
      const errors = r.err.split('\n').filter((l) => l.startsWith('webgpu-trainer:'));
      expect(errors, r.err).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(r.code, r.err).toBe(code);
      expect(r.err).not.toMatch(/^\s+at /m);
    }
  });
});

describe('info MODEL and predict --json', () => {
  it('info shows where the weights came from', async () => {
    const model = path.join(root, 'two-run', 'model.safetensors');
    const r = await runCli(['info', model]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^classes +2: ring, stripes$/m);
    expect(r.out).toMatch(
      /^from +\S+backbone\.safetensors \(sha256 [0-9a-f]{12}; torchvision resnet18 from resnet18\.pth\)$/m,
    );
    const j = await runCli(['info', backbone, '--json']);
    expect(j.code, j.err).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ inputShape: [12, 12, 3], training: { source: SOURCE } });
  });

  it('predict --json gives every class probability in class-index order', async () => {
    const bce = path.join(root, 'bce-run');
    const t = await runCli(TRAIN(two, bce, ['--loss', 'bce']));
    expect(t.code, t.err).toBe(0);
    expect((await loadModelFile(path.join(bce, 'model.safetensors'))).architecture.layers[3]).toMatchObject({
      units: 1,
      activation: 'sigmoid',
    });
    for (const [run, data, classes] of [
      ['three-run', three, 3],
      ['bce-run', two, 2],
    ] as const) {
      const r = await runCli(['predict', path.join(root, run, 'model.safetensors'), data, '--json']);
      expect(r.code, r.err).toBe(0);
      const results = JSON.parse(r.out) as { index: number; probability: number; probabilities: number[] }[];
      expect(results.length).toBeGreaterThan(0);
      for (const p of results) {
        expect(p.probabilities).toHaveLength(classes);
        expect(p.probabilities.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
        const best = p.probabilities.indexOf(Math.max(...p.probabilities));
        expect(p.index).toBe(best);
        expect(p.probability).toBe(p.probabilities[best]);
      }
    }
  });
});
