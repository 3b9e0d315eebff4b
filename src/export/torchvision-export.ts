// `export --torch` of a torchvision network: when the model file is one of torchvision's
// architectures (src/nn/torchvision.ts), model.py builds torchvision's own class,
// `torchvision.models.resnet18(num_classes=N)` etc., and the model file's `layers.{i}.<param>`
// are renamed to `<layer name>.<param>`. The import named every layer by its torchvision module
// path and kept PyTorch's layouts, so that renaming alone gives a state dict torchvision's
// load_state_dict accepts with strict=True: a fine-tuned model goes to PyTorch unchanged, and
// train.py maps the same names back when it writes the engine's file.
//
// Which architecture: the metadata only proposes one (training.source, the source of each file in
// the training.from chain, training.config.arch); the network must then equal
// torchvisionSpec(arch, inputShape, classes) layer for layer, with only the head's units and
// activation free, and the head's activation must be the one the loss applies (softmax for
// softmax-ce, sigmoid for bce), since torchvision's classifier ends in the bare linear layer.
// Anything else (a look-alike, a changed block, an MSE head) is exported as the generic module.

import { isJsonObject, type JsonObject, type JsonValue } from '../io/json.js';
import { isTorchvisionArch, torchvisionSpec, type TorchvisionArch } from '../nn/torchvision.js';
import type { LayerSpec } from '../nn/layers.js';
import { modelPyTail, type ArchitectureJson, type TorchPlan } from './torch-model.js';
import { tuple } from './torch-layers.js';

export interface TorchvisionTarget {
  arch: TorchvisionArch;
  /** The head's outputs: torchvision's num_classes. */
  classes: number;
}

export interface TorchvisionMatch {
  target: TorchvisionTarget | null;
  /** Why the export is or is not torchvision's class, for the README. */
  reason: string;
}

/** The torchvision architectures the metadata names, nearest first, without repeats. */
export function claimedArchs(header: JsonObject): TorchvisionArch[] {
  const out: TorchvisionArch[] = [];
  const claim = (v: JsonValue | undefined) => {
    if (typeof v === 'string' && isTorchvisionArch(v) && !out.includes(v)) out.push(v);
  };
  const training = isJsonObject(header.training) ? header.training : {};
  if (isJsonObject(training.source)) claim(training.source.arch);
  // training.from is {file, sha256, source?, from?}: each earlier file's own provenance.
  let from: JsonValue | undefined = training.from;
  for (let depth = 0; isJsonObject(from) && depth < 32; depth++) {
    if (isJsonObject(from.source)) claim(from.source.arch);
    from = from.from;
  }
  if (isJsonObject(training.config)) claim(training.config.arch);
  return out;
}

/** JSON with sorted keys, so that two specs compare by content, not by key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const withoutHeadFields = (l: LayerSpec): unknown => {
  const { units: _u, activation: _a, ...rest } = l as LayerSpec & { units?: number; activation?: string };
  return rest;
};

/** null when `model` is exactly `arch`'s network but for its head's size, else what differs. */
export function torchvisionMismatch(arch: TorchvisionArch, model: ArchitectureJson): string | null {
  const [h, w, c] = model.inputShape;
  if (model.inputShape.length !== 3) return `its input is [${model.inputShape.join(', ')}], not an image`;
  const layers = model.layers;
  const head = layers[layers.length - 1] as { type?: string; units?: number; activation?: string };
  if (head === undefined || (head.type ?? 'dense') !== 'dense' || typeof head.units !== 'number')
    return 'it does not end in a dense head';
  const want = model.loss === 'softmax-ce' ? 'softmax' : model.loss === 'bce' ? 'sigmoid' : null;
  if (want === null || (head.activation ?? 'identity') !== want)
    return `its head (${head.activation ?? 'identity'}, loss ${model.loss}) is not torchvision's bare linear classifier under softmax-ce or bce`;
  let spec;
  try {
    spec = torchvisionSpec(arch, [h, w, c], head.units);
  } catch (e) {
    return (e as Error).message;
  }
  if (spec.layers.length !== layers.length)
    return `it has ${layers.length} layers, ${arch} has ${spec.layers.length}`;
  const last = layers.length - 1;
  for (let i = 0; i < layers.length; i++) {
    const [a, b] =
      i === last
        ? [withoutHeadFields(layers[i]), withoutHeadFields(spec.layers[i])]
        : [layers[i], spec.layers[i]];
    if (canonical(a) !== canonical(b))
      return `its layers.${i} is ${canonical(layers[i])}, ${arch} has ${canonical(spec.layers[i])} there`;
  }
  return null;
}

