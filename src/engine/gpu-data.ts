// Datasets on the GPU. When a dataset fits in one storage binding it is uploaded ONCE (uint8
// images packed 4 per u32, or float rows) with its labels, and each step only writes the batch's
// sample indices; gather kernels build X and the targets on the device. Otherwise the trainer
// falls back to uploading each batch (see trainer.ts).
// Training batches of uint8 images can be augmented inside the gather (prepareGathers' `augment`):
// the draws depend on (seed, epoch, sample index in the resident set) only, the same draws as the
// CPU pipeline (src/data/augment.ts), so runs reproduce and resume exactly; writeGatherEpoch sets
// the epoch before each epoch's first step. Validation and test batches use plain gathers.

import { ConfigError, NonFiniteInputError, ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { view, type Dispatch, type KernelEnv, type TensorView } from '../kernels/common.js';
import {
  AUG_EPOCH_OFFSET,
  prepareGatherImages,
  prepareGatherImagesAugment,
  prepareGatherLabels,
  prepareGatherRows,
  type GatherDispatch,
} from '../kernels/data.js';
import { augmentRanges, isIdentityAugment, validateAugmentOptions } from '../data/augment.js';
import type { AugmentOptions } from '../data/augment.js';
import type { LossName } from '../nn/losses.js';

/** Float features [count, features] with integer labels [count] or float targets [count, outputs]. */
export interface FloatData {
  kind: 'float';
  x: Float32Array;
  count: number;
  labels?: Int32Array;
  targets?: Float32Array;
}

/** uint8 records [count, features] (NHWC images), normalised per channel on the GPU. */
export interface Uint8Data {
  kind: 'uint8';
  images: Uint8Array;
  count: number;
  labels: Int32Array;
  channels: number;
  /** Image geometry (NHWC), needed only to augment non-square images; square ones are inferred. */
  height?: number;
  width?: number;
  /** out = byte * mul[c] + add[c] for channel c = feature % channels. */
  mul: ArrayLike<number>;
  add: ArrayLike<number>;
}

export type TrainingData = FloatData | Uint8Data;

export function dataFeatures(d: TrainingData): number {
  const total = d.kind === 'float' ? d.x.length : d.images.length;
  return d.count > 0 ? total / d.count : 0;
}

/** Checks sizes, labels and (for float data) finiteness before anything reaches the GPU. */
export function validateData(
  d: TrainingData,
  inputSize: number,
  outputs: number,
  loss: LossName,
  what = 'dataset',
): void {
  if (!Number.isInteger(d.count) || d.count < 1)
    throw new ShapeError(`${what}: count must be a positive integer, got ${d.count}.`);
  const total = d.kind === 'float' ? d.x.length : d.images.length;
  if (total !== d.count * inputSize) {
    throw new ShapeError(
      `${what}: expected ${d.count} x ${inputSize} = ${d.count * inputSize} input values, got ${total}. Check the model's inputSize.`,
    );
  }
  if (d.kind === 'uint8') {
    if (d.mul.length !== d.channels || d.add.length !== d.channels)
      throw new ShapeError(`${what}: normalisation needs ${d.channels} mul/add values.`);
    if (inputSize % d.channels !== 0)
      throw new ShapeError(`${what}: ${inputSize} features are not a multiple of ${d.channels} channels.`);
  }
  const labels = d.kind === 'uint8' ? d.labels : d.labels;
  const targets = d.kind === 'float' ? d.targets : undefined;
  if (targets) {
    if (loss === 'softmax-ce')
      throw new ConfigError(`${what}: softmax-ce needs integer labels, not float targets.`);
    if (targets.length !== d.count * outputs)
      throw new ShapeError(`${what}: targets must be ${d.count} x ${outputs}, got ${targets.length} values.`);
    const bad = targets.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new NonFiniteInputError(
        `${what}: target ${bad} (sample ${Math.floor(bad / outputs)}) is ${targets[bad]}.`,
      );
  } else {
    if (!labels || labels.length !== d.count)
      throw new ShapeError(`${what}: needs ${d.count} labels, got ${labels?.length ?? 0}.`);
    const classes = loss === 'bce' && outputs === 1 ? 2 : outputs;
    for (let i = 0; i < labels.length; i++) {
      if (!(labels[i] >= 0 && labels[i] < classes)) {
        throw new ShapeError(
          `${what}: label ${labels[i]} of sample ${i} is outside [0, ${classes - 1}] for a model with ${outputs} outputs.`,
        );
      }
    }
  }
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(x: Float32Array, from = 0, to = x.length): number {
  for (let i = from; i < to; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

export interface ResidentData {
  data: TrainingData;
  features: number;
  buffers: GPUBuffer[];
  x: TensorView;
  y: TensorView;
  norm?: TensorView;
}

export function fitsResident(env: KernelEnv, d: TrainingData): boolean {
  const bytes = d.kind === 'float' ? d.x.byteLength : Math.ceil(d.images.byteLength / 4) * 4;
  return bytes <= env.device.limits.maxStorageBufferBindingSize;
}

export function uploadResident(env: KernelEnv, d: TrainingData, features: number): ResidentData {
  const buffers: GPUBuffer[] = [];
  const put = (src: ArrayBufferView, label: string): TensorView => {
    const bytes = Math.ceil(src.byteLength / 4) * 4;
    const b = env.pool.acquire(bytes, USAGE.STORAGE | USAGE.COPY_DST, label);
    buffers.push(b);
    // writeBuffer needs a 4-byte multiple: copy the tail of an odd-sized uint8 set into padding.
    const whole = src.byteLength - (src.byteLength % 4);
    if (whole > 0) env.device.queue.writeBuffer(b, 0, src.buffer, src.byteOffset, whole);
    if (whole < src.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(new Uint8Array(src.buffer, src.byteOffset + whole, src.byteLength - whole));
      env.device.queue.writeBuffer(b, whole, tail);
    }
    return view(b, bytes / 4);
  };
  const x = d.kind === 'float' ? put(d.x, 'dataset-x') : put(d.images, 'dataset-images');
  const y =
    d.kind === 'float' && d.targets
      ? put(d.targets, 'dataset-targets')
      : put(Uint32Array.from(d.labels!), 'dataset-labels');
  let norm: TensorView | undefined;
  if (d.kind === 'uint8')
    norm = put(Float32Array.from([...Array.from(d.mul), ...Array.from(d.add)]), 'dataset-norm');
  return { data: d, features, buffers, x, y, norm };
}

/** What an augmented gather needs besides the options: the seed of its draws. */
export type GatherAugmentOptions = AugmentOptions & { seed: number };

/** The (height, width) of uint8 data: given, or the side of a square image. */
export function imageGeometry(d: Uint8Data, features: number): { height: number; width: number } {
  if (d.height !== undefined && d.width !== undefined) {
    if (d.height * d.width * d.channels !== features) {
      throw new ShapeError(
        `uint8 data: ${d.height}x${d.width}x${d.channels} images do not have ${features} features; fix height/width.`,
      );
    }
    return { height: d.height, width: d.width };
  }
  const side = Math.round(Math.sqrt(features / d.channels));
  if (side * side * d.channels !== features) {
    throw new ConfigError(
      `augmentation needs the image height and width: ${features / d.channels} pixels are not a square; set height and width on the uint8 data.`,
    );
  }
  return { height: side, width: side };
}

/**
 * The gather dispatches that build one batch of `B` rows from `res` into the plan's X/targets.
 * With `augment` (uint8 images only, training batches only) the image gather crops, flips and
 * jitters; call writeGatherEpoch before each epoch (it starts at epoch 0).
 */
export async function prepareGathers(
  env: KernelEnv,
  res: ResidentData,
  B: number,
  idx: TensorView,
  x: TensorView,
  targets: TensorView,
  loss: LossName,
  outputs: number,
  augment?: GatherAugmentOptions,
): Promise<GatherDispatch[]> {
  const d = res.data;
  const list: GatherDispatch[] = [];
  if (augment && d.kind !== 'uint8') {
    throw new ConfigError('augmentation works on uint8 images; this dataset holds float rows.');
  }
  if (augment && !Number.isInteger(augment.seed)) {
    throw new ConfigError(`augment.seed must be an integer, got ${augment.seed}.`);
  }
  if (d.kind === 'uint8' && augment && !isIdentityAugment(validateAugmentOptions(augment))) {
    const geometry = imageGeometry(d, res.features);
    const opts = validateAugmentOptions(augment, { ...geometry, channels: d.channels });
    list.push(
      await prepareGatherImagesAugment(env, {
        B,
        features: res.features,
        channels: d.channels,
        packed: res.x,
        idx,
        norm: res.norm!,
        out: x,
        augment: { ...geometry, ...augmentRanges(opts), seed: augment.seed >>> 0, epoch: 0 },
      }),
    );
  } else if (d.kind === 'uint8') {
    list.push(
      await prepareGatherImages(env, {
        B,
        features: res.features,
        channels: d.channels,
        packed: res.x,
        idx,
        norm: res.norm!,
        out: x,
      }),
    );
  } else {
    list.push(await prepareGatherRows(env, { B, features: res.features, rows: res.x, idx, out: x }));
  }
  if (d.kind === 'float' && d.targets) {
    list.push(await prepareGatherRows(env, { B, features: outputs, rows: res.y, idx, out: targets }));
  } else {
    const mode = loss === 'softmax-ce' ? 0 : loss === 'bce' && outputs === 1 ? 1 : 2;
    list.push(
      await prepareGatherLabels(env, { B, classes: outputs, mode, labels: res.y, idx, out: targets }),
    );
  }
  return list;
}

// One 4-byte staging word for every epoch write: no allocation per epoch.
const epochWord = new Uint32Array(1);

/** Sets the epoch of the augmented gathers in `gathers` (the others ignore it). */
export function writeGatherEpoch(queue: GPUQueue, gathers: readonly GatherDispatch[], epoch: number): void {
  if (!(Number.isInteger(epoch) && epoch >= 0)) {
    throw new ConfigError(`epoch must be an integer >= 0, got ${epoch}.`);
  }
  epochWord[0] = epoch;
  for (const g of gathers) if (g.aug) queue.writeBuffer(g.aug, AUG_EPOCH_OFFSET, epochWord);
}

export type { AugmentOptions, Dispatch };
