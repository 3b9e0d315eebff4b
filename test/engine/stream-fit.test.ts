// fit on a STREAMED source (records read from a shard set on disk by a worker thread, uploaded a
// batch at a time into two alternating GPU slots) against fit on the same data resident on the GPU.
// Both feed the same gather kernels with the same rows in the same order (the order comes from the
// data library's seeded pipeline, not from the source), so the weights must be bit-identical: any
// difference means a batch's contents or order differ. Also: a streamed run stopped mid-epoch and
// resumed in a new trainer matches the uninterrupted run bit for bit, uint8 data forced to
// residency 'upload' streams from memory the same way, and a memory budget that holds the set
// loads it resident.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamedData, Uint8Data } from '../../src/engine/batch-source.js';
import { Trainer, type FitOptions, type Weights } from '../../src/engine/trainer.js';
import { ShardRecordReader } from '../../src/data/shard-records.js';
import { writeShards } from '../../src/data/shard-writer.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

// 5x7 RGB images, 4 classes; 203 samples (prime-ish, so split, batches and shards all end ragged).
const H = 5;
const W = 7;
const C = 3;
const N = 203;
const spec: ModelSpec = {
  inputSize: H * W * C,
  layers: [
    { units: 13, activation: 'relu' },
    { units: 4, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};
const opts = {
  seed: 7,
  optimizer: { name: 'adam' as const, lr: 0.01 },
  schedule: { kind: 'cosine' as const },
};
const fit: FitOptions = { epochs: 2, batchSize: 16, validationSplit: 0.2, logEvery: 3 };

function images(): Uint8Data {
  const rng = new Rng(3);
  return {
    kind: 'uint8',
    images: Uint8Array.from({ length: N * H * W * C }, () => rng.int(256)),
    labels: Int32Array.from({ length: N }, () => rng.int(4)),
    count: N,
    channels: C,
    height: H,
    width: W,
    mul: [1 / 255, 1 / 128, 1 / 64],
    add: [-0.5, -1, -2],
  };
}

let dir = '';
let reader: ShardRecordReader;
const d = images();

function streamed(): StreamedData {
  return {
    kind: 'stream',
    reader,
    count: N,
    channels: C,
    height: H,
    width: W,
    mul: d.mul,
    add: d.add,
    source: dir,
  };
}

function expectSameWeights(a: Weights[], b: Weights[]): void {
  a.forEach((w, k) => {
    expect(Buffer.from(b[k].W.buffer).equals(Buffer.from(w.W.buffer)), `layer ${k} W`).toBe(true);
    expect(Buffer.from(b[k].b.buffer).equals(Buffer.from(w.b.buffer)), `layer ${k} b`).toBe(true);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wgt-stream-fit-'));
  await writeShards(
    dir,
    { ...d, height: H, width: W, channels: C, classNames: ['a', 'b', 'c', 'd'], source: 'synthetic' },
    // 17 records per shard: batches straddle shard boundaries.
    { recordsPerShard: 17 },
  );
  reader = await ShardRecordReader.open(dir);
});

afterAll(async () => {
  await reader?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('fit on streamed data', () => {
  it('gives bit-identical weights and metrics to the same data resident on the GPU', async () => {
    const { gpu } = await testGpu();
    const resident = await Trainer.create(gpu, spec, opts);
    const hr = await resident.fit(d, fit);
    const stream = await Trainer.create(gpu, spec, opts);
    const hs = await stream.fit(streamed(), fit);
    expectSameWeights(await resident.getWeights(), await stream.getWeights());
    expect(hs.epochs.map((e) => [e.loss, e.valLoss, e.valAccuracy])).toEqual(
      hr.epochs.map((e) => [e.loss, e.valLoss, e.valAccuracy]),
    );
    // The comparison can fail: another seed gives other weights.
    const other = await Trainer.create(gpu, spec, { ...opts, seed: 8 });
    await other.fit(streamed(), fit);
    const w = await other.getWeights();
    expect(Buffer.from(w[0].W.buffer).equals(Buffer.from((await stream.getWeights())[0].W.buffer))).toBe(
      false,
    );
    for (const t of [resident, stream, other]) t.destroy();
  });

  it('streams uint8 data from memory with residency upload, and loads a streamed set that fits the budget', async () => {
    const { gpu } = await testGpu();
    const resident = await Trainer.create(gpu, spec, opts);
    await resident.fit(d, fit);
    const upload = await Trainer.create(gpu, spec, opts);
    await upload.fit(d, { ...fit, residency: 'upload' });
    expectSameWeights(await resident.getWeights(), await upload.getWeights());

    // A budget that holds the set loads it resident (the packed images sit on the GPU); one that
    // does not streams it through two batch slots. Same weights either way.
    const budget = await Trainer.create(gpu, spec, opts);
    const base = budget.gpuBytes;
    await budget.fit(streamed(), { ...fit, memoryBudget: 1 << 20 });
    const residentBytes = budget.gpuBytes - base;
    expectSameWeights(await resident.getWeights(), await budget.getWeights());
    const tight = await Trainer.create(gpu, spec, opts);
    const base2 = tight.gpuBytes;
    await tight.fit(streamed(), { ...fit, memoryBudget: 4096 });
    const streamBytes = tight.gpuBytes - base2;
    expect(residentBytes - streamBytes).toBeGreaterThan((N * H * W * C) / 2);
    expectSameWeights(await resident.getWeights(), await tight.getWeights());
    for (const t of [resident, upload, budget, tight]) t.destroy();
  });

  it('resumes a streamed run exactly from a mid-epoch stop', async () => {
    const { gpu } = await testGpu();
    const whole = await Trainer.create(gpu, spec, opts);
    await whole.fit(streamed(), fit);
    const first = await Trainer.create(gpu, spec, opts);
    let steps = 0;
    const h = await first.fit(streamed(), { ...fit, shouldStop: () => ++steps === 13 });
    expect(h.stopped).toBe(true);
    expect(first.position).toEqual({ epoch: 1, batch: 2 });
    const resumed = await Trainer.create(gpu, spec, opts);
    resumed.setWeights(await first.getWeights());
    resumed.setOptimizerState(await first.getOptimizerState());
    resumed.rng.restore(first.fitStartRngState!);
    await resumed.fit(streamed(), { ...fit, start: first.position });
    expectSameWeights(await whole.getWeights(), await resumed.getWeights());
    expect(resumed.step).toBe(whole.step);
    for (const t of [whole, first, resumed]) t.destroy();
  });

  it('augments streamed batches exactly like the GPU gather augments resident ones', async () => {
    const { gpu } = await testGpu();
    const augment = { crop: { padding: 2, mode: 'reflect' as const }, flip: true, brightness: 0.2 };
    const resident = await Trainer.create(gpu, spec, opts);
    await resident.fit(d, { ...fit, augment });
    const stream = await Trainer.create(gpu, spec, opts);
    await stream.fit(streamed(), { ...fit, augment });
    expectSameWeights(await resident.getWeights(), await stream.getWeights());
    // The augmentation really is in play.
    const plain = await Trainer.create(gpu, spec, opts);
    await plain.fit(streamed(), fit);
    const w = await plain.getWeights();
    expect(Buffer.from(w[0].W.buffer).equals(Buffer.from((await stream.getWeights())[0].W.buffer))).toBe(
      false,
    );
    for (const t of [resident, stream, plain]) t.destroy();
  });

  it('rejects a label outside the model by name', async () => {
    const { gpu } = await testGpu();
    const small: ModelSpec = { ...spec, layers: [spec.layers[0], { units: 3, activation: 'softmax' }] };
    const t3 = await Trainer.create(gpu, small, opts);
    await expect(t3.fit(streamed(), fit)).rejects.toThrow(/label 3 of sample \d+ is outside \[0, 2\]/);
    t3.destroy();
  });
});
