// The training configuration: the `train` options table, merging a --config JSON file with flags,
// and turning the result into the engine's ModelSpec, optimizer and schedule.
//
// The resolved TrainConfig is plain JSON. It is saved in the model file's `training` block and in
// checkpoints, so `--resume` rebuilds exactly the same trainer and `eval` finds the dataset.

import { readFile } from 'node:fs/promises';
import type { AugmentOptions } from '../data/augment.js';
import { TTA_CHOICES, type TtaChoice } from '../engine/tta.js';
import { TTA_HELP } from './tta.js';
import { ACTIVATIONS, type Activation } from '../nn/activations.js';
import { INITS, type Init } from '../nn/init.js';
import type { DenseLayerSpec as LayerSpec, DenseModelSpec } from '../nn/model.js';
import type { LayerSpec as LayerSpecAny, ModelSpec } from '../nn/layers.js';
import { ARCHS, archSpec, customSpec, readModelJson, type Arch } from './arch.js';

export { readModelJson as readModelJsonFile };
import { LOSSES, type LossName } from '../nn/losses.js';
import type { MatmulForm, MatmulVariant } from '../kernels/matmul.js';
import type { OptimizerConfig, OptimizerName } from '../optim/optimizers.js';
import type { Schedule } from '../optim/schedules.js';
import type { Precision } from '../engine/trainer.js';
import { closest, convert, UsageError, type OptionSpec, type OptionValue } from './args.js';

export const DEFAULT_DATA = 'fashion-mnist';

