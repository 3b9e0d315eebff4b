// Per-channel input normalisation, described by a plain JSON object that is saved with the model so
// prediction preprocesses exactly like training did.
//
//   scale:       y = x / 255                          (x is the uint8 pixel)
//   standardize: y = (x / 255 - mean[c]) / std[c]     (mean and std in [0, 1] units, c = channel)
//
// mean/std are in [0, 1] units (torchvision convention: MNIST is mean 0.1307, std 0.3081) so the
// numbers a user reads in papers can be pasted in unchanged.
//
// It is applied as y = byte * mul[c] + add[c] (normalizationMulAdd): by the GPU's gather kernels,
// and by the demo for a single picture, so every path uses the same coefficients.

import { ConfigError, ShapeError } from '../errors.js';
import type { ImageSet } from './types.js';

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

/** computeNormalization of the records of an ImageSet held in memory. */
export function imageSetNormalization(s: ImageSet, kind: 'standardize' | 'scale'): Normalization {
  return computeNormalization(s.images, s.channels, kind);
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
