// Batch assembly on the GPU from a resident dataset (shaders/data.wgsl). Only the batch's sample
// indices cross the bus each step. Shapes: images packed uint8 [n, D] (4 per u32), float rows
// [n, D], labels u32 [n]; idx u32 [B]; outputs X [B, D] f32 and targets. Rows >= active (set in
// the params uniform at ACTIVE_OFFSET) are written as zeros. Everything OVERWRITES its output.
// gather_images_augment also crops, flips and jitters each image (src/data/augment.ts is its CPU
// twin); its aug uniform holds the epoch at AUG_EPOCH_OFFSET, rewritten once per epoch.

import { ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import {
  bindGroup,
  grid2d,
  requireLength,
  uniformBuffer,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

const WG = 64;
export const GATHER_ACTIVE_OFFSET = 4;
export const AUG_EPOCH_OFFSET = 32;

export interface GatherDispatch extends Dispatch {
  params: GPUBuffer;
  /** The augmentation uniform (gather_images_augment only); the epoch is at AUG_EPOCH_OFFSET. */
  aug?: GPUBuffer;
}

/** Integer ranges of the augmentation (see augmentRanges in src/data/augment.ts). */
export interface GatherAugment {
  /** The output image (what the network sees). */
  height: number;
  width: number;
  /** The stored record, when larger than the output (default: the output's size). */
  record?: { height: number; width: number };
  /** 0 pad-crop, 1 random-resized crop from `rrcTable`, 2 the centre box (src/data/augment-rrc.ts). */
  boxMode?: 0 | 1 | 2;
  /** Box sizes packed (h << 16) | w (rrcTable); needed for boxMode 1. */
  rrcTable?: Uint32Array;
  padding: number;
  reflect: boolean;
  flip: boolean;
  brightness: number;
  contrast: number;
  seed: number;
  epoch: number;
}

async function prepare(
  env: KernelEnv,
  entry: 'gather_images' | 'gather_images_augment' | 'gather_rows' | 'gather_rows_vec4' | 'gather_labels',
  mode: number,
  a: { B: number; features: number; channels: number; classes: number; idx: TensorView },
  bindings: (GPUBuffer | TensorView | null)[],
): Promise<GatherDispatch> {
  requireLength(a.idx, a.B, `${entry} indices`);
  const pipeline = await env.pipelines.get(
    'data',
    entry,
    entry === 'gather_labels'
      ? { WG, MODE: mode }
      : entry === 'gather_images'
        ? { WG, ALIGNED: a.features % 4 === 0 }
        : { WG },
  );
  const workgroups: [number, number, number] =
    entry === 'gather_labels'
      ? grid2d(env, Math.ceil(a.B / WG))
      : entry === 'gather_images_augment'
        ? [1, a.B, 1]
        : [Math.ceil(a.features / 4 / WG), a.B, 1];
  if (workgroups[1] > env.device.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`${entry}: batch size ${a.B} exceeds the adapter's workgroup grid limit.`);
  }
  const params = uniformBuffer(
    env,
    [
      { u: a.B },
      { u: a.B },
      { u: a.features },
      { u: a.channels },
      { u: a.classes },
      { u: workgroups[0] * WG },
      { u: 0 },
      { u: 0 },
    ],
    `${entry} params`,
  );
  const group = bindGroup(env, pipeline, [params, ...bindings], entry);
  return { label: entry, kind: 'gather', pipeline, bindGroup: group, workgroups, params };
}

/** X = normalise(augment(images[idx])) for training batches; one workgroup per row. */
export async function prepareGatherImagesAugment(
  env: KernelEnv,
  a: {
    B: number;
    features: number;
    channels: number;
    packed: TensorView;
    idx: TensorView;
    norm: TensorView;
    out: TensorView;
    augment: GatherAugment;
  },
): Promise<GatherDispatch> {
  const g = a.augment;
  if (g.height * g.width * a.channels !== a.features) {
    throw new ShapeError(
      `gather_images_augment: ${g.height}x${g.width}x${a.channels} images do not have ${a.features} features.`,
    );
  }
  requireLength(a.out, a.B * a.features, 'gather_images_augment output');
  requireLength(a.norm, 2 * a.channels, 'gather_images_augment norm');
  const rec = g.record ?? { height: g.height, width: g.width };
  const mode = g.boxMode ?? 0;
  if (
    rec.height < g.height ||
    rec.width < g.width ||
    (mode === 0 && (rec.height !== g.height || rec.width !== g.width))
  ) {
    throw new ShapeError(
      `gather_images_augment: ${rec.height}x${rec.width} records cannot give ${g.height}x${g.width} outputs in box mode ${mode}.`,
    );
  }
  if (mode === 1 && !(g.rrcTable && g.rrcTable.length > 0)) {
    throw new ShapeError('gather_images_augment: random-resized crop needs its box table.');
  }
  const words = [
    g.height,
    g.width,
    g.padding,
    +g.reflect,
    +g.flip,
    g.brightness,
    g.contrast,
    g.seed,
    g.epoch,
    rec.height,
    rec.width,
    mode,
    mode === 1 ? g.rrcTable!.length : 0,
  ];
  const aug = uniformBuffer(
    env,
    [...words, 0, 0, 0].map((u) => ({ u })),
    'gather_images_augment aug',
  );
  const table = mode === 1 ? g.rrcTable! : new Uint32Array(1);
  const tableBuf = env.pool.acquire(
    Math.max(16, table.byteLength),
    USAGE.STORAGE | USAGE.COPY_DST,
    'gather_images_augment rrc table',
  );
  env.device.queue.writeBuffer(tableBuf, 0, table.buffer as ArrayBuffer, table.byteOffset, table.byteLength);
  const d = await prepare(env, 'gather_images_augment', 0, { ...a, classes: 0 }, [
    a.packed,
    a.idx,
    a.norm,
    a.out,
    null,
    null,
    null,
    aug,
    tableBuf,
  ]);
  return { ...d, aug };
}

/** X = normalise(images[idx]); norm holds [mul_0..mul_C-1, add_0..add_C-1]. */
export function prepareGatherImages(
  env: KernelEnv,
  a: {
    B: number;
    features: number;
    channels: number;
    packed: TensorView;
    idx: TensorView;
    norm: TensorView;
    out: TensorView;
  },
): Promise<GatherDispatch> {
  requireLength(a.out, a.B * a.features, 'gather_images output');
  requireLength(a.norm, 2 * a.channels, 'gather_images norm');
  return prepare(env, 'gather_images', 0, { ...a, classes: 0 }, [a.packed, a.idx, a.norm, a.out, null, null]);
}

export function prepareGatherRows(
  env: KernelEnv,
  a: { B: number; features: number; rows: TensorView; idx: TensorView; out: TensorView },
): Promise<GatherDispatch> {
  requireLength(a.out, a.B * a.features, 'gather_rows output');
  // Rows that are whole vec4s (features a multiple of 4) are read through binding 7 instead.
  const vec4 = a.features % 4 === 0;
  return prepare(env, vec4 ? 'gather_rows_vec4' : 'gather_rows', 0, { ...a, channels: 1, classes: 0 }, [
    null,
    a.idx,
    null,
    a.out,
    null,
    vec4 ? null : a.rows,
    vec4 ? a.rows : null,
  ]);
}

/** mode 0: u32 labels; 1: f32 label (one BCE output); 2: one-hot f32 [B, classes]. */
export function prepareGatherLabels(
  env: KernelEnv,
  a: { B: number; classes: number; mode: 0 | 1 | 2; labels: TensorView; idx: TensorView; out: TensorView },
): Promise<GatherDispatch> {
  requireLength(a.out, a.mode === 2 ? a.B * a.classes : a.B, 'gather_labels output');
  return prepare(env, 'gather_labels', a.mode, { ...a, features: 1, channels: 1 }, [
    a.labels,
    a.idx,
    null,
    null,
    a.out,
    null,
  ]);
}
