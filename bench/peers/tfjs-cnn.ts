// The TensorFlow.js peer for the CNN workloads (D, E in bench/cnn.ts): the same network, initial
// weights, data, batch order and optimizer as our engine, done the way tfjs-layers does it.
//
// Model: the resolved layer list of our ModelSpec, each layer as the tfjs-layers layer would
// compute it: conv2d -> tf.fused.conv2d({x, filter, strides, pad, bias, activation}) (what
// tfjs-layers' Conv2D calls); maxpool2d -> tf.maxPool (no padding); flatten -> tf.reshape to
// [B, H*W*C], which is NHWC order like ours; dense -> tf.fused.matMul({a, b, bias, activation}).
// The last dense layer's softmax is folded into tf.losses.softmaxCrossEntropy on the logits
// (batch mean), as our softmax-ce is.
//
// Weights arrive in our layout and are converted once: conv W [F, KH, KW, C] -> tfjs filter
// [KH, KW, C, F]; dense W [units, fanIn] -> kernel [fanIn, units] (the flatten's NHWC order
// needs no permutation). Padding: 'same' is TensorFlow's rule in both; numeric padding is passed
// as explicit [[0,0],[top,bottom],[left,right],[0,0]].
//
// Step: tf.tidy(() => optimizer.minimize(loss, true, vars)) with tf.train.momentum(lr, mu):
// accumulation = mu * accumulation + g, p -= lr * accumulation (our momentum rule, PyTorch's SGD).
// Data: every distinct batch is a backend tensor before timing; batches in order, wrapping.
// Timing as in tfjs.ts: `warmup` untimed steps, `steps` steps synced each on its loss, then
// `blockSteps` back to back with one sync.

import * as tf from '@tensorflow/tfjs-core';

import type { Weights } from '../../src/engine/trainer.js';
import { resolveModel, type ModelSpec, type ResolvedLayer } from '../../src/nn/layers.js';
import { initTfjs, PeerBackendError, PeerConfigError, type TfjsBackend } from './tfjs.js';
import { timeSteps, type TimedSteps } from './timed-steps.js';

export interface TfjsCnnOptions {
  backend: TfjsBackend;
  spec: ModelSpec;
  optimizer: { lr: number; momentum: number };
  batchSize: number;
  /** [n, H*W*C] NHWC rows */
  x: Float32Array;
  /** [n] class ids */
  y: Int32Array;
  /** One {W, b} per conv2d/dense layer, in our layout. */
  initialWeights: Weights[];
  warmup: number;
  steps: number;
  blockSteps: number;
}

export interface TfjsCnnResult {
  /** Wall time of each synced timed step, ms. */
  msPerStep: number[];
  /** Block wall time / blockSteps, ms; NaN when blockSteps is 0. */
  blockMsPerStep: number;
  /** Every step's loss in execution order (warm-up, synced, block). */
  losses: number[];
  backendName: string;
}

/** Conv W [F, KH, KW, C] -> tfjs filter [KH, KW, C, F]. */
export function convToTfjs(W: Float32Array, F: number, KH: number, KW: number, C: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let f = 0; f < F; f++)
    for (let kh = 0; kh < KH; kh++)
      for (let kw = 0; kw < KW; kw++)
        for (let c = 0; c < C; c++)
          out[((kh * KW + kw) * C + c) * F + f] = W[((f * KH + kh) * KW + kw) * C + c];
  return out;
}

/** Dense W [units, fanIn] -> tfjs kernel [fanIn, units]. */
export function denseToTfjs(W: Float32Array, units: number, fanIn: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let u = 0; u < units; u++) for (let k = 0; k < fanIn; k++) out[k * units + u] = W[u * fanIn + k];
  return out;
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function padOf(l: ResolvedLayer): Pad {
  const c = l.conv!;
  const p = (l.spec as { padding?: unknown }).padding ?? 'valid';
  if (p === 'same' || p === 'valid') return p;
  return [
    [0, 0],
    [c.padTop, c.padBottom],
    [c.padLeft, c.padRight],
    [0, 0],
  ];
}

function fusedActivation(l: ResolvedLayer, last: boolean): 'linear' | 'relu' {
  if (last || l.activation === 'identity') return 'linear';
  if (l.activation === 'relu') return 'relu';
  throw new PeerConfigError(
    `layer ${l.index}: activation '${l.activation}' is not in this peer (relu or none)`,
  );
}

