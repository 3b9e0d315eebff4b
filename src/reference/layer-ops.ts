// One layer of the float64 reference model, forward and backward (sequential.ts walks the graph).
//   dense      Z = X·Wᵀ + b                     A = act(Z)   (softmax only on the last)
//   conv2d     Z = conv(X, W) + b (groups)       A = act(Z)   (conv.ts)
//   batchnorm  Z = γ·x̂ + β                      A = act(Z)   (batchnorm.ts): training uses the
//              batch statistics over rows·H·W per channel, evaluation the running statistics
//   layernorm  Z = γ·x̂ + β per position over the last axis   A = act(Z)   (layernorm.ts)
//   maxpool2d, avgpool2d, globalavgpool          (pool.ts)
//   dropout    training: X ⊙ mask(seed, stream = layer index, step, element); evaluation: X
//   flatten    X (NHWC order, no data moves)
//   add        Z = X_1 + ... + X_k               A = act(Z)
//   concat     Z = [X_1, ..., X_k] along the last axis (channels)
// Backward takes dZ (the loss or the activation's backward already applied) and returns the
// parameter gradients and d loss / d X for each input.

import { ConfigError } from '../errors.js';
import { activationForward } from './activations.js';
import { batchNormBackward, batchNormForwardEval, batchNormForwardTrain } from './batchnorm.js';
import { conv2dBackward, conv2dForward } from './conv.js';
import { dropoutBackward, dropoutForward, dropoutMask } from './dropout.js';
import { layerNormBackward, layerNormForward } from './layernorm.js';
import { matmulBackward, matmulForward } from './matmul.js';
import type { RefLayer, SeqLayerCache, SeqMode } from './model-types.js';
import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
} from './pool.js';

type Param = { W: Float64Array; b: Float64Array };
type RunStat = { mean: Float64Array; variance: Float64Array };

export function need<T>(v: T | undefined, l: number, what: string): T {
  if (v === undefined)
    throw new ConfigError(`sequential: layer ${l} has no ${what}; pass a model from resolveModel`);
  return v;
}

/** Channels of a normalisation layer (its last axis) and the rows it runs over. */
export function normShape(l: RefLayer, rows: number): { C: number; R: number } {
  const C = l.inShape[l.inShape.length - 1];
  return { C, R: (rows * l.inSize) / C };
}

const lastAxis = (s: readonly number[]): number => s[s.length - 1];

/** The shapes a join's inputs have (every one the layer's inShape unless given). */
const shapesOf = (l: RefLayer, n: number): number[][] => l.inShapes ?? new Array<number[]>(n).fill(l.inShape);

function concatForward(l: RefLayer, Xs: readonly Float64Array[], rows: number): Float64Array {
  const total = lastAxis(l.outShape);
  const positions = (rows * l.outSize) / total;
  const Z = new Float64Array(rows * l.outSize);
  let offset = 0;
  shapesOf(l, Xs.length).forEach((s, k) => {
    const c = lastAxis(s);
    for (let r = 0; r < positions; r++)
      for (let j = 0; j < c; j++) Z[r * total + offset + j] = Xs[k][r * c + j];
    offset += c;
  });
  return Z;
}

function concatBackward(l: RefLayer, dZ: Float64Array, n: number, rows: number): Float64Array[] {
  const total = lastAxis(l.outShape);
  const positions = (rows * l.outSize) / total;
  let offset = 0;
  return shapesOf(l, n).map((s) => {
    const c = lastAxis(s);
    const dX = new Float64Array(positions * c);
    for (let r = 0; r < positions; r++)
      for (let j = 0; j < c; j++) dX[r * c + j] = dZ[r * total + offset + j];
    offset += c;
    return dX;
  });
}

