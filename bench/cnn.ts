// CNN benchmark workloads D (CIFAR-sized CNN), E (MNIST LeNet-5) and R (the resnet preset, a graph)
// and our engine's side of them.
// No TensorFlow.js here (bench/peers/tfjs-cnn.ts is that side), so the real-GPU bundle
// (bench/gpu/engine-bench.ts) can import this file.
//
// Every participant starts from cnnInit's weights (our layout: conv W [F, KH, KW, C], dense W
// [units, fanIn] with a flatten's fanIn in NHWC order, zero biases; batch norm scale 1, shift 0)
// and trains on prototypeImages's data, batches taken in order from sample 0.
//
// FLOPs of one training step (cnnStepFlops), counted for conv2d and dense layers only (pooling,
// activations, the loss and the optimizer are left out), with MACs = the layer's multiply-adds
// per sample in the forward pass (conv: OH*OW*F*KH*KW*C; dense: units*fanIn):
//   flops/step = B * sum over layers of 2*MACs * (1 forward + 1 weight gradient + 1 input gradient)
// except for a layer with no parameters upstream of it (the first layer of a stack, the layer(s)
// reading a graph's input): its input gradient reaches no weight, so no participant computes it.
// Effective GFLOP/s = flops/step / (seconds per step) / 1e9.

import type { GpuDevice } from '../src/gpu/device.js';
import { Trainer, type TrainerOptions, type Weights } from '../src/engine/trainer.js';
import type { TrainingData } from '../src/engine/gpu-data.js';
import { summariseProfile } from '../src/engine/profile.js';
import { resolveModel, type ModelSpec } from '../src/nn/layers.js';
import { presetSpec } from '../src/nn/presets.js';
import type { OptimizerConfig } from '../src/optim/optimizers.js';
import { Rng } from '../src/rng.js';
import { lossTrend } from './peers/stats.js';

export type CnnKey = 'D' | 'E' | 'R';

export interface CnnWorkload {
  key: CnnKey;
  name: string;
  spec: ModelSpec;
  /** SGD with momentum 0.9 (PyTorch's rule: v = mu v + g, p -= lr v; tfjs's momentum is the same). */
  optimizer: OptimizerConfig;
  batchSize: number;
  /** Distinct batches in the data set (every participant cycles through them in order). */
  batches: number;
  /** Data: half-widths of the uniform class prototypes and of the per-sample noise. */
  proto: number;
  noise: number;
}

