// The network builder's model: the form's values, presets, and conversion to the engine's
// ModelSpec. Dense nets give their layer sizes the course's way, input first: [12288, 20, 7, 5, 1].
// The CNN presets adapt to the data's image shape [h, w, c] and class count:
//   cnn-small  conv 3x3 8 relu -> maxpool 2 -> conv 3x3 16 relu -> maxpool 2 -> flatten -> output
//              (MNIST-sized grey images; 2,000-odd parameters before the output layer)
//   cnn-color  [conv 3x3 (16, 32, 64) -> batchnorm relu -> maxpool 2] x 3 -> flatten (images of
//              32 px or less a side) or global average pool (larger) -> output (CIFAR-sized
//              colour images, 32x32x3). The flattened map is the CLI cnn preset's rule for small
//              colour images (src/cli/arch.ts): on CIFAR-10 it beat the average by 8.7 points.
//   resnet     the library's residual graph for the image shape (src/nn/preset-graphs.ts, the CLI's
//              --arch resnet): named layers whose residual blocks add a block's input to its output.

import {
  ConfigError,
  resolveModel,
  type Activation,
  type LayerSpec,
  type LossName,
  type ModelSpec,
  type OptimizerName,
  resnetLayers,
} from '../../src/index.js';

export const ARCHS = ['mlp', 'cnn-small', 'cnn-color', 'resnet'] as const;
export type Arch = (typeof ARCHS)[number];

export interface NetConfig {
  arch: Arch;
  /** Dense nets: input size first, output last (ignored by the CNN presets but for the input). */
  sizes: number[];
  hidden: Activation;
  loss: LossName;
  optimizer: OptimizerName;
  lr: number;
  batchSize: number;
  epochs: number;
  /** Stop after this many steps in total (0: run every epoch). */
  maxSteps: number;
  seed: number;
  /** Fraction of the training set held out for the validation curves. */
  validationSplit: number;
}

export type PresetId = 'mnist' | 'fashion-mnist' | 'catvnoncat' | 'cnn-mnist' | 'cnn-color' | 'resnet-color';

export const PRESETS: Record<PresetId, NetConfig> = {
  mnist: {
    arch: 'mlp',
    sizes: [784, 128, 10],
    hidden: 'relu',
    loss: 'softmax-ce',
    optimizer: 'adam',
    lr: 0.001,
    batchSize: 64,
    epochs: 3,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0.1,
  },
  'fashion-mnist': {
    arch: 'mlp',
    sizes: [784, 128, 10],
    hidden: 'relu',
    loss: 'softmax-ce',
    optimizer: 'adam',
    lr: 0.001,
    batchSize: 64,
    epochs: 5,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0.1,
  },
  // The deeplearning.ai course network: 4 layers, ReLU, sigmoid output, plain gradient descent.
  catvnoncat: {
    arch: 'mlp',
    sizes: [12288, 20, 7, 5, 1],
    hidden: 'relu',
    loss: 'bce',
    optimizer: 'sgd',
    lr: 0.0075,
    batchSize: 209,
    epochs: 300,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0,
  },
  'cnn-mnist': {
    arch: 'cnn-small',
    sizes: [784, 10],
    hidden: 'relu',
    loss: 'softmax-ce',
    optimizer: 'adam',
    lr: 0.002,
    batchSize: 32,
    epochs: 2,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0.1,
  },
  'cnn-color': {
    arch: 'cnn-color',
    sizes: [3072, 10],
    hidden: 'relu',
    loss: 'softmax-ce',
    optimizer: 'adam',
    lr: 0.003,
    batchSize: 32,
    epochs: 10,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0.1,
  },
  // 24 MMAC forward per CIFAR-sized image, 8 times cnn-color's: slower per epoch, in a browser too.
  'resnet-color': {
    arch: 'resnet',
    sizes: [3072, 10],
    hidden: 'relu',
    loss: 'softmax-ce',
    optimizer: 'adam',
    lr: 0.002,
    batchSize: 32,
    epochs: 10,
    maxSteps: 0,
    seed: 1,
    validationSplit: 0.1,
  },
};

export function isPresetId(s: string): s is PresetId {
  return Object.hasOwn(PRESETS, s);
}

/** The preset a dataset starts with (image folders: the colour CNN, or the small one for grey). */
export function presetFor(dataset: string, channels: number): PresetId {
  if (dataset === 'mnist' || dataset === 'fashion-mnist' || dataset === 'catvnoncat') return dataset;
  return channels === 3 ? 'cnn-color' : 'cnn-mnist';
}

