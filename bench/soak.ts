// The no-growth soak of `npm run bench -- --only=soak`: many training steps of one model, checking
// that the engine's buffer pool holds the same buffers and bytes after as before (a step allocates
// nothing that outlives it), with the process's RSS after a full GC sampled along the way so a
// trend would show. Run twice: workload A (a dense stack) and a graph model (the resnet preset on
// 8x8x3 images: residual adds, fan-outs whose gradients are summed, buffers reused by liveness,
// batch norm).

import type { GpuDevice } from '../src/gpu/device.js';
import { Trainer, type TrainerOptions } from '../src/engine/trainer.js';
import type { TrainingData } from '../src/engine/gpu-data.js';
import type { ModelSpec } from '../src/nn/layers.js';
import { presetSpec } from '../src/nn/presets.js';
import type { OptimizerConfig } from '../src/optim/optimizers.js';
import { prototypeImages } from './cnn.js';

export interface SoakSample {
  buffers: number;
  gpuBytes: number;
  rssMiB: number;
}

export interface SoakResult {
  model: string;
  steps: number;
  batchSize: number;
  start: SoakSample;
  end: SoakSample;
  /** Steps between samples (whole epochs). */
  sampleEverySteps: number;
  /** RSS after a full GC, sampled evenly over the run (MiB). */
  rssSeriesMiB: number[];
  /** Live pool buffers at the same samples. */
  bufferSeries: number[];
  /** Whether the pool held more buffers or bytes at any sample than at the start. */
  grew: boolean;
}

export interface SoakCase {
  model: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  batchSize: number;
  data: TrainingData;
  steps: number;
}

/** The graph model of the soak: the resnet preset on 8x8x3 images, batch 32, momentum SGD. */
export function graphSoakCase(steps: number): SoakCase {
  const spec = presetSpec('resnet', [8, 8, 3], 10, 'softmax-ce', []);
  const batchSize = 32;
  const ds = prototypeImages(batchSize * 50, 8 * 8 * 3, 10, 7, 0.5, 0.5);
  return {
    model: 'resnet preset 8x8x3 (graph: 2 residual adds, batch norm), batch 32, SGD momentum',
    spec,
    optimizer: { name: 'momentum', lr: 0.01, momentum: 0.9 },
    batchSize,
    data: { kind: 'float', x: ds.x, labels: ds.y, count: ds.n },
    steps,
  };
}

/**
 * Trains c.steps steps (20 warm-up epochs first: allocator pools, V8 code, driver caches) and
 * samples the pool and RSS about ten times along the way.
 */
export async function soak(
  gpu: GpuDevice,
  c: SoakCase,
  variants: TrainerOptions['variants'],
): Promise<SoakResult> {
  const t = await Trainer.create(gpu, c.spec, { seed: 1, optimizer: c.optimizer, variants });
  try {
    const stepsPerEpoch = Math.ceil(c.data.count / c.batchSize);
    await t.fit(c.data, { epochs: 20, batchSize: c.batchSize });
    const sample = (): SoakSample => {
      global.gc?.();
      return { buffers: t.bufferCount, gpuBytes: t.gpuBytes, rssMiB: process.memoryUsage().rss / 2 ** 20 };
    };
    const epochs = Math.ceil(c.steps / stepsPerEpoch);
    const sampleEvery = Math.max(1, Math.floor(epochs / 10));
    const start = sample();
    const rssSeriesMiB: number[] = [];
    const bufferSeries: number[] = [];
    let grew = false;
    await t.fit(c.data, {
      epochs,
      batchSize: c.batchSize,
      logEvery: 100,
      onEpoch: (e) => {
        if ((e.epoch + 1) % sampleEvery !== 0) return;
        const s = sample();
        rssSeriesMiB.push(Math.round(s.rssMiB));
        bufferSeries.push(s.buffers);
        grew ||= s.buffers > start.buffers || s.gpuBytes > start.gpuBytes;
      },
    });
    const end = sample();
    grew ||= end.buffers !== start.buffers || end.gpuBytes !== start.gpuBytes;
    const sampleEverySteps = sampleEvery * stepsPerEpoch;
    const { model, steps, batchSize } = c;
    return { model, steps, batchSize, start, end, sampleEverySteps, rssSeriesMiB, bufferSeries, grew };
  } finally {
    t.destroy();
  }
}

/** One line for the printout. */
export function describeSoak(r: SoakResult): string {
  const every =
    r.rssSeriesMiB.length > 0 ? ` (every ${r.sampleEverySteps} steps: ${r.rssSeriesMiB.join(', ')})` : '';
  return (
    `soak ${r.model}, ${r.steps} steps: GPU buffers ${r.start.buffers} -> ${r.end.buffers}, ` +
    `pool bytes ${r.start.gpuBytes} -> ${r.end.gpuBytes}, RSS ${r.start.rssMiB.toFixed(1)} -> ` +
    `${r.end.rssMiB.toFixed(1)} MiB${every}${r.grew ? '  POOL GREW' : ''}`
  );
}