export const CNN_WORKLOADS: Record<CnnKey, CnnWorkload> = {
  D: {
    key: 'D',
    name: 'D: CIFAR CNN 32x32x3, conv3x3 32-64-128 (same) + maxpool, dense 10, batch 64, SGD momentum',
    spec: {
      inputShape: [32, 32, 3],
      layers: [
        { type: 'conv2d', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'conv2d', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'conv2d', filters: 128, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'flatten' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    // Three ReLU convs and max pools make large features: a larger lr (or inputs of unit scale)
    // throws the first steps' loss up to 10-20 before it falls (seen in PyTorch and here alike).
    optimizer: { name: 'momentum', lr: 0.003, momentum: 0.9 },
    batchSize: 64,
    batches: 16,
    proto: 0.3,
    noise: 0.3,
  },
  E: {
    key: 'E',
    name: 'E: MNIST LeNet-5 28x28x1, conv5x5 6 (same) + conv5x5 16 (valid), maxpools, dense 120-84-10, batch 64, SGD momentum',
    spec: {
      inputShape: [28, 28, 1],
      layers: [
        { type: 'conv2d', filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'conv2d', filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'flatten' },
        { units: 120, activation: 'relu' },
        { units: 84, activation: 'relu' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'momentum', lr: 0.01, momentum: 0.9 },
    batchSize: 64,
    batches: 32,
    proto: 0.5,
    noise: 1,
  },
  R: {
    key: 'R',
    name: 'R: preset ResNet 32x32x3 (--arch resnet: 8 bias-free convs + batch norm, 2 residual adds), batch 128, SGD momentum',
    spec: presetSpec('resnet', [32, 32, 3], 10, 'softmax-ce', []),
    optimizer: { name: 'momentum', lr: 0.01, momentum: 0.9 },
    batchSize: 128,
    batches: 8,
    proto: 0.3,
    noise: 0.3,
  },
};

/** FLOPs of one training step at batch B (formula in the header). */
export function cnnStepFlops(spec: ModelSpec, B: number): number {
  const model = resolveModel(spec);
  // Whether a layer's output gradient is needed: some parameter lies at or upstream of it.
  const trains = new Array<boolean>(model.layers.length).fill(false);
  let flops = 0;
  for (const i of model.order) {
    const l = model.layers[i];
    const upstream = l.inputs.some((j) => j >= 0 && trains[j]);
    trains[i] = upstream || l.param !== undefined;
    if (l.type !== 'conv2d' && l.type !== 'dense') continue;
    flops += 2 * l.macs * (upstream ? 3 : 2);
  }
  return B * flops;
}

/**
 * One {W, b} per parameter layer in our layout, from a seeded Rng: He-normal weights (std
 * sqrt(2 / fanIn), fanIn = C*KH*KW for a conv) before a ReLU, LeCun-normal (std sqrt(1 / fanIn))
 * for the softmax layer, zero biases; a batch norm's scale is 1 and its shift 0 (PyTorch's and
 * tfjs's defaults).
 */
export function cnnInit(spec: ModelSpec, seed: number): Weights[] {
  const rng = new Rng(seed);
  const params = resolveModel(spec).params;
  return params.map((p, i) => {
    if (p.type === 'batchnorm' || p.type === 'layernorm')
      return { W: new Float32Array(p.W.length).fill(1), b: new Float32Array(p.b.length) };
    const std = Math.sqrt((i === params.length - 1 ? 1 : 2) / p.fanIn);
    const W = new Float32Array(p.W.length);
    for (let i = 0; i < W.length; i++) W[i] = rng.normal() * std;
    return { W, b: new Float32Array(p.b.length) };
  });
}

export interface ImageSet {
  /** [n, H*W*C] NHWC rows. */
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/**
 * Labelled random images a CNN can learn: each class has a fixed random prototype image (uniform
 * in [-proto, proto)), and a sample is its class's prototype plus uniform noise in
 * [-noise, noise). Labels are drawn uniformly.
 */
export function prototypeImages(
  n: number,
  features: number,
  classes: number,
  seed: number,
  proto: number,
  noise: number,
): ImageSet {
  const rng = new Rng(seed);
  const protos = Float32Array.from({ length: classes * features }, () => rng.uniform(-proto, proto));
  const x = new Float32Array(n * features);
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const c = rng.int(classes);
    y[s] = c;
    for (let k = 0; k < features; k++)
      x[s * features + k] = protos[c * features + k] + rng.uniform(-noise, noise);
  }
  return { x, y, n };
}

/** The data set of a workload: batchSize * batches samples, seeded. */
export function cnnData(w: CnnWorkload, seed = 7): ImageSet {
  const m = resolveModel(w.spec);
  return prototypeImages(w.batchSize * w.batches, m.inputSize, m.outputSize, seed, w.proto, w.noise);
}

export interface CnnEngineResult {
  workload: string;
  msPerStep: number;
  /** ms of each timed epoch divided by its steps. */
  epochMsPerStep: number[];
  samplesPerSecond: number;
  gflops: number;
  flopsPerStep: number;
  timedSteps: number;
  /** Loss of each of the first `checkSteps` steps (logged every step), for the cross-check. */
  firstLosses: number[];
  /** Logged losses in order: the first steps, then the timed epochs' logs. */
  losses: number[];
  fell: boolean;
  /** Per-kernel-kind time of one steady-state step (timestamp queries), when the adapter has them. */
  profile?: { kind: string; ms: number; count: number }[];
  profileTotalMs?: number;
  /** The slowest dispatches of that step, by label, slowest first. */
  slowest?: { label: string; ms: number }[];
}

/**
 * Trains w on `data` from `weights`: `checkSteps` steps on the first batches, each loss read
 * (comparable step for step with the peers, which start on the same batches), one untimed epoch
 * (uploads, pipelines, the conv tuner's measurements), then `epochs` timed epochs in one fit call
 * (one submit per step, a readback twice per epoch), the clock stopped after the queue drains.
 */
export async function benchCnnEngine(
  gpu: GpuDevice,
  w: CnnWorkload,
  opts: {
    data: ImageSet;
    weights: Weights[];
    epochs: number;
    checkSteps?: number;
    variants?: TrainerOptions['variants'];
    profile?: boolean;
    /** Storage precision (default f32; f16 = mixed precision). */
    precision?: 'f32' | 'f16';
  },
): Promise<CnnEngineResult> {
  const B = w.batchSize;
  const features = resolveModel(w.spec).inputSize;
  const checkSteps = opts.checkSteps ?? 3;
  const { x, y, n } = opts.data;
  const data: TrainingData = { kind: 'float', x, labels: y, count: n };
  const head: TrainingData = {
    kind: 'float',
    x: x.subarray(0, checkSteps * B * features),
    labels: y.subarray(0, checkSteps * B),
    count: checkSteps * B,
  };
  const trainer = await Trainer.create(gpu, w.spec, {
    seed: 1,
    optimizer: w.optimizer,
    variants: opts.variants,
    precision: opts.precision,
  });
  const queue = gpu.device.queue;
  try {
    trainer.setWeights(opts.weights);
    const firstLosses: number[] = [];
    await trainer.fit(head, {
      epochs: 1,
      batchSize: B,
      shuffle: false,
      logEvery: 1,
      onStep: (s) => void firstLosses.push(s.loss),
    });
    trainer.forget(head);
    const steps = Math.ceil(n / B);
    await trainer.fit(data, { epochs: 1, batchSize: B, shuffle: false, logEvery: steps });
    await queue.onSubmittedWorkDone();
    const losses = [...firstLosses];
    const epochMs: number[] = [];
    const t0 = performance.now();
    let last = t0;
    await trainer.fit(data, {
      epochs: opts.epochs,
      batchSize: B,
      shuffle: false,
      logEvery: Math.max(1, Math.floor(steps / 2)),
      onStep: (s) => void losses.push(s.loss),
      onEpoch: () => {
        const now = performance.now();
        epochMs.push((now - last) / steps);
        last = now;
      },
    });
    await queue.onSubmittedWorkDone();
    const timedSteps = steps * opts.epochs;
    const msPerStep = (performance.now() - t0) / timedSteps;
    const flopsPerStep = cnnStepFlops(w.spec, B);
    const result: CnnEngineResult = {
      workload: w.name,
      msPerStep,
      epochMsPerStep: epochMs,
      samplesPerSecond: (B * 1000) / msPerStep,
      gflops: flopsPerStep / (msPerStep * 1e6),
      flopsPerStep,
      timedSteps,
      firstLosses,
      losses,
      fell: lossTrend(losses, 3).fell,
    };
    if (opts.profile && gpu.device.features.has('timestamp-query')) {
      // The second profiled step is a steady-state one (pipelines and feeds already exist).
      await trainer.profileStep(data, B);
      const times = await trainer.profileStep(data, B);
      result.profile = summariseProfile(times);
      result.profileTotalMs = times.reduce((s, t) => s + t.ms, 0);
      result.slowest = [...times]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 6)
        .map((t) => ({ label: t.label, ms: t.ms }));
    }
    return result;
  } finally {
    trainer.destroy();
  }
}
