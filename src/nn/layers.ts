// The layer vocabulary of a sequential model, and shape inference: one definition that the
// engine, the CPU reference, model files, the CLI, the demo and the PyTorch export all read.
//
// Tensors are NHWC and batch-major: an image map is [B, H, W, C], a flat one [B, F]. Per layer:
//   dense         [F] -> [units]          Z = X W^T + b, A = act(Z); W [units, F] (nn.Linear)
//   conv2d        [H,W,C] -> [OH,OW,F]     Z = conv(X, W) + b, A = act(Z); W [F, KH, KW, C]
//                 (internal layout; model files hold PyTorch's [F, C, KH, KW])
//   maxpool2d     [H,W,C] -> [OH,OW,C]     window max (ties: the first in row-major window order)
//   avgpool2d     [H,W,C] -> [OH,OW,C]     window mean (every window lies inside the map)
//   globalavgpool [H,W,C] -> [C]           mean over H and W
//   batchnorm     [H,W,C] or [F], per channel (last axis): Z = gamma * (X - mu) / sqrt(var + eps)
//                 + beta, A = act(Z). Training: mu, var are the batch's (biased var) and the
//                 running averages move as PyTorch's do: r = (1 - momentum) r + momentum * batch
//                 (running var takes the unbiased batch var). Evaluation: the running averages.
//   dropout       same shape: training keeps each element with probability 1 - rate and scales
//                 it by 1 / (1 - rate); the mask is counterHash(seed, layer, step, element) (see
//                 src/rng.ts), so the GPU and the CPU reference draw the same mask. Evaluation:
//                 the identity.
//   flatten       [H,W,C] -> [H*W*C] in NHWC order (no data moves). A dense layer after it is
//                 stored in model files with its columns permuted to PyTorch's NCHW flatten order.
//
// Output sizes: conv OH = floor((H + padTop + padBottom - KH) / SH) + 1; 'same' pads so that
// OH = ceil(H / SH), the odd pixel of padding going to the bottom/right (TensorFlow's rule);
// 'valid' pads nothing; a number pads that many pixels on every side (PyTorch's padding=p).
// Pools never pad: OH = floor((H - KH) / SH) + 1, stride defaulting to the window size.

import { ConfigError } from '../errors.js';
import { ACTIVATIONS, isActivation, type Activation } from './activations.js';
import { LOSSES, type LossName } from './losses.js';

