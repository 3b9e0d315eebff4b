// The jax-js peer (@jax-js/jax): the same MLP training steps and square matmuls as our engine
// runs, done the way a JAX user would write them, on jax-js's webgpu and wasm backends.
//
// Model (PyTorch convention, as in our engine): Z = X·Wᵀ + b per layer, W is [units, fanIn];
// it is transposed once at upload to JAX's [fanIn, units], so a layer is matmul(h, W) + b. The
// last layer's activation is folded into the loss, which takes logits: 'softmax-ce' is
// -mean(sum(onehot * logSoftmax(z))), 'bce' is mean(softplus(z) - y*z) (both the batch mean).
//
// One step is one jit-compiled function: valueAndGrad of the loss, then the optimizer update,
// returning [loss, new params, new optimizer state]. jax-js has no optimizers in its core package,
// so SGD, SGD with momentum (PyTorch's rule: v = mu*v + g, p -= lr*v) and Adam (PyTorch's: bias
// corrections as step scalars, eps 1e-8) are written here, inside the jitted step. jax-js
// functions take ownership of their arguments (reference counting): the step consumes the old
// params and state and returns new ones; resident batches are passed as `.ref`.
//
// Every step reads its loss back (`await loss.data()`): jax-js evaluates lazily, and with no
// readback its queue of pending steps grows and runs far slower. So the time per step is the
// median of synced steps after `warmup` untimed ones (shader or Wasm compilation); there is no
// back-to-back block as for tfjs.
//
// In Node: jax-js's webgpu backend asks `navigator.gpu` for an adapter and reads
// `navigator.userAgent` while tuning kernels; Node 20 has no `navigator`, so initJaxjs installs one
// holding Dawn's GPU (the npm package `webgpu`) and a user-agent string before `init('webgpu')`.
// Its wasm backend is multi-threaded only where a global `Worker` exists, which Node lacks: it
// runs on one thread here.

import { init, defaultDevice, jit, nn, numpy as np, tree, valueAndGrad } from '@jax-js/jax';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';

import { Rng } from '../../src/rng.js';
import { MATMUL_ROUNDS, summarize, type TimingSummary } from './stats.js';
import type { DenseWeights, LayerSpec } from './synthetic.js';

export type JaxBackend = 'webgpu' | 'wasm';

/** A benchmark configuration the jax-js peer cannot run as asked. */
export class JaxPeerConfigError extends Error {
  override name = 'JaxPeerConfigError';
}

/** A jax-js backend could not be started. */
export class JaxPeerBackendError extends Error {
  override name = 'JaxPeerBackendError';
}

const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
const USER_AGENT = `Node.js/${process.version}`;
const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

let adapterDescription: string | undefined;

/** The @jax-js/jax version in use. */
export function jaxjsVersion(): string {
  // The package's exports map hides package.json; it sits one folder above the entry point.
  const require = createRequire(import.meta.url);
  const pkg = join(dirname(require.resolve('@jax-js/jax')), '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** The Dawn adapter jax-js's webgpu backend runs on, once initJaxjs('webgpu') has run. */
export function jaxjsWebgpuAdapter(): string | undefined {
  return adapterDescription;
}

async function dawnGpu(): Promise<GPU> {
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
    throw new JaxPeerBackendError(
      `Dawn found no WebGPU adapter. Set VK_ICD_FILENAMES to a Vulkan driver (e.g. ${LAVAPIPE_ICD}).`,
    );
  }
  const info = adapter.info;
  adapterDescription = [info.vendor, info.architecture, info.device, info.description]
    .filter((s) => s !== '')
    .join(' ');
  return gpu;
}

/** Installs the `navigator` jax-js expects (userAgent always; gpu for webgpu). */
async function installNavigator(backend: JaxBackend): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: GPU; userAgent?: string } };
  const gpu = backend === 'webgpu' ? await dawnGpu() : undefined;
  if (backend === 'webgpu') Object.assign(globalThis, globals);
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', {
      value: { userAgent: USER_AGENT, ...(gpu ? { gpu } : {}) },
      configurable: true,
      writable: true,
    });
  } else if (gpu && g.navigator.gpu === undefined) {
    // Later Nodes have a navigator (with a userAgent) behind a read-only getter.
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}

