// torchvision's ResNets and MobileNetV2 as engine graphs, layer for layer, each layer named by its
// torchvision module path, so that a state dict's `<module>.<param>` names one layer's tensor
// (src/io/torchvision-import.ts maps them). The maths follows torchvision 0.14:
//
//   resnet18/34   conv1 7x7/2 pad 3 (64, no bias) -> bn1 relu -> maxpool 3x3/2 pad 1 -> layer1..4 of
//                 BasicBlocks ([2,2,2,2] / [3,4,6,3]; 64, 128, 256, 512 filters; the first block of
//                 layers 2-4 has stride 2) -> avgpool (global) -> fc.
//                 BasicBlock: conv1 3x3/s pad 1 -> bn1 relu -> conv2 3x3 pad 1 -> bn2, plus the input
//                 (through downsample.0 1x1/s conv + downsample.1 bn when the stride or width
//                 changes), then relu.
//   resnet50      the same with Bottlenecks ([3,4,6,3], expansion 4, stride on the 3x3: "v1.5"):
//                 conv1 1x1 -> bn1 relu -> conv2 3x3/s pad 1 -> bn2 relu -> conv3 1x1 (4x) -> bn3, add,
//                 relu.
//   mobilenet_v2  features.0: conv 3x3/2 pad 1 (32) + bn + relu6; features.1-17: inverted residuals
//                 (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2)
//                 (6,320,1,1); features.18: conv 1x1 (1280) + bn + relu6; global average pool;
//                 classifier.0 dropout 0.2, classifier.1 linear. An inverted residual is conv.0 (1x1
//                 expand to t*C + bn + relu6, absent when t = 1), then 3x3/s depthwise + bn + relu6,
//                 then a 1x1 projection conv and its bn, added to the input when s = 1 and C is kept.
//
// Every conv is bias-free and followed by batch norm (eps 1e-5, momentum 0.1: the engine's and
// PyTorch's defaults). The engine fuses each bn's activation (relu, relu6) and each add's relu.

import { ConfigError } from '../errors.js';
import type { Activation } from './activations.js';
import type { LayerSpec, ModelSpec } from './layer-types.js';

export const TORCHVISION_ARCHS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2'] as const;
export type TorchvisionArch = (typeof TORCHVISION_ARCHS)[number];

/** ImageNet's per-channel mean and std in [0, 1] units, as torchvision's weights expect their input. */
export const IMAGENET_NORMALIZATION = {
  kind: 'standardize',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
} as const;

/** The input size the architectures are trained at; they run at any size from MIN_SIDE up. */
export const DEFAULT_SIDE = 224;
export const MIN_SIDE = 32;

/** The name of the classifier layer (the head that fine-tuning replaces). */
export function headName(arch: TorchvisionArch): string {
  return arch === 'mobilenet_v2' ? 'classifier.1' : 'fc';
}

export function isTorchvisionArch(s: string): s is TorchvisionArch {
  return (TORCHVISION_ARCHS as readonly string[]).includes(s);
}

class Graph {
  readonly layers: LayerSpec[] = [];

  /** conv (no bias) `conv` -> batch norm `bn` with act; returns the bn's name. */
  convBn(
    conv: string,
    bn: string,
    from: string,
    f: number,
    k: number,
    s: number,
    act: Activation,
    groups = 1,
  ): string {
    const spec: LayerSpec = {
      type: 'conv2d',
      name: conv,
      inputs: from,
      filters: f,
      kernelSize: k,
      stride: s,
      padding: (k - 1) / 2,
      bias: false,
    };
    if (groups > 1) spec.groups = groups;
    this.layers.push(spec, { type: 'batchnorm', name: bn, activation: act });
    return bn;
  }

  add(name: string, a: string, b: string, act: Activation): string {
    this.layers.push({ type: 'add', name, inputs: [a, b], activation: act });
    return name;
  }
}

const RESNET_BLOCKS: Record<'resnet18' | 'resnet34' | 'resnet50', number[]> = {
  resnet18: [2, 2, 2, 2],
  resnet34: [3, 4, 6, 3],
  resnet50: [3, 4, 6, 3],
};

