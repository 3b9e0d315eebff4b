// Seeded per-sample image augmentation on uint8 NHWC records (H x W x C, channels interleaved).
//
// Order, per sample (fixed, so the same generator state always gives the same image):
//   1. random crop: pad every side by `pad` pixels (zeros, or the nearest edge pixel), then cut an
//      H x W window at offset (dy, dx), each uniform in [0, 2*pad]; offset (pad, pad) is the identity.
//   2. horizontal flip of the cropped image, with probability `flip` (0.5 when `flip: true`).
//   3. contrast: v' = m + c * (v - m), m = mean of all bytes of the image after steps 1-2,
//      c uniform in [1 - contrast, 1 + contrast].
//   4. brightness: v'' = v' + b, b uniform in [-brightness, brightness] * 255.
//   Steps 3-4 round to nearest and clamp to [0, 255] once, at the end.
// Steps 1-2 are one gather pass (no padded copy is ever built); 3-4 are one 256-entry table.
//
// Random draws happen in the order dy, dx, flip, brightness, contrast, and only for the enabled
// steps; sampleAugmentParams is separate from applyAugmentParams so tests and tools can see what was
// drawn.

import { ConfigError, ShapeError } from '../errors.js';
import type { Rng } from '../rng.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface AugmentOptions {
  /** Random crop after padding each side by `pad` pixels (fill 'zero' by default). */
  crop?: { pad: number; fill?: 'zero' | 'edge' };
  /** Horizontal flip: true means probability 0.5, a number is the probability. */
  flip?: boolean | number;
  /** Brightness jitter as a fraction of 255, in [0, 1]. */
  brightness?: number;
  /** Contrast jitter: factor drawn from [1 - contrast, 1 + contrast], contrast in [0, 1]. */
  contrast?: number;
}

/** What was drawn for one sample. The identity is {dy: pad, dx: pad, flip: false, brightness: 0, contrast: 1}. */
export interface AugmentParams {
  dy: number;
  dx: number;
  flip: boolean;
  /** Added to every byte after contrast, in pixel units. */
  brightness: number;
  /** Contrast factor around the image mean. */
  contrast: number;
}

/** Checks options (from a config file or the CLI) and returns them with defaults filled in. */
export function validateAugmentOptions(value: unknown, shape?: ImageShape): AugmentOptions {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(`augment options must be an object, got ${String(value)}`);
  }
  const v = value as Record<string, unknown>;
  const out: AugmentOptions = {};
  if (v.crop !== undefined) {
    const crop = v.crop as Record<string, unknown> | null;
    const pad = crop?.pad;
    if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0) {
      throw new ConfigError(`augment.crop.pad must be an integer >= 0, got ${JSON.stringify(pad)}`);
    }
    const fill = crop?.fill ?? 'zero';
    if (fill !== 'zero' && fill !== 'edge') {
      throw new ConfigError(`augment.crop.fill must be 'zero' or 'edge', got ${JSON.stringify(fill)}`);
    }
    if (shape && (pad > shape.height || pad > shape.width)) {
      throw new ConfigError(
        `augment.crop.pad ${pad} is larger than the ${shape.height}x${shape.width} image; use pad <= ${Math.min(shape.height, shape.width)}`,
      );
    }
    out.crop = { pad, fill };
  }
  if (v.flip !== undefined) {
    const p = v.flip === true ? 0.5 : v.flip === false ? 0 : v.flip;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new ConfigError(
        `augment.flip must be a boolean or a probability in [0, 1], got ${JSON.stringify(v.flip)}`,
      );
    }
    out.flip = p;
  }
  for (const key of ['brightness', 'contrast'] as const) {
    const x = v[key];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) {
      throw new ConfigError(`augment.${key} must be a number in [0, 1], got ${JSON.stringify(x)}`);
    }
    out[key] = x;
  }
  return out;
}

function flipProbability(opts: AugmentOptions): number {
  return opts.flip === true ? 0.5 : typeof opts.flip === 'number' ? opts.flip : 0;
}

