// The PyTorch twin of a model file's architecture: the nn.Sequential that model.py builds, the
// model file's tensor names -> that module's state_dict names, and where each parameter sits in
// the engine's flat optimizer vectors (optim.m / optim.v of a checkpoint).
//
// Layouts (see src/nn/layers.ts for the engine's side):
//   input        the generated model takes NCHW float images [N, C, H, W] (or [N, F] for a flat
//                inputShape [F]); train.py permutes the engine's NHWC bytes once per batch.
//   dense        nn.Linear(fanIn, units); file weight [units, fanIn] is nn.Linear's own layout.
//                A dense layer that reads a flatten of an [H, W, C] map holds its columns in
//                NCHW order in the file (nn.Flatten on NCHW tensors); in the engine's flat
//                buffer they are in NHWC order, so its optimizer moments are [U, H, W, C] there
//                and permute (0, 3, 1, 2) to reach the file's [U, C*H*W]. A batch norm between
//                that flatten and the dense layer is stored in NCHW order likewise (engine
//                [H, W, C], permute (2, 0, 1)); see src/io/torch-layout.ts.
//                A dense-only model over an image input (version 1 files) has no flatten layer:
//                its first layer reads the image in NHWC order, which model.py reproduces with
//                FlattenNHWC (plain nn.Flatten when C = 1, where both orders agree).
//   conv2d       nn.Conv2d, weight [F, C, KH, KW] in the file; [F, KH, KW, C] in the engine's
//                buffer (permute (0, 3, 1, 2)). 'same' padding with an odd total puts the extra
//                pixel bottom/right (TensorFlow's rule), which Conv2d cannot express: that case
//                becomes nn.ZeroPad2d((left, right, top, bottom)) + Conv2d(padding=0).
//   pools        nn.MaxPool2d / nn.AvgPool2d (never padded); globalavgpool is
//                nn.AdaptiveAvgPool2d(1) + nn.Flatten() -> [N, C].
//   batchnorm    nn.BatchNorm2d on maps, nn.BatchNorm1d on flat features; same momentum
//                convention (PyTorch's) and eps. weight/bias are optimizer parameters; running
//                statistics are buffers.
//   dropout      nn.Dropout (element-wise, like the engine's mask; not Dropout2d).
//   activations  separate modules after their layer. The last layer's softmax (softmax-ce) or
//                sigmoid (bce) is left to the loss, which works on logits as the engine does.

import { ConfigError } from '../errors.js';
import type { Activation } from '../nn/activations.js';
import {
  describeLayer,
  resolveModel,
  type LayerSpec,
  type ModelSpec,
  type ResolvedLayer,
  type ResolvedModel,
} from '../nn/layers.js';
import type { LossName } from '../nn/losses.js';

/** The architecture block of a model file, as JSON (version 1 layers have no `type`). */
export interface ArchitectureJson {
  inputShape: number[];
  inputSize: number;
  layers: LayerSpec[];
  loss: LossName;
}

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
}

export interface TorchPlan {
  resolved: ResolvedModel;
  /** Model input without the batch axis: [C, H, W] or [F]. */
  torchInputShape: number[];
  modules: TorchModule[];
  /** Model file tensor name -> state_dict name of the generated nn.Sequential. */
  stateNames: [string, string][];
  engineSlots: EngineSlot[];
  /** Floats in the engine's flat parameter buffer, padding included. */
  engineParamSize: number;
  /** Activation the loss applies (softmax / sigmoid) and model.py leaves out, if any. */
  outputActivation: 'softmax' | 'sigmoid' | null;
  /** Whether FlattenNHWC is used (model.py then defines it). */
  needsFlattenNhwc: boolean;
}