function resnetBody(arch: 'resnet18' | 'resnet34' | 'resnet50'): { layers: LayerSpec[]; features: number } {
  const g = new Graph();
  const bottleneck = arch === 'resnet50';
  const expansion = bottleneck ? 4 : 1;
  let x = g.convBn('conv1', 'bn1', 'input', 64, 7, 2, 'relu');
  g.layers.push({
    type: 'maxpool2d',
    name: 'maxpool',
    inputs: x,
    size: 3,
    stride: 2,
    padding: 1,
  });
  x = 'maxpool';
  let width = 64;
  RESNET_BLOCKS[arch].forEach((blocks, stage) => {
    const planes = 64 << stage;
    for (let b = 0; b < blocks; b++) {
      const p = `layer${stage + 1}.${b}`;
      const s = stage > 0 && b === 0 ? 2 : 1;
      const out = planes * expansion;
      let y: string;
      if (bottleneck) {
        y = g.convBn(`${p}.conv1`, `${p}.bn1`, x, planes, 1, 1, 'relu');
        y = g.convBn(`${p}.conv2`, `${p}.bn2`, y, planes, 3, s, 'relu');
        y = g.convBn(`${p}.conv3`, `${p}.bn3`, y, out, 1, 1, 'identity');
      } else {
        y = g.convBn(`${p}.conv1`, `${p}.bn1`, x, planes, 3, s, 'relu');
        y = g.convBn(`${p}.conv2`, `${p}.bn2`, y, planes, 3, 1, 'identity');
      }
      const skip =
        s !== 1 || width !== out
          ? g.convBn(`${p}.downsample.0`, `${p}.downsample.1`, x, out, 1, s, 'identity')
          : x;
      x = g.add(`${p}.add`, y, skip, 'relu');
      width = out;
    }
  });
  g.layers.push({ type: 'globalavgpool', name: 'avgpool', inputs: x });
  return { layers: g.layers, features: width };
}

const MOBILENET_SETTINGS: [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function mobilenetBody(): { layers: LayerSpec[]; features: number } {
  const g = new Graph();
  let x = g.convBn('features.0.0', 'features.0.1', 'input', 32, 3, 2, 'relu6');
  let width = 32;
  let index = 1;
  for (const [t, c, n, s] of MOBILENET_SETTINGS) {
    for (let i = 0; i < n; i++) {
      const p = `features.${index++}.conv`;
      const stride = i === 0 ? s : 1;
      const hidden = width * t;
      let j = 0;
      let y = x;
      if (t !== 1) {
        y = g.convBn(`${p}.${j}.0`, `${p}.${j}.1`, y, hidden, 1, 1, 'relu6');
        j++;
      }
      y = g.convBn(`${p}.${j}.0`, `${p}.${j}.1`, y, hidden, 3, stride, 'relu6', hidden);
      y = g.convBn(`${p}.${j + 1}`, `${p}.${j + 2}`, y, c, 1, 1, 'identity');
      x = stride === 1 && width === c ? g.add(`${p.slice(0, -'.conv'.length)}.add`, y, x, 'identity') : y;
      width = c;
    }
  }
  x = g.convBn(`features.${index}.0`, `features.${index}.1`, x, 1280, 1, 1, 'relu6');
  g.layers.push(
    { type: 'globalavgpool', name: 'avgpool', inputs: x },
    { type: 'dropout', name: 'classifier.0', rate: 0.2 },
  );
  return { layers: g.layers, features: 1280 };
}

/** The body of an architecture (every layer up to the classifier) and its feature width. */
export function torchvisionBody(arch: TorchvisionArch): { layers: LayerSpec[]; features: number } {
  return arch === 'mobilenet_v2' ? mobilenetBody() : resnetBody(arch);
}

/**
 * The whole network for [h, w, 3] images and `classes` outputs (softmax cross-entropy, as
 * torchvision's classifiers are trained). Throws ConfigError for images below MIN_SIDE.
 */
export function torchvisionSpec(
  arch: TorchvisionArch,
  shape: readonly [number, number, number],
  classes: number,
): ModelSpec {
  const [h, w, c] = shape;
  if (c !== 3)
    throw new ConfigError(`${arch} takes RGB images (3 channels), got ${c}; convert the images to RGB.`);
  if (Math.min(h, w) < MIN_SIDE) {
    throw new ConfigError(
      `${arch} needs images of at least ${MIN_SIDE}x${MIN_SIDE} (five stride-2 stages), got ${h}x${w}; use a larger --image-size.`,
    );
  }
  const { layers } = torchvisionBody(arch);
  const head: LayerSpec = { type: 'dense', name: headName(arch), units: classes, activation: 'softmax' };
  return { inputShape: [h, w, c], layers: [...layers, head], loss: 'softmax-ce' };
}
