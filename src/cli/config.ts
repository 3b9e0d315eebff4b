// The training configuration: the `train` options table, merging a --config JSON file with flags,
// and turning the result into the engine's ModelSpec, optimizer and schedule.
//
// The resolved TrainConfig is plain JSON. It is saved in the model file's `training` block and in
// checkpoints, so `--resume` rebuilds exactly the same trainer and `eval` finds the dataset.

import { readFile } from 'node:fs/promises';
import type { AugmentOptions } from '../data/augment.js';
import { DEFAULT_RRC } from '../data/augment-rrc.js';
import type { ImageSize } from '../data/image-size.js';
import type { TtaChoice } from '../engine/tta.js';
import type { Activation } from '../nn/activations.js';
import type { Init } from '../nn/init.js';
import type { DenseLayerSpec as LayerSpec, DenseModelSpec } from '../nn/model.js';
import type { LayerSpec as LayerSpecAny, ModelSpec } from '../nn/layers.js';
import { archSpec, customSpec, readModelJson, type Arch } from './arch.js';
import type { LossName } from '../nn/losses.js';
import type { MatmulForm, MatmulVariant } from '../kernels/matmul.js';
import type { OptimizerConfig, OptimizerName } from '../optim/optimizers.js';
import type { Schedule } from '../optim/schedules.js';
import type { Precision } from '../engine/trainer.js';
import { closest, convert, UsageError, type OptionValue } from './args.js';
import { CONFIG_OPTION_NAMES, DEFAULT_DATA, TRAIN_CONFIG_OPTIONS } from './train-options.js';

export { readModelJson as readModelJsonFile };

export { CONFIG_OPTION_NAMES, DEFAULT_DATA, TRAIN_CONFIG_OPTIONS };

export interface TrainConfig {
  data: string;
  limit: number | null;
  /** Bytes (--memory-budget); null: only the GPU binding limit decides whether data streams. */
  memoryBudget: number | null;
  /** 'native' until the data is opened; the run stores the [height, width] it chose. */
  imageSize: ImageSize;
  /** Image folders: a bad file is an error instead of being skipped (absent in older configs: false). */
  strict?: boolean;
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
  /** softmax-ce label smoothing in [0, 1) (absent in configs saved before it existed: 0). */
  labelSmoothing?: number;
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
  /**
   * --augment auto (the default): decided once the data is open (resolveAutoAugment); false
   * afterwards and in stored configs.
   */
  augmentAuto?: boolean;
  /** Test-time augmentation of the final test evaluation (src/engine/tta.ts). */
  tta: TtaChoice;
  /** Fine-tuning: frozen layers at the start (absent in configs saved before it existed: none). */
  freeze?: 'none' | 'backbone';
  /** Epochs after which every layer trains (src/cli/freeze-flags.ts), or null: never. */
  unfreezeAfter?: number | null;
  /** Learning-rate factor from the unfreeze on. */
  unfreezeLrFactor?: number;
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
  const validation = parseValidation(String(v('validation')));
  const layers = v('layers') as number[];
  return {
    data: String(v('data')),
    limit: (v('limit') as number | undefined) ?? null,
    memoryBudget: parseBytes(v('memory-budget') as string | undefined),
    imageSize: parseImageSize(String(v('image-size') ?? 'native')),
    strict: v('strict') === true,
    channels: v('channels') === '1' ? 1 : 3,
    resize: v('resize') as TrainConfig['resize'],
    normalize: v('normalize') as TrainConfig['normalize'],
    arch: v('arch') as Arch,
    net: null,
    model: (v('model') as string | undefined) ?? null,
    layers,
    activation: v('activation') as Activation,
    loss: v('loss') as TrainConfig['loss'],
    labelSmoothing: parseLabelSmoothing(v('label-smoothing') as number | undefined),
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
    augmentAuto: String(v('augment') ?? 'none') === 'auto',
    tta: (v('tta') as TtaChoice | undefined) ?? 'auto',
    freeze: (v('freeze') as TrainConfig['freeze'] | undefined) ?? 'none',
    unfreezeAfter: (v('unfreeze-after') as number | undefined) ?? null,
    unfreezeLrFactor: (v('unfreeze-lr-factor') as number | undefined) ?? 0.1,
  };
}

/** `--image-size 64x64` as [height, width], or 'native'. */
export function parseImageSize(size: string): ImageSize {
  if (size === 'native') return 'native';
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new UsageError(`--image-size: '${size}' is not HxW with positive integers (e.g. 64x64) or native`);
  }
  return [Number(m[1]), Number(m[2])];
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
  if (s === 'none' || s === '' || s === 'auto') return null;
  const out: AugmentOptions = {};
  for (const item of s.split(',').map((x) => x.trim())) {
    const crop = /^crop(-reflect)?(?::(\d+))?$/.exec(item);
    if (crop)
      out.crop = { padding: crop[2] === undefined ? 4 : Number(crop[2]), mode: crop[1] ? 'reflect' : 'zero' };
    else if (item === 'flip') out.flip = true;
    else if (item === 'rrc') out.rrc = DEFAULT_RRC;
    else if (item === 'jitter') {
      out.brightness = 0.2;
      out.contrast = 0.2;
    } else {
      throw new UsageError(
        `--augment: '${item}' is not one of crop, crop:N, crop-reflect, crop-reflect:N, rrc, flip, jitter (comma-separated), auto or none`,
      );
    }
  }
  if (out.crop && out.rrc) {
    throw new UsageError(
      '--augment: crop and rrc both move the picture; choose one (rrc for photos, crop for small images)',
    );
  }
  return out;
}

/** Whether a stored training configuration's augmentation included random-resized crop. */
export function trainedWithRrc(config: unknown): boolean {
  const aug = (config as { augment?: unknown } | undefined)?.augment;
  return typeof aug === 'object' && aug !== null && (aug as { rrc?: unknown }).rrc !== undefined;
}

function parseLabelSmoothing(eps: number | undefined): number {
  if (eps === undefined) return 0;
  if (!(eps >= 0 && eps < 1))
    throw new UsageError(`--label-smoothing: ${eps} must be in [0, 1) (0.1 is usual; 0 turns it off)`);
  return eps;
}

/** A nonzero --label-smoothing needs the softmax-ce loss: a usage error otherwise. */
export function checkLabelSmoothingLoss(cfg: TrainConfig, loss: LossName): void {
  const eps = cfg.labelSmoothing ?? 0;
  if (eps > 0 && loss !== 'softmax-ce')
    throw new UsageError(
      `--label-smoothing ${eps} needs the softmax-ce loss, and this run's loss is ${loss}; drop --label-smoothing or pass --loss softmax-ce (with 3 or more classes)`,
    );
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