/** Starts `backend` and makes it jax-js's default device; call once per process. */
export async function initJaxjs(backend: JaxBackend): Promise<void> {
  await installNavigator(backend);
  const started = await init(backend);
  if (!started.includes(backend)) {
    throw new JaxPeerBackendError(
      `jax-js backend '${backend}' did not start (started: ${started.join(', ') || 'none'}).`,
    );
  }
  defaultDevice(backend);
}

export interface JaxStepPlan {
  warmup: number;
  steps: number;
  /** Wall-time cap for the timed steps, projected from the last warm-up; never fewer than 3. */
  budgetMs?: number;
}

export interface JaxTimed {
  /** Every step's loss in order: warm-up, then timed. */
  losses: number[];
  /** Each timed step's wall time (the loss read back), ms. */
  msPerStep: number[];
  summary: TimingSummary;
  warmup: number;
  steps: number;
}

/** Runs `step` (which resolves to its loss, read back) as `plan` says and times each step. */
export async function timeJaxSteps(step: () => Promise<number>, plan: JaxStepPlan): Promise<JaxTimed> {
  const losses: number[] = [];
  const msPerStep: number[] = [];
  let lastMs = NaN;
  for (let i = 0; i < plan.warmup; i++) {
    const t0 = performance.now();
    losses.push(await step());
    lastMs = performance.now() - t0;
  }
  let steps = plan.steps;
  if (plan.budgetMs !== undefined && Number.isFinite(lastMs) && steps * lastMs > plan.budgetMs)
    steps = Math.min(steps, Math.max(3, Math.floor(plan.budgetMs / lastMs)));
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    losses.push(await step());
    msPerStep.push(performance.now() - t0);
  }
  return { losses, msPerStep, summary: summarize(msPerStep), warmup: plan.warmup, steps };
}

export type OptimizerSpec =
  | { type: 'sgd'; lr: number }
  | { type: 'momentum'; lr: number; momentum: number }
  | { type: 'adam'; lr: number };

/** Parameters (and optimizer state, which has the same structure) as a jax-js tree. */
export type ParamTree = { W: np.Array[]; b: np.Array[] };
type OptState = { m: ParamTree; v: ParamTree };

/**
 * The jitted train step for any loss over a ParamTree: valueAndGrad, then the update. The
 * returned function consumes `params` and `state` and returns the new ones with the loss.
 */
