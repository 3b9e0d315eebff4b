// Per-channel input normalisation, described by a plain JSON object that is saved with the model so
// prediction preprocesses exactly like training did.
//
//   scale:       y = x / 255                          (x is the uint8 pixel)
//   standardize: y = (x / 255 - mean[c]) / std[c]     (mean and std in [0, 1] units, c = channel)
//
// mean/std are in [0, 1] units (torchvision convention: MNIST is mean 0.1307, std 0.3081) so the
// numbers a user reads in papers can be pasted in unchanged.
//
// applyNormalization goes through a 256-entry table per channel, computed in float64 and rounded
// once to float32: the result is the correctly rounded float32 of the float64 formula, which is both
// faster than arithmetic per pixel and exactly checkable in tests.

import { ConfigError, ShapeError } from '../errors.js';

// Type aliases, not interfaces: they carry an implicit index signature, so a normalisation is
// assignable to the JSON types of the model-file metadata it is saved in.
export type ScaleNormalization = {
  kind: 'scale';
};

export type StandardizeNormalization = {
  kind: 'standardize';
  /** Per-channel mean in [0, 1] units, one entry per channel. */
  mean: number[];
  /** Per-channel standard deviation in [0, 1] units, every entry > 0. */
  std: number[];
};

/** JSON-able description of the preprocessing; store it with the model. */
export type Normalization = ScaleNormalization | StandardizeNormalization;

/**
 * Checks a normalisation that came from options or from a model file (untrusted JSON) and returns a
 * fresh copy. `channels`, when given, must match the number of mean/std entries.
 */
export function validateNormalization(value: unknown, channels?: number): Normalization {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(
      `normalization must be an object like {kind:'scale'} or {kind:'standardize', mean, std}, got ${String(value)}`,
    );
  }
  const v = value as Record<string, unknown>;
  if (v.kind === 'scale') return { kind: 'scale' };
  if (v.kind !== 'standardize') {
    throw new ConfigError(
      `normalization.kind must be 'scale' or 'standardize', got ${JSON.stringify(v.kind)}`,
    );
  }
  const mean = numberArray(v.mean, 'mean');
  const std = numberArray(v.std, 'std');
  if (mean.length !== std.length || mean.length === 0) {
    throw new ConfigError(
      `normalization mean and std need one entry per channel; got ${mean.length} means and ${std.length} stds`,
    );
  }
  if (channels !== undefined && mean.length !== channels) {
    throw new ConfigError(
      `normalization has ${mean.length} channel(s) but the images have ${channels}; recompute it for this dataset`,
    );
  }
  std.forEach((s, c) => {
    if (!(s > 0)) {
      throw new ConfigError(
        `normalization std of channel ${c} is ${s}; it must be > 0 (a constant channel cannot be standardised — ` +
          `use {kind:'scale'} or give a positive std)`,
      );
    }
  });
  return { kind: 'standardize', mean, std };
}

function numberArray(value: unknown, name: string): number[] {
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new ConfigError(
      `normalization.${name} must be an array of finite numbers, got ${JSON.stringify(value)}`,
    );
  }
  return (value as number[]).slice();
}

/** Number of interleaved channels the normalisation is tied to (1 for 'scale', which works for any). */
export function normalizationChannels(norm: Normalization): number {
  return norm.kind === 'scale' ? 1 : norm.mean.length;
}

// Tables keyed by the normalisation object: callers pass the same object for every batch, so the
// table is built once. Normalisation objects are treated as immutable after first use.
const tables = new WeakMap<Normalization, Float32Array>();

/** The float32 value of every (channel, byte) pair, laid out [channel * 256 + byte]. */
export function normalizationTable(norm: Normalization): Float32Array {
  let t = tables.get(norm);
  if (t) return t;
  const n = validateNormalization(norm);
  if (n.kind === 'scale') {
    t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = v / 255;
  } else {
    const C = n.mean.length;
    t = new Float32Array(256 * C);
    for (let c = 0; c < C; c++) {
      for (let v = 0; v < 256; v++) t[c * 256 + v] = (v / 255 - n.mean[c]) / n.std[c];
    }
  }
  tables.set(norm, t);
  return t;
}

/**
 * Normalises uint8 NHWC bytes (one record or several back to back) into float32.
 * Writes `bytes.length` values into `out` starting at `outOffset` (allocating `out` when omitted)
 * and returns `out`. Byte k belongs to channel k % C, so `bytes` must start at a pixel boundary.
 */
export function applyNormalization(
  bytes: Uint8Array,
  norm: Normalization,
  out?: Float32Array,
  outOffset = 0,
): Float32Array {
  const dst = out ?? new Float32Array(bytes.length);
  normalizeRange(bytes, 0, bytes.length, norm, dst, outOffset);
  return dst;
}

/**
 * applyNormalization of bytes [srcOffset, srcOffset + n) of `src` into `dst` at `dstOffset`; taking
 * offsets instead of views keeps the per-record hot loops free of allocation.
 */
