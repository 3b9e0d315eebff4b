// Datasets on the GPU. When a dataset fits in one storage binding it is uploaded ONCE (uint8
// images packed 4 per u32, or float rows) with its labels, and each step only writes the batch's
// sample indices; gather kernels build X and the targets on the device. Otherwise the trainer
// streams it a batch at a time (feed.ts). The data kinds themselves are defined in batch-source.ts.
// Training batches of uint8 images can be augmented inside the gather (prepareGathers' `augment`):
// the draws depend on (seed, epoch, sample index in the resident set) only, the same draws as the
// CPU pipeline (src/data/augment.ts), so runs reproduce and resume exactly; writeGatherEpoch sets
// the epoch before each epoch's first step. Validation and test batches use plain gathers.

import { ConfigError, ShapeError } from '../errors.js';
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
import { augmentRanges, cachedTable, isIdentityAugment, validateAugmentOptions } from '../data/augment.js';
import type { AugmentOptions } from '../data/augment.js';
import type { LossName } from '../nn/losses.js';
import type { TrainingData, Uint8Data } from './batch-source.js';

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

/**
 * GPU storage for ONE streamed batch of up to B uint8 records (images packed 4 per u32, labels,
 * normalisation), gathered by the same kernels as a resident set with indices 0..B-1: a streamed
 * batch becomes exactly the rows a resident gather of the same samples would give.
 */
export function allocateBatchSlot(
  env: KernelEnv,
  geometry: {
    channels: number;
    height: number;
    width: number;
    mul: ArrayLike<number>;
    add: ArrayLike<number>;
  },
  B: number,
  features: number,
): ResidentData {
  const buffers: GPUBuffer[] = [];
  const make = (bytes: number, label: string): TensorView => {
    const b = env.pool.acquire(Math.ceil(bytes / 4) * 4, USAGE.STORAGE | USAGE.COPY_DST, label);
    buffers.push(b);
    return view(b, Math.ceil(bytes / 4));
  };
  const x = make(B * features, 'stream-images');
  const y = make(B * 4, 'stream-labels');
  const norm = make(geometry.channels * 8, 'stream-norm');
  env.device.queue.writeBuffer(
    norm.buffer,
    0,
    Float32Array.from([...Array.from(geometry.mul), ...Array.from(geometry.add)]),
  );
  const { channels, height, width, mul, add } = geometry;
  const data: Uint8Data = {
    kind: 'uint8',
    images: new Uint8Array(0),
    labels: new Int32Array(0),
    count: B,
    channels,
    height,
    width,
    mul,
    add,
  };
  return { data, features, buffers, x, y, norm };
}

/** What an augmented gather needs besides the options: the seed of its draws. */
export type GatherAugmentOptions = AugmentOptions & { seed: number };

/** The (height, width) of uint8 data: given, or the side of a square image. */
export function imageGeometry(d: Uint8Data, features: number): { height: number; width: number } {
  if (d.crop) {
    if (d.crop.height * d.crop.width * d.channels !== features) {
      throw new ShapeError(
        `uint8 data: the ${d.crop.height}x${d.crop.width}x${d.channels} crop does not have ${features} features.`,
      );
    }
    return { height: d.crop.height, width: d.crop.width };
  }
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
  const augmenting = augment !== undefined && !isIdentityAugment(validateAugmentOptions(augment));
  if (d.kind === 'uint8' && (augmenting || d.crop)) {
    // The output is the crop (or the record); a box mode picks where it comes from.
    const geometry = imageGeometry(d, res.features);
    const record = d.crop ? { height: d.height!, width: d.width! } : geometry;
    const opts = augmenting ? validateAugmentOptions(augment, { ...record, channels: d.channels }) : {};
    const larger = record.height !== geometry.height || record.width !== geometry.width;
    if (larger && opts.crop) {
      throw new ConfigError(
        `augment: crop (pad and crop back) needs records at the input size; these ${record.height}x${record.width} records feed a ${geometry.height}x${geometry.width} input: use rrc`,
      );
    }
    list.push(
      await prepareGatherImagesAugment(env, {
        B,
        features: res.features,
        channels: d.channels,
        packed: res.x,
        idx,
        norm: res.norm!,
        out: x,
        augment: {
          ...geometry,
          ...augmentRanges(opts),
          record,
          boxMode: opts.rrc ? 1 : larger ? 2 : 0,
          rrcTable: opts.rrc ? cachedTable(record, opts.rrc) : undefined,
          seed: (augment?.seed ?? 0) >>> 0,
          epoch: 0,
        },
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
// The data kinds live in batch-source.ts; re-exported for the modules that import them from here.
export type { FloatData, TrainingData, Uint8Data } from './batch-source.js';
export { dataFeatures, firstNonFinite, validateData } from './batch-source.js';