export function makeTrainStep(
  lossOf: (p: ParamTree, x: np.Array, y: np.Array) => np.Array,
  opt: OptimizerSpec,
  params: ParamTree,
): { run: (x: np.Array, y: np.Array) => Promise<number>; dispose: () => void } {
  const zeros = (): ParamTree => ({
    W: params.W.map((w) => np.zerosLike(w.ref)),
    b: params.b.map((b) => np.zerosLike(b.ref)),
  });
  let p = params;
  const none = (): ParamTree => ({ W: [], b: [] });
  let state: OptState = {
    m: opt.type === 'sgd' ? none() : zeros(),
    v: opt.type === 'adam' ? zeros() : none(),
  };
  const grads = valueAndGrad(lossOf);
  // c1 = lr / (1 - beta1^t), c2 = 1 / sqrt(1 - beta2^t): Adam's bias corrections, per step.
  const step = jit((p: ParamTree, s: OptState, x: np.Array, y: np.Array, c1: np.Array, c2: np.Array) => {
    const [loss, g] = grads(tree.ref(p), x, y);
    if (opt.type === 'sgd') {
      c1.dispose();
      c2.dispose();
      return [loss, tree.map((w: np.Array, gw: np.Array) => w.sub(gw.mul(opt.lr)), p, g), s];
    }
    if (opt.type === 'momentum') {
      c1.dispose();
      c2.dispose();
      const v = tree.map((v: np.Array, gw: np.Array) => v.mul(opt.momentum).add(gw), s.m, g);
      const next = tree.map((w: np.Array, vw: np.Array) => w.sub(vw.mul(opt.lr)), p, tree.ref(v));
      return [loss, next, { m: v, v: s.v }];
    }
    const { beta1, beta2, eps } = ADAM;
    const m = tree.map((m: np.Array, gw: np.Array) => m.mul(beta1).add(gw.mul(1 - beta1)), s.m, tree.ref(g));
    const v = tree.map((v: np.Array, gw: np.Array) => v.mul(beta2).add(np.square(gw).mul(1 - beta2)), s.v, g);
    const [pl, treedef] = tree.flatten(p);
    const ml = tree.leaves(tree.ref(m));
    const vl = tree.leaves(tree.ref(v));
    const next = pl.map((w, i) => w.sub(ml[i].mul(c1.ref).div(np.sqrt(vl[i]).mul(c2.ref).add(eps))));
    c1.dispose();
    c2.dispose();
    return [loss, tree.unflatten(treedef, next) as ParamTree, { m, v }];
  });
  let t = 0;
  const run = async (x: np.Array, y: np.Array): Promise<number> => {
    t++;
    const c1 = opt.lr / (1 - ADAM.beta1 ** t);
    const c2 = 1 / Math.sqrt(1 - ADAM.beta2 ** t);
    const [loss, nextP, nextS] = step(p, state, x, y, np.array(c1), np.array(c2)) as [
      np.Array,
      ParamTree,
      OptState,
    ];
    p = nextP;
    state = nextS;
    return (await loss.data())[0];
  };
  const dispose = () => {
    tree.dispose(p);
    tree.dispose(state);
    step.dispose();
  };
  return { run, dispose };
}

/** Dense W [units, fanIn] (PyTorch) -> [fanIn, units] (JAX's x @ W). */
export function denseToJax(W: Float32Array, units: number, fanIn: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let u = 0; u < units; u++) for (let k = 0; k < fanIn; k++) out[k * units + u] = W[u * fanIn + k];
  return out;
}

