import { describe, expect, it } from 'vitest';

import {
  applyAugmentParams,
  augmentRecord,
  sampleAugmentParams,
  validateAugmentOptions,
} from '../../src/data/augment.js';
import type { AugmentOptions, AugmentParams, ImageShape } from '../../src/data/augment.js';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function randomImage(shape: ImageShape, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: shape.height * shape.width * shape.channels }, () => rng.int(256));
}

/** Reference: build the padded image explicitly, crop, then flip (the documented order). */
function referenceGeometry(
  src: Uint8Array,
  s: ImageShape,
  pad: number,
  edge: boolean,
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
      if (!inside && !edge) continue;
      sy = Math.min(H - 1, Math.max(0, sy));
      sx = Math.min(W - 1, Math.max(0, sx));
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

describe('augmentation', () => {
  it('is deterministic given the generator state', () => {
    const shape = { height: 12, width: 11, channels: 3 };
    const src = randomImage(shape, 1);
    const opts: AugmentOptions = { crop: { pad: 3 }, flip: true, brightness: 0.2, contrast: 0.3 };
    const run = (seed: number): [Uint8Array, AugmentParams[]] => {
      const rng = new Rng(seed);
      const dst = new Uint8Array(src.length);
      const params: AugmentParams[] = [];
      const outs: number[] = [];
      for (let i = 0; i < 5; i++) {
        params.push(augmentRecord(src, dst, shape, opts, rng));
        outs.push(...dst);
      }
      return [Uint8Array.from(outs), params];
    };
    const [a, pa] = run(42);
    const [b, pb] = run(42);
    const [c] = run(43);
    expect(b).toEqual(a);
    expect(pb).toEqual(pa);
    expect(c).not.toEqual(a);
    // Restoring a saved state replays the same draws.
    const rng = new Rng(9);
    rng.next();
    const saved = rng.state();
    const p1 = sampleAugmentParams(rng, opts);
    expect(sampleAugmentParams(Rng.fromState(saved), opts)).toEqual(p1);
  });

  it('flip twice is the identity; no-op parameters copy the image', () => {
    for (const shape of shapes) {
      const src = randomImage(shape, 3);
      const once = new Uint8Array(src.length);
      const twice = new Uint8Array(src.length);
      const flip = { dy: 0, dx: 0, flip: true, brightness: 0, contrast: 1 };
      applyAugmentParams(src, once, shape, {}, flip);
      applyAugmentParams(once, twice, shape, {}, flip);
      expect(twice).toEqual(src);
      if (shape.width > 1) expect(once).not.toEqual(src);
      const ident = new Uint8Array(src.length);
      applyAugmentParams(src, ident, shape, { crop: { pad: 2 } }, { ...flip, dy: 2, dx: 2, flip: false });
      expect(ident).toEqual(src);
    }
  });

  it('crop offsets stay in [0, 2*pad], cover the range, and flip happens about half the time', () => {
    const rng = new Rng(5);
    const pad = 4;
    const seenY = new Set<number>();
    const seenX = new Set<number>();
    let flips = 0;
    const N = 4000;
    for (let i = 0; i < N; i++) {
      const p = sampleAugmentParams(rng, { crop: { pad }, flip: true });
      expect(p.dy).toBeGreaterThanOrEqual(0);
      expect(p.dy).toBeLessThanOrEqual(2 * pad);
      expect(p.dx).toBeGreaterThanOrEqual(0);
      expect(p.dx).toBeLessThanOrEqual(2 * pad);
      seenY.add(p.dy);
      seenX.add(p.dx);
      if (p.flip) flips++;
    }
    expect(seenY.size).toBe(2 * pad + 1);
    expect(seenX.size).toBe(2 * pad + 1);
    expect(Math.abs(flips / N - 0.5)).toBeLessThan(0.04);
    // Disabled steps draw nothing and give identity parameters.
    const r2 = new Rng(5);
    const before = r2.state();
    expect(sampleAugmentParams(r2, {})).toEqual({ dy: 0, dx: 0, flip: false, brightness: 0, contrast: 1 });
    expect(r2.state()).toEqual(before);
  });

  it('crop and flip match an explicit pad-crop-flip reference (zero and edge fill)', () => {
    for (const shape of shapes) {
      const src = randomImage(shape, 7);
      const dst = new Uint8Array(src.length);
      for (const fill of ['zero', 'edge'] as const) {
        const pad = Math.min(3, shape.height, shape.width);
        const opts: AugmentOptions = { crop: { pad, fill }, flip: 0.5 };
        const rng = new Rng(11);
        for (let t = 0; t < 30; t++) {
          const p = augmentRecord(src, dst, shape, opts, rng);
          expect(dst).toEqual(referenceGeometry(src, shape, pad, fill === 'edge', p));
        }
      }
    }
  });

  it('zero padding: a white image shows exactly |offset| black rows and columns', () => {
    const shape = { height: 8, width: 8, channels: 1 };
    const src = new Uint8Array(64).fill(255);
    const dst = new Uint8Array(64);
    applyAugmentParams(
      src,
      dst,
      shape,
      { crop: { pad: 3 } },
      { dy: 0, dx: 5, flip: false, brightness: 0, contrast: 1 },
    );
    // dy = 0 shifts the content down by 3 (3 black rows on top); dx = 5 shifts left by 2.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) expect(dst[y * 8 + x]).toBe(y < 3 || x >= 6 ? 0 : 255);
    }
  });

  it('brightness and contrast: rounded, clamped, around the image mean', () => {
    const shape = { height: 1, width: 4, channels: 1 };
    const src = Uint8Array.of(10, 20, 30, 250);
    const dst = new Uint8Array(4);
    applyAugmentParams(src, dst, shape, {}, { dy: 0, dx: 0, flip: false, brightness: 10.4, contrast: 1 });
    expect([...dst]).toEqual([20, 30, 40, 255]);
    applyAugmentParams(src, dst, shape, {}, { dy: 0, dx: 0, flip: false, brightness: 0, contrast: 2 });
    // mean 77.5: 77.5 + 2 * (v - 77.5)
    expect([...dst]).toEqual([0, 0, 0, 255]);
    applyAugmentParams(src, dst, shape, {}, { dy: 0, dx: 0, flip: false, brightness: 0, contrast: 0.5 });
    expect([...dst]).toEqual([Math.round(43.75), Math.round(48.75), Math.round(53.75), Math.round(163.75)]);
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) {
      const p = sampleAugmentParams(rng, { brightness: 0.1, contrast: 0.25 });
      expect(Math.abs(p.brightness)).toBeLessThanOrEqual(25.5);
      expect(p.contrast).toBeGreaterThanOrEqual(0.75);
      expect(p.contrast).toBeLessThanOrEqual(1.25);
    }
  });

  it('rejects bad options and buffers with named errors', () => {
    expect(() => validateAugmentOptions({ crop: { pad: -1 } })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ crop: { pad: 2, fill: 'mirror' } })).toThrow(/fill/);
    expect(() => validateAugmentOptions({ flip: 2 })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ brightness: -0.1 })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ crop: { pad: 9 } }, { height: 8, width: 8, channels: 1 })).toThrow(
      /larger/,
    );
    expect(validateAugmentOptions({ flip: true, crop: { pad: 4 } })).toEqual({
      flip: 0.5,
      crop: { pad: 4, fill: 'zero' },
    });
    const shape = { height: 2, width: 2, channels: 1 };
    const buf = new Uint8Array(8);
    const id = { dy: 0, dx: 0, flip: false, brightness: 0, contrast: 1 };
    expect(() => applyAugmentParams(buf.subarray(0, 4), buf.subarray(2, 6), shape, {}, id)).toThrow(
      ShapeError,
    );
    expect(() => applyAugmentParams(buf.subarray(0, 3), new Uint8Array(4), shape, {}, id)).toThrow(
      ShapeError,
    );
  });
});
