// Network presets: from the data's image shape [h, w, c] and class count to the engine's
// ModelSpec. The CLI's --arch names them; a script calls presetSpec or completeStack directly.
//   mlp    hidden dense layers (--layers, --activation) on the flattened pixels (the default)
//   lenet  conv 5x5 8 -> maxpool 2 -> conv 5x5 16 -> maxpool 2 -> dense 120 -> dense 84 -> out
//   cnn    VGG-style blocks [conv 3x3 -> batchnorm relu] -> maxpool 2 with 32, 64, 128 filters
//          (as many blocks as the map size allows, at most 3), global average pooling (or a
//          flatten, below), dropout 0.2, then the output layer. One conv per block: on a CIFAR
//          image that costs 10 MMAC forward against 39 with two, which keeps the CIFAR recipe
//          within an hour on lavapipe's 2 cores. Images of 32 px or less flatten the last map
//          instead of averaging it (on CIFAR a 4x4x128 map: 2,048 inputs to the output layer,
//          20k more weights, no measurable time): for a net this shallow, where in the picture a
//          feature fired matters, and the averaging head underfits CIFAR-10, MNIST and
//          Fashion-MNIST (the measurements are in docs/results.md).
//          Images over 32 pixels a side first pass a stem (conv 3x3 stride 2, 16 filters ->
//          batchnorm relu) and the blocks take 16, 32, 64 filters with two convs each: a 64x64x3
//          image then costs 12 MMAC forward instead of 154 (what makes the cat-vs-non-cat recipe
//          fit on lavapipe), and small sets of large photos overfit less.
//   resnet, mobilenet   residual and inverted-residual graphs (src/nn/preset-graphs.ts).
//   resnet18, resnet34, resnet50, mobilenet_v2   torchvision's networks, layer for layer and with
//          its module names (src/nn/torchvision.ts), for RGB images of at least 32 px: trained
//          from scratch, or the network `import` and `train --from` put pretrained weights in.
// completeStack: a layer stack of the caller's own (the CLI's --model file) on this data. When its
// last layer is not already the output layer the loss needs, one is appended (after a flatten if
// the stack ends in a map).

import { ConfigError } from '../errors.js';
import { resolveModel } from './layers.js';
import type { LayerSpec, ModelSpec } from './layer-types.js';
import type { LossName } from './losses.js';
import { mobilenetLayers, resnetLayers } from './preset-graphs.js';
import { headName, isTorchvisionArch, torchvisionSpec, TORCHVISION_ARCHS } from './torchvision.js';

export const ARCHS = ['mlp', 'lenet', 'cnn', 'resnet', 'mobilenet', ...TORCHVISION_ARCHS] as const;
export type Arch = (typeof ARCHS)[number];

/** The output layer a loss needs for `classes` classes. */
export function outputLayer(loss: LossName, classes: number): LayerSpec {
  return loss === 'bce'
    ? { type: 'dense', units: 1, activation: 'sigmoid' }
    : { type: 'dense', units: classes, activation: loss === 'softmax-ce' ? 'softmax' : 'sigmoid' };
}

function needImage(arch: string, shape: readonly number[]): [number, number, number] {
  const [h, w, c] = shape;
  if (h < 4 || w < 4) {
    throw new ConfigError(
      `the ${arch} preset needs image data (height and width of at least 4), but the data is ${h}x${w}x${c} (flat features); use the mlp preset`,
    );
  }
  return [h, w, c];
}

export function lenetLayers(shape: readonly number[]): LayerSpec[] {
  const [h, w] = needImage('lenet', shape);
  // A 5x5 'valid' conv after the first pool needs a map of at least 5: small images pad instead.
  const pad2 = Math.floor(h / 2) >= 9 && Math.floor(w / 2) >= 9 ? 'valid' : 'same';
  return [
    { type: 'conv2d', filters: 8, kernelSize: 5, padding: 'same', activation: 'relu' },
    { type: 'maxpool2d', size: 2 },
    { type: 'conv2d', filters: 16, kernelSize: 5, padding: pad2, activation: 'relu' },
    { type: 'maxpool2d', size: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 120, activation: 'relu' },
    { type: 'dense', units: 84, activation: 'relu' },
  ];
}

export function cnnLayers(shape: readonly number[]): LayerSpec[] {
  const [h, w] = needImage('cnn', shape);
  const layers: LayerSpec[] = [];
  let side = Math.min(h, w);
  const large = side > 32;
  if (large) {
    layers.push({ type: 'conv2d', filters: 16, kernelSize: 3, stride: 2, padding: 'same', bias: false });
    layers.push({ type: 'batchnorm', activation: 'relu' });
    side = Math.ceil(side / 2);
  }
  for (const filters of large ? [16, 32, 64] : [32, 64, 128]) {
    if (layers.length > 0 && side < 4) break;
    for (let i = 0; i < (large ? 2 : 1); i++) {
      layers.push({ type: 'conv2d', filters, kernelSize: 3, padding: 'same', bias: false });
      layers.push({ type: 'batchnorm', activation: 'relu' });
    }
    layers.push({ type: 'maxpool2d', size: 2 });
    side = Math.floor(side / 2);
  }
  layers.push({ type: large ? 'globalavgpool' : 'flatten' }, { type: 'dropout', rate: 0.2 });
  return layers;
}

/** The network of a preset for this data. mlp takes its hidden layers from the caller. */
export function presetSpec(
  arch: Arch,
  shape: [number, number, number],
  classes: number,
  loss: LossName,
  mlpHidden: LayerSpec[],
): ModelSpec {
  const out = outputLayer(loss, classes);
  if (arch === 'mlp') return { inputSize: shape[0] * shape[1] * shape[2], layers: [...mlpHidden, out], loss };
  if (isTorchvisionArch(arch)) {
    const spec = torchvisionSpec(arch, shape, Math.max(classes, 2));
    const body = spec.layers.slice(0, -1);
    return { ...spec, layers: [...body, { ...out, name: headName(arch) }], loss };
  }
  const builders = { lenet: lenetLayers, cnn: cnnLayers, resnet: resnetLayers, mobilenet: mobilenetLayers };
  const body = builders[arch](needImage(arch, shape));
  return { inputShape: [...shape], layers: [...body, out], loss };
}

/** A caller's layer stack on this data, the output layer appended when it is missing; throws ConfigError. */
export function completeStack(
  layers: readonly LayerSpec[],
  shape: [number, number, number],
  classes: number,
  loss: LossName,
): ModelSpec {
  const out = outputLayer(loss, classes);
  const wanted = out as { units: number; activation: string };
  const last = layers[layers.length - 1] as { type?: string; units?: number; activation?: string };
  const complete =
    (last.type === undefined || last.type === 'dense') &&
    last.units === wanted.units &&
    (last.activation ?? 'identity') === wanted.activation;
  const probe = (ls: LayerSpec[]): ModelSpec => ({ inputShape: [...shape], layers: ls, loss });
  let spec = probe([...layers]);
  if (!complete) {
    let body = [...layers];
    try {
      resolveModel(probe([...body, out]));
    } catch {
      // Ends in a map (or dense on a map): flatten before the output layer.
      body = [...body, { type: 'flatten' }];
    }
    spec = probe([...body, out]);
  }
  resolveModel(spec);
  return spec;
}