/** Options that describe the run itself (dataset, network, optimisation), saved with the model. */
export const TRAIN_CONFIG_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'data',
    type: 'string',
    arg: 'NAME|PATH',
    default: DEFAULT_DATA,
    help: 'dataset: mnist, fashion-mnist, cifar10, catvnoncat, or a folder (IDX files, or <class>/<image> folders, optionally under train/ and test/)',
  },
  {
    name: 'limit',
    type: 'int',
    arg: 'N',
    min: 1,
    defaultText: 'all',
    help: 'use only the first N training (and test) samples, for quick experiments',
  },
  {
    name: 'memory-budget',
    type: 'string',
    arg: 'SIZE',
    defaultText: 'none',
    help: 'most memory the training images may take on the device (e.g. 512MiB, 2GiB); a larger set (or one over the GPU binding limit) streams to the GPU a batch at a time',
  },
  {
    name: 'image-size',
    type: 'string',
    arg: 'HxW',
    default: '64x64',
    help: 'size image-folder pictures are resized to (known datasets keep their own size)',
  },
  {
    name: 'channels',
    type: 'choice',
    choices: ['3', '1'],
    default: '3',
    help: 'colour channels for image folders: 3 (RGB) or 1 (gray)',
  },
  {
    name: 'resize',
    type: 'choice',
    choices: ['resize', 'center-crop'],
    default: 'resize',
    help: 'how image-folder pictures reach --image-size: stretch, or crop the centre to the aspect first',
  },
  {
    name: 'normalize',
    type: 'choice',
    choices: ['standardize', 'scale'],
    default: 'standardize',
    help: 'input normalisation: per-channel mean/std of the training images, or pixel/255',
  },
  {
    name: 'arch',
    type: 'choice',
    choices: [...ARCHS],
    default: 'mlp',
    help: 'network: mlp (dense layers from --layers), lenet (two 5x5 conv layers with pooling, two dense layers), cnn (VGG-style 3x3 conv blocks with batch norm; the last map flattened into the output layer on images of 32 px or less, averaged on larger ones); lenet and cnn need image data',
  },
  {
    name: 'model',
    type: 'string',
    arg: 'FILE',
    defaultText: 'none',
    help: 'JSON file with any layer stack the API accepts, e.g. {"layers": [{"type": "conv2d", "filters": 16, "kernelSize": 3, "activation": "relu"}, {"type": "flatten"}]}; the input shape comes from the data and the output layer is added when missing; overrides --arch',
  },
  {
    name: 'layers',
    type: 'int-list',
    arg: 'N,N,...',
    default: [256, 128],
    help: 'hidden layer sizes; the output layer is added from the number of classes',
  },
  {
    name: 'activation',
    type: 'choice',
    // softmax belongs to the output layer, which the loss chooses.
    choices: ACTIVATIONS.filter((a) => a !== 'softmax'),
    default: 'relu',
    help: 'activation of the hidden layers',
  },
  {
    name: 'loss',
    type: 'choice',
    choices: ['auto', ...LOSSES],
    default: 'auto',
    help: 'loss; auto = bce with one sigmoid output for 2 classes, else softmax-ce',
  },
  {
    name: 'init',
    type: 'choice',
    choices: ['auto', ...INITS],
    default: 'auto',
    help: "weight initialiser; auto = he-normal for relu-like layers, xavier-normal otherwise; numpy-* = numpy's own draws after np.random.seed(--seed) (the deeplearning.ai course's randn/sqrt(fanIn) and randn*0.01)",
  },
  {
    name: 'optimizer',
    type: 'choice',
    choices: ['adam', 'adamw', 'momentum', 'sgd'],
    default: 'adam',
    help: 'optimizer',
  },
  {
    name: 'lr',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    default: 1e-3,
    defaultText: '0.001; lenet, cnn, --model: 1e-3 x sqrt(batch/32)',
    help: 'learning rate',
  },
  {
    name: 'momentum',
    type: 'number',
    arg: 'X',
    min: 0,
    max: 0.999,
    default: 0.9,
    help: 'momentum coefficient (--optimizer momentum)',
  },
  {
    name: 'weight-decay',
    type: 'number',
    arg: 'X',
    min: 0,
    defaultText: '0 (0.01 for adamw)',
    help: 'L2 penalty (decoupled decay for adamw)',
  },
  {
    name: 'max-norm',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    defaultText: 'off',
    help: 'clip gradients to this global L2 norm',
  },
  {
    name: 'precision',
    type: 'choice',
    choices: ['f32', 'f16', 'auto'],
    default: 'f32',
    help: "storage precision: f32, f16 (mixed precision: f16 weight copies, hidden activations and their gradients, f32 accumulation and master weights, dynamic loss scaling that skips overflowing steps; needs the adapter's shader-f16), or auto (f16 where offered and measured faster)",
  },
  {
    name: 'schedule',
    type: 'choice',
    choices: ['cosine', 'constant', 'step'],
    default: 'cosine',
    help: "learning-rate schedule over the whole run; lenet, cnn and --model runs take any option of --epochs, --batch-size, --lr, --schedule, --warmup not given from a recipe for the data's size, shown in the header",
  },
  {
    name: 'warmup',
    type: 'int',
    arg: 'STEPS',
    min: 0,
    default: 0,
    defaultText: '0; lenet, cnn, --model: 5% of the steps, at most one epoch',
    help: 'linear warm-up steps (--schedule cosine)',
  },
  {
    name: 'step-epochs',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 5,
    help: 'multiply the rate by --gamma every N epochs (--schedule step)',
  },
  {
    name: 'gamma',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    max: 1,
    default: 0.1,
    help: 'decay factor (--schedule step)',
  },
  {
    name: 'batch-size',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 128,
    defaultText: '128; lenet, cnn, --model: 32 under 2,000 samples, 64 under 20,000, else 128',
    help: 'samples per step',
  },
  {
    name: 'epochs',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 5,
    defaultText: '5; lenet, cnn, --model: 30 under 20,000 samples, else 12',
    help: 'passes over the training data',
  },
  {
    name: 'seed',
    type: 'int',
    arg: 'N',
    min: 0,
    default: 1,
    help: 'seed for initialisation, split and shuffling',
  },
  {
    name: 'augment',
    type: 'string',
    arg: 'LIST|none',
    default: 'none',
    help: 'augment training batches on the GPU (never validation or test): crop (pad 4 and crop back; crop:N pads N; crop-reflect[:N] mirrors the border), flip (horizontal, half the time), jitter (brightness and contrast +-20%), comma-separated',
  },
  {
    name: 'validation',
    type: 'string',
    arg: 'F|test|none',
    default: '0.1',
    help: 'after each epoch, validate on a held-out fraction F of the training data, on the test split, or not at all',
  },
  { name: 'tta', type: 'choice', choices: TTA_CHOICES, default: 'auto', help: TTA_HELP },
];