/** Draws one sample's parameters (see the header for the order of draws). */
export function sampleAugmentParams(rng: Rng, opts: AugmentOptions): AugmentParams {
  const pad = opts.crop?.pad ?? 0;
  let dy = pad;
  let dx = pad;
  if (pad > 0) {
    dy = rng.int(2 * pad + 1);
    dx = rng.int(2 * pad + 1);
  }
  const p = flipProbability(opts);
  const flip = p > 0 ? rng.next() < p : false;
  const b = opts.brightness ?? 0;
  const brightness = b > 0 ? rng.uniform(-b, b) * 255 : 0;
  const c = opts.contrast ?? 0;
  const contrast = c > 0 ? rng.uniform(1 - c, 1 + c) : 1;
  return { dy, dx, flip, brightness, contrast };
}

// Scratch table for the photometric step, reused across calls (single-threaded).
const photometric = new Uint8Array(256);

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
): void {
  const { height: H, width: W, channels: C } = shape;
  const n = H * W * C;
  if (src.length !== n || dst.length !== n) {
    throw new ShapeError(
      `augment: records must be ${H}x${W}x${C} = ${n} bytes; got src ${src.length}, dst ${dst.length}`,
    );
  }
  if (
    src.buffer === dst.buffer &&
    src.byteOffset < dst.byteOffset + n &&
    dst.byteOffset < src.byteOffset + n
  ) {
    throw new ShapeError('augment: src and dst overlap; pass a separate scratch buffer as dst');
  }
  const pad = opts.crop?.pad ?? 0;
  const edge = opts.crop?.fill === 'edge';
  const oy = params.dy - pad;
  const ox = params.dx - pad;
  if (Math.abs(oy) > pad || Math.abs(ox) > pad) {
    throw new ConfigError(`augment: crop offset (${params.dy}, ${params.dx}) is outside [0, ${2 * pad}]`);
  }
  // Geometry: output (y, x) reads source (y + oy, x' + ox) with x' = W-1-x when flipped.
  for (let y = 0; y < H; y++) {
    let sy = y + oy;
    const rowInside = sy >= 0 && sy < H;
    if (!rowInside && edge) sy = sy < 0 ? 0 : H - 1;
    for (let x = 0; x < W; x++) {
      const d = (y * W + x) * C;
      let sx = (params.flip ? W - 1 - x : x) + ox;
      const inside = rowInside && sx >= 0 && sx < W;
      if (!inside && !edge) {
        for (let c = 0; c < C; c++) dst[d + c] = 0;
        continue;
      }
      if (sx < 0) sx = 0;
      else if (sx >= W) sx = W - 1;
      const s = (sy * W + sx) * C;
      for (let c = 0; c < C; c++) dst[d + c] = src[s + c];
    }
  }
  if (params.contrast === 1 && params.brightness === 0) return;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += dst[i];
  const m = sum / n;
  for (let v = 0; v < 256; v++) {
    const t = Math.round(m + params.contrast * (v - m) + params.brightness);
    photometric[v] = t < 0 ? 0 : t > 255 ? 255 : t;
  }
  for (let i = 0; i < n; i++) dst[i] = photometric[dst[i]];
}

/** Draws parameters from `rng` and applies them; returns what was drawn. */
export function augmentRecord(
  src: Uint8Array,
  dst: Uint8Array,
  shape: ImageShape,
  opts: AugmentOptions,
  rng: Rng,
): AugmentParams {
  const params = sampleAugmentParams(rng, opts);
  applyAugmentParams(src, dst, shape, opts, params);
  return params;
}

/** True when the options change nothing (so the pipeline can skip the copy). */
export function isIdentityAugment(opts: AugmentOptions | undefined): boolean {
  if (!opts) return true;
  return (opts.crop?.pad ?? 0) === 0 && flipProbability(opts) === 0 && !opts.brightness && !opts.contrast;
}
