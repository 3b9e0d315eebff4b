// The PyTorch twin of a model file's architecture: the module that model.py builds (an
// nn.Sequential for a straight stack, the Net of src/export/torch-graph.ts for a graph), the
// model file's tensor names -> that module's state_dict names, and where each parameter sits in
// the engine's flat optimizer vectors (optim.m / optim.v of a checkpoint). Each layer's mapping
// is in src/export/torch-layers.ts.
//
// Layouts (see src/nn/layers.ts for the engine's side):
//   input        the generated model takes NCHW float images [N, C, H, W] (or [N, F] for a flat
//                inputShape [F]); train.py permutes the engine's NHWC bytes once per batch.
//   dense        nn.Linear(fanIn, units); file weight [units, fanIn] is nn.Linear's own layout.
//                A dense layer that reads a flatten of an [H, W, C] map holds its columns in
//                NCHW order in the file (nn.Flatten on NCHW tensors); in the engine's flat
//                buffer they are in NHWC order, so its optimizer moments are [U, H, W, C] there
//                and permute (0, 3, 1, 2) to reach the file's [U, C*H*W]. A batch norm or layer
//                norm between that flatten and the dense layer is stored in NCHW order likewise
//                (engine [H, W, C], permute (2, 0, 1)); see src/io/torch-layout.ts, which follows
//                each layer's first input through a graph.
//                A dense-only model over an image input (version 1 files) has no flatten layer:
//                its first layer reads the image in NHWC order, which model.py reproduces with
//                FlattenNHWC (plain nn.Flatten when C = 1, where both orders agree).
//   conv2d       nn.Conv2d(groups=G), weight [F, C/G, KH, KW] in the file; [F, KH, KW, C/G] in
//                the engine's buffer (permute (0, 3, 1, 2)). 'same' padding with an odd total puts
//                the extra pixel bottom/right (TensorFlow's rule), which Conv2d cannot express:
//                that case becomes nn.ZeroPad2d((left, right, top, bottom)) + Conv2d(padding=0)
//                (F.pad in a graph's forward).
//   pools        nn.MaxPool2d / nn.AvgPool2d with their padding; globalavgpool is
//                nn.AdaptiveAvgPool2d(1) + nn.Flatten() -> [N, C].
//   batchnorm    nn.BatchNorm2d on maps, nn.BatchNorm1d on flat features; same momentum
//                convention (PyTorch's) and eps. weight/bias are optimizer parameters; running
//                statistics are buffers.
//   layernorm    nn.LayerNorm(C) on flat features; on maps LayerNorm2d, an nn.LayerNorm(C) that
//                model.py applies to the channels-last view (permute (0, 2, 3, 1) and back).
//   dropout      nn.Dropout (element-wise, like the engine's mask; not Dropout2d).
//   add, concat  graph joins, in forward: the sum of the inputs, torch.cat(dim=1).
//   activations  separate modules after their layer (function calls in a graph's forward). The
//                last layer's softmax (softmax-ce) or sigmoid (bce) is left to the loss, which
//                works on logits as the engine does.

import { ConfigError } from '../errors.js';
import { featureOrders, type FeatureBlock } from '../io/torch-layout.js';
import { resolveModel, type LayerSpec, type ModelSpec, type ResolvedModel } from '../nn/layers.js';
import type { LossName } from '../nn/losses.js';
import { graphModules, netClassSource } from './torch-graph.js';
import type { TorchModule } from './torch-layers.js';
import {
  activationModule,
  chw,
  layerSlots,
  layerText,
  layerTorch,
  tuple,
  type EngineSlot,
  type LayerTorch,
} from './torch-layers.js';

export type { EngineSlot } from './torch-layers.js';

/** The architecture block of a model file, as JSON (version 1 layers have no `type`). */
export interface ArchitectureJson {
  inputShape: number[];
  inputSize: number;
  layers: LayerSpec[];
  loss: LossName;
}

export type { TorchModule } from './torch-layers.js';

