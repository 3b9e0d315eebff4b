// The training run through the library API alone (src/engine/run.ts, imported from the package
// entry points): a small network trained with flip augmentation, stopped midway with a checkpoint
// on disk (FileRunStore), resumed from that file in a new run, and evaluated with flip TTA. It
// must end with the same weights, bit for bit, as an uninterrupted library run, and with what
// `webgpu-trainer train` gets on the same data and configuration: the same weights and the same
// test loss and accuracy.

import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  datasetNormalization,
  FileRunStore,
  loadCheckpointFile,
  loadModelFile,
  MemoryRunStore,
  openDataset,
  readMetricsFile,
  runTraining,
  toBatchSource,
  TrainingRun,
  type DenseModelSpec,
  type RunOptions,
  type Weights,
} from '../../src/node.js';
import { testGpu } from '../helpers/gpu.js';
import { makeImageFolder, runCli } from '../cli/helpers.js';

// 3 classes x 12 training images of 8x8x3 (12 test images), batch 8: 5 steps per epoch.
const EPOCHS = 3;
const STOP_AFTER = 7;

const spec: DenseModelSpec = {
  inputSize: 8 * 8 * 3,
  layers: [
    { units: 16, activation: 'relu' },
    { units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

const CLI_FLAGS = [
  '--image-size',
  '8x8',
  '--layers',
  '16',
  '--optimizer',
  'adam',
  '--lr',
  '0.01',
  '--schedule',
  'constant',
  '--batch-size',
  '8',
  '--epochs',
  String(EPOCHS),
  '--validation',
  'none',
  '--seed',
  '3',
  '--normalize',
  'scale',
  '--augment',
  'flip',
  '--tta',
  'flip',
  '--log-every',
  '1',
  '--progress',
  'none',
];

function firstMismatch(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function expectSameWeights(label: string, a: Weights[], b: Weights[]): void {
  expect(b).toHaveLength(a.length);
  a.forEach((w, l) => {
    for (const k of ['W', 'b'] as const) {
      const i = firstMismatch(w[k], b[l][k]);
      expect(i, `${label}: layer ${l} ${k}[${i}] ${w[k][i]} vs ${b[l][k][i]} (first mismatch)`).toBe(-1);
    }
  });
}

describe('runTraining: checkpoint, stop, resume and flip TTA through the library API', () => {
  let root: string;
  let data: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'wgt-run-'));
    data = path.join(root, 'shapes');
    await makeImageFolder(data, { perClass: 12, seed: 6 });
  });

  /** The run's options, from the data as the library opens it. */
  async function options(variants: RunOptions['config']['variants']): Promise<RunOptions> {
    const d = await openDataset(data, { imageSize: [8, 8], channels: 3, resize: 'resize' });
    const norm = await datasetNormalization(d, 'scale');
    return {
      spec,
      data: {
        train: await toBatchSource(d.train, d.trainShards, norm),
        test: d.test ? await toBatchSource(d.test, d.testShards, norm) : undefined,
      },
      config: {
        epochs: EPOCHS,
        batchSize: 8,
        seed: 3,
        optimizer: { name: 'adam', lr: 0.01 },
        schedule: { kind: 'constant' },
        augment: { flip: true },
        variants,
        logEvery: 1,
      },
      meta: {
        inputShape: d.shape,
        normalization: JSON.parse(JSON.stringify(norm)) as RunOptions['meta']['normalization'],
        classNames: d.classNames,
      },
      tta: 'flip',
    };
  }

  it('resumes bit for bit and gets what `train` gets', async () => {
    const { gpu } = await testGpu();
    const cliOut = path.join(root, 'cli');
    const cli = await runCli(['train', '--data', data, ...CLI_FLAGS, '--out', cliOut]);
    expect(cli.code, cli.err).toBe(0);
    const cliModel = await loadModelFile(path.join(cliOut, 'model.safetensors'));
    const cliTraining = cliModel.training as unknown as {
      config: { variants: RunOptions['config']['variants'] };
      test: { loss: number; accuracy: number; samples: number; tta: string };
    };
    // The kernels the CLI chose and recorded; the same ones here, so the sums agree exactly.
    const o = await options(cliTraining.config.variants);

    const whole = await runTraining(gpu, { ...o, store: new MemoryRunStore() });
    expect(whole.stopped).toBe(false);
    const expected = await whole.trainer.getWeights();
    whole.trainer.destroy();

    const store = new FileRunStore(path.join(root, 'lib'));
    const run = await TrainingRun.create(gpu, { ...o, store });
    const first = await run.train({ shouldStop: () => run.trainer.step >= STOP_AFTER });
    expect(first.stopped).toBe(true);
    expect(first.position).toEqual({ epoch: 1, batch: STOP_AFTER - 5 });
    expect(first.model).toBeUndefined();
    first.trainer.destroy();

    const checkpoint = await loadCheckpointFile(store.files.checkpoint);
    expect(checkpoint.state.step).toBe(STOP_AFTER);
    const second = await runTraining(gpu, { ...o, store, resume: checkpoint });
    expect(second.stopped).toBe(false);
    expect(second.trainer.step).toBe(EPOCHS * 5);
    const resumed = await second.trainer.getWeights();
    second.trainer.destroy();

    expectSameWeights('resumed vs uninterrupted', expected, resumed);
    expectSameWeights('library vs CLI model file', cliModel.weights, resumed);
    // Flip TTA scored both views: the mean's numbers, and the first view's beside them.
    for (const r of [whole, second]) {
      expect(r.test?.tta).toBe('flip');
      expect(r.test?.single).toBeDefined();
      expect(r.test?.count).toBe(cliTraining.test.samples);
      expect(r.test?.loss).toBe(cliTraining.test.loss);
      expect(r.test?.accuracy).toBe(cliTraining.test.accuracy);
    }
    expect(second.test?.loss).not.toBe(second.test?.single?.loss);

    // The files: the model as the CLI writes it, and one metrics log across the stop.
    const saved = await loadModelFile(store.files.model);
    expectSameWeights('model file', resumed, saved.weights);
    const records = await readMetricsFile(store.files.metrics);
    expect(records.filter((r) => r.type === 'run')).toHaveLength(2);
    expect(records.find((r) => r.resumedFrom)?.resumedFrom).toMatchObject({ epoch: 1, batch: 2 });
    expect(records.filter((r) => r.type === 'test')).toHaveLength(1);
  }, 120_000);
});
