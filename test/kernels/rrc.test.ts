// Random-resized crop and the centre crop of larger records (src/data/augment-rrc.ts): the GPU
// gather (shaders/data.wgsl, box modes 1 and 2) against the CPU twin (augmentRecord with an
// output smaller than the record), byte for byte, at awkward sizes; then the twin itself against
// a float64 bilinear and torchvision's box distribution.
//   X[r] = normalise(rrc_or_centre(images[idx[r]]) then flip, jitter)   rows >= live are 0

import { describe, expect, it } from 'vitest';
import { augmentRecord, validateAugmentOptions } from '../../src/data/augment.js';
import type { AugmentOptions, ImageShape } from '../../src/data/augment.js';
import {
  centreBox,
  centreCropImages,
  DEFAULT_RRC,
  resampleBox,
  rrcRecordSize,
  rrcTable,
  type Size2,
} from '../../src/data/augment-rrc.js';
import {
  prepareGathers,
  uploadResident,
  writeGatherEpoch,
  type Uint8Data,
} from '../../src/engine/gpu-data.js';
import { ConfigError } from '../../src/errors.js';
import { encodeDispatch } from '../../src/kernels/common.js';
import { GATHER_ACTIVE_OFFSET } from '../../src/kernels/data.js';
import { Rng } from '../../src/rng.js';
import { expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { free, seedOf } from './inputs.js';

const N = 11;
const B = 6;
const LIVE = 5;

const OPTION_SETS: AugmentOptions[] = [
  { rrc: DEFAULT_RRC },
  { rrc: DEFAULT_RRC, flip: true, brightness: 0.2, contrast: 0.4 },
  { rrc: { scale: [0.5, 1], ratio: [0.5, 2] } },
  // No rrc: a larger record takes its centre (evaluation), optionally flipped.
  {},
  { flip: true },
];

function cpuRows(
  images: Uint8Array,
  record: ImageShape,
  out: Size2,
  idx: Uint32Array,
  opts: AugmentOptions,
  seed: number,
  epoch: number,
): Float32Array {
  const R = record.height * record.width * record.channels;
  const O = out.height * out.width * record.channels;
  const all = new Float32Array(B * O);
  const dst = new Uint8Array(O);
  idx.forEach((s, r) => {
    if (r >= LIVE) return;
    augmentRecord(images.subarray(s * R, (s + 1) * R), dst, record, opts, seed, epoch, s, { out });
    all.set(dst, r * O);
  });
  return all;
}

describe('random-resized crop: GPU gather vs the CPU twin', () => {
  it('adapter', async () => {
    await testGpu();
  });

  const cases: [Size2, Size2, number][] = [
    [{ height: 1, width: 1 }, { height: 1, width: 1 }, 1],
    [{ height: 8, width: 7 }, { height: 7, width: 6 }, 3],
    [{ height: 37, width: 37 }, { height: 32, width: 32 }, 3],
    [{ height: 23, width: 41 }, { height: 13, width: 29 }, 1],
  ];
  for (const [rec, out, C] of cases) {
    it(`${rec.height}x${rec.width}x${C} records -> ${out.height}x${out.width}: byte-exact`, async () => {
      const { env } = await testGpu();
      const record: ImageShape = { ...rec, channels: C };
      const R = rec.height * rec.width * C;
      const O = out.height * out.width * C;
      const rng = new Rng(seedOf(rec.height, rec.width, C, 7));
      const images = Uint8Array.from({ length: N * R }, () => rng.int(256));
      const idx = Uint32Array.from({ length: B }, () => rng.int(N));
      idx[2] = idx[0];
      const data: Uint8Data = {
        kind: 'uint8',
        images,
        count: N,
        labels: Int32Array.from({ length: N }, (_, i) => i % 3),
        channels: C,
        height: rec.height,
        width: rec.width,
        crop: out,
        mul: new Array<number>(C).fill(1),
        add: new Array<number>(C).fill(0),
      };
      const res = uploadResident(env, data, O);
      const idxView = upload(env, idx, 'u32');
      const y = poisoned(env, B);
      for (const [k, opts] of OPTION_SETS.entries()) {
        const seed = seedOf(k, 5);
        const x = poisoned(env, B * O);
        const aug = Object.keys(opts).length ? { ...opts, seed } : undefined;
        const gathers = await prepareGathers(env, res, B, idxView, x, y, 'softmax-ce', 3, aug);
        env.device.queue.writeBuffer(gathers[0].params, GATHER_ACTIVE_OFFSET, Uint32Array.of(LIVE));
        for (const epoch of [0, 2]) {
          if (epoch > 0) writeGatherEpoch(env.device.queue, gathers, epoch);
          run(env, (pass) => gathers.forEach((g) => encodeDispatch(pass, g)));
          const got = await download(env, x);
          const want = cpuRows(images, record, out, idx, opts, aug ? seed : 0, epoch);
          expectExact(got, want, `${rec.height}x${rec.width} options ${k} epoch ${epoch}`);
        }
        free(env, x);
      }
    });
  }

  it('pad-crop on records larger than the input is refused with what to use instead', async () => {
    const { env } = await testGpu();
    const data: Uint8Data = {
      kind: 'uint8',
      images: new Uint8Array(2 * 9 * 9),
      count: 2,
      labels: Int32Array.of(0, 1),
      channels: 1,
      height: 9,
      width: 9,
      crop: { height: 8, width: 8 },
      mul: [1],
      add: [0],
    };
    const res = uploadResident(env, data, 64);
    const idx = upload(env, Uint32Array.of(0, 1), 'u32');
    const x = poisoned(env, 2 * 64);
    const opts = { crop: { padding: 2, mode: 'zero' as const }, seed: 1 };
    await expect(
      prepareGathers(env, res, 2, idx, x, poisoned(env, 2), 'softmax-ce', 2, opts),
    ).rejects.toThrow(/use rrc/);
    free(env, x);
  });
});

describe('random-resized crop: the CPU twin', () => {
  it('the centre box of a larger record is an exact copy of its window', () => {
    const rng = new Rng(3);
    const rec = { height: 9, width: 12 };
    const out = { height: 6, width: 7 };
    const C = 3;
    const src = Uint8Array.from({ length: 9 * 12 * C }, () => rng.int(256));
    const got = centreCropImages(src, 1, rec, out, C);
    const b = centreBox(rec, out);
    for (let y = 0; y < out.height; y++)
      for (let x = 0; x < out.width; x++)
        for (let c = 0; c < C; c++)
          expect(got[(y * out.width + x) * C + c]).toBe(src[((b.y0 + y) * rec.width + b.x0 + x) * C + c]);
  });

  it('resampling is within half a level of a float64 bilinear (align_corners=False)', () => {
    const rng = new Rng(11);
    const rec = { height: 17, width: 23 };
    const C = 2;
    const src = Uint8Array.from({ length: 17 * 23 * C }, () => rng.int(256));
    for (const [box, out] of [
      [
        { y0: 2, x0: 3, h: 11, w: 13 },
        { height: 7, width: 5 },
      ],
      [
        { y0: 0, x0: 0, h: 5, w: 4 },
        { height: 13, width: 11 },
      ],
    ] as const) {
      const dst = new Uint8Array(out.height * out.width * C);
      resampleBox(src, dst, rec, out, C, box, false);
      let worst = 0;
      for (let y = 0; y < out.height; y++)
        for (let x = 0; x < out.width; x++) {
          const sy = Math.min(Math.max(((y + 0.5) * box.h) / out.height - 0.5, 0), box.h - 1);
          const sx = Math.min(Math.max(((x + 0.5) * box.w) / out.width - 0.5, 0), box.w - 1);
          const [y0, x0] = [Math.floor(sy), Math.floor(sx)];
          const [y1, x1] = [Math.min(y0 + 1, box.h - 1), Math.min(x0 + 1, box.w - 1)];
          const [fy, fx] = [sy - y0, sx - x0];
          for (let c = 0; c < C; c++) {
            const v = (yy: number, xx: number) => src[((box.y0 + yy) * rec.width + box.x0 + xx) * C + c];
            const want =
              (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) +
              fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
            worst = Math.max(worst, Math.abs(dst[(y * out.width + x) * C + c] - want));
          }
        }
      // 8-bit fractions: each weight is off by under 1/256, so at most 255 * 2/256 + 0.5.
      expect(worst).toBeLessThan(2.5);
    }
  });

  it("the box table follows torchvision's distribution: areas and aspects in range, every box fits", () => {
    const rec = rrcRecordSize({ height: 224, width: 224 });
    expect(rec).toEqual({ height: 256, width: 256 });
    const t = rrcTable(rec, DEFAULT_RRC);
    expect(t.length).toBeGreaterThan(3000);
    let meanArea = 0;
    for (const p of t) {
      const [h, w] = [p >>> 16, p & 0xffff];
      expect(h).toBeGreaterThanOrEqual(1);
      expect(h).toBeLessThanOrEqual(256);
      expect(w).toBeLessThanOrEqual(256);
      const area = (h * w) / (256 * 256);
      expect(area).toBeGreaterThan(0.07);
      expect(w / h).toBeGreaterThan(0.7);
      expect(w / h).toBeLessThan(1.45);
      meanArea += area / t.length;
    }
    // Uniform area in [0.08, 1] conditioned on fitting: a mean a little under 0.54.
    expect(meanArea).toBeGreaterThan(0.45);
    expect(meanArea).toBeLessThan(0.56);
  });

  it('a tiny record still has a box (the fallback), and bad ranges are one-line errors', () => {
    expect(rrcTable({ height: 1, width: 1 }, DEFAULT_RRC).length).toBeGreaterThan(0);
    expect(() => validateAugmentOptions({ rrc: { scale: [0.5, 0.2] } })).toThrow(ConfigError);
    expect(() => validateAugmentOptions({ rrc: true, crop: { padding: 2 } })).toThrow(/not both/);
    expect(validateAugmentOptions({ rrc: true }).rrc).toEqual(DEFAULT_RRC);
  });
});