export interface TorchPlan {
  resolved: ResolvedModel;
  /** Model input without the batch axis: [C, H, W] or [F]. */
  torchInputShape: number[];
  /** The nn.Sequential's modules; for a graph, the ModuleList's, one per layer of the list. */
  modules: TorchModule[];
  /** Model file tensor name -> state_dict name of the generated module. */
  stateNames: [string, string][];
  engineSlots: EngineSlot[];
  /** Floats in the engine's flat parameter buffer, padding included. */
  engineParamSize: number;
  /** Activation the loss applies (softmax / sigmoid) and model.py leaves out, if any. */
  outputActivation: 'softmax' | 'sigmoid' | null;
  /** Whether FlattenNHWC is used (model.py then defines it). */
  needsFlattenNhwc: boolean;
  /** Whether LayerNorm2d is used (model.py then defines it). */
  needsLayerNorm2d: boolean;
  /** A graph's forward() body (model.py then defines Net); null for a straight stack (nn.Sequential). */
  forward: string[] | null;
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

/** A straight stack's nn.Sequential: each layer's padding, module(s) and activation in turn. */
function sequentialModules(
  resolved: ResolvedModel,
  forms: readonly LayerTorch[],
  modules: TorchModule[],
): [string, string][] {
  const stateNames: [string, string][] = [];
  const add = (code: string, comment?: string): number => {
    modules.push(comment === undefined ? { code } : { code, comment });
    return modules.length - 1;
  };
  resolved.layers.forEach((l, i) => {
    const t = forms[i];
    const comment = `layers.${i}: ${layerText(l)}`;
    if (t.pad) add(`nn.ZeroPad2d(${tuple(t.pad)})`, comment);
    const at = add(t.main!, t.pad ? undefined : comment);
    for (const m of t.after) add(m);
    const act = activationModule(t.activation, t.alpha);
    if (act) add(act);
    for (const n of t.tensors) stateNames.push([`layers.${i}.${n}`, `${at}.${n}`]);
  });
  return stateNames;
}

export function torchPlan(arch: ArchitectureJson): TorchPlan {
  const { resolved, implicitFlatten } = resolveArchitecture(arch);
  const L = resolved.layers.length;
  const outputActivation = arch.loss === 'softmax-ce' ? 'softmax' : arch.loss === 'bce' ? 'sigmoid' : null;
  const shape3 = arch.inputShape.length === 3 ? arch.inputShape : null;
  const torchInputShape = shape3 ? [shape3[2], shape3[0], shape3[1]] : [arch.inputSize];
  const isGraph = resolved.isGraph || resolved.layers.some((l) => l.type === 'add' || l.type === 'concat');
  const forms = resolved.layers.map((l, i) =>
    layerTorch(l, i === L - 1 && l.activation === outputActivation),
  );
  const orders = featureOrders(resolved);
  const engineSlots = resolved.layers.flatMap((l, i) => layerSlots(l, orders[i]));
  const modules: TorchModule[] = [];
  const flattenInput = implicitFlatten && shape3 !== null;
  const needsFlattenNhwc = flattenInput && shape3[2] !== 1;
  let stateNames: [string, string][];
  let forward: string[] | null = null;
  if (isGraph) {
    const flat = flattenInput
      ? needsFlattenNhwc
        ? 'x.permute(0, 2, 3, 1).flatten(1)'
        : 'x.flatten(1)'
      : null;
    ({ stateNames, forward } = graphModules(resolved, forms, modules, flat));
  } else {
    if (flattenInput)
      modules.push({
        code: shape3[2] === 1 ? 'nn.Flatten()' : 'FlattenNHWC()',
        comment: `input ${chw(shape3)} -> [${arch.inputSize}] in the engine's (h, w, c) order`,
      });
    stateNames = sequentialModules(resolved, forms, modules);
  }
  return {
    resolved,
    torchInputShape,
    modules,
    stateNames,
    engineSlots,
    engineParamSize: resolved.paramSize,
    outputActivation,
    needsFlattenNhwc: needsFlattenNhwc && !isGraph,
    needsLayerNorm2d: forms.some((t) => t.layerNorm2d),
    forward,
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

const FLATTEN_NHWC = [
  'class FlattenNHWC(nn.Module):',
  '    """Flattens NCHW images in (h, w, c) order: the engine\'s layout, which the first dense layer reads."""',
  '',
  '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
  '        return x.permute(0, 2, 3, 1).flatten(1)',
];

const LAYER_NORM_2D = [
  'class LayerNorm2d(nn.LayerNorm):',
  '    """nn.LayerNorm over the channels of NCHW maps: the engine normalises the last axis of its NHWC maps."""',
  '',
  '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
  '        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)',
];

/** ((size, (h, w, c)), (size, None), ...): a slot's feature blocks for train.py. */
const blocksTuple = (blocks: readonly FeatureBlock[]): string =>
  `(${blocks.map((b) => `(${b.size}, ${b.map ? tuple(b.map) : 'None'})`).join(', ')}${blocks.length === 1 ? ',' : ''})`;

/** The whole model.py: readable, and what train.py imports. */
export function modelPySource(plan: TorchPlan, arch: ArchitectureJson, sourceName: string): string {
  const helpers = [
    ...(plan.needsFlattenNhwc ? FLATTEN_NHWC : []),
    ...(plan.needsLayerNorm2d ? LAYER_NORM_2D : []),
  ].flatMap((line) => (line.startsWith('class ') ? ['', '', line] : [line]));
  const build = plan.forward
    ? ['def build_model() -> nn.Module:', '    return Net()']
    : ['def build_model() -> nn.Sequential:', sequentialSource(plan)];
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
    ...(plan.forward ? ['import torch.nn.functional as F'] : []),
    'from torch import nn',
    '',
    `INPUT_SHAPE = ${tuple(plan.torchInputShape)}  # per sample, as the model takes it`,
    `LOSS = ${JSON.stringify(arch.loss)}`,
    ...helpers,
    ...(plan.forward ? ['', '', ...netClassSource(plan.modules, plan.forward)] : []),
    '',
    '',
    ...build,
    '',
    '',
    ...modelPyTail(plan, arch),
  ].join('\n');
}

/**
 * What every model.py ends with, whichever module it builds: the loss, probabilities(), the file's
 * tensor names -> build_model()'s state_dict names, and the engine's flat parameter layout.
 */
export function modelPyTail(plan: TorchPlan, arch: ArchitectureJson): string[] {
  const pyList = (rows: string[]) =>
    rows.length === 0 ? '[]' : `[\n${rows.map((r) => `    ${r},\n`).join('')}]`;
  return [
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
    ...(plan.engineSlots.some((s) => s.blocks)
      ? [
          '# A fifth entry, where a concat joined flattened maps with other features: the blocks of the',
          '# last axis, (size, (h, w, c)) for a flattened map and (size, None) for the rest.',
        ]
      : []),
    `ENGINE_PARAM_SIZE = ${plan.engineParamSize}`,
    `ENGINE_SLOTS = ${pyList(
      plan.engineSlots.map(
        (s) =>
          `(${JSON.stringify(s.name)}, ${s.offset}, ${tuple(s.engineShape)}, ${s.permute ? tuple(s.permute) : 'None'}${s.blocks ? `, ${blocksTuple(s.blocks)}` : ''})`,
      ),
    )}`,
    '',
  ];
}
