// One engine layer in PyTorch: the module that holds it (its parameters under the same names as
// the model file's `layers.{i}.*`), the padding and activation around it, and where its
// parameters sit in the engine's flat buffer. src/export/torch-model.ts strings these into an
// nn.Sequential for a straight stack, src/export/torch-graph.ts into an nn.Module for a graph.
// The layouts are in torch-model.ts's header.

import type { FeatureBlock, FeatureOrder } from '../io/torch-layout.js';
import type { Activation } from '../nn/activations.js';
import { describeLayer, type ResolvedLayer } from '../nn/layers.js';

export interface TorchModule {
  /** Python expression, e.g. `nn.Linear(784, 128)`. */
  code: string;
  /** Comment on the line above it (the layer it starts), if any. */
  comment?: string;
}

/** Where one parameter tensor lives in the engine's flat parameter (and moment) buffers. */
export interface EngineSlot {
  /** Model file name, e.g. `layers.0.weight`. */
  name: string;
  offset: number;
  /** Shape in the engine's buffer. */
  engineShape: number[];
  /** Permutation of engineShape that gives the file's layout (then a reshape), or null. */
  permute: number[] | null;
  /** Shape in the model file (and in PyTorch). */
  fileShape: number[];
  /**
   * For features joined by a concat after a flatten: the blocks of the last axis, which then
   * reorders block by block (train.py's feature_index); absent otherwise.
   */
  blocks?: FeatureBlock[];
}

export interface LayerTorch {
  /** nn.ZeroPad2d's (left, right, top, bottom) before a conv whose 'same' padding is odd, or null. */
  pad: number[] | null;
  /** The layer's module, holding its parameters; null for add and concat (joined in forward). */
  main: string | null;
  /** Modules after `main` within the layer (globalavgpool's flatten). */
  after: string[];
  /** The activation model.py applies: identity for none, and for the output's, left to the loss. */
  activation: Activation;
  alpha: number;
  /** state_dict entries of `main` (weight, bias, running statistics). */
  tensors: string[];
  /** Whether `main` is LayerNorm2d (a layernorm over a map's channels), which model.py defines. */
  layerNorm2d: boolean;
}