/** The hidden layers of a CNN preset for images of this shape. */
export function cnnBody(arch: Exclude<Arch, 'mlp'>, shape: readonly number[]): LayerSpec[] {
  const [h, w] = shape;
  if (!(h >= 4 && w >= 4)) {
    throw new ConfigError(
      `The CNN presets need images of at least 4x4 pixels; this data is ${shape.join('x')}. Use a dense network.`,
    );
  }
  if (arch === 'resnet') return resnetLayers(shape);
  if (arch === 'cnn-small') {
    return [
      { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'conv2d', filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'flatten' },
    ];
  }
  const layers: LayerSpec[] = [];
  let side = Math.min(h, w);
  const flat = side <= 32;
  for (const filters of [16, 32, 64]) {
    if (layers.length > 0 && side < 2) break;
    layers.push({ type: 'conv2d', filters, kernelSize: 3, padding: 'same', bias: false });
    layers.push({ type: 'batchnorm', activation: 'relu' });
    if (side >= 2) layers.push({ type: 'maxpool2d', size: 2 });
    side = Math.floor(side / 2);
  }
  layers.push({ type: flat ? 'flatten' : 'globalavgpool' });
  return layers;
}

/** Parses "784, 128, 10" (commas, spaces or brackets) into positive integers. */
export function parseSizes(text: string): number[] {
  const parts = text
    .replace(/[[\]]/g, ' ')
    .split(/[\s,]+/)
    .filter((s) => s !== '');
  const sizes = parts.map(Number);
  if (sizes.length < 2 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new ConfigError(
      `Layer sizes must be at least two positive whole numbers, input first (e.g. "784, 128, 10"); got "${text}".`,
    );
  }
  return sizes;
}

/** Output activation implied by the loss: the engine fuses softmax/sigmoid into the loss. */
export function outputActivation(loss: LossName): Activation {
  return loss === 'softmax-ce' ? 'softmax' : 'sigmoid';
}

/** The output layer the loss needs for `classes` classes (two classes with bce: one sigmoid). */
export function outputLayer(loss: LossName, classes: number): LayerSpec {
  if (loss === 'bce' && classes > 2) {
    throw new ConfigError(
      `Binary cross-entropy is for two classes; this set has ${classes}. Use softmax-ce.`,
    );
  }
  const units = loss === 'softmax-ce' ? classes : classes === 2 ? 1 : classes;
  return { type: 'dense', units, activation: outputActivation(loss) };
}

/** Checks the form against the data ([h, w, c], classes) and builds the engine's spec. */
export function toSpec(cfg: NetConfig, shape: [number, number, number], classes: number): ModelSpec {
  const features = shape[0] * shape[1] * shape[2];
  if (cfg.arch !== 'mlp') {
    const spec: ModelSpec = {
      inputShape: [...shape],
      layers: [...cnnBody(cfg.arch, shape), outputLayer(cfg.loss, classes)],
      loss: cfg.loss,
    };
    resolveModel(spec);
    return spec;
  }
  const [input, ...units] = cfg.sizes;
  if (input !== features) {
    throw new ConfigError(
      `The first layer size is ${input} but each image has ${features} values; set it to ${features}.`,
    );
  }
  const outputs = units[units.length - 1];
  const wanted = (outputLayer(cfg.loss, classes) as { units: number }).units;
  if (outputs !== wanted) {
    const why =
      cfg.loss === 'softmax-ce'
        ? `softmax cross-entropy needs one output per class (${classes})`
        : classes === 2
          ? 'a two-class set with a sigmoid output needs 1 output (the probability of the second class)'
          : `this set has ${classes} classes`;
    throw new ConfigError(`The last layer has ${outputs} units but ${why}; set it to ${wanted}.`);
  }
  return {
    inputSize: input,
    loss: cfg.loss,
    layers: units.map((n, i) => ({
      units: n,
      activation: i === units.length - 1 ? outputActivation(cfg.loss) : cfg.hidden,
    })),
  };
}

/** The network's outputs per sample (the last layer's size). */
export function outputCount(spec: ModelSpec): number {
  return resolveModel(spec).outputSize;
}

/** Class probabilities from the network's outputs for one sample (a 1-unit sigmoid means 2 classes). */
export function classProbs(out: ArrayLike<number>, offset: number, outputs: number): number[] {
  if (outputs === 1) {
    const p = out[offset];
    return [1 - p, p];
  }
  return Array.from({ length: outputs }, (_, i) => out[offset + i]);
}

export function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}
