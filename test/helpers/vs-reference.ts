// Trains one small model on the GPU and on the float64 reference (src/reference/sequential.ts)
// from the same initial weights, and checks that they agree at every step: losses, final
// weights, batch-norm running statistics and evaluation. Shared by the CNN and graph suites.
// Tolerance: f32 against float64 over 21 steps; batch norm divides by the batch's standard
// deviation, which amplifies rounding a little more than a dense net: the loss agrees to 2e-4
// relative, weights and running statistics to atol 5e-4 + rtol 5e-3.

import { expect } from 'vitest';
import { Trainer, type FreezeSpec, type RunningStats, type Weights } from '../../src/engine/trainer.js';
import { resolveModel, type ModelSpec } from '../../src/nn/layers.js';
import type { OptimizerConfig } from '../../src/optim/optimizers.js';
import {
  seqCreateBnState,
  seqCreateOptimState,
  seqEvaluate,
  seqTrainStep,
  type RefParams,
} from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from './gpu.js';

const COUNT = 20;
const BATCH = 8;
const EPOCHS = 7;

export interface VsReferenceCase {
  name: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  /** Both conv algorithms take part: each case fixes one. */
  conv: 'im2col' | 'implicit';
  /** Frozen layers (fine-tuning): the engine's FreezeSpec, as list indices for the reference. */
  freeze?: { spec: FreezeSpec; layers: number[] };
  /** Unfreeze everything after this many epochs, the learning rate times lrFactor from then on. */
  unfreezeAfter?: number;
  lrFactor?: number;
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = 5e-4 + 5e-3 * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}]: gpu ${got[i]} cpu ${want[i]} (tolerance ${tol})`);
    }
  }
}

/** The GPU run and the reference run of one case agree (throws with the first difference). */
export async function trainAgainstReference(c: VsReferenceCase): Promise<void> {
  const { gpu } = await testGpu();
  const model = resolveModel(c.spec);
  const rng = new Rng(42);
  const K = model.inputSize;
  const N = model.outputSize;
  const x = Float32Array.from({ length: COUNT * K }, () => rng.uniform(-2, 2));
  const classes = c.spec.loss === 'bce' ? 2 : N;
  const labels = Int32Array.from({ length: COUNT }, () => rng.int(classes));

  const trainer = await Trainer.create(gpu, c.spec, {
    seed: 7,
    optimizer: c.optimizer,
    conv: c.conv,
    freeze: c.freeze?.spec,
  });
  const init = await trainer.getWeights();
  const params: RefParams = init.map((w) => ({ W: Float64Array.from(w.W), b: Float64Array.from(w.b) }));
  const bn = seqCreateBnState(model);
  // A frozen batch norm normalises with its running statistics: make them pretrained-looking.
  if (c.freeze) {
    for (const b of bn) {
      b.mean = b.mean.map(() => rng.uniform(-0.5, 0.5));
      b.variance = b.variance.map(() => rng.uniform(0.5, 2));
    }
    trainer.setRunningStats(
      bn.map((b) => ({ mean: Float32Array.from(b.mean), variance: Float32Array.from(b.variance) })),
    );
    bn.forEach((b) => {
      b.mean = Float64Array.from(Float32Array.from(b.mean));
      b.variance = Float64Array.from(Float32Array.from(b.variance));
    });
  }
  const initStats = await trainer.getRunningStats();
  const opt = seqCreateOptimState(params);

  const gpuLosses: number[] = [];
  await trainer.fit(
    { kind: 'float', x, labels, count: COUNT },
    {
      epochs: EPOCHS,
      batchSize: BATCH,
      shuffle: false,
      logEvery: 1,
      onStep: (s) => void gpuLosses.push(s.loss),
      onEpoch: (e) => {
        if (e.epoch + 1 !== c.unfreezeAfter) return;
        trainer.setFreeze('none');
        trainer.lrFactor = c.lrFactor ?? 1;
      },
    },
  );

  const cpuLosses: number[] = [];
  let t = 0;
  for (let e = 0; e < EPOCHS; e++) {
    for (let from = 0; from < COUNT; from += BATCH) {
      const rows = Math.min(BATCH, COUNT - from);
      const xb = x.subarray(from * K, (from + rows) * K);
      const lb = labels.subarray(from, from + rows);
      const targets = c.spec.loss === 'softmax-ce' ? lb : Float64Array.from(lb);
      const unfrozen = c.unfreezeAfter !== undefined && e >= c.unfreezeAfter;
      const o = unfrozen ? { ...c.optimizer, lr: c.optimizer.lr * (c.lrFactor ?? 1) } : c.optimizer;
      const r = seqTrainStep(model, params, bn, opt, xb, targets, rows, o, t + 1, {
        seed: trainer.dropoutSeed,
        step: t,
        frozen: unfrozen ? undefined : c.freeze?.layers,
      });
      t++;
      cpuLosses.push(r.loss);
    }
  }
  expect(gpuLosses.length).toBe(cpuLosses.length);
  for (let i = 0; i < cpuLosses.length; i++) {
    expect(
      Math.abs(gpuLosses[i] - cpuLosses[i]),
      `step ${i + 1}: gpu ${gpuLosses[i]} cpu ${cpuLosses[i]}`,
    ).toBeLessThanOrEqual(2e-4 * Math.max(1, Math.abs(cpuLosses[i])));
  }
  const final = await trainer.getWeights();
  final.forEach((w, k) => {
    close(w.W, params[k].W, `param layer ${k} W`);
    close(w.b, params[k].b, `param layer ${k} b`);
  });
  const stats = await trainer.getRunningStats();
  expect(stats.length).toBe(bn.length);
  stats.forEach((s, k) => {
    close(s.mean, bn[k].mean, `bn ${k} running mean`);
    close(s.variance, bn[k].variance, `bn ${k} running var`);
  });
  expect(trainer.batchesTracked).toBe(t);
  if (c.freeze && c.unfreezeAfter === undefined)
    expectFrozenUntouched(c, model, init, final, initStats, stats);
  // Evaluation mode (running statistics, no dropout) on the GPU and the reference.
  const targets = c.spec.loss === 'softmax-ce' ? labels : Float64Array.from(labels);
  const ref = seqEvaluate(model, params, bn, x, targets, COUNT);
  const got = await trainer.evaluate({ kind: 'float', x, labels, count: COUNT }, { batchSize: 6 });
  expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(1e-3 * Math.max(1, ref.loss));
  expect(got.accuracy).toBeCloseTo(ref.correct / COUNT, 6);
  // The loss must actually have moved: a frozen network would agree trivially.
  expect(Math.abs(cpuLosses[cpuLosses.length - 1] - cpuLosses[0])).toBeGreaterThan(1e-3);
  trainer.destroy();
}

/** A frozen layer's parameters and running statistics come back bit for bit; the head moved. */
function expectFrozenUntouched(
  c: VsReferenceCase,
  model: ReturnType<typeof resolveModel>,
  init: Weights[],
  final: Weights[],
  initStats: RunningStats[],
  stats: RunningStats[],
): void {
  const frozen = new Set(c.freeze!.layers);
  let k = 0;
  let s = 0;
  for (const l of model.layers) {
    if (l.param) {
      const same = frozen.has(l.index);
      for (const key of ['W', 'b'] as const) {
        const a = Array.from(init[k][key]);
        const b = Array.from(final[k][key]);
        if (same) expect(b, `frozen layer ${l.index} ${key}`).toEqual(a);
        else if (l.index === model.layers.length - 1 && key === 'W')
          expect(b, `head ${key} trained`).not.toEqual(a);
      }
      k++;
    }
    if (l.state) {
      if (frozen.has(l.index)) {
        expect(Array.from(stats[s].mean), `frozen bn ${l.index} mean`).toEqual(Array.from(initStats[s].mean));
        expect(Array.from(stats[s].variance)).toEqual(Array.from(initStats[s].variance));
      }
      s++;
    }
  }
}
