// The TensorFlow.js peer: the same MLP training steps and square matmuls as our engine runs, done
// the way a competent tfjs user would, on tfjs's webgpu, wasm and cpu backends in this process.
//
// Model (PyTorch convention, as in our engine): Z = X·Wᵀ + b per layer, W is [units, fanIn].
// tfjs kernels are [fanIn, units], so W is transposed once at upload. Each layer is
// tf.fused.matMul({a: H, b: kernel, bias}) (what tfjs-layers' Dense uses; under a gradient tape
// tfjs fuses only the bias, so the activation is a separate op either way), then the activation.
// The last layer's activation is folded into the loss: 'softmax-ce' takes logits through
// tf.losses.softmaxCrossEntropy, 'bce' through tf.losses.sigmoidCrossEntropy, both the batch mean.
//
// One step is optimizer.minimize(loss, returnCost = true) inside tf.tidy: tape forward, backward,
// and the optimizer update, all on the backend. Data: every distinct batch (the in-order
// wrap-around sequence repeats after n / gcd(n, B) batches) is made into tensors on the backend
// before timing, the faster of the two fair choices (per-step upload is the fallback when they
// would take more than RESIDENT_LIMIT_BYTES). Timing is reported two ways: each step synced on
// its loss (await loss.data()), and a block of steps run back to back and synced once at the end.
//
// Backends switch in-process through tf.setBackend; variables are created after the switch and
// disposed before returning, so runs on different backends do not share state.

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle has no gradients; the union package registers them all (into tfjs's
// global registry, shared with tfjs-core), which is how a Node user of tfjs gets them.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';

import type { Activation, DenseWeights, LayerSpec } from './synthetic.js';
import { MATMUL_ROUNDS } from './stats.js';
import { timeSteps, type TimedSteps } from './timed-steps.js';

export { MIN_TIMED_STEPS } from './timed-steps.js';

export type TfjsBackend = 'webgpu' | 'wasm' | 'cpu';

export interface TfjsTrainOptions {
  backend: TfjsBackend;
  layers: LayerSpec[];
  inputSize: number;
  loss: 'softmax-ce' | 'bce';
  optimizer: { type: 'sgd' | 'adam'; lr: number };
  batchSize: number;
  /** [n, inputSize] row-major */
  x: Float32Array;
  /** [n] class ids; for 'bce' 0 or 1 */
  y: Int32Array;
  /** One per layer, PyTorch layout: W [units, fanIn] row-major, b [units]. */
  initialWeights: DenseWeights[];
  /** Timed steps, each synced on its loss. */
  steps: number;
  /** Untimed steps before (shader compilation, optimizer slot creation). */
  warmup: number;
  /** Timed steps run back to back with one sync at the end; default `steps`, 0 to skip. */
  blockSteps?: number;
  /**
   * Cap on the timed phases' wall time, projected from the last warm-up step: when
   * (steps + blockSteps) would take longer, both are scaled down, to no fewer than
   * MIN_TIMED_STEPS each. Needs warmup >= 1. The counts actually run are in the result.
   */
  budgetMs?: number;
  /** 'auto' (default): resident unless the distinct batches exceed RESIDENT_LIMIT_BYTES. */
  dataMode?: 'auto' | 'resident' | 'upload';
}

export interface TfjsTrainResult {
  /** Wall time of each synced timed step, ms. */
  msPerStep: number[];
  /** Block wall time divided by blockSteps, ms; NaN when blockSteps is 0. */
  blockMsPerStep: number;
  /** Loss of every step in execution order: warmup, synced steps, then block steps. */
  losses: number[];
  /** tf.getBackend() while training ran. */
  backendName: string;
  /** 'resident': batches made into backend tensors before timing; 'upload': one upload per step. */
  dataMode: 'resident' | 'upload';
  /** Synced and block steps actually run (fewer than asked when budgetMs cut them). */
  steps: number;
  blockSteps: number;
}

export interface TfjsMatmulResult {
  gflops: number;
  msPerOp: number;
}

/** A benchmark configuration tfjs cannot run as asked (wrong shapes, unsupported combination). */
export class PeerConfigError extends Error {
  override name = 'PeerConfigError';
}

/** A tfjs backend could not be started or is not the one that ended up running. */
export class PeerBackendError extends Error {
  override name = 'PeerBackendError';
}

const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
const RESIDENT_LIMIT_BYTES = 256 * 1024 * 1024;
// PyTorch's Adam epsilon (tfjs defaults to 1e-7); betas are the usual 0.9 / 0.999.
const ADAM_EPSILON = 1e-8;

let webgpuLoaded: Promise<void> | undefined;
let wasmPathSet = false;
let prodModeSet = false;
let adapterDescription: string | undefined;

/** Versions of the tfjs packages in use, read from their package.json files. */
export function tfjsVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = {};
  for (const pkg of [
    'tfjs',
    'tfjs-core',
    'tfjs-backend-webgpu',
    'tfjs-backend-wasm',
    'tfjs-backend-cpu',
    'webgpu',
  ]) {
    const name = pkg === 'webgpu' ? pkg : `@tensorflow/${pkg}`;
    out[name] = (require(`${name}/package.json`) as { version: string }).version;
  }
  return out;
}