const num = (x: number): string => {
  if (Number.isInteger(x)) return String(x);
  const s = String(x);
  return s.includes('e') || s.includes('.') ? s : `${s}.0`;
};
const tuple = (xs: readonly number[]): string => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`);
const sizeArg = (h: number, w: number): string => (h === w ? String(h) : `(${h}, ${w})`);
const chw = (s: readonly number[]): string =>
  s.length === 3 ? `[${s[2]}, ${s[0]}, ${s[1]}]` : `[${s.join(', ')}]`;

function activationModule(a: Activation, alpha: number): string | null {
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

/** Resolves a model file's architecture with the engine's own shape inference. */
export function resolveArchitecture(arch: ArchitectureJson): {
  resolved: ResolvedModel;
  implicitFlatten: boolean;
} {
  if (arch === null || typeof arch !== 'object' || !Array.isArray(arch.layers) || arch.layers.length === 0)
    throw new ConfigError('The model file has no architecture.layers; it is not a webgpu-trainer model.');
  const first = arch.layers[0];
  // A dense-only network over an image (the version 1 format) reads the image as a flat NHWC vector.
  const firstIsDense = (first.type ?? 'dense') === 'dense';
  const implicitFlatten = firstIsDense && Array.isArray(arch.inputShape) && arch.inputShape.length === 3;
  const spec: ModelSpec = firstIsDense
    ? { inputSize: arch.inputSize, layers: arch.layers, loss: arch.loss }
    : { inputShape: arch.inputShape, layers: arch.layers, loss: arch.loss };
  return { resolved: resolveModel(spec), implicitFlatten };
}

/**
 * The [H, W, C] map whose flatten a flat layer's input features come from (through dropout and
 * batch norm, which keep the order), or null. Model files store such a dense layer's columns and
 * such a batch norm's vectors in PyTorch's NCHW order (src/io/torch-layout.ts); the engine's
 * buffers keep NHWC.
 */
function flattenedFrom(layers: readonly ResolvedLayer[], i: number): number[] | null {
  for (let j = i - 1; j >= 0; j--) {
    const l = layers[j];
    if (l.type === 'dropout' || (l.type === 'batchnorm' && l.inShape.length === 1)) continue;
    return l.type === 'flatten' && l.inShape.length === 3 ? l.inShape : null;
  }
  return null;
}

export function torchPlan(arch: ArchitectureJson): TorchPlan {
  const { resolved, implicitFlatten } = resolveArchitecture(arch);
  const modules: TorchModule[] = [];
  const stateNames: [string, string][] = [];
  const engineSlots: EngineSlot[] = [];
  const L = resolved.layers.length;
  const outputActivation = arch.loss === 'softmax-ce' ? 'softmax' : arch.loss === 'bce' ? 'sigmoid' : null;
  let needsFlattenNhwc = false;
  const shape3 = arch.inputShape.length === 3 ? arch.inputShape : null;
  const torchInputShape = shape3 ? [shape3[2], shape3[0], shape3[1]] : [arch.inputSize];
  const add = (code: string, comment?: string): number => {
    modules.push(comment === undefined ? { code } : { code, comment });
    return modules.length - 1;
  };
  if (implicitFlatten && shape3) {
    const flat = shape3[2] === 1 ? 'nn.Flatten()' : 'FlattenNHWC()';
    needsFlattenNhwc = shape3[2] !== 1;
    add(flat, `input ${chw(shape3)} -> [${arch.inputSize}] in the engine's (h, w, c) order`);
  }
  const slot = (
    name: string,
    offset: number,
    engineShape: number[],
    permute: number[] | null,
    fileShape: number[],
  ) => engineSlots.push({ name, offset, engineShape, permute, fileShape });

  for (const l of resolved.layers) {
    const i = l.index;
    const comment = `layers.${i}: ${describeLayer(l)}  ${chw(l.inShape)} -> ${chw(l.outShape)}`;
    const activation = (): void => {
      const isOutput = i === L - 1 && l.activation === outputActivation;
      const act = activationModule(l.activation, l.alpha);
      if (act && !isOutput) add(act);
    };
    switch (l.type) {
      case 'dense': {
        const p = l.param!;
        const [units, fanIn] = p.shape;
        const at = add(`nn.Linear(${fanIn}, ${units})`, comment);
        stateNames.push([`layers.${i}.weight`, `${at}.weight`], [`layers.${i}.bias`, `${at}.bias`]);
        const map = flattenedFrom(resolved.layers, i);
        if (map) slot(`layers.${i}.weight`, p.W.offset, [units, ...map], [0, 3, 1, 2], [units, fanIn]);
        else slot(`layers.${i}.weight`, p.W.offset, [units, fanIn], null, [units, fanIn]);
        slot(`layers.${i}.bias`, p.b.offset, [units], null, [units]);
        activation();
        break;
      }
      case 'conv2d': {
        const c = l.conv!;
        const p = l.param!;
        const bias = p.b.length > 0;
        const symmetric = c.padTop === c.padBottom && c.padLeft === c.padRight;
        let at: number;
        const args = (pad: string) =>
          `nn.Conv2d(${c.C}, ${c.F}, kernel_size=${sizeArg(c.KH, c.KW)}, stride=${sizeArg(c.SH, c.SW)}, padding=${pad}${bias ? '' : ', bias=False'})`;
        if (symmetric) {
          at = add(args(sizeArg(c.padTop, c.padLeft)), comment);
        } else {
          add(`nn.ZeroPad2d(${tuple([c.padLeft, c.padRight, c.padTop, c.padBottom])})`, comment);
          at = add(args('0'));
        }
        stateNames.push([`layers.${i}.weight`, `${at}.weight`]);
        slot(`layers.${i}.weight`, p.W.offset, [c.F, c.KH, c.KW, c.C], [0, 3, 1, 2], [c.F, c.C, c.KH, c.KW]);
        if (bias) {
          stateNames.push([`layers.${i}.bias`, `${at}.bias`]);
          slot(`layers.${i}.bias`, p.b.offset, [c.F], null, [c.F]);
        }
        activation();
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const p = l.pool!;
        const cls = l.type === 'maxpool2d' ? 'nn.MaxPool2d' : 'nn.AvgPool2d';
        add(`${cls}(kernel_size=${sizeArg(p.KH, p.KW)}, stride=${sizeArg(p.SH, p.SW)})`, comment);
        break;
      }
      case 'globalavgpool':
        add('nn.AdaptiveAvgPool2d(1)', comment);
        add('nn.Flatten()');
        break;
      case 'batchnorm': {
        const p = l.param!;
        const C = p.units;
        const cls = l.inShape.length === 3 ? 'nn.BatchNorm2d' : 'nn.BatchNorm1d';
        const at = add(`${cls}(${C}, eps=${num(l.epsilon!)}, momentum=${num(l.momentum!)})`, comment);
        for (const t of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'])
          stateNames.push([`layers.${i}.${t}`, `${at}.${t}`]);
        const map = l.inShape.length === 1 ? flattenedFrom(resolved.layers, i) : null;
        for (const [t, s] of [
          ['weight', p.W],
          ['bias', p.b],
        ] as const) {
          if (map) slot(`layers.${i}.${t}`, s.offset, map, [2, 0, 1], [C]);
          else slot(`layers.${i}.${t}`, s.offset, [C], null, [C]);
        }
        activation();
        break;
      }
      case 'dropout':
        add(`nn.Dropout(p=${num(l.rate!)})`, comment);
        break;
      case 'flatten':
        add('nn.Flatten()', comment);
        break;
    }
  }
  return {
    resolved,
    torchInputShape,
    modules,
    stateNames,
    engineSlots,
    engineParamSize: resolved.paramSize,
    outputActivation,
    needsFlattenNhwc,
  };
}