export const LAYER_TYPES = [
  'dense',
  'conv2d',
  'maxpool2d',
  'avgpool2d',
  'globalavgpool',
  'batchnorm',
  'dropout',
  'flatten',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

export interface DenseSpec {
  /** Optional for dense layers, so the dense-only specs of earlier versions stay valid. */
  type?: 'dense';
  units: number;
  activation?: Activation;
  /** leaky_relu slope (default 0.01). */
  alpha?: number;
}

export interface Conv2dSpec {
  type: 'conv2d';
  filters: number;
  /** Square size or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Default 1. */
  stride?: number | [number, number];
  /** Default 'valid'. */
  padding?: 'same' | 'valid' | number;
  /** Default true. */
  bias?: boolean;
  activation?: Activation;
  alpha?: number;
}

export interface Pool2dSpec {
  type: 'maxpool2d' | 'avgpool2d';
  /** Square window or [kh, kw]. */
  size: number | [number, number];
  /** Default: the window size. */
  stride?: number | [number, number];
}

export interface GlobalAvgPoolSpec {
  type: 'globalavgpool';
}

export interface BatchNormSpec {
  type: 'batchnorm';
  /** PyTorch's convention: weight of the new batch statistic (default 0.1). */
  momentum?: number;
  /** Default 1e-5. */
  epsilon?: number;
  activation?: Activation;
  alpha?: number;
}

export interface DropoutSpec {
  type: 'dropout';
  /** Probability of zeroing an element, in [0, 1). */
  rate: number;
}

export interface FlattenSpec {
  type: 'flatten';
}

export type LayerSpec =
  DenseSpec | Conv2dSpec | Pool2dSpec | GlobalAvgPoolSpec | BatchNormSpec | DropoutSpec | FlattenSpec;

export interface ModelSpec {
  /** Flat input: features per sample. Give this or inputShape. */
  inputSize?: number;
  /** Image input [H, W, C] (NHWC), or [features]. */
  inputShape?: number[];
  layers: LayerSpec[];
  /** 'bce' needs a final sigmoid, 'softmax-ce' a final softmax (both computed on the logits). */
  loss: LossName;
}

export interface ConvGeometry {
  H: number;
  W: number;
  C: number;
  F: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  padTop: number;
  padLeft: number;
  /** Padding past the last row/column (differs from padTop/padLeft only for 'same' with an odd total). */
  padBottom: number;
  padRight: number;
  OH: number;
  OW: number;
}

export interface PoolGeometry {
  H: number;
  W: number;
  C: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  OH: number;
  OW: number;
}

export interface TensorSlot {
  /** Offset in floats into the flat parameter buffer (a multiple of 64). */
  offset: number;
  length: number;
}

/** A layer with learned parameters: W (dense/conv weight, batch-norm scale) and b (bias, shift). */
export interface ParamLayer {
  /** Index of the layer in spec.layers (model files name tensors `layers.{layer}.*`). */
  layer: number;
  type: 'dense' | 'conv2d' | 'batchnorm';
  W: TensorSlot;
  /** Length 0 for a conv2d without bias. */
  b: TensorSlot;
  /** Internal shape of W: [units, fanIn], [F, KH, KW, C] or [C]. */
  shape: number[];
  /** Initialiser fans: dense fanIn = in features; conv fanIn = C*KH*KW, fanOut = F*KH*KW. */
  fanIn: number;
  fanOut: number;
  /** Rows of W (dense units, conv filters, batch-norm channels). */
  units: number;
}

/** Batch-norm running statistics: state, not parameters (no gradient, no decay, but saved). */
export interface StateLayer {
  layer: number;
  channels: number;
  /** Float offsets into the state buffer (each a multiple of 64): running mean, running var. */
  mean: number;
  variance: number;
}

export interface ResolvedLayer {
  index: number;
  type: LayerType;
  spec: LayerSpec;
  inShape: number[];
  outShape: number[];
  /** Values per sample in and out. */
  inSize: number;
  outSize: number;
  /** Fused activation (identity for layers that have none). */
  activation: Activation;
  alpha: number;
  conv?: ConvGeometry;
  pool?: PoolGeometry;
  /** batchnorm */
  momentum?: number;
  epsilon?: number;
  /** dropout */
  rate?: number;
  param?: ParamLayer;
  state?: StateLayer;
  /** Multiply-adds of the forward pass per sample. */
  macs: number;
}

export interface ResolvedModel {
  spec: ModelSpec;
  inputShape: number[];
  inputSize: number;
  outputSize: number;
  layers: ResolvedLayer[];
  params: ParamLayer[];
  /** Total floats of the parameter buffer including alignment padding. */
  paramSize: number;
  /** Real parameters. */
  paramCount: number;
  states: StateLayer[];
  /** Floats of the state buffer (running statistics), padding included; 0 without batch norm. */
  stateSize: number;
  /** Whether training differs from evaluation (batch norm or dropout present). */
  hasModes: boolean;
}

/** Every tensor starts on a 64-float (256-byte) boundary: storage bindings need that offset alignment. */
export const PARAM_ALIGN = 64;

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/** Checks a spec and infers every layer's shape and parameter slots; throws ConfigError naming the layer. */
export function resolveModel(spec: ModelSpec): ResolvedModel {
  const fail = (m: string): never => {
    throw new ConfigError(`Invalid model: ${m}`);
  };
  if (spec === null || typeof spec !== 'object') fail('the spec must be an object.');
  let shape: number[];
  if (spec.inputShape !== undefined) {
    const s = spec.inputShape;
    if (
      !Array.isArray(s) ||
      (s.length !== 1 && s.length !== 3) ||
      !s.every((d) => Number.isInteger(d) && d > 0)
    )
      fail(`inputShape must be [H, W, C] or [features] with positive integers, got ${JSON.stringify(s)}.`);
    shape = [...s];
    const size = shape.reduce((a, b) => a * b, 1);
    if (spec.inputSize !== undefined && spec.inputSize !== size)
      fail(`inputSize ${spec.inputSize} does not match inputShape ${shapeText(shape)} (${size} values).`);
  } else {
    if (!Number.isInteger(spec.inputSize) || (spec.inputSize ?? 0) < 1)
      fail(`inputSize must be a positive integer, got ${spec.inputSize}.`);
    shape = [spec.inputSize!];
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) fail('it needs at least one layer.');
  if (!(LOSSES as readonly string[]).includes(spec.loss))
    fail(`unknown loss '${String(spec.loss)}' (use ${LOSSES.join(', ')}).`);

  const inputShape = [...shape];
  const layers: ResolvedLayer[] = [];
  const params: ParamLayer[] = [];
  const states: StateLayer[] = [];
  let off = 0;
  let count = 0;
  let stateOff = 0;
  const take = (n: number): TensorSlot => {
    const slot = { offset: off, length: n };
    off += Math.ceil(n / PARAM_ALIGN) * PARAM_ALIGN;
    count += n;
    return slot;
  };
  const L = spec.layers.length;
  spec.layers.forEach((raw, i) => {
    if (raw === null || typeof raw !== 'object') fail(`layer ${i} must be an object.`);
    const type: LayerType = raw.type ?? 'dense';
    const name = `layer ${i} (${type})`;
    const bad = (m: string): never => fail(`${name}: ${m}`);
    if (!(LAYER_TYPES as readonly string[]).includes(type))
      fail(`layer ${i}: unknown type '${String(type)}' (use ${LAYER_TYPES.join(', ')}).`);
    const posInt = (v: unknown, what: string): number => {
      if (!Number.isInteger(v) || (v as number) < 1)
        bad(`${what} must be a positive integer, got ${String(v)}.`);
      return v as number;
    };
    const pairOf = (v: unknown, what: string): [number, number] => {
      if (Array.isArray(v)) {
        if (v.length !== 2) bad(`${what} must be a number or [h, w], got ${JSON.stringify(v)}.`);
        return [posInt(v[0], what), posInt(v[1], what)];
      }
      const n = posInt(v, what);
      return [n, n];
    };
    const actOf = (s: { activation?: unknown; alpha?: unknown }): [Activation, number] => {
      const a = s.activation ?? 'identity';
      if (typeof a !== 'string' || !isActivation(a))
        bad(`unknown activation '${String(a)}' (use ${ACTIVATIONS.join(', ')}).`);
      if (a === 'softmax' && (i !== L - 1 || type !== 'dense'))
        bad('softmax is only supported on the last layer, a dense one.');
      if (s.alpha !== undefined && !Number.isFinite(s.alpha)) bad('alpha must be a finite number.');
      return [a as Activation, (s.alpha as number | undefined) ?? 0.01];
    };
    const needMap = (what: string): [number, number, number] => {
      if (shape.length !== 3)
        bad(
          `${what} needs an image map [H, W, C] as input, but its input is flat ${shapeText(shape)}; give the model an inputShape [H, W, C] or move this layer before the flatten.`,
        );
      return [shape[0], shape[1], shape[2]];
    };
    const inShape = [...shape];
    const inSize = shape.reduce((a, b) => a * b, 1);
    const r: ResolvedLayer = {
      index: i,
      type,
      spec: raw,
      inShape,
      outShape: inShape,
      inSize,
      outSize: inSize,
      activation: 'identity',
      alpha: 0.01,
      macs: 0,
    };
    switch (type) {
      case 'dense': {
        const s = raw as DenseSpec;
        const units = posInt(s.units, 'units');
        if (shape.length !== 1)
          bad(
            `its input is the map ${shapeText(shape)}; add a 'flatten' or 'globalavgpool' layer before it.`,
          );
        [r.activation, r.alpha] = actOf(s);
        r.outShape = [units];
        const W = take(units * inSize);
        const b = take(units);
        r.param = { layer: i, type, W, b, shape: [units, inSize], fanIn: inSize, fanOut: units, units };
        r.macs = units * inSize;
        break;
      }
      case 'conv2d': {
        const s = raw as Conv2dSpec;
        const [H, Wd, C] = needMap('conv2d');
        const F = posInt(s.filters, 'filters');
        const [KH, KW] = pairOf(s.kernelSize, 'kernelSize');
        const [SH, SW] = pairOf(s.stride ?? 1, 'stride');
        const pad = s.padding ?? 'valid';
        let pt: number, pb: number, pl: number, pr: number;
        if (pad === 'same') {
          const oh = Math.ceil(H / SH);
          const ow = Math.ceil(Wd / SW);
          const th = Math.max((oh - 1) * SH + KH - H, 0);
          const tw = Math.max((ow - 1) * SW + KW - Wd, 0);
          pt = Math.floor(th / 2);
          pb = th - pt;
          pl = Math.floor(tw / 2);
          pr = tw - pl;
        } else if (pad === 'valid') {
          pt = pb = pl = pr = 0;
        } else if (Number.isInteger(pad) && pad >= 0) {
          pt = pb = pl = pr = pad;
        } else {
          return bad(
            `padding must be 'same', 'valid' or a non-negative integer, got ${JSON.stringify(pad)}.`,
          );
        }
        if (pt >= KH || pl >= KW || pb >= KH || pr >= KW)
          bad(`padding ${pt}/${pl} must be smaller than the kernel ${KH}x${KW} (a window of only padding).`);
        if (H + pt + pb < KH || Wd + pl + pr < KW)
          bad(
            `a ${KH}x${KW} kernel does not fit the ${H}x${Wd} input map; use padding 'same' or a smaller kernel.`,
          );
        const OH = Math.floor((H + pt + pb - KH) / SH) + 1;
        const OW = Math.floor((Wd + pl + pr - KW) / SW) + 1;
        if (s.bias !== undefined && typeof s.bias !== 'boolean') bad('bias must be true or false.');
        [r.activation, r.alpha] = actOf(s);
        r.conv = {
          H,
          W: Wd,
          C,
          F,
          KH,
          KW,
          SH,
          SW,
          padTop: pt,
          padLeft: pl,
          padBottom: pb,
          padRight: pr,
          OH,
          OW,
        };
        r.outShape = [OH, OW, F];
        const W = take(F * KH * KW * C);
        const b = s.bias === false ? { offset: off, length: 0 } : take(F);
        r.param = {
          layer: i,
          type,
          W,
          b,
          shape: [F, KH, KW, C],
          fanIn: C * KH * KW,
          fanOut: F * KH * KW,
          units: F,
        };
        r.macs = OH * OW * F * KH * KW * C;
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const s = raw as Pool2dSpec;
        const [H, Wd, C] = needMap(type);
        const [KH, KW] = pairOf(s.size, 'size');
        const [SH, SW] = pairOf(s.stride ?? s.size, 'stride');
        if (KH > H || KW > Wd)
          bad(
            `a ${KH}x${KW} window does not fit the ${H}x${Wd} input map; use a smaller window or remove a pooling layer before it.`,
          );
        const OH = Math.floor((H - KH) / SH) + 1;
        const OW = Math.floor((Wd - KW) / SW) + 1;
        r.pool = { H, W: Wd, C, KH, KW, SH, SW, OH, OW };
        r.outShape = [OH, OW, C];
        r.macs = OH * OW * C * KH * KW;
        break;
      }
      case 'globalavgpool': {
        const [H, Wd, C] = needMap('globalavgpool');
        r.pool = { H, W: Wd, C, KH: H, KW: Wd, SH: H, SW: Wd, OH: 1, OW: 1 };
        r.outShape = [C];
        r.macs = H * Wd * C;
        break;
      }
      case 'batchnorm': {
        const s = raw as BatchNormSpec;
        const momentum = s.momentum ?? 0.1;
        const epsilon = s.epsilon ?? 1e-5;
        if (!(momentum >= 0 && momentum <= 1))
          bad(`momentum must be in [0, 1] (PyTorch's convention), got ${momentum}.`);
        if (!(epsilon > 0 && Number.isFinite(epsilon)))
          bad(`epsilon must be a positive number, got ${epsilon}.`);
        [r.activation, r.alpha] = actOf(s);
        r.momentum = momentum;
        r.epsilon = epsilon;
        const C = shape[shape.length - 1];
        const W = take(C);
        const b = take(C);
        r.param = { layer: i, type, W, b, shape: [C], fanIn: 1, fanOut: 1, units: C };
        r.state = {
          layer: i,
          channels: C,
          mean: stateOff,
          variance: stateOff + Math.ceil(C / PARAM_ALIGN) * PARAM_ALIGN,
        };
        stateOff += 2 * Math.ceil(C / PARAM_ALIGN) * PARAM_ALIGN;
        r.macs = inSize * 2;
        break;
      }
      case 'dropout': {
        const s = raw as DropoutSpec;
        if (typeof s.rate !== 'number' || !(s.rate >= 0 && s.rate < 1))
          bad(`rate must be in [0, 1), got ${String(s.rate)}.`);
        r.rate = s.rate;
        break;
      }
      case 'flatten': {
        r.outShape = [inSize];
        break;
      }
    }
    r.outSize = r.outShape.reduce((a, b) => a * b, 1);
    if (r.param) params.push(r.param);
    if (r.state) states.push(r.state);
    layers.push(r);
    shape = r.outShape;
  });
  if (shape.length !== 1)
    fail(
      `the last layer's output is the map ${shapeText(shape)}; end with 'globalavgpool' or 'flatten' and a dense layer.`,
    );
  const last = layers[L - 1];
  if (last.type !== 'dense')
    fail(`the last layer must be dense (the classifier or regressor), got '${last.type}'.`);
  const outputSize = shape[0];
  if (spec.loss === 'bce' && last.activation !== 'sigmoid')
    fail(`loss 'bce' is computed on logits and needs a final 'sigmoid' layer (got '${last.activation}').`);
  if (spec.loss === 'softmax-ce' && (last.activation !== 'softmax' || outputSize < 2))
    fail(`loss 'softmax-ce' needs a final 'softmax' layer with at least 2 units.`);
  return {
    spec,
    inputShape,
    inputSize: inputShape.reduce((a, b) => a * b, 1),
    outputSize,
    layers,
    params,
    paramSize: off,
    paramCount: count,
    states,
    stateSize: stateOff,
    hasModes: layers.some((l) => l.type === 'batchnorm' || l.type === 'dropout'),
  };
}

/** Keras-style one-line description of a layer, e.g. "conv2d 3x3/1 same, 32 relu". */
export function describeLayer(l: ResolvedLayer): string {
  switch (l.type) {
    case 'dense':
      return `dense ${l.outShape[0]}${l.activation === 'identity' ? '' : ` ${l.activation}`}`;
    case 'conv2d': {
      const c = l.conv!;
      const s = l.spec as Conv2dSpec;
      const pad = typeof s.padding === 'number' ? `pad ${s.padding}` : (s.padding ?? 'valid');
      return `conv2d ${c.KH}x${c.KW}/${c.SH === c.SW ? c.SH : `${c.SH}x${c.SW}`} ${pad}, ${c.F}${l.activation === 'identity' ? '' : ` ${l.activation}`}`;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l.pool!;
      return `${l.type} ${p.KH}x${p.KW}/${p.SH === p.SW ? p.SH : `${p.SH}x${p.SW}`}`;
    }
    case 'batchnorm':
      return `batchnorm${l.activation === 'identity' ? '' : ` ${l.activation}`}`;
    case 'dropout':
      return `dropout ${l.rate}`;
    default:
      return l.type;
  }
}

export { pair as sizePair };
