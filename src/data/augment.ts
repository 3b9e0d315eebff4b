// Seeded per-sample image augmentation on uint8 NHWC records (H x W x C, channels interleaved).
// This is the CPU twin of the GPU gather `gather_images_augment` (shaders/data.wgsl): both draw
// from the same counter hash and use only integer arithmetic, so they agree byte for byte.
//
// Order, per sample (fixed):
//   1a. random-resized crop (`rrc`, augment-rrc.ts): a box of the record resampled to the output
//      size, which may be smaller than the record; records larger than the output without `rrc`
//      take the centre output-sized box (evaluation's crop). Excludes 1b.
//   1b. random crop: pad every side by `padding` pixels (zeros, or a mirror image of the border
//      without repeating the edge pixel, numpy's 'reflect'), then cut an H x W window at offset
//      (dy, dx), each in [0, 2*padding]; offset (padding, padding) is the identity.
//   2. horizontal flip of the cropped image, with probability 1/2.
//   3. contrast then brightness, in integers: S = sum of all bytes after steps 1-2, n = H*W*C,
//      m = round(S / n) (half up), v' = clamp(m + ((cq * (v - m) + 128) >> 8) + b, 0, 255) where
//      cq / 256 is the contrast factor, cq in [256 - round(256 contrast), 256 + round(256 contrast)],
//      and b in [-round(255 brightness), round(255 brightness)]. `>>` is an arithmetic shift, so
//      the factor rounds half up in both languages; the identity (cq 256, b 0) changes nothing.
//
// Draws: draw k of sample s in epoch e under seed `seed` is counterHash(seed, AUGMENT_STREAM + k,
// e, s) from src/rng.ts: k = 0 dy, 1 dx, 2 flip (top bit), 3 brightness, 4 contrast, 5 rrc box,
// 6 and 7 its corner (y, x), each reduced modulo its range (a bias below 2^-24 for these ranges). Every draw depends only on (seed, epoch,
// sample index in the dataset), never on batch order, so a resumed run and the GPU redraw it
// exactly, and turning one step on leaves the others' draws unchanged.

import { ConfigError, ShapeError } from '../errors.js';
import { counterHash } from '../rng.js';
import {
  centreBox,
  resampleBox,
  rrcBox,
  rrcTable,
  validateRrc,
  type Box,
  type RrcOptions,
  type Size2,
} from './augment-rrc.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

// A type alias (implicit index signature) so it can be saved in JSON metadata as it is.
export type AugmentOptions = {
  /** Random crop after padding each side by `padding` pixels; `mode` fills the border. */
  crop?: { padding: number; mode: 'zero' | 'reflect' };
  /** Horizontal flip with probability 1/2. */
  flip?: boolean;
  /** Brightness jitter as a fraction of 255, in [0, 1]. */
  brightness?: number;
  /** Contrast jitter: factor drawn from [1 - contrast, 1 + contrast] in steps of 1/256, contrast in [0, 1]. */
  contrast?: number;
  /** Random-resized crop (augment-rrc.ts): a random box of the record, resampled to the output size. */
  rrc?: RrcOptions;
};

/** What was drawn for one sample. The identity is {dy: p, dx: p, flip: false, brightness: 0, contrastQ: 256}. */
export interface AugmentParams {
  dy: number;
  dx: number;
  flip: boolean;
  /** Added to every byte after contrast, in pixel units (an integer). */
  brightness: number;
  /** Contrast factor times 256 (an integer). */
  contrastQ: number;
  /** The box of the record resampled to the output (rrc, or the centre of a larger record). */
  box?: Box;
}

/** Where the output comes from when it is smaller than the record (or rrc is on). */
export interface AugmentGeometry {
  /** The output [height, width]; default: the record's. */
  out?: Size2;
}

/** Stream tags of the five draws (k added); distinct from the dropout streams. */
export const AUGMENT_STREAM = 0xa0a0_0000;

/** Images larger than this would overflow the u32 sum behind the contrast mean on the GPU. */
export const MAX_AUGMENT_FEATURES = 8_000_000;

