// The network builder's model: the form's values, presets per dataset, and conversion to the
// engine's ModelSpec. Layer sizes are written the course's way, input first: [12288, 20, 7, 5, 1].

import {
  ConfigError,
  type Activation,
  type LossName,
  type DenseModelSpec as ModelSpec,
  type OptimizerName,
} from '../../src/index.js';
import type { DatasetId } from './data.js';

export interface NetConfig {
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

export const PRESETS: Record<DatasetId, NetConfig> = {
  mnist: {
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
};

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

/** Checks the sizes against the data (input features, classes) and builds the engine's spec. */
export function toSpec(cfg: NetConfig, features: number, classes: number): ModelSpec {
  const [input, ...units] = cfg.sizes;
  if (input !== features) {
    throw new ConfigError(
      `The first layer size is ${input} but each image has ${features} values; set it to ${features}.`,
    );
  }
  const outputs = units[units.length - 1];
  const wanted = cfg.loss === 'softmax-ce' ? classes : classes === 2 ? 1 : classes;
  if (outputs !== wanted) {
    const why =
      cfg.loss === 'softmax-ce'
        ? `softmax cross-entropy needs one output per class (${classes})`
        : classes === 2
          ? 'a two-class set with a sigmoid output needs 1 output (the probability of the second class)'
          : `this set has ${classes} classes`;
    throw new ConfigError(`The last layer has ${outputs} units but ${why}; set it to ${wanted}.`);
  }
  if (cfg.loss === 'bce' && classes > 2) {
    throw new ConfigError(
      `Binary cross-entropy is for two classes; this set has ${classes}. Use softmax-ce.`,
    );
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
