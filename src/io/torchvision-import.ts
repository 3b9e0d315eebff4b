// torchvision (and timm) state dicts -> engine model files. The architectures are engine graphs
// whose layer names are torchvision's module paths (src/nn/torchvision.ts), so the state dict's
// `<module>.<param>` is the model file's `layers.{i}.<param>` for the layer named <module>. Both
// hold PyTorch's layouts (conv OIHW, linear [out, in]): tensors are renamed, checked and written
// as they are, never converted, so importing holds the file's bytes plus the written file and no
// third copy of the weights. Checks follow torch's load_state_dict: every missing and unexpected
// key is listed, a shape mismatch names the tensor and both shapes, and nothing is written unless
// every tensor fits. num_batches_tracked may be absent (state dicts from before PyTorch 0.4.1).
//
// timm's resnets use torchvision's names; timm's mobilenetv2_100 is the same network under other
// names (conv_stem, blocks.{stage}.{block}.conv_pw/conv_dw/conv_pwl, conv_head, classifier), which
// timmMobilenetNames maps back. Browser-safe: no file system here.

import { ModelFormatError } from '../errors.js';
import { resolveModel } from '../nn/layers.js';
import {
  DEFAULT_SIDE,
  headName,
  IMAGENET_NORMALIZATION,
  TORCHVISION_ARCHS,
  torchvisionSpec,
  type TorchvisionArch,
} from '../nn/torchvision.js';
import type { JsonObject } from './json.js';
import { MODEL_METADATA_KEY, saveModelTensors } from './modelfile.js';
import { isLegacyTorchFile } from './pth.js';
import { decodeSafetensors } from './safetensors.js';
import { stateDictFormat } from './state-dict.js';
import type { Tensor } from './safetensors.js';
import type { StateDict, StateDictTensor } from './state-dict-tensor.js';
import { torchTensorShapes } from './torch-layout.js';

export interface TorchvisionImportOptions {
  /** The file's name, for messages and the model's provenance. */
  fileName: string;
  /** Default: detected from the state dict's names (detectArch). */
  arch?: TorchvisionArch;
  /** [height, width] the model file is built for; default 224x224. */
  imageSize?: [number, number];
  /** One per output; default "0", "1", ... */
  classNames?: string[];
  /** Hex SHA-256 of the file, recorded in the model's provenance. */
  sha256?: string;
  /** ISO time for the file (default now): pass one for byte-identical output. */
  createdAt?: string;
}

export interface TorchvisionImport {
  arch: TorchvisionArch;
  classes: number;
  /** The engine model file's bytes. */
  bytes: Uint8Array;
  /** Whether the names were timm's. */
  timm: boolean;
}

const LIST_AT_MOST = 12;

function listed(keys: readonly string[]): string {
  const shown = keys.slice(0, LIST_AT_MOST).join(', ');
  return keys.length > LIST_AT_MOST ? `${shown} and ${keys.length - LIST_AT_MOST} more` : shown;
}

/** The architecture a state dict's names belong to, or undefined. */
export function detectArch(sd: StateDict): TorchvisionArch | undefined {
  if (sd.has('features.18.0.weight') || sd.has('conv_head.weight')) return 'mobilenet_v2';
  if (!sd.has('layer4.0.conv1.weight')) return undefined;
  if (sd.has('layer1.0.conv3.weight'))
    return sd.has('layer3.5.conv1.weight') && !sd.has('layer3.6.conv1.weight') ? 'resnet50' : undefined;
  if (sd.has('layer3.5.conv1.weight')) return sd.has('layer3.6.conv1.weight') ? undefined : 'resnet34';
  return sd.has('layer3.2.conv1.weight') ? undefined : 'resnet18';
}

/** timm's mobilenetv2_100 names -> torchvision's mobilenet_v2 names (the same tensors). */
export function timmMobilenetNames(sd: StateDict): StateDict {
  const stages = [1, 2, 3, 4, 3, 3, 1];
  const first = stages.map((_, s) => 1 + stages.slice(0, s).reduce((a, b) => a + b, 0));
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    let name = key
      .replace(/^conv_stem\./, 'features.0.0.')
      .replace(/^bn1\./, 'features.0.1.')
      .replace(/^conv_head\./, 'features.18.0.')
      .replace(/^bn2\./, 'features.18.1.')
      .replace(/^classifier\./, 'classifier.1.');
    const m = /^blocks\.(\d+)\.(\d+)\.(\w+)\.(.*)$/.exec(key);
    if (m && Number(m[1]) < stages.length) {
      const [stage, block, part, rest] = [Number(m[1]), Number(m[2]), m[3], m[4]];
      const parts: Record<string, string> =
        stage === 0
          ? { conv_dw: '0.0', bn1: '0.1', conv_pw: '1', bn2: '2' }
          : { conv_pw: '0.0', bn1: '0.1', conv_dw: '1.0', bn2: '1.1', conv_pwl: '2', bn3: '3' };
      if (parts[part]) name = `features.${first[stage] + block}.conv.${parts[part]}.${rest}`;
    }
    out.set(name, t);
  }
  return out;
}