/** Checks options (from a config file or the CLI) and returns a normalised copy. */
export function validateAugmentOptions(value: unknown, shape?: ImageShape): AugmentOptions {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(`augment options must be an object, got ${String(value)}`);
  }
  const v = value as Record<string, unknown>;
  const out: AugmentOptions = {};
  if (v.crop !== undefined) {
    const crop = v.crop as Record<string, unknown> | null;
    const padding = crop?.padding;
    if (typeof padding !== 'number' || !Number.isInteger(padding) || padding < 0) {
      throw new ConfigError(`augment.crop.padding must be an integer >= 0, got ${JSON.stringify(padding)}`);
    }
    const mode = crop?.mode ?? 'zero';
    if (mode !== 'zero' && mode !== 'reflect') {
      throw new ConfigError(`augment.crop.mode must be 'zero' or 'reflect', got ${JSON.stringify(mode)}`);
    }
    if (shape && (padding > shape.height || padding > shape.width)) {
      throw new ConfigError(
        `augment.crop.padding ${padding} is larger than the ${shape.height}x${shape.width} image; use padding <= ${Math.min(shape.height, shape.width)}`,
      );
    }
    out.crop = { padding, mode };
  }
  if (v.rrc !== undefined && v.rrc !== false) {
    if (out.crop) {
      throw new ConfigError(
        'augment: choose crop (pad and crop back) or rrc (random-resized crop), not both',
      );
    }
    out.rrc = validateRrc(v.rrc === true ? {} : v.rrc);
  }
  if (v.flip !== undefined) {
    if (typeof v.flip !== 'boolean') {
      throw new ConfigError(`augment.flip must be true or false, got ${JSON.stringify(v.flip)}`);
    }
    out.flip = v.flip;
  }
  for (const key of ['brightness', 'contrast'] as const) {
    const x = v[key];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) {
      throw new ConfigError(`augment.${key} must be a number in [0, 1], got ${JSON.stringify(x)}`);
    }
    out[key] = x;
  }
  if (shape && shape.height * shape.width * shape.channels > MAX_AUGMENT_FEATURES) {
    throw new ConfigError(
      `augment: images of ${shape.height}x${shape.width}x${shape.channels} are too large to augment (at most ${MAX_AUGMENT_FEATURES} values); resize them first`,
    );
  }
  return out;
}

/** The integer ranges behind the options (what the GPU kernel's uniform holds). */
export interface AugmentRanges {
  padding: number;
  reflect: boolean;
  flip: boolean;
  /** b is drawn from [-brightness, brightness]. */
  brightness: number;
  /** cq is drawn from [256 - contrast, 256 + contrast]. */
  contrast: number;
}

export function augmentRanges(opts: AugmentOptions): AugmentRanges {
  return {
    padding: opts.crop?.padding ?? 0,
    reflect: opts.crop?.mode === 'reflect',
    flip: opts.flip === true,
    brightness: Math.round((opts.brightness ?? 0) * 255),
    contrast: Math.round((opts.contrast ?? 0) * 256),
  };
}

/** Draws sample `sample`'s parameters for `epoch` (see the header). */
export function augmentParamsFor(
  opts: AugmentOptions,
  seed: number,
  epoch: number,
  sample: number,
  record?: Size2,
  geometry: AugmentGeometry = {},
): AugmentParams {
  const r = augmentRanges(opts);
  const h = (k: number): number => counterHash(seed, AUGMENT_STREAM + k, epoch, sample);
  const p = r.padding;
  const params: AugmentParams = {
    dy: p > 0 ? h(0) % (2 * p + 1) : p,
    dx: p > 0 ? h(1) % (2 * p + 1) : p,
    flip: r.flip && h(2) >>> 31 === 1,
    brightness: r.brightness > 0 ? (h(3) % (2 * r.brightness + 1)) - r.brightness : 0,
    contrastQ: r.contrast > 0 ? 256 - r.contrast + (h(4) % (2 * r.contrast + 1)) : 256,
  };
  const out = geometry.out ?? record;
  if (opts.rrc) {
    if (!record) throw new ConfigError('augment: rrc needs the record height and width');
    const table = cachedTable(record, opts.rrc);
    params.box = rrcBox(table, h(5) % table.length, h(6), h(7), record);
  } else if (record && out && (out.height !== record.height || out.width !== record.width)) {
    params.box = centreBox(record, out);
  }
  return params;
}

const tables = new Map<string, Uint32Array>();

/** rrcTable, computed once per record size and options. */
export function cachedTable(record: Size2, rrc: RrcOptions): Uint32Array {
  const key = `${record.height}x${record.width}:${rrc.scale.join()}:${rrc.ratio.join()}`;
  let t = tables.get(key);
  if (!t) tables.set(key, (t = rrcTable(record, rrc)));
  return t;
}