/** The Dawn adapter tfjs-webgpu runs on, once initTfjs('webgpu') has run. */
export function tfjsWebgpuAdapter(): string | undefined {
  return adapterDescription;
}

async function dawnGpu(): Promise<GPU> {
  // The Vulkan loader reads these when Dawn creates its instance.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  let gpu = create([]);
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null && process.env.VK_ICD_FILENAMES === undefined && existsSync(LAVAPIPE_ICD)) {
    // Same fallback as src/gpu/device.ts: no hardware adapter, so use Mesa lavapipe.
    process.env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
    gpu = create([]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  }
  if (adapter === null) {
    throw new PeerBackendError(
      'Dawn found no WebGPU adapter. Set VK_ICD_FILENAMES to a Vulkan driver (e.g. ' +
        `${LAVAPIPE_ICD}) or run scripts/setup-system.sh.`,
    );
  }
  const info = adapter.info;
  adapterDescription = [info.vendor, info.architecture, info.device, info.description]
    .filter((s) => s !== '')
    .join(' ');
  return gpu;
}

// tfjs-backend-webgpu registers itself at import time only if navigator.gpu exists, so the GPU is
// installed first and the backend imported after. Node 20 has no global navigator; later Nodes
// have a read-only getter, hence defineProperty on whichever object is there.
async function loadWebgpuBackend(): Promise<void> {
  Object.assign(globalThis, globals);
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu === undefined) {
    const gpu = await dawnGpu();
    if (g.navigator !== undefined && Object.isExtensible(g.navigator)) {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    } else {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    }
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') === null) {
    throw new PeerBackendError('tfjs-backend-webgpu did not register: navigator.gpu was not visible to it.');
  }
}

