import { describe, expect, it } from 'vitest';

import {
  applyAugmentParams,
  augmentParamsFor,
  augmentRecord,
  reflectIndex,
  validateAugmentOptions,
} from '../../src/data/augment.js';
import type { AugmentOptions, AugmentParams, ImageShape } from '../../src/data/augment.js';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function randomImage(shape: ImageShape, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: shape.height * shape.width * shape.channels }, () => rng.int(256));
}

/** numpy's 'reflect' for one step past the edge, written out (pad < n): -1 -> 1, n -> n-2. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

/** Reference: build the padded image explicitly, crop, then flip (the documented order). */
function referenceGeometry(
  src: Uint8Array,
  s: ImageShape,
  pad: number,
  reflect: boolean,
  p: AugmentParams,
): Uint8Array {
  const { height: H, width: W, channels: C } = s;
  const PH = H + 2 * pad;
  const PW = W + 2 * pad;
  const padded = new Uint8Array(PH * PW * C);
  for (let y = 0; y < PH; y++) {
    for (let x = 0; x < PW; x++) {
      let sy = y - pad;
      let sx = x - pad;
      const inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
      if (!inside && !reflect) continue;
      sy = mirror(sy, H);
      sx = mirror(sx, W);
      for (let c = 0; c < C; c++) padded[(y * PW + x) * C + c] = src[(sy * W + sx) * C + c];
    }
  }
  const cropped = new Uint8Array(H * W * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) cropped[(y * W + x) * C + c] = padded[((y + p.dy) * PW + x + p.dx) * C + c];
    }
  }
  if (!p.flip) return cropped;
  const out = new Uint8Array(H * W * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) out[(y * W + x) * C + c] = cropped[(y * W + (W - 1 - x)) * C + c];
    }
  }
  return out;
}

const shapes: ImageShape[] = [
  { height: 1, width: 1, channels: 1 },
  { height: 7, width: 13, channels: 3 },
  { height: 28, width: 28, channels: 1 },
  { height: 9, width: 4, channels: 2 },
];

const ident = (pad: number): AugmentParams => ({
  dy: pad,
  dx: pad,
  flip: false,
  brightness: 0,
  contrastQ: 256,
});