/** Mirror index i into [0, n) without repeating the edge (numpy 'reflect'); any i, any n >= 1. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m >= n ? period - m : m;
}

/**
 * Writes the augmented image into `dst` (overwrites every byte). `src` and `dst` must be distinct
 * buffers of H*W*C bytes each.
 */
export function applyAugmentParams(
  src: Uint8Array,
  dst: Uint8Array,
  shape: ImageShape,
  opts: AugmentOptions,
  params: AugmentParams,
  geometry: AugmentGeometry = {},
): void {
  const { height: H, width: W, channels: C } = { ...shape, ...geometry.out };
  const n = H * W * C;
  const recordBytes = shape.height * shape.width * C;
  if (src.length !== recordBytes || dst.length !== n) {
    throw new ShapeError(
      `augment: records must be ${shape.height}x${shape.width}x${C} = ${recordBytes} bytes and outputs ${H}x${W}x${C} = ${n}; got src ${src.length}, dst ${dst.length}`,
    );
  }
  if (
    src.buffer === dst.buffer &&
    src.byteOffset < dst.byteOffset + n &&
    dst.byteOffset < src.byteOffset + n
  ) {
    throw new ShapeError('augment: src and dst overlap; pass a separate scratch buffer as dst');
  }
  if (params.box) {
    resampleBox(src, dst, shape, { height: H, width: W }, C, params.box, params.flip);
  } else {
    if (recordBytes !== n) {
      throw new ShapeError(`augment: a ${H}x${W} output of a larger record needs a box (rrc or centre)`);
    }
    applyCropFlip(src, dst, shape, opts, params);
  }
  jitter(dst, params);
}

/** Step 1b and 2: pad-crop and flip of a record into an output of its own size. */
function applyCropFlip(
  src: Uint8Array,
  dst: Uint8Array,
  shape: ImageShape,
  opts: AugmentOptions,
  params: AugmentParams,
): void {
  const { height: H, width: W, channels: C } = shape;
  const pad = opts.crop?.padding ?? 0;
  const reflect = opts.crop?.mode === 'reflect';
  const oy = params.dy - pad;
  const ox = params.dx - pad;
  if (Math.abs(oy) > pad || Math.abs(ox) > pad) {
    throw new ConfigError(`augment: crop offset (${params.dy}, ${params.dx}) is outside [0, ${2 * pad}]`);
  }
  // Geometry: output (y, x) reads source (y + oy, x' + ox) with x' = W-1-x when flipped.
  for (let y = 0; y < H; y++) {
    let sy = y + oy;
    const rowInside = sy >= 0 && sy < H;
    if (reflect) sy = reflectIndex(sy, H);
    for (let x = 0; x < W; x++) {
      const d = (y * W + x) * C;
      let sx = (params.flip ? W - 1 - x : x) + ox;
      if (!reflect && !(rowInside && sx >= 0 && sx < W)) {
        for (let c = 0; c < C; c++) dst[d + c] = 0;
        continue;
      }
      if (reflect) sx = reflectIndex(sx, W);
      const s = (sy * W + sx) * C;
      for (let c = 0; c < C; c++) dst[d + c] = src[s + c];
    }
  }
}

/** Step 3: contrast then brightness, in place. */
function jitter(dst: Uint8Array, params: AugmentParams): void {
  const n = dst.length;
  const cq = params.contrastQ;
  const b = params.brightness;
  if (cq === 256 && b === 0) return;
  let m = 0;
  if (cq !== 256) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += dst[i];
    m = Math.floor((2 * sum + n) / (2 * n));
  }
  for (let i = 0; i < n; i++) {
    const t = m + ((cq * (dst[i] - m) + 128) >> 8) + b;
    dst[i] = t < 0 ? 0 : t > 255 ? 255 : t;
  }
}

/** Draws sample `sample`'s parameters for `epoch` and applies them; returns what was drawn. */
export function augmentRecord(
  src: Uint8Array,
  dst: Uint8Array,
  shape: ImageShape,
  opts: AugmentOptions,
  seed: number,
  epoch: number,
  sample: number,
  geometry: AugmentGeometry = {},
): AugmentParams {
  const params = augmentParamsFor(opts, seed, epoch, sample, shape, geometry);
  applyAugmentParams(src, dst, shape, opts, params, geometry);
  return params;
}

/** True when the options change nothing (so the pipeline can skip the copy). */
export function isIdentityAugment(opts: AugmentOptions | undefined): boolean {
  if (!opts) return true;
  const r = augmentRanges(opts);
  return r.padding === 0 && !r.flip && r.brightness === 0 && r.contrast === 0 && !opts.rrc;
}