export interface TrainConfig {
  data: string;
  limit: number | null;
  /** Bytes (--memory-budget); null: only the GPU binding limit decides whether data streams. */
  memoryBudget: number | null;
  imageSize: [number, number];
  channels: 1 | 3;
  resize: 'resize' | 'center-crop';
  normalize: 'standardize' | 'scale';
  arch: Arch;
  /** The --model file's layers (kept in the config so a resume needs no file), or null. */
  net: LayerSpecAny[] | null;
  /** Where `net` came from. */
  model: string | null;
  layers: number[];
  activation: Activation;
  loss: 'auto' | LossName;
  init: 'auto' | Init;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number | null;
  maxNorm: number | null;
  /** Storage precision asked for (absent in configs saved before it existed: f32). */
  precision?: Precision;
  schedule: 'cosine' | 'constant' | 'step';
  warmup: number;
  stepEpochs: number;
  gamma: number;
  batchSize: number;
  epochs: number;
  seed: number;
  /** A fraction in (0, 1), 'test' or 'none'. */
  validation: number | 'test' | 'none';
  /** Training augmentation; null when off. */
  augment: AugmentOptions | null;
  /** Test-time augmentation of the final test evaluation (src/engine/tta.ts). */
  tta: TtaChoice;
  /** Matmul variants the run used (fixed at the start so a resume runs the same kernels). */
  variants?: Record<MatmulForm, MatmulVariant>;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Reads a --config JSON file into option values keyed by option name (kebab or camelCase keys). */
export async function readConfigFile(file: string): Promise<Record<string, OptionValue>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config: ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(
      `--config: ${file} must hold a JSON object like {"layers": [512, 256], "lr": 0.001}`,
    );
  }
  const byName = new Map(TRAIN_CONFIG_OPTIONS.map((s) => [s.name, s]));
  const byCamel = new Map(TRAIN_CONFIG_OPTIONS.map((s) => [camel(s.name), s]));
  const out: Record<string, OptionValue> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const spec = byName.get(key) ?? byCamel.get(key);
    if (!spec) {
      const guess = closest(key, [...byCamel.keys()]);
      throw new UsageError(
        `--config: unknown key "${key}" in ${file}${guess ? `; did you mean "${guess}"?` : ''}`,
      );
    }
    let raw: string;
    if (spec.type === 'int-list' && Array.isArray(value)) raw = value.map(String).join(',');
    else if (typeof value === 'number' || typeof value === 'string') raw = String(value);
    else {
      throw new UsageError(
        `--config: "${key}" in ${file} must be a ${spec.type === 'int-list' ? 'list of integers' : 'number or string'}`,
      );
    }
    try {
      out[spec.name] = convert(spec, raw);
    } catch (e) {
      if (e instanceof UsageError) throw new UsageError(`--config ${file}: ${e.message.replace(/^--/, '')}`);
      throw e;
    }
  }
  return out;
}

/** Builds the TrainConfig from option values (config file values under explicit flags). */
export function resolveTrainConfig(values: Record<string, OptionValue | undefined>): TrainConfig {
  const v = (name: string): OptionValue | undefined => values[name];
  const size = String(v('image-size'));
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new UsageError(`--image-size: '${size}' is not HxW with positive integers (e.g. 64x64)`);
  }
  const validation = parseValidation(String(v('validation')));
  const layers = v('layers') as number[];
  return {
    data: String(v('data')),
    limit: (v('limit') as number | undefined) ?? null,
    memoryBudget: parseBytes(v('memory-budget') as string | undefined),
    imageSize: [Number(m[1]), Number(m[2])],
    channels: v('channels') === '1' ? 1 : 3,
    resize: v('resize') as TrainConfig['resize'],
    normalize: v('normalize') as TrainConfig['normalize'],
    arch: v('arch') as Arch,
    net: null,
    model: (v('model') as string | undefined) ?? null,
    layers,
    activation: v('activation') as Activation,
    loss: v('loss') as TrainConfig['loss'],
    init: v('init') as TrainConfig['init'],
    optimizer: v('optimizer') as OptimizerName,
    lr: v('lr') as number,
    momentum: v('momentum') as number,
    weightDecay: (v('weight-decay') as number | undefined) ?? null,
    maxNorm: (v('max-norm') as number | undefined) ?? null,
    precision: v('precision') as Precision,
    schedule: v('schedule') as TrainConfig['schedule'],
    warmup: v('warmup') as number,
    stepEpochs: v('step-epochs') as number,
    gamma: v('gamma') as number,
    batchSize: v('batch-size') as number,
    epochs: v('epochs') as number,
    seed: v('seed') as number,
    validation,
    augment: parseAugment(String(v('augment') ?? 'none')),
    tta: (v('tta') as TtaChoice | undefined) ?? 'auto',
  };
}

/** `--memory-budget 512MiB` (B, KiB/KB, MiB/MB, GiB/GB; binary multiples) as bytes, or null. */
export function parseBytes(text: string | undefined): number | null {
  if (text === undefined || text === 'none') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  const unit = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m?.[2] ?? 'b')[0].toLowerCase() as 'b'];
  const bytes = m ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes > 0)) {
    throw new UsageError(`--memory-budget: '${text}' is not a size such as 512MiB or 2GiB`);
  }
  return bytes;
}