/** Makes `backend` the active tfjs backend; safe to call again, and to switch back and forth. */
export async function initTfjs(backend: TfjsBackend): Promise<void> {
  if (!prodModeSet) {
    // Skips debug-only checks and console chatter, as one would in a benchmark or production.
    tf.enableProdMode();
    prodModeSet = true;
  }
  if (backend === 'webgpu') {
    webgpuLoaded ??= loadWebgpuBackend();
    await webgpuLoaded;
  }
  if (backend === 'wasm' && !wasmPathSet) {
    // A file path: Emscripten reads the .wasm with fs in Node. Node gets the SIMD build,
    // single-threaded (tfjs disables wasm threads under Node).
    const require = createRequire(import.meta.url);
    const main = require.resolve('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(join(dirname(main), '/'));
    wasmPathSet = true;
  }
  if (tf.getBackend() === backend) return;
  // setBackend resolves false (and only logs, silenced in prod mode) when the factory fails.
  const ok = await tf.setBackend(backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== backend) {
    throw new PeerBackendError(
      `tfjs backend '${backend}' failed to start; active backend is '${tf.getBackend()}'.`,
    );
  }
}

function transpose(W: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = W[r * cols + c];
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function validate(o: TfjsTrainOptions): void {
  const n = o.y.length;
  if (o.layers.length === 0) throw new PeerConfigError('layers is empty');
  if (o.x.length !== n * o.inputSize) {
    throw new PeerConfigError(`x has ${o.x.length} values, expected n*inputSize = ${n}*${o.inputSize}`);
  }
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1 && o.batchSize <= n)) {
    throw new PeerConfigError(`batchSize ${o.batchSize} must be an integer in [1, n=${n}]`);
  }
  if (o.initialWeights.length !== o.layers.length) {
    throw new PeerConfigError(
      `initialWeights has ${o.initialWeights.length} layers, layers has ${o.layers.length}`,
    );
  }
  let fanIn = o.inputSize;
  o.layers.forEach((l, i) => {
    const w = o.initialWeights[i];
    if (w.W.length !== l.units * fanIn || w.b.length !== l.units) {
      throw new PeerConfigError(
        `layer ${i}: W has ${w.W.length} values and b ${w.b.length}, expected [${l.units}, ${fanIn}] and [${l.units}]`,
      );
    }
    fanIn = l.units;
  });
  const last = o.layers[o.layers.length - 1];
  const folded: Activation = o.loss === 'softmax-ce' ? 'softmax' : 'sigmoid';
  if (last.activation !== folded && last.activation !== 'identity') {
    throw new PeerConfigError(
      `loss '${o.loss}' takes logits: the last layer's activation must be '${folded}' (folded into the loss) or 'identity', got '${last.activation}'`,
    );
  }
  if (o.loss === 'bce' && last.units !== 1)
    throw new PeerConfigError(`'bce' needs 1 output unit, got ${last.units}`);
  const classes = o.loss === 'bce' ? 2 : last.units;
  for (let i = 0; i < n; i++) {
    if (!(o.y[i] >= 0 && o.y[i] < classes))
      throw new PeerConfigError(`y[${i}] = ${o.y[i]} is outside [0, ${classes})`);
  }
  if (!(o.steps >= 1 && o.warmup >= 0 && (o.blockSteps ?? 0) >= 0 && (o.budgetMs ?? 1) > 0)) {
    throw new PeerConfigError('steps must be >= 1, warmup and blockSteps >= 0, budgetMs > 0');
  }
}