export async function tfjsTrainCnn(opts: TfjsCnnOptions): Promise<TfjsCnnResult> {
  const model = resolveModel(opts.spec);
  const B = opts.batchSize;
  const n = opts.y.length;
  const classes = model.outputSize;
  if (opts.spec.loss !== 'softmax-ce') throw new PeerConfigError('the CNN peer trains softmax-ce only');
  if (opts.x.length !== n * model.inputSize)
    throw new PeerConfigError(`x has ${opts.x.length} values, expected ${n} x ${model.inputSize}`);
  if (opts.initialWeights.length !== model.params.length)
    throw new PeerConfigError(
      `initialWeights has ${opts.initialWeights.length} layers, the model ${model.params.length}`,
    );
  if (n % B !== 0) throw new PeerConfigError(`n = ${n} must be a multiple of the batch ${B}`);
  await initTfjs(opts.backend);

  const vars: tf.Variable[] = [];
  const layerVars = new Map<number, { W: tf.Variable; b: tf.Variable }>();
  model.params.forEach((p, i) => {
    const w = opts.initialWeights[i];
    if (w.W.length !== p.W.length || w.b.length !== p.b.length || p.b.length === 0)
      throw new PeerConfigError(
        `layer ${p.layer}: W has ${w.W.length} values and b ${w.b.length}, expected ${p.W.length} and ${p.b.length} (with a bias)`,
      );
    let kernel: tf.Tensor;
    if (p.type === 'conv2d') {
      const [F, KH, KW, C] = p.shape;
      kernel = tf.tensor4d(convToTfjs(w.W, F, KH, KW, C), [KH, KW, C, F]);
    } else if (p.type === 'dense') {
      const [units, fanIn] = p.shape;
      kernel = tf.tensor2d(denseToTfjs(w.W, units, fanIn), [fanIn, units]);
    } else {
      throw new PeerConfigError(`layer ${p.layer}: '${p.type}' is not in this peer`);
    }
    const bias = tf.tensor1d(w.b);
    const v = { W: tf.variable(kernel, true, `W${p.layer}`), b: tf.variable(bias, true, `b${p.layer}`) };
    tf.dispose([kernel, bias]);
    layerVars.set(p.layer, v);
    vars.push(v.W, v.b);
  });

  const [H, W, C] = model.inputShape;
  const batches: { xb: tf.Tensor4D; yb: tf.Tensor2D }[] = [];
  for (let k = 0; k < n / B; k++) {
    const labels = new Float32Array(B * classes);
    for (let r = 0; r < B; r++) labels[r * classes + opts.y[k * B + r]] = 1;
    batches.push({
      xb: tf.tensor4d(opts.x.subarray(k * B * model.inputSize, (k + 1) * B * model.inputSize), [B, H, W, C]),
      yb: tf.tensor2d(labels, [B, classes]),
    });
  }

  const lossOf = (xb: tf.Tensor4D, yb: tf.Tensor2D): tf.Scalar => {
    let h: tf.Tensor = xb;
    model.layers.forEach((l, i) => {
      const last = i === model.layers.length - 1;
      switch (l.type) {
        case 'conv2d': {
          const v = layerVars.get(l.index)!;
          h = tf.fused.conv2d({
            x: h as tf.Tensor4D,
            filter: v.W as tf.Tensor4D,
            strides: [l.conv!.SH, l.conv!.SW],
            pad: padOf(l),
            dataFormat: 'NHWC',
            bias: v.b,
            activation: fusedActivation(l, last),
          });
          break;
        }
        case 'maxpool2d': {
          const p = l.pool!;
          h = tf.maxPool(h as tf.Tensor4D, [p.KH, p.KW], [p.SH, p.SW], 'valid');
          break;
        }
        case 'flatten':
          h = tf.reshape(h, [B, l.outSize]);
          break;
        case 'dense': {
          const v = layerVars.get(l.index)!;
          h = tf.fused.matMul({
            a: h as tf.Tensor2D,
            b: v.W as tf.Tensor2D,
            bias: v.b,
            activation: fusedActivation(l, last),
          });
          break;
        }
        default:
          throw new PeerConfigError(`layer ${l.index}: '${l.type}' is not in this peer`);
      }
    });
    return tf.losses.softmaxCrossEntropy(yb, h as tf.Tensor2D) as tf.Scalar;
  };

  const optimizer = tf.train.momentum(opts.optimizer.lr, opts.optimizer.momentum);
  let stepIndex = 0;
  const step = (): tf.Scalar =>
    tf.tidy(() => {
      const { xb, yb } = batches[stepIndex++ % batches.length];
      const loss = optimizer.minimize(() => lossOf(xb, yb), true, vars);
      if (loss === null) throw new PeerBackendError('optimizer.minimize returned no cost');
      return loss;
    });
  const backendName = tf.getBackend();
  let timed: TimedSteps;
  try {
    timed = await timeSteps(step, opts);
  } finally {
    optimizer.dispose();
    tf.dispose(vars);
    for (const b of batches) tf.dispose([b.xb, b.yb]);
  }
  if (tf.getBackend() !== opts.backend)
    throw new PeerBackendError(
      `backend changed during the run: asked '${opts.backend}', now '${tf.getBackend()}'`,
    );
  const { msPerStep, blockMsPerStep, losses } = timed;
  return { msPerStep, blockMsPerStep, losses, backendName };
}
