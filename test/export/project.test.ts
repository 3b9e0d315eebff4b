// export --torch end to end without Python: a checkpoint file in, the project folder out, and the
// settings train.py will use (run.json) resolved from the file's metadata.

import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ModelFormatError } from '../../src/errors.js';
import { exportTorch, readExportSource } from '../../src/export/project.js';
import { runOptimizer, runSchedule, type RunJson } from '../../src/export/run-config.js';
import { encodeSafetensors, type Tensor } from '../../src/io/safetensors.js';

const f32 = (shape: number[], fill: number): Tensor => ({
  dtype: 'F32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});

function checkpointBytes(): Uint8Array {
  const header = {
    format: 'webgpu-trainer/checkpoint',
    version: 1,
    architecture: {
      inputShape: [2, 2, 1],
      inputSize: 4,
      layers: [
        { units: 3, activation: 'relu' },
        { units: 2, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    normalization: { kind: 'standardize', mean: [0.5], std: [0.25] },
    classNames: ['no', 'yes'],
    training: {
      config: {
        data: '/nonexistent/data',
        optimizer: 'momentum',
        lr: 0.05,
        momentum: 0.8,
        weightDecay: 0.001,
        maxNorm: null,
        schedule: 'step',
        stepEpochs: 2,
        gamma: 0.5,
        batchSize: 32,
        epochs: 4,
        seed: 7,
        labelSmoothing: 0.1,
      },
      steps: 20,
    },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  const state = {
    version: 1,
    step: 20,
    epoch: 2,
    batchInEpoch: 0,
    rngState: { s: [1, 2, 3, 4], spare: null },
    dataPosition: { epoch: 2, batch: 0, batchSize: 32, stepsPerEpoch: 10, trainSamples: 300 },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.8, weightDecay: 0.001 },
    schedule: { kind: 'step', stepSize: 20, gamma: 0.5 },
    optimizerState: { t: 20, lengths: { m: 128 } },
  };
  return encodeSafetensors(
    {
      'layers.0.weight': f32([3, 4], 0.5),
      'layers.0.bias': f32([3], -0.25),
      'layers.1.weight': f32([2, 3], 1.5),
      'layers.1.bias': f32([2], 0.75),
      'optim.m': f32([128], 0.125),
    },
    { webgpu_trainer: JSON.stringify(header), webgpu_trainer_checkpoint: JSON.stringify(state) },
  );
}

describe('export --torch project', () => {
  it('writes model.py, train.py, run.json, README.md and the starting file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-export-'));
    const src = path.join(dir, 'checkpoint.safetensors');
    await writeFile(src, checkpointBytes());
    const out = path.join(dir, 'torch');
    const r = await exportTorch(src, out);
    expect(r.files).toEqual(['model.py', 'train.py', 'run.json', 'README.md', 'start.safetensors']);

    const run = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')) as RunJson;
    expect(run.startKind).toBe('checkpoint');
    expect(run.optimizer).toEqual({
      name: 'momentum',
      lr: 0.05,
      weightDecay: 0.001,
      momentum: 0.8,
      nesterov: false,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      maxNorm: null,
    });
    expect(run.schedule).toEqual({ kind: 'step', stepEpochs: 2, gamma: 0.5 });
    expect(run.batchSize).toBe(32);
    expect(run.seed).toBe(7);
    // --label-smoothing reaches train.py, which passes it to nn.CrossEntropyLoss.
    expect(run.labelSmoothing).toBe(0.1);
    expect(run.data).toEqual({
      source: '/nonexistent/data',
      path: null,
      imageSize: [2, 2],
      channels: 1,
      resize: 'resize',
    });
    expect(run.notes).toEqual(['no local copy of the training data was found: give train.py --data PATH']);

    const readme = await readFile(path.join(out, 'README.md'), 'utf8');
    expect(readme).not.toMatch(/\{\{[A-Z_]+\}\}/);
    expect(readme).toContain('torchrun --standalone --nproc_per_node=4 train.py --data /path/to/data');
    expect(readme).toContain('momentum lr 0.05, weight decay 0.001');
    expect(readme).toContain('(2 engine layers) as a `torch.nn.Sequential`');
    const train = await readFile(path.join(out, 'train.py'), 'utf8');
    expect(train).toContain('DistributedSampler');
    expect(train).toContain('nn.CrossEntropyLoss(label_smoothing=run["labelSmoothing"])');
    expect(await readFile(path.join(out, 'start.safetensors'))).toEqual(Buffer.from(checkpointBytes()));
    expect(await readFile(path.join(out, 'model.py'), 'utf8')).toContain('"layers.1.weight": "3.weight"');
  });

  it('refuses a safetensors file without webgpu-trainer metadata', () => {
    const bytes = encodeSafetensors({ w: f32([2], 1) });
    expect(() => readExportSource(bytes, 'plain.safetensors')).toThrow(ModelFormatError);
    expect(() => readExportSource(bytes, 'plain.safetensors')).toThrow(/not a webgpu-trainer model/);
  });
});

describe('webgpu-trainer export', () => {
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const code = await main(argv, {
      io: { out: (t) => void (out += t), err: (t) => void (err += t), errIsTTY: false, columns: 100 },
    });
    return { code, out, err };
  };

  it('exports from the command line and says what to run next', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-export-cli-'));
    const src = path.join(dir, 'checkpoint.safetensors');
    await writeFile(src, checkpointBytes());
    const r = await run(['export', '--torch', src, '--out', path.join(dir, 'py')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('(checkpoint, 2 layers, 23 parameters)');
    expect(r.out).toContain('module     an nn.Module written for this network');
    expect(r.out).toContain(
      `cd ${path.join(dir, 'py')} && torchrun --standalone --nproc_per_node=2 train.py`,
    );
    expect(r.err).toContain('note: no local copy of the training data was found');
  });

  it('without --torch is a one-line usage error (exit 2)', async () => {
    const r = await run(['export', '--out', '/tmp/x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^webgpu-trainer: error: export needs --torch MODEL_OR_CHECKPOINT/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('run.json resolution', () => {
  it("takes the checkpoint's optimizer over the training block, with the engine's defaults", () => {
    const notes: string[] = [];
    const o = runOptimizer(
      { config: { optimizer: 'sgd', lr: 0.1 } },
      { optimizer: { name: 'adamw', lr: 0.003, beta2: 0.98 } },
      notes,
    );
    expect(o).toMatchObject({ name: 'adamw', lr: 0.003, weightDecay: 0.01, beta1: 0.9, beta2: 0.98 });
    expect(notes).toEqual([]);
  });

  it('converts a checkpoint step schedule from steps to epochs, and keeps cosine warm-up in steps', () => {
    const state = {
      schedule: { kind: 'step', stepSize: 30, gamma: 0.3 },
      dataPosition: { stepsPerEpoch: 20 },
    };
    expect(runSchedule({}, state, [])).toEqual({ kind: 'step', stepEpochs: 1.5, gamma: 0.3 });
    expect(runSchedule({ config: { schedule: 'cosine', warmup: 50 } }, null, [])).toEqual({
      kind: 'cosine',
      warmupSteps: 50,
      minLr: 0,
    });
    const notes: string[] = [];
    expect(runSchedule({}, null, notes)).toEqual({ kind: 'constant' });
    expect(notes[0]).toMatch(/no learning-rate schedule/);
  });
});