/** The body of build_model(): the nn.Sequential with one comment per engine layer. */
export function sequentialSource(plan: TorchPlan): string {
  const lines = ['    return nn.Sequential('];
  for (const m of plan.modules) {
    if (m.comment !== undefined) lines.push(`        # ${m.comment}`);
    lines.push(`        ${m.code},`);
  }
  lines.push('    )');
  return lines.join('\n');
}

const LOSS_MODULES: Record<LossName, string> = {
  'softmax-ce': 'nn.CrossEntropyLoss()',
  bce: 'nn.BCEWithLogitsLoss()',
  mse: 'nn.MSELoss()',
};

/** The whole model.py: readable, and what train.py imports. */
export function modelPySource(plan: TorchPlan, arch: ArchitectureJson, sourceName: string): string {
  const pyList = (rows: string[]) =>
    rows.length === 0 ? '[]' : `[\n${rows.map((r) => `    ${r},\n`).join('')}]`;
  const flattenClass = plan.needsFlattenNhwc
    ? [
        '',
        '',
        'class FlattenNHWC(nn.Module):',
        '    """Flattens NCHW images in (h, w, c) order: the engine\'s layout, which the first dense layer reads."""',
        '',
        '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
        '        return x.permute(0, 2, 3, 1).flatten(1)',
      ]
    : [];
  const outputDoc =
    plan.outputActivation === null
      ? 'the network output itself (the loss is MSE on it)'
      : `logits (the final ${plan.outputActivation} is in the loss and in probabilities())`;
  const inputDoc =
    plan.torchInputShape.length === 3 ? 'float images [N, C, H, W] (NCHW)' : 'float features [N, F]';
  return [
    `# Generated by \`webgpu-trainer export --torch\` from ${sourceName}: the engine's network as`,
    `# PyTorch modules. Input: ${inputDoc}, normalised as in run.json.`,
    `# Output: ${outputDoc}.`,
    '',
    'import torch',
    'from torch import nn',
    '',
    `INPUT_SHAPE = ${tuple(plan.torchInputShape)}  # per sample, as the model takes it`,
    `LOSS = ${JSON.stringify(arch.loss)}`,
    ...flattenClass,
    '',
    '',
    'def build_model() -> nn.Sequential:',
    sequentialSource(plan),
    '',
    '',
    'def loss_function() -> nn.Module:',
    `    return ${LOSS_MODULES[arch.loss]}`,
    '',
    '',
    'def probabilities(output: torch.Tensor) -> torch.Tensor:',
    plan.outputActivation === 'softmax'
      ? '    return torch.softmax(output, dim=1)'
      : plan.outputActivation === 'sigmoid'
        ? '    return torch.sigmoid(output)'
        : '    return output',
    '',
    '',
    "# Model file tensor name -> build_model()'s state_dict name.",
    `STATE_NAMES = {\n${plan.stateNames.map(([f, t]) => `    ${JSON.stringify(f)}: ${JSON.stringify(t)},\n`).join('')}}`,
    '',
    "# The engine's flat parameter layout, which a checkpoint's optimizer moments (optim.m, optim.v)",
    '# follow: (file name, offset, shape in the engine, permutation to the file layout or None).',
    `ENGINE_PARAM_SIZE = ${plan.engineParamSize}`,
    `ENGINE_SLOTS = ${pyList(
      plan.engineSlots.map(
        (s) =>
          `(${JSON.stringify(s.name)}, ${s.offset}, ${tuple(s.engineShape)}, ${s.permute ? tuple(s.permute) : 'None'})`,
      ),
    )}`,
    '',
  ].join('\n');
}