/** `--augment crop,flip,jitter` (or none) as the data library's AugmentOptions. */
export function parseAugment(s: string): AugmentOptions | null {
  if (s === 'none' || s === '') return null;
  const out: AugmentOptions = {};
  for (const item of s.split(',').map((x) => x.trim())) {
    const crop = /^crop(-reflect)?(?::(\d+))?$/.exec(item);
    if (crop)
      out.crop = { padding: crop[2] === undefined ? 4 : Number(crop[2]), mode: crop[1] ? 'reflect' : 'zero' };
    else if (item === 'flip') out.flip = true;
    else if (item === 'jitter') {
      out.brightness = 0.2;
      out.contrast = 0.2;
    } else {
      throw new UsageError(
        `--augment: '${item}' is not one of crop, crop:N, crop-reflect, crop-reflect:N, flip, jitter (comma-separated), or none`,
      );
    }
  }
  return out;
}

function parseValidation(s: string): TrainConfig['validation'] {
  if (s === 'test' || s === 'none') return s;
  const f = Number(s);
  if (s.trim() === '' || !(f > 0 && f < 1)) {
    throw new UsageError(
      `--validation: '${s}' must be a fraction between 0 and 1 (e.g. 0.1), 'test' or 'none'`,
    );
  }
  return f;
}

/** The loss a config resolves to for `classes` classes. */
export function lossFor(cfg: TrainConfig, classes: number): LossName {
  if (cfg.loss !== 'auto') return cfg.loss;
  return classes === 2 ? 'bce' : 'softmax-ce';
}

/**
 * The network: a --model stack, an --arch preset, or the MLP of --layers, with the output layer
 * from the loss and class count.
 */
export function modelSpec(cfg: TrainConfig, shape: [number, number, number], classes: number): ModelSpec {
  if (cfg.net) {
    checkClasses(lossFor(cfg, classes), classes);
    return customSpec(cfg.net, shape, classes, lossFor(cfg, classes), cfg.model ?? '--model');
  }
  if (cfg.arch !== 'mlp') {
    const loss = lossFor(cfg, classes);
    checkClasses(loss, classes);
    return archSpec(cfg.arch, shape, classes, loss, []);
  }
  return mlpSpec(cfg, shape[0] * shape[1] * shape[2], classes);
}

function checkClasses(loss: LossName, classes: number): void {
  if (loss === 'bce' && classes !== 2) {
    throw new UsageError(
      `--loss bce needs a dataset with 2 classes, this one has ${classes}; use softmax-ce`,
    );
  }
  if (classes < 2) throw new UsageError(`the dataset has ${classes} class; training needs at least 2`);
}

/** The MLP: hidden layers from the config, the output layer from the loss and class count. */
export function mlpSpec(cfg: TrainConfig, inputSize: number, classes: number): DenseModelSpec {
  const loss = lossFor(cfg, classes);
  if (loss === 'bce' && classes !== 2) {
    throw new UsageError(
      `--loss bce needs a dataset with 2 classes, this one has ${classes}; use softmax-ce`,
    );
  }
  if (classes < 2) throw new UsageError(`the dataset has ${classes} class; training needs at least 2`);
  const hidden: LayerSpec[] = cfg.layers.map((units) => ({ units, activation: cfg.activation }));
  const output: LayerSpec =
    loss === 'bce'
      ? { units: 1, activation: 'sigmoid' }
      : loss === 'softmax-ce'
        ? { units: classes, activation: 'softmax' }
        : { units: classes, activation: 'sigmoid' };
  return { inputSize, layers: [...hidden, output], loss };
}

export function optimizerConfig(cfg: TrainConfig): OptimizerConfig {
  const o: OptimizerConfig = { name: cfg.optimizer, lr: cfg.lr };
  if (cfg.optimizer === 'momentum') o.momentum = cfg.momentum;
  if (cfg.weightDecay !== null) o.weightDecay = cfg.weightDecay;
  if (cfg.maxNorm !== null) o.maxNorm = cfg.maxNorm;
  return o;
}

export function scheduleConfig(cfg: TrainConfig, stepsPerEpoch: number): Schedule {
  if (cfg.schedule === 'constant') return { kind: 'constant' };
  if (cfg.schedule === 'step')
    return { kind: 'step', stepSize: cfg.stepEpochs * stepsPerEpoch, gamma: cfg.gamma };
  return cfg.warmup > 0 ? { kind: 'cosine', warmupSteps: cfg.warmup } : { kind: 'cosine' };
}

/** Training samples per epoch after the validation hold-out (as Trainer.fit computes it). */
export function trainCount(cfg: TrainConfig, count: number): number {
  return typeof cfg.validation === 'number' ? count - Math.floor(count * cfg.validation) : count;
}

/** Option names that define the run; --resume refuses them because the checkpoint fixes them. */
export const CONFIG_OPTION_NAMES: ReadonlySet<string> = new Set(TRAIN_CONFIG_OPTIONS.map((s) => s.name));