export const num = (x: number): string => {
  if (Number.isInteger(x)) return String(x);
  const s = String(x);
  return s.includes('e') || s.includes('.') ? s : `${s}.0`;
};
export const tuple = (xs: readonly number[]): string =>
  xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`;
/** "[C, H, W]" for a map's [H, W, C], "[F]" for features. */
export const chw = (s: readonly number[]): string =>
  s.length === 3 ? `[${s[2]}, ${s[0]}, ${s[1]}]` : `[${s.join(', ')}]`;
const sizeArg = (h: number, w: number): string => (h === w ? String(h) : `(${h}, ${w})`);

/** The activation as a module for nn.Sequential, or null for the identity. */
export function activationModule(a: Activation, alpha: number): string | null {
  switch (a) {
    case 'identity':
      return null;
    case 'relu':
      return 'nn.ReLU()';
    case 'leaky_relu':
      return `nn.LeakyReLU(${num(alpha)})`;
    case 'sigmoid':
      return 'nn.Sigmoid()';
    case 'tanh':
      return 'nn.Tanh()';
    case 'gelu':
      // The engine's GELU is the tanh form.
      return "nn.GELU(approximate='tanh')";
    case 'relu6':
      return 'nn.ReLU6()';
    case 'hardswish':
      return 'nn.Hardswish()';
    case 'softmax':
      return 'nn.Softmax(dim=1)';
  }
}

/** The activation applied to the expression x, as forward() writes it (the same maths as the modules). */
export function activationCall(a: Activation, alpha: number, x: string): string {
  switch (a) {
    case 'identity':
      return x;
    case 'relu':
      return `torch.relu(${x})`;
    case 'leaky_relu':
      return `F.leaky_relu(${x}, ${num(alpha)})`;
    case 'sigmoid':
      return `torch.sigmoid(${x})`;
    case 'tanh':
      return `torch.tanh(${x})`;
    case 'gelu':
      return `F.gelu(${x}, approximate='tanh')`;
    case 'relu6':
      return `F.relu6(${x})`;
    case 'hardswish':
      return `F.hardswish(${x})`;
    case 'softmax':
      return `torch.softmax(${x}, dim=1)`;
  }
}

/** "conv2d 3x3/1 same, 8 relu  [3, 8, 8] -> [8, 8, 8]" (PyTorch's NCHW shapes); joins list every input. */
export function layerText(l: ResolvedLayer): string {
  const ins = l.inputs.length > 1 ? l.inShapes.map(chw).join(' + ') : chw(l.inShape);
  return `${describeLayer(l)}  ${ins} -> ${chw(l.outShape)}`;
}

/** A layer's PyTorch form; `isOutput` leaves out the activation the loss applies. */
export function layerTorch(l: ResolvedLayer, isOutput: boolean): LayerTorch {
  const t: LayerTorch = {
    pad: null,
    main: null,
    after: [],
    activation: isOutput ? 'identity' : l.activation,
    alpha: l.alpha,
    tensors: [],
    layerNorm2d: false,
  };
  switch (l.type) {
    case 'dense': {
      const [units, fanIn] = l.param!.shape;
      t.main = `nn.Linear(${fanIn}, ${units})`;
      t.tensors = ['weight', 'bias'];
      break;
    }
    case 'conv2d': {
      const c = l.conv!;
      const bias = l.param!.b.length > 0;
      const symmetric = c.padTop === c.padBottom && c.padLeft === c.padRight;
      const pad = symmetric ? sizeArg(c.padTop, c.padLeft) : '0';
      if (!symmetric) t.pad = [c.padLeft, c.padRight, c.padTop, c.padBottom];
      const groups = (c.G ?? 1) > 1 ? `, groups=${c.G}` : '';
      t.main = `nn.Conv2d(${c.C}, ${c.F}, kernel_size=${sizeArg(c.KH, c.KW)}, stride=${sizeArg(c.SH, c.SW)}, padding=${pad}${groups}${bias ? '' : ', bias=False'})`;
      t.tensors = bias ? ['weight', 'bias'] : ['weight'];
      break;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l.pool!;
      const cls = l.type === 'maxpool2d' ? 'nn.MaxPool2d' : 'nn.AvgPool2d';
      // AvgPool2d's default count_include_pad=True is the engine's mean over padding.
      const { PH = 0, PW = 0 } = p;
      const pad = PH + PW > 0 ? `, padding=${sizeArg(PH, PW)}` : '';
      t.main = `${cls}(kernel_size=${sizeArg(p.KH, p.KW)}, stride=${sizeArg(p.SH, p.SW)}${pad})`;
      break;
    }
    case 'globalavgpool':
      t.main = 'nn.AdaptiveAvgPool2d(1)';
      t.after = ['nn.Flatten()'];
      break;
    case 'batchnorm': {
      const cls = l.inShape.length === 3 ? 'nn.BatchNorm2d' : 'nn.BatchNorm1d';
      t.main = `${cls}(${l.param!.units}, eps=${num(l.epsilon!)}, momentum=${num(l.momentum!)})`;
      t.tensors = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'];
      break;
    }
    case 'layernorm': {
      t.layerNorm2d = l.inShape.length === 3;
      t.main = `${t.layerNorm2d ? 'LayerNorm2d' : 'nn.LayerNorm'}(${l.param!.units}, eps=${num(l.epsilon!)})`;
      t.tensors = ['weight', 'bias'];
      break;
    }
    case 'dropout':
      t.main = `nn.Dropout(p=${num(l.rate!)})`;
      break;
    case 'flatten':
      t.main = 'nn.Flatten()';
      break;
    case 'add':
    case 'concat':
      break;
  }
  return t;
}

/**
 * The engine slots of a layer's parameters. `order` is the order of its input features
 * (src/io/torch-layout.ts): a dense layer reading a flatten of an [H, W, C] map holds its
 * moments as [U, H, W, C] (permute (0, 3, 1, 2) to the file's [U, C*H*W]); a batchnorm or
 * layernorm there as [H, W, C] (permute (2, 0, 1)). Features that a concat joined after a flatten
 * reorder block by block instead (EngineSlot.blocks).
 */
export function layerSlots(l: ResolvedLayer, order: FeatureOrder): EngineSlot[] {
  const p = l.param;
  if (!p) return [];
  const slot = (
    t: string,
    offset: number,
    engineShape: number[],
    permute: number[] | null,
    fileShape: number[],
  ) => ({
    name: `layers.${l.index}.${t}`,
    offset,
    engineShape,
    permute,
    fileShape,
  });
  if (order !== null && order.length > 1) {
    // A concat after a flatten: no single permute of a reshape; the last axis reorders by blocks.
    const rows = l.type === 'dense' ? [p.shape[0]] : [];
    const K = order.reduce((n, b) => n + b.size, 0);
    return [
      { ...slot('weight', p.W.offset, [...rows, K], null, [...rows, K]), blocks: order },
      l.type === 'dense'
        ? slot('bias', p.b.offset, rows, null, rows)
        : { ...slot('bias', p.b.offset, [K], null, [K]), blocks: order },
    ];
  }
  const map = order?.[0].map ?? null;
  if (l.type === 'dense') {
    const [units, fanIn] = p.shape;
    return [
      map
        ? slot('weight', p.W.offset, [units, ...map], [0, 3, 1, 2], [units, fanIn])
        : slot('weight', p.W.offset, [units, fanIn], null, [units, fanIn]),
      slot('bias', p.b.offset, [units], null, [units]),
    ];
  }
  if (l.type === 'conv2d') {
    const [F, KH, KW, Cg] = p.shape;
    const w = slot('weight', p.W.offset, [F, KH, KW, Cg], [0, 3, 1, 2], [F, Cg, KH, KW]);
    return p.b.length > 0 ? [w, slot('bias', p.b.offset, [F], null, [F])] : [w];
  }
  const C = p.units;
  return (['weight', 'bias'] as const).map((t) => {
    const s = t === 'weight' ? p.W : p.b;
    return map ? slot(t, s.offset, map, [2, 0, 1], [C]) : slot(t, s.offset, [C], null, [C]);
  });
}
