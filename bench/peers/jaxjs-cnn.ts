// The jax-js peer for the CNN workloads (D, E in bench/cnn.ts): the same network, initial weights,
// data, batch order and optimizer (SGD with momentum) as our engine, in jax-js's own idiom.
//
// jax-js's convolution (lax.convGeneralDilated) is NCHW with OIHW kernels, like jax.lax's
// default, and takes no dimension numbers, so the network runs in NCHW: the NHWC images are
// transposed once on the host, conv W [F, KH, KW, C] becomes [F, C, KH, KW], and the dense layer
// after the flatten has its input columns permuted once from our NHWC order (h, w, c) to the
// (c, h, w) order of an NCHW flatten, which computes the same function. Layers:
// conv2d -> convGeneralDilated(h, W, strides, [[top, bottom], [left, right]]) + b, then relu;
// maxpool2d -> lax.reduceWindow(h, max, [KH, KW], [SH, SW]); flatten -> reshape;
// dense -> matmul(h, W) + b with W as [fanIn, units]; softmax folded into the loss on logits.
// The step (valueAndGrad, momentum update, loss read back) is makeTrainStep in jaxjs.ts.

import { lax, nn, numpy as np, tree } from '@jax-js/jax';

import type { Weights } from '../../src/engine/trainer.js';
import { resolveModel, type ModelSpec, type ResolvedLayer } from '../../src/nn/layers.js';
import {
  denseToJax,
  JaxPeerConfigError,
  makeTrainStep,
  timeJaxSteps,
  type JaxStepPlan,
  type JaxTimed,
  type ParamTree,
} from './jaxjs.js';

export interface JaxCnnOptions {
  spec: ModelSpec;
  optimizer: { lr: number; momentum: number };
  batchSize: number;
  /** [n, H*W*C] NHWC rows */
  x: Float32Array;
  /** [n] class ids */
  y: Int32Array;
  /** One {W, b} per conv2d/dense layer, in our layout. */
  initialWeights: Weights[];
  plan: JaxStepPlan;
}

/** Conv W [F, KH, KW, C] -> [F, C, KH, KW] (OIHW). */
export function convToJax(W: Float32Array, F: number, KH: number, KW: number, C: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let f = 0; f < F; f++)
    for (let kh = 0; kh < KH; kh++)
      for (let kw = 0; kw < KW; kw++)
        for (let c = 0; c < C; c++)
          out[((f * C + c) * KH + kh) * KW + kw] = W[((f * KH + kh) * KW + kw) * C + c];
  return out;
}

/** Dense W [units, H*W*C] with NHWC-ordered columns -> the same with (c, h, w)-ordered columns. */
export function nhwcColumnsToNchw(W: Float32Array, units: number, [H, Wd, C]: number[]): Float32Array {
  const fanIn = H * Wd * C;
  const out = new Float32Array(W.length);
  for (let u = 0; u < units; u++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < Wd; w++)
        for (let c = 0; c < C; c++)
          out[u * fanIn + (c * H + h) * Wd + w] = W[u * fanIn + (h * Wd + w) * C + c];
  return out;
}

/** NHWC rows [B, H, W, C] -> NCHW [B, C, H, W]. */
function nhwcToNchw(x: Float32Array, B: number, [H, W, C]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) out[((b * C + c) * H + h) * W + w] = x[((b * H + h) * W + w) * C + c];
  return out;
}

function checkLayer(l: ResolvedLayer, last: boolean): void {
  const ok = ['conv2d', 'maxpool2d', 'flatten', 'dense'].includes(l.type);
  if (!ok) throw new JaxPeerConfigError(`layer ${l.index}: '${l.type}' is not in the jax-js CNN peer`);
  if (!last && l.activation !== 'relu' && l.activation !== 'identity')
    throw new JaxPeerConfigError(`layer ${l.index}: activation '${l.activation}' is not in this peer`);
  if (l.conv && (l.conv.G ?? 1) !== 1)
    throw new JaxPeerConfigError(`layer ${l.index}: grouped convs are not in this peer`);
  if (l.pool && ((l.pool.PH ?? 0) !== 0 || (l.pool.PW ?? 0) !== 0))
    throw new JaxPeerConfigError(`layer ${l.index}: padded pooling is not in this peer`);
}