export interface JaxMlpOptions {
  layers: LayerSpec[];
  inputSize: number;
  loss: 'softmax-ce' | 'bce';
  optimizer: OptimizerSpec;
  batchSize: number;
  /** [n, inputSize] row-major */
  x: Float32Array;
  /** [n] class ids; for 'bce' 0 or 1 */
  y: Int32Array;
  /** One per layer, PyTorch layout. */
  initialWeights: DenseWeights[];
  plan: JaxStepPlan;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function validateMlp(o: JaxMlpOptions): void {
  const n = o.y.length;
  if (o.x.length !== n * o.inputSize)
    throw new JaxPeerConfigError(`x has ${o.x.length} values, expected n*inputSize = ${n}*${o.inputSize}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1 && o.batchSize <= n))
    throw new JaxPeerConfigError(`batchSize ${o.batchSize} must be an integer in [1, n=${n}]`);
  if (o.initialWeights.length !== o.layers.length)
    throw new JaxPeerConfigError(
      `initialWeights has ${o.initialWeights.length} layers, layers has ${o.layers.length}`,
    );
  const last = o.layers[o.layers.length - 1];
  if (o.loss === 'bce' && last.units !== 1)
    throw new JaxPeerConfigError(`'bce' needs 1 output unit, got ${last.units}`);
  for (const l of o.layers.slice(0, -1))
    if (l.activation !== 'relu' && l.activation !== 'sigmoid')
      throw new JaxPeerConfigError(`hidden activation '${l.activation}' is not in this peer (relu, sigmoid)`);
}

/** Trains the MLP of `opts` with jax-js on the current default device and times its steps. */
export async function jaxjsTrainMlp(opts: JaxMlpOptions): Promise<JaxTimed> {
  validateMlp(opts);
  const { layers, inputSize, batchSize: B } = opts;
  const n = opts.y.length;
  const width = opts.loss === 'bce' ? 1 : layers[layers.length - 1].units;
  let fanIn = inputSize;
  const params: ParamTree = { W: [], b: [] };
  layers.forEach((l, i) => {
    const w = opts.initialWeights[i];
    params.W.push(np.array(denseToJax(w.W, l.units, fanIn)).reshape([fanIn, l.units]));
    params.b.push(np.array(w.b));
    fanIn = l.units;
  });
  // Every distinct batch (in order, wrapping) is an array on the device before timing.
  const period = n / gcd(n, B);
  const batches: { xb: np.Array; yb: np.Array }[] = [];
  for (let k = 0; k < period; k++) {
    const xs = new Float32Array(B * inputSize);
    const ys = new Float32Array(B * width);
    for (let r = 0; r < B; r++) {
      const s = (k * B + r) % n;
      xs.set(opts.x.subarray(s * inputSize, (s + 1) * inputSize), r * inputSize);
      if (opts.loss === 'bce') ys[r] = opts.y[s];
      else ys[r * width + opts.y[s]] = 1;
    }
    batches.push({ xb: np.array(xs).reshape([B, inputSize]), yb: np.array(ys).reshape([B, width]) });
  }
  const lossOf = (p: ParamTree, x: np.Array, y: np.Array): np.Array => {
    let h = x;
    layers.forEach((l, i) => {
      const z = np.matmul(h, p.W[i]).add(p.b[i]);
      const last = i === layers.length - 1;
      h = last ? z : l.activation === 'relu' ? nn.relu(z) : nn.sigmoid(z);
    });
    if (opts.loss === 'bce') return np.mean(nn.softplus(h.ref).sub(y.mul(h)));
    return np.mean(np.sum(y.mul(nn.logSoftmax(h, -1)), -1)).mul(-1);
  };
  const train = makeTrainStep(lossOf, opts.optimizer, params);
  let k = 0;
  try {
    return await timeJaxSteps(() => {
      const b = batches[k++ % period];
      return train.run(b.xb.ref, b.yb.ref);
    }, opts.plan);
  } finally {
    train.dispose();
    for (const b of batches) tree.dispose([b.xb, b.yb]);
  }
}

export interface JaxMatmulResult {
  gflops: number;
  msPerOp: number;
  reps: number;
}

/**
 * Square n×n fp32 np.matmul, each product read back in full (jax-js is lazy: an unread product
 * would never run, and a read of one element could compile to a kernel that computes only it).
 * Reps are doubled until a window takes `minMs`; the best of MATMUL_ROUNDS windows is reported.
 */
export async function jaxjsMatmul(n: number, minMs = 500): Promise<JaxMatmulResult> {
  if (!(Number.isInteger(n) && n >= 1))
    throw new JaxPeerConfigError(`n must be a positive integer, got ${n}`);
  const rng = new Rng(1);
  const rand = () => Float32Array.from({ length: n * n }, () => rng.uniform(-1, 1));
  const a = np.array(rand()).reshape([n, n]);
  const b = np.array(rand()).reshape([n, n]);
  const window = async (reps: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await np.matmul(a.ref, b.ref).data();
    return performance.now() - t0;
  };
  try {
    await window(1);
    let reps = 1;
    let ms = await window(reps);
    while (ms < minMs && reps < 1024) {
      reps *= 2;
      ms = await window(reps);
    }
    for (let r = 1; r < MATMUL_ROUNDS; r++) ms = Math.min(ms, await window(reps));
    const msPerOp = ms / reps;
    return { gflops: (2 * n ** 3) / (msPerOp * 1e6), msPerOp, reps };
  } finally {
    tree.dispose([a, b]);
  }
}