/** The torchvision class a model file exports as, checked layer by layer, or null and why not. */
export function torchvisionMatch(header: JsonObject, model: ArchitectureJson): TorchvisionMatch {
  const claims = claimedArchs(header);
  if (claims.length === 0) return { target: null, reason: 'its metadata names no torchvision architecture' };
  const misses: string[] = [];
  for (const arch of claims) {
    const miss = torchvisionMismatch(arch, model);
    const classes = (model.layers[model.layers.length - 1] as { units?: number }).units ?? 0;
    if (miss === null)
      return {
        target: { arch, classes },
        reason: `its network is torchvision's ${arch} layer for layer, with a ${classes}-output head`,
      };
    misses.push(`its metadata names torchvision's ${arch}, but ${miss}`);
  }
  return { target: null, reason: misses.join('; ') };
}

/** The plan with torchvision's state_dict names: `layers.{i}.<param>` -> `<layer i's name>.<param>`. */
export function torchvisionPlan(plan: TorchPlan): TorchPlan {
  const stateNames = plan.stateNames.map(([file]): [string, string] => {
    const [, i, ...param] = file.split('.');
    return [file, `${plan.resolved.layers[Number(i)].name}.${param.join('.')}`];
  });
  return {
    ...plan,
    modules: [],
    forward: null,
    stateNames,
    needsFlattenNhwc: false,
    needsLayerNorm2d: false,
  };
}

const LOAD = [
  'def read_safetensors(path: str) -> dict:',
  '    """The tensors of a safetensors file (F32 and I64, as the engine writes them)."""',
  '    with open(path, "rb") as f:',
  '        data = f.read()',
  '    (n,) = struct.unpack("<Q", data[:8])',
  '    header = json.loads(data[8 : 8 + n])',
  '    header.pop("__metadata__", None)',
  '    dtypes = {"F32": torch.float32, "I64": torch.int64}',
  '    out = {}',
  '    for name, e in header.items():',
  '        begin, end = e["data_offsets"]',
  '        raw = bytearray(data[8 + n + begin : 8 + n + end])',
  '        out[name] = torch.frombuffer(raw, dtype=dtypes[e["dtype"]]).reshape(e["shape"])',
  '    return out',
  '',
  '',
  'def load(path: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "start.safetensors")) -> nn.Module:',
  '    """build_model() with a webgpu-trainer model or checkpoint file\'s weights under torchvision\'s',
  '    names (strict: every tensor of the network, nothing else; optimizer moments are skipped)."""',
  '    tensors = {k: v for k, v in read_safetensors(path).items() if not k.startswith("optim.")}',
  '    unknown = sorted(k for k in tensors if k not in STATE_NAMES)',
  '    if unknown:',
  '        raise KeyError(f"{path}: tensors {unknown} are not in this network; export that file again")',
  '    net = build_model()',
  '    net.load_state_dict({STATE_NAMES[k]: v for k, v in tensors.items()}, strict=True)',
  '    return net',
];

/** model.py for a torchvision network: the class, load(), and the common tail (torch-model.ts). */
export function torchvisionModelPy(
  plan: TorchPlan,
  model: ArchitectureJson,
  target: TorchvisionTarget,
  sourceName: string,
): string {
  const output =
    plan.outputActivation === 'sigmoid'
      ? 'logits (the final sigmoid is in the loss and in probabilities())'
      : 'logits (the final softmax is in the loss and in probabilities())';
  return [
    `# Generated by \`webgpu-trainer export --torch\` from ${sourceName}: torchvision's ${target.arch}`,
    `# (torchvision.models.${target.arch}), checked layer by layer against the file's network. The file's`,
    "# tensors load into it under torchvision's names (STATE_NAMES), with load_state_dict(strict=True):",
    '#     import model; net = model.load("start.safetensors")',
    '# Input: float images [N, 3, H, W] (NCHW), normalised as in run.json (ImageNet mean and std for',
    `# imported weights). Output: ${output}.`,
    '',
    'import json',
    'import os',
    'import struct',
    '',
    'import torch',
    'import torchvision',
    'from torch import nn',
    '',
    `INPUT_SHAPE = ${tuple(plan.torchInputShape)}  # per sample, as the model takes it`,
    `LOSS = ${JSON.stringify(model.loss)}`,
    `TORCHVISION_ARCH = ${JSON.stringify(target.arch)}`,
    `NUM_CLASSES = ${target.classes}`,
    '',
    '',
    'def build_model() -> nn.Module:',
    `    return torchvision.models.${target.arch}(num_classes=NUM_CLASSES)`,
    '',
    '',
    ...LOAD,
    '',
    '',
    ...modelPyTail(plan, model),
  ].join('\n');
}