/** The parameters as jax-js arrays, converted to NCHW / [fanIn, units] layouts. */
function uploadParams(layers: ResolvedLayer[], weights: Weights[]): ParamTree {
  const params: ParamTree = { W: [], b: [] };
  let k = 0;
  for (const l of layers) {
    if (!l.param) continue;
    const w = weights[k++];
    const p = l.param;
    if (w.W.length !== p.W.length || w.b.length !== p.b.length || p.b.length === 0)
      throw new JaxPeerConfigError(
        `layer ${l.index}: W has ${w.W.length} values and b ${w.b.length}, expected ${p.W.length} and ${p.b.length} (with a bias)`,
      );
    if (p.type === 'conv2d') {
      const [F, KH, KW, C] = p.shape;
      params.W.push(np.array(convToJax(w.W, F, KH, KW, C)).reshape([F, C, KH, KW]));
    } else {
      const [units, fanIn] = p.shape;
      const prev = l.inputs[0] >= 0 ? layers[l.inputs[0]] : undefined;
      const cols =
        prev?.type === 'flatten' && prev.inShape.length === 3
          ? nhwcColumnsToNchw(w.W, units, prev.inShape)
          : w.W;
      params.W.push(np.array(denseToJax(cols, units, fanIn)).reshape([fanIn, units]));
    }
    params.b.push(np.array(w.b));
  }
  return params;
}

/** Trains the CNN of `opts` with jax-js on the current default device and times its steps. */
export async function jaxjsTrainCnn(opts: JaxCnnOptions): Promise<JaxTimed> {
  const model = resolveModel(opts.spec);
  const B = opts.batchSize;
  const n = opts.y.length;
  const classes = model.outputSize;
  if (opts.spec.loss !== 'softmax-ce') throw new JaxPeerConfigError('the CNN peer trains softmax-ce only');
  if (model.isGraph) throw new JaxPeerConfigError('the jax-js CNN peer runs layer stacks, not graphs');
  if (opts.x.length !== n * model.inputSize)
    throw new JaxPeerConfigError(`x has ${opts.x.length} values, expected ${n} x ${model.inputSize}`);
  if (opts.initialWeights.length !== model.params.length)
    throw new JaxPeerConfigError(
      `initialWeights has ${opts.initialWeights.length} layers, the model ${model.params.length}`,
    );
  if (n % B !== 0) throw new JaxPeerConfigError(`n = ${n} must be a multiple of the batch ${B}`);
  model.layers.forEach((l, i) => checkLayer(l, i === model.layers.length - 1));

  const params = uploadParams(model.layers, opts.initialWeights);
  const [H, W, C] = model.inputShape;
  const batches: { xb: np.Array; yb: np.Array }[] = [];
  for (let k = 0; k < n / B; k++) {
    const rows = opts.x.subarray(k * B * model.inputSize, (k + 1) * B * model.inputSize);
    const labels = new Float32Array(B * classes);
    for (let r = 0; r < B; r++) labels[r * classes + opts.y[k * B + r]] = 1;
    batches.push({
      xb: np.array(nhwcToNchw(rows, B, model.inputShape)).reshape([B, C, H, W]),
      yb: np.array(labels).reshape([B, classes]),
    });
  }

  const lossOf = (p: ParamTree, x: np.Array, y: np.Array): np.Array => {
    let h = x;
    let k = 0;
    model.layers.forEach((l, i) => {
      const last = i === model.layers.length - 1;
      if (l.type === 'conv2d') {
        const c = l.conv!;
        const pad: [number, number][] = [
          [c.padTop, c.padBottom],
          [c.padLeft, c.padRight],
        ];
        const z = lax.convGeneralDilated(h, p.W[k], [c.SH, c.SW], pad).add(p.b[k].reshape([c.F, 1, 1]));
        k++;
        h = l.activation === 'relu' && !last ? nn.relu(z) : z;
      } else if (l.type === 'maxpool2d') {
        const q = l.pool!;
        h = lax.reduceWindow(h, (t) => np.max(t), [q.KH, q.KW], [q.SH, q.SW]);
      } else if (l.type === 'flatten') {
        h = h.reshape([B, l.outSize]);
      } else {
        const z = np.matmul(h, p.W[k]).add(p.b[k]);
        k++;
        h = l.activation === 'relu' && !last ? nn.relu(z) : z;
      }
    });
    return np.mean(np.sum(y.mul(nn.logSoftmax(h, -1)), -1)).mul(-1);
  };
  const train = makeTrainStep(lossOf, { type: 'momentum', ...opts.optimizer }, params);
  let k = 0;
  try {
    return await timeJaxSteps(() => {
      const b = batches[k++ % batches.length];
      return train.run(b.xb.ref, b.yb.ref);
    }, opts.plan);
  } finally {
    train.dispose();
    for (const b of batches) tree.dispose([b.xb, b.yb]);
  }
}