export function normalizeRange(
  src: Uint8Array,
  srcOffset: number,
  n: number,
  norm: Normalization,
  dst: Float32Array,
  dstOffset: number,
): void {
  const table = normalizationTable(norm);
  const C = table.length / 256;
  if (srcOffset < 0 || srcOffset + n > src.length) {
    throw new ShapeError(
      `applyNormalization: input holds ${src.length} bytes, cannot read ${n} at ${srcOffset}`,
    );
  }
  if (n % C !== 0) {
    throw new ShapeError(`applyNormalization: ${n} bytes is not a whole number of ${C}-channel pixels`);
  }
  if (dstOffset < 0 || dstOffset + n > dst.length) {
    throw new ShapeError(
      `applyNormalization: output holds ${dst.length} floats, cannot write ${n} at offset ${dstOffset}`,
    );
  }
  const d = dstOffset - srcOffset;
  const end = srcOffset + n;
  if (C === 1) {
    for (let i = srcOffset; i < end; i++) dst[d + i] = table[src[i]];
  } else if (C === 3) {
    for (let i = srcOffset; i < end; i += 3) {
      dst[d + i] = table[src[i]];
      dst[d + i + 1] = table[256 + src[i + 1]];
      dst[d + i + 2] = table[512 + src[i + 2]];
    }
  } else {
    for (let i = 0; i < n; i++) dst[dstOffset + i] = table[(i % C) * 256 + src[srcOffset + i]];
  }
}

/**
 * Exact per-channel statistics from byte histograms: counting is integer-exact, and the mean and
 * variance are then computed from 256 bins in float64 (two passes), so there is no accumulation error
 * however many pixels are added.
 */
export class PixelHistogram {
  private readonly counts: Float64Array;

  constructor(readonly channels: number) {
    if (!(Number.isInteger(channels) && channels > 0)) {
      throw new ConfigError(`PixelHistogram needs a positive channel count, got ${channels}`);
    }
    this.counts = new Float64Array(256 * channels);
  }

  /** Adds whole pixels (NHWC bytes starting at a pixel boundary). */
  add(bytes: Uint8Array): void {
    const C = this.channels;
    if (bytes.length % C !== 0) {
      throw new ShapeError(
        `PixelHistogram.add: ${bytes.length} bytes is not a whole number of ${C}-channel pixels`,
      );
    }
    const h = this.counts;
    if (C === 1) {
      for (let i = 0; i < bytes.length; i++) h[bytes[i]]++;
    } else {
      for (let i = 0; i < bytes.length; i++) h[(i % C) * 256 + bytes[i]]++;
    }
  }

  /** Mean and population std per channel in [0, 1] units (std 0 for a constant channel). */
  statistics(): { mean: number[]; std: number[] } {
    const mean: number[] = [];
    const std: number[] = [];
    for (let c = 0; c < this.channels; c++) {
      let n = 0;
      let s = 0;
      for (let v = 0; v < 256; v++) {
        n += this.counts[c * 256 + v];
        s += v * this.counts[c * 256 + v];
      }
      if (n === 0) throw new ConfigError('cannot compute normalization statistics from an empty dataset');
      const m = s / n;
      let q = 0;
      for (let v = 0; v < 256; v++) q += this.counts[c * 256 + v] * (v - m) * (v - m);
      mean.push(m / 255);
      std.push(Math.sqrt(q / n) / 255);
    }
    return { mean, std };
  }

  /** Mean and population std per channel in [0, 1] units. Throws ConfigError for a constant channel. */
  toNormalization(): StandardizeNormalization {
    const { mean, std } = this.statistics();
    const c = std.findIndex((s) => s === 0);
    if (c >= 0) {
      throw new ConfigError(
        `channel ${c} has the same value (${mean[c] * 255}) in every pixel, so its std is 0 and it cannot be standardised; ` +
          `use normalization {kind:'scale'} or pass mean/std explicitly`,
      );
    }
    return { kind: 'standardize', mean, std };
  }
}

/**
 * The GPU's form of a normalisation: y = byte * mul[c] + add[c] (shaders/data.wgsl), i.e.
 * mul = 1 / (255 std), add = -mean / std, or (1/255, 0) for 'scale'. A one-entry mean/std applies
 * to every channel; otherwise there must be one entry per channel. This is the one place the
 * API, the CLI and the demo turn a normalisation into the gather's coefficients.
 */
export function normalizationMulAdd(norm: Normalization, channels: number): { mul: number[]; add: number[] } {
  const n = validateNormalization(norm);
  const ch = Array.from({ length: channels }, (_, c) => c);
  if (n.kind === 'scale') return { mul: ch.map(() => 1 / 255), add: ch.map(() => 0) };
  if (n.mean.length !== 1 && n.mean.length !== channels) {
    throw new ConfigError(
      `normalization has ${n.mean.length} channel(s) but the images have ${channels}; recompute it for this dataset`,
    );
  }
  const at = (a: number[], c: number): number => a[a.length === 1 ? 0 : c];
  return {
    mul: ch.map((c) => 1 / (255 * at(n.std, c))),
    add: ch.map((c) => -at(n.mean, c) / at(n.std, c)),
  };
}

/**
 * The normalisation a training run saves with its model: 'scale', or the per-channel mean and std
 * of `images` (exact, from byte histograms) rounded to 6 decimals so the model file reads cleanly.
 * A channel with one value everywhere gets std 1 (in [0, 1] units) instead of failing: it then
 * only shifts by its mean.
 */
export function computeNormalization(
  images: Uint8Array,
  channels: number,
  kind: 'standardize' | 'scale',
): Normalization {
  if (kind === 'scale') return { kind: 'scale' };
  const hist = new PixelHistogram(channels);
  hist.add(images);
  return histogramNormalization(hist);
}

/**
 * The standardisation computeNormalization gives, from a histogram filled elsewhere (e.g. one
 * shard at a time): mean and std rounded to 6 decimals, a constant channel's std 1.
 */
export function histogramNormalization(hist: PixelHistogram): Normalization {
  const { mean, std } = hist.statistics();
  const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;
  return {
    kind: 'standardize',
    mean: mean.map(round6),
    std: std.map((s) => (s > 0 ? round6(s) : 1)),
  };
}