/** Forward of layer i on its inputs Xs; `p` its parameters, `s` its running statistics. */
export function forwardLayer(
  l: RefLayer,
  i: number,
  Xs: readonly Float64Array[],
  p: Param | undefined,
  s: RunStat | undefined,
  rows: number,
  mode: SeqMode,
): SeqLayerCache {
  const X = Xs[0];
  const act = (Z: Float64Array): Float64Array =>
    activationForward(l.activation, Z, rows, l.outSize, { alpha: l.alpha });
  const withAct = (Z: Float64Array): SeqLayerCache => ({ X, Z, A: act(Z) });
  const same = (A: Float64Array): SeqLayerCache => ({ X, Z: A, A });
  switch (l.type) {
    case 'dense':
      return withAct(matmulForward(X, p!.W, p!.b, rows, l.inSize, l.outSize));
    case 'conv2d':
      return withAct(
        conv2dForward(X, p!.W, p!.b.length > 0 ? p!.b : null, rows, need(l.conv, i, 'conv geometry')),
      );
    case 'batchnorm': {
      const { C, R } = normShape(l, rows);
      const eps = need(l.epsilon, i, 'epsilon');
      if (!mode.training)
        return withAct(batchNormForwardEval(X, R, C, p!.W, p!.b, s!.mean, s!.variance, eps));
      const r = batchNormForwardTrain(X, R, C, p!.W, p!.b, eps);
      return { X, Z: r.out, A: act(r.out), bn: { ...r, rows: R } };
    }
    case 'layernorm': {
      const { C, R } = normShape(l, rows);
      const r = layerNormForward(X, R, C, p!.W, p!.b, need(l.epsilon, i, 'epsilon'));
      return { X, Z: r.out, A: act(r.out), ln: { xhat: r.xhat, invStd: r.invStd, rows: R } };
    }
    case 'maxpool2d': {
      const r = maxPool2dForward(X, rows, need(l.pool, i, 'pool geometry'));
      return { X, Z: r.out, A: r.out, argmax: r.argmax };
    }
    case 'avgpool2d':
      return same(avgPool2dForward(X, rows, need(l.pool, i, 'pool geometry')));
    case 'globalavgpool': {
      const g = need(l.pool, i, 'pool geometry');
      return same(globalAvgPoolForward(X, rows, g.H, g.W, g.C));
    }
    case 'dropout': {
      if (!mode.training) return same(X);
      const mask = dropoutMask(mode.seed, i, mode.step, rows, l.inSize, need(l.rate, i, 'rate'));
      return { ...same(dropoutForward(X, mask)), mask };
    }
    case 'flatten':
      return same(X);
    case 'add': {
      const Z = Float64Array.from(X);
      for (const Xk of Xs.slice(1)) for (let j = 0; j < Z.length; j++) Z[j] += Xk[j];
      return withAct(Z);
    }
    case 'concat':
      return same(concatForward(l, Xs, rows));
  }
}

/** Backward of layer i from dZ: its parameter gradients (if any) and d loss / d X per input. */
export function backwardLayer(
  l: RefLayer,
  c: SeqLayerCache,
  dZ: Float64Array,
  p: Param | undefined,
  nInputs: number,
  rows: number,
): { grads?: Param; dXs: Float64Array[] } {
  switch (l.type) {
    case 'dense': {
      const g = matmulBackward(dZ, c.X, p!.W, rows, l.inSize, l.outSize);
      return { grads: { W: g.dW, b: g.db }, dXs: [g.dX] };
    }
    case 'conv2d': {
      const g = conv2dBackward(c.X, p!.W, dZ, rows, l.conv!, p!.b.length > 0);
      return { grads: { W: g.dW, b: g.db }, dXs: [g.dX] };
    }
    case 'batchnorm': {
      const bn = c.bn!;
      const g = batchNormBackward(dZ, bn.xhat, bn.invStd, p!.W, bn.rows, bn.invStd.length);
      return { grads: { W: g.dGamma, b: g.dBeta }, dXs: [g.dX] };
    }
    case 'layernorm': {
      const ln = c.ln!;
      const g = layerNormBackward(dZ, ln.xhat, ln.invStd, p!.W, ln.rows, p!.W.length);
      return { grads: { W: g.dGamma, b: g.dBeta }, dXs: [g.dX] };
    }
    case 'maxpool2d':
      return { dXs: [maxPool2dBackward(dZ, c.argmax!, rows, l.pool!)] };
    case 'avgpool2d':
      return { dXs: [avgPool2dBackward(dZ, rows, l.pool!)] };
    case 'globalavgpool': {
      const g = l.pool!;
      return { dXs: [globalAvgPoolBackward(dZ, rows, g.H, g.W, g.C)] };
    }
    case 'dropout':
      return { dXs: [dropoutBackward(dZ, c.mask!)] };
    case 'flatten':
      return { dXs: [dZ] };
    case 'add':
      return { dXs: new Array<Float64Array>(nInputs).fill(dZ) };
    case 'concat':
      return { dXs: concatBackward(l, dZ, nInputs, rows) };
  }
}