describe('augmentation', () => {
  it('draws depend on (seed, epoch, sample) only', () => {
    const shape = { height: 12, width: 11, channels: 3 };
    const src = randomImage(shape, 1);
    const opts: AugmentOptions = {
      crop: { padding: 3, mode: 'zero' },
      flip: true,
      brightness: 0.2,
      contrast: 0.3,
    };
    const dst = new Uint8Array(src.length);
    const again = new Uint8Array(src.length);
    const a = augmentRecord(src, dst, shape, opts, 42, 3, 17);
    // Other samples drawn in between change nothing: no generator state is shared.
    for (let s = 0; s < 5; s++) augmentParamsFor(opts, 42, 3, s);
    expect(augmentRecord(src, again, shape, opts, 42, 3, 17)).toEqual(a);
    expect(again).toEqual(dst);
    const differs = (seed: number, epoch: number, sample: number): boolean =>
      [0, 1, 2, 3, 4, 5, 6, 7].some(
        (k) =>
          JSON.stringify(augmentParamsFor(opts, seed, epoch, sample + k)) !==
          JSON.stringify(augmentParamsFor(opts, 42, 3, 17 + k)),
      );
    expect(differs(43, 3, 17)).toBe(true);
    expect(differs(42, 4, 17)).toBe(true);
    expect(differs(42, 3, 18)).toBe(true);
    // Turning a step on leaves the other steps' draws unchanged.
    const cropOnly = augmentParamsFor({ crop: opts.crop }, 42, 3, 17);
    expect([cropOnly.dy, cropOnly.dx]).toEqual([a.dy, a.dx]);
  });

  it('flip twice is the identity; identity parameters copy the image', () => {
    for (const shape of shapes) {
      const src = randomImage(shape, 3);
      const once = new Uint8Array(src.length);
      const twice = new Uint8Array(src.length);
      const flip = { ...ident(0), flip: true };
      applyAugmentParams(src, once, shape, {}, flip);
      applyAugmentParams(once, twice, shape, {}, flip);
      expect(twice).toEqual(src);
      if (shape.width > 1) expect(once).not.toEqual(src);
      const same = new Uint8Array(src.length);
      applyAugmentParams(src, same, shape, { crop: { padding: 1, mode: 'reflect' } }, ident(1));
      expect(same).toEqual(src);
    }
  });

  it('crop offsets stay in [0, 2*padding], cover the range, and flip happens about half the time', () => {
    const padding = 4;
    const seenY = new Set<number>();
    const seenX = new Set<number>();
    let flips = 0;
    const N = 4000;
    for (let i = 0; i < N; i++) {
      const p = augmentParamsFor({ crop: { padding, mode: 'zero' }, flip: true }, 5, 0, i);
      expect(p.dy).toBeGreaterThanOrEqual(0);
      expect(p.dy).toBeLessThanOrEqual(2 * padding);
      expect(p.dx).toBeGreaterThanOrEqual(0);
      expect(p.dx).toBeLessThanOrEqual(2 * padding);
      seenY.add(p.dy);
      seenX.add(p.dx);
      if (p.flip) flips++;
    }
    expect(seenY.size).toBe(2 * padding + 1);
    expect(seenX.size).toBe(2 * padding + 1);
    expect(Math.abs(flips / N - 0.5)).toBeLessThan(0.04);
    expect(augmentParamsFor({}, 5, 0, 1)).toEqual(ident(0));
  });

  it('reflectIndex mirrors without repeating the edge, for any distance', () => {
    expect([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => reflectIndex(i, 4))).toEqual([
      3, 2, 1, 0, 1, 2, 3, 2, 1, 0,
    ]);
    expect([-2, -1, 0, 1, 2].map((i) => reflectIndex(i, 1))).toEqual([0, 0, 0, 0, 0]);
    expect([-2, -1, 0, 1, 2, 3].map((i) => reflectIndex(i, 2))).toEqual([0, 1, 0, 1, 0, 1]);
  });

  it('crop and flip match an explicit pad-crop-flip reference (zero and reflect)', () => {
    for (const shape of shapes) {
      const src = randomImage(shape, 7);
      const dst = new Uint8Array(src.length);
      for (const mode of ['zero', 'reflect'] as const) {
        // One-step reflection in the reference needs padding < side (or a side of 1).
        const padding = Math.min(3, shape.height, shape.width) - (mode === 'reflect' ? 1 : 0) || 1;
        const opts: AugmentOptions = { crop: { padding, mode }, flip: true };
        for (let t = 0; t < 30; t++) {
          const p = augmentRecord(src, dst, shape, opts, 11, 0, t);
          expect(dst).toEqual(referenceGeometry(src, shape, padding, mode === 'reflect', p));
        }
      }
    }
  });

  it('zero padding: a white image shows exactly |offset| black rows and columns', () => {
    const shape = { height: 8, width: 8, channels: 1 };
    const src = new Uint8Array(64).fill(255);
    const dst = new Uint8Array(64);
    const opts: AugmentOptions = { crop: { padding: 3, mode: 'zero' } };
    applyAugmentParams(src, dst, shape, opts, { ...ident(3), dy: 0, dx: 5 });
    // dy = 0 shifts the content down by 3 (3 black rows on top); dx = 5 shifts left by 2.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) expect(dst[y * 8 + x]).toBe(y < 3 || x >= 6 ? 0 : 255);
    }
  });

  it('brightness and contrast: integer, rounded half up, clamped, around the rounded image mean', () => {
    const shape = { height: 1, width: 4, channels: 1 };
    const src = Uint8Array.of(10, 20, 30, 250);
    const dst = new Uint8Array(4);
    applyAugmentParams(src, dst, shape, {}, { ...ident(0), brightness: 10 });
    expect([...dst]).toEqual([20, 30, 40, 255]);
    applyAugmentParams(src, dst, shape, {}, { ...ident(0), brightness: -15 });
    expect([...dst]).toEqual([0, 5, 15, 235]);
    // sum 310, n 4: mean 77.5 rounds half up to 78; factor 2: 78 + 2 (v - 78).
    applyAugmentParams(src, dst, shape, {}, { ...ident(0), contrastQ: 512 });
    expect([...dst]).toEqual([0, 0, 0, 255]);
    // factor 0.5: 78 + round_half_up((v - 78) / 2): -34, -29, -24, 86.
    applyAugmentParams(src, dst, shape, {}, { ...ident(0), contrastQ: 128 });
    expect([...dst]).toEqual([44, 49, 54, 164]);
    for (let i = 0; i < 500; i++) {
      const p = augmentParamsFor({ brightness: 0.1, contrast: 0.25 }, 1, 2, i);
      expect(Number.isInteger(p.brightness) && Math.abs(p.brightness) <= 26).toBe(true);
      expect(p.contrastQ).toBeGreaterThanOrEqual(192);
      expect(p.contrastQ).toBeLessThanOrEqual(320);
    }
  });

  it('rejects bad options and buffers with named errors', () => {
    expect(() => validateAugmentOptions({ crop: { padding: -1 } })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ crop: { padding: 2, mode: 'mirror' } })).toThrow(/mode/);
    expect(() => validateAugmentOptions({ flip: 0.5 })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ brightness: -0.1 })).toThrow(ConfigError);
    expect(() =>
      validateAugmentOptions({ crop: { padding: 9 } }, { height: 8, width: 8, channels: 1 }),
    ).toThrow(/larger/);
    expect(validateAugmentOptions({ flip: true, crop: { padding: 4 } })).toEqual({
      flip: true,
      crop: { padding: 4, mode: 'zero' },
    });
    const shape = { height: 2, width: 2, channels: 1 };
    const buf = new Uint8Array(8);
    expect(() => applyAugmentParams(buf.subarray(0, 4), buf.subarray(2, 6), shape, {}, ident(0))).toThrow(
      ShapeError,
    );
    expect(() => applyAugmentParams(buf.subarray(0, 3), new Uint8Array(4), shape, {}, ident(0))).toThrow(
      ShapeError,
    );
  });
});

describe('--augment (src/cli/config.ts)', () => {
  it('parses a comma list into AugmentOptions, none into null, and rejects unknown items in one line', async () => {
    const { parseAugment } = await import('../../src/cli/config.js');
    expect(parseAugment('none')).toBeNull();
    expect(parseAugment('crop,flip')).toEqual({ crop: { padding: 4, mode: 'zero' }, flip: true });
    expect(parseAugment('crop-reflect:2,jitter')).toEqual({
      crop: { padding: 2, mode: 'reflect' },
      brightness: 0.2,
      contrast: 0.2,
    });
    expect(validateAugmentOptions(parseAugment('crop:3,flip,jitter'))).toEqual(
      parseAugment('crop:3,flip,jitter'),
    );
    expect(() => parseAugment('crop,rotate')).toThrow(/^--augment: 'rotate' is not one of [^\n]*$/);
  });
});