function activate(z: tf.Tensor2D, a: Activation): tf.Tensor2D {
  switch (a) {
    case 'relu':
      return tf.relu(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    case 'softmax':
      return tf.softmax(z);
    case 'identity':
      return z;
  }
}

export async function tfjsTrain(opts: TfjsTrainOptions): Promise<TfjsTrainResult> {
  validate(opts);
  await initTfjs(opts.backend);
  const { layers, inputSize, batchSize: B } = opts;
  const n = opts.y.length;
  const outUnits = layers[layers.length - 1].units;
  const labelWidth = opts.loss === 'bce' ? 1 : outUnits;

  const kernels: tf.Variable<tf.Rank.R2>[] = [];
  const biases: tf.Variable<tf.Rank.R1>[] = [];
  let fanIn = inputSize;
  layers.forEach((l, i) => {
    const w = opts.initialWeights[i];
    // tf.variable takes its own reference to the initial tensor's data; dispose() drops ours.
    const kernel = tf.tensor2d(transpose(w.W, l.units, fanIn), [fanIn, l.units]);
    const bias = tf.tensor1d(w.b);
    kernels.push(tf.variable(kernel, true, `W${i}`));
    biases.push(tf.variable(bias, true, `b${i}`));
    tf.dispose([kernel, bias]);
    fanIn = l.units;
  });
  const varList = [...kernels, ...biases];

  const batchRows = (k: number): { xs: Float32Array; labels: Float32Array } => {
    const xs = new Float32Array(B * inputSize);
    const labels = new Float32Array(B * labelWidth);
    for (let r = 0; r < B; r++) {
      const s = (k * B + r) % n;
      xs.set(opts.x.subarray(s * inputSize, (s + 1) * inputSize), r * inputSize);
      if (opts.loss === 'bce') labels[r] = opts.y[s];
      else labels[r * labelWidth + opts.y[s]] = 1;
    }
    return { xs, labels };
  };
  const period = n / gcd(n, B);
  const residentBytes = period * B * (inputSize + labelWidth) * 4;
  const dataMode: TfjsTrainResult['dataMode'] =
    opts.dataMode === 'resident' || opts.dataMode === 'upload'
      ? opts.dataMode
      : residentBytes <= RESIDENT_LIMIT_BYTES
        ? 'resident'
        : 'upload';
  const resident: { xb: tf.Tensor2D; yb: tf.Tensor2D }[] = [];
  if (dataMode === 'resident') {
    for (let k = 0; k < period; k++) {
      const { xs, labels } = batchRows(k);
      resident.push({ xb: tf.tensor2d(xs, [B, inputSize]), yb: tf.tensor2d(labels, [B, labelWidth]) });
    }
  }

  const optimizer =
    opts.optimizer.type === 'sgd'
      ? tf.train.sgd(opts.optimizer.lr)
      : tf.train.adam(opts.optimizer.lr, 0.9, 0.999, ADAM_EPSILON);

  const lossOf = (xb: tf.Tensor2D, yb: tf.Tensor2D): tf.Scalar => {
    let h = xb;
    for (let i = 0; i < layers.length; i++) {
      const z = tf.fused.matMul({ a: h, b: kernels[i], bias: biases[i] }) as tf.Tensor2D;
      h = i === layers.length - 1 ? z : activate(z, layers[i].activation);
    }
    const loss =
      opts.loss === 'softmax-ce'
        ? tf.losses.softmaxCrossEntropy(yb, h)
        : tf.losses.sigmoidCrossEntropy(yb, h);
    return loss as tf.Scalar;
  };

  let stepIndex = 0;
  const step = (): tf.Scalar => {
    const k = stepIndex++ % period;
    return tf.tidy(() => {
      let xb: tf.Tensor2D;
      let yb: tf.Tensor2D;
      if (dataMode === 'resident') {
        ({ xb, yb } = resident[k]);
      } else {
        // Created inside tidy, so they are freed with the step's other intermediates.
        const { xs, labels } = batchRows(k);
        xb = tf.tensor2d(xs, [B, inputSize]);
        yb = tf.tensor2d(labels, [B, labelWidth]);
      }
      const loss = optimizer.minimize(() => lossOf(xb, yb), true, varList);
      if (loss === null) throw new PeerBackendError('optimizer.minimize returned no cost');
      return loss;
    });
  };
  const backendName = tf.getBackend();
  let timed: TimedSteps;
  try {
    timed = await timeSteps(step, {
      warmup: opts.warmup,
      steps: opts.steps,
      blockSteps: opts.blockSteps ?? opts.steps,
      budgetMs: opts.budgetMs,
    });
  } finally {
    optimizer.dispose();
    for (const v of varList) v.dispose();
    for (const r of resident) tf.dispose([r.xb, r.yb]);
  }
  if (tf.getBackend() !== opts.backend) {
    throw new PeerBackendError(
      `backend changed during the run: asked '${opts.backend}', now '${tf.getBackend()}'`,
    );
  }
  const { msPerStep, blockMsPerStep, losses, steps, blockSteps } = timed;
  return { msPerStep, blockMsPerStep, losses, backendName, dataMode, steps, blockSteps };
}

/** Square n×n fp32 tf.matMul, `reps` back to back after 1 warm-up op, synced once at the end. */
export async function tfjsMatmul(backend: TfjsBackend, n: number, reps: number): Promise<TfjsMatmulResult> {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(reps) && reps >= 1)) {
    throw new PeerConfigError(`n and reps must be positive integers, got n=${n}, reps=${reps}`);
  }
  await initTfjs(backend);
  const a = tf.randomUniform([n, n], -1, 1, 'float32', 1);
  const b = tf.randomUniform([n, n], -1, 1, 'float32', 2);
  // Reading one element through a slice syncs the queue without timing an n×n readback.
  const sync = async (c: tf.Tensor): Promise<void> => {
    const corner = tf.slice(c, [0, 0], [1, 1]);
    await corner.data();
    tf.dispose([corner, c]);
  };
  try {
    await sync(tf.matMul(a, b));
    // The best of ROUNDS timed windows, as for this engine's matmul (bench/engine.ts): on a
    // shared CPU the fastest window is what the kernel costs.
    let msPerOp = Infinity;
    for (let r = 0; r < MATMUL_ROUNDS; r++) {
      const t0 = performance.now();
      let c = tf.matMul(a, b);
      for (let i = 1; i < reps; i++) {
        c.dispose();
        c = tf.matMul(a, b);
      }
      await sync(c);
      msPerOp = Math.min(msPerOp, (performance.now() - t0) / reps);
    }
    return { msPerOp, gflops: (2 * n ** 3) / (msPerOp * 1e6) };
  } finally {
    tf.dispose([a, b]);
  }
}