/**
 * Whether `bytes` are a state dict to import (a torch.save zip, a legacy pickle, or safetensors
 * without this engine's metadata) rather than an engine model file.
 */
export function isStateDictFile(bytes: Uint8Array): boolean {
  const format = stateDictFormat(bytes);
  if (format === 'pth' || isLegacyTorchFile(bytes)) return true;
  if (format !== 'safetensors') return false;
  try {
    return decodeSafetensors(bytes, 'probe').metadata[MODEL_METADATA_KEY] === undefined;
  } catch {
    return false;
  }
}

const isTimmMobilenet = (sd: StateDict) => sd.has('conv_stem.weight') && sd.has('blocks.0.0.conv_dw.weight');

function asTensor(t: StateDictTensor): Tensor {
  return { dtype: t.dtype, shape: t.shape, data: t.data } as Tensor;
}

/**
 * Builds an engine model file from a torchvision state dict. Throws ModelFormatError naming the
 * file with every missing and unexpected key and every shape mismatch (nothing is returned then).
 */
export function importTorchvision(input: StateDict, o: TorchvisionImportOptions): TorchvisionImport {
  const fail = (m: string): never => {
    throw new ModelFormatError(`${o.fileName}: ${m}`, o.fileName);
  };
  const timm = isTimmMobilenet(input);
  const sd = timm ? timmMobilenetNames(input) : input;
  const arch = o.arch ?? detectArch(sd);
  if (arch === undefined)
    return fail(
      `its names are not those of a torchvision ${TORCHVISION_ARCHS.join(', ')} state dict; give --arch, or check the file is a state dict of one of these`,
    );
  // The classifier gives the class count; without one, the key listing below says what is missing.
  const head = sd.get(`${headName(arch)}.weight`);
  const classes = head && head.shape.length === 2 && head.shape[0] > 1 ? head.shape[0] : 2;
  const [h, w] = o.imageSize ?? [DEFAULT_SIDE, DEFAULT_SIDE];
  const spec = torchvisionSpec(arch, [h, w, 3], classes);
  const model = resolveModel(spec);

  const tensors: Record<string, Tensor> = {};
  const missing: string[] = [];
  const mismatched: string[] = [];
  const used = new Set<string>();
  for (const want of torchTensorShapes(model)) {
    const layer = Number(want.name.split('.')[1]);
    const key = `${model.layers[layer].name}.${want.name.split('.').slice(2).join('.')}`;
    const t = sd.get(key);
    if (!t) {
      if (want.dtype === 'I64') tensors[want.name] = { dtype: 'I64', shape: [], data: BigInt64Array.of(0n) };
      else missing.push(key);
      continue;
    }
    used.add(key);
    const sameShape = t.shape.length === want.shape.length && t.shape.every((d, k) => d === want.shape[k]);
    const count = t.data.length === 1 && want.shape.length === 0;
    if (t.dtype !== want.dtype || !(sameShape || (want.dtype === 'I64' && count))) {
      mismatched.push(
        `${key} is ${t.dtype} [${t.shape.join(', ')}] in the file, ${arch} needs ${want.dtype} [${want.shape.join(', ')}]`,
      );
      continue;
    }
    tensors[want.name] =
      want.dtype === 'I64' ? ({ dtype: 'I64', shape: [], data: t.data } as Tensor) : asTensor(t);
  }
  const unexpected = [...sd.keys()].filter((k) => !used.has(k));
  const problems = [
    missing.length > 0 ? `missing key(s): ${listed(missing)}` : '',
    unexpected.length > 0 ? `unexpected key(s): ${listed(unexpected)}` : '',
    mismatched.length > 0 ? `size mismatch: ${listed(mismatched)}` : '',
  ].filter((p) => p !== '');
  if (problems.length > 0) fail(`does not load into ${arch}: ${problems.join('; ')}`);

  const classNames = o.classNames ?? Array.from({ length: classes }, (_, i) => String(i));
  if (classNames.length !== classes)
    fail(`the file's classifier has ${classes} outputs but ${classNames.length} class names were given`);
  const source: JsonObject = { format: timm ? 'timm' : 'torchvision', arch, file: o.fileName };
  if (o.sha256 !== undefined) source.sha256 = o.sha256;
  const bytes = saveModelTensors(
    {
      architecture: { inputShape: [h, w, 3], inputSize: h * w * 3, layers: spec.layers, loss: spec.loss },
      normalization: {
        ...IMAGENET_NORMALIZATION,
        mean: [...IMAGENET_NORMALIZATION.mean],
        std: [...IMAGENET_NORMALIZATION.std],
      },
      classNames,
      training: { source },
      createdAt: o.createdAt,
    },
    tensors,
  );
  return { arch, classes, bytes, timm };
}
