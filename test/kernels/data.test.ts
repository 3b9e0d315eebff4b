// Augmented gathers (shaders/data.wgsl gather_images_augment via src/engine/gpu-data.ts) against
// the CPU pipeline's augmentation (src/data/augment.ts), which draws from the same counter hash:
//   X[r] = normalise(augment(images[idx[r]]; seed, epoch, idx[r]))   OVERWRITES X; rows >= live are 0
// Exact tier: mul 1, add 0 makes X the augmented bytes themselves (integers, exact in f32), so
// the GPU must match the CPU byte for byte. Float tier: per-channel standardisation.

import { describe, expect, it } from 'vitest';
import { augmentRecord } from '../../src/data/augment.js';
import type { AugmentOptions, ImageShape } from '../../src/data/augment.js';
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
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { F32 } from '../tolerances.js';
import { free, seedOf } from './inputs.js';

const N = 13; // samples resident
const B = 7; // batch rows; the last one is a padded row (live 6)
const LIVE = 6;

function optionSets(shape: ImageShape): AugmentOptions[] {
  const p = Math.min(3, shape.height, shape.width);
  return [
    { crop: { padding: p, mode: 'zero' }, flip: true },
    { crop: { padding: p, mode: 'reflect' }, flip: true, brightness: 0.2, contrast: 0.4 },
    { brightness: 0.1, contrast: 1 },
    { flip: true },
  ];
}

/** What the CPU pipeline makes of row r: the augmented bytes, or zeros for a padded row. */
function cpuRows(
  images: Uint8Array,
  shape: ImageShape,
  idx: Uint32Array,
  opts: AugmentOptions,
  seed: number,
  epoch: number,
): Uint8Array[] {
  const F = shape.height * shape.width * shape.channels;
  return [...idx].map((s, r) => {
    const dst = new Uint8Array(F);
    if (r < LIVE) augmentRecord(images.subarray(s * F, (s + 1) * F), dst, shape, opts, seed, epoch, s);
    return dst;
  });
}

describe('augmented gather vs the CPU augmentation', () => {
  it('adapter', async () => {
    await testGpu();
  });

  const shapes: ImageShape[] = [];
  for (const [height, width] of [
    [1, 1],
    [5, 7],
    [32, 32],
  ])
    for (const channels of [1, 3]) shapes.push({ height, width, channels });

  for (const shape of shapes) {
    const { height: H, width: W, channels: C } = shape;
    it(`${H}x${W}x${C}: byte-exact over option sets and epochs, then standardised`, async () => {
      const { env } = await testGpu();
      const F = H * W * C;
      const rng = new Rng(seedOf(H, W, C));
      const images = Uint8Array.from({ length: N * F }, () => rng.int(256));
      // Duplicate indices: two rows of one sample must get the same draws.
      const idx = Uint32Array.from({ length: B }, (_, r) => (r === 3 ? 5 : rng.int(N)));
      idx[1] = 5;
      const data: Uint8Data = {
        kind: 'uint8',
        images,
        count: N,
        labels: Int32Array.from({ length: N }, (_, i) => i % 3),
        channels: C,
        height: H,
        width: W,
        mul: new Array<number>(C).fill(1),
        add: new Array<number>(C).fill(0),
      };
      const res = uploadResident(env, data, F);
      const idxView = upload(env, idx, 'u32');
      const y = poisoned(env, B);
      let changed = 0;
      for (const [k, opts] of optionSets(shape).entries()) {
        const seed = seedOf(k, 99);
        const x = poisoned(env, B * F);
        const gathers = await prepareGathers(env, res, B, idxView, x, y, 'softmax-ce', 3, { ...opts, seed });
        env.device.queue.writeBuffer(gathers[0].params, GATHER_ACTIVE_OFFSET, Uint32Array.of(LIVE));
        for (const epoch of [0, 3]) {
          if (epoch > 0) {
            writeGatherEpoch(env.device.queue, gathers, epoch);
            env.device.queue.writeBuffer(x.buffer, 0, new Float32Array(B * F).fill(NaN));
          }
          run(env, (pass) => gathers.forEach((g) => encodeDispatch(pass, g)));
          const got = await download(env, x);
          const want = cpuRows(images, shape, idx, opts, seed, epoch);
          const expected = new Float32Array(B * F);
          want.forEach((row, r) => expected.set(row, r * F));
          expectExact(got, expected, `${H}x${W}x${C} options ${k} epoch ${epoch}`);
          for (let r = 0; r < LIVE; r++) {
            const s = idx[r];
            if (want[r].some((v, i) => v !== images[s * F + i])) changed++;
          }
        }
        free(env, x);
      }
      // The draws do something: on images larger than a pixel most rows change.
      if (F > 3) expect(changed).toBeGreaterThan(LIVE);

      // Float tier: the same bytes through per-channel (mul, add), compared with float64.
      const mul = Array.from({ length: C }, (_, c) => Math.fround(1 / (255 * (0.2 + 0.1 * c))));
      const add = Array.from({ length: C }, (_, c) => Math.fround(-(0.4 + 0.05 * c) / (0.2 + 0.1 * c)));
      const resStd = uploadResident(env, { ...data, mul, add }, F);
      const opts = optionSets(shape)[1];
      const x = poisoned(env, B * F);
      const gathers = await prepareGathers(env, resStd, B, idxView, x, y, 'softmax-ce', 3, {
        ...opts,
        seed: 5,
      });
      env.device.queue.writeBuffer(gathers[0].params, GATHER_ACTIVE_OFFSET, Uint32Array.of(LIVE));
      writeGatherEpoch(env.device.queue, gathers, 2);
      run(env, (pass) => gathers.forEach((g) => encodeDispatch(pass, g)));
      const got = await download(env, x);
      const expected = new Float64Array(B * F);
      cpuRows(images, shape, idx, opts, 5, 2).forEach((row, r) => {
        if (r < LIVE) row.forEach((v, i) => (expected[r * F + i] = v * mul[i % C] + add[i % C]));
      });
      // One f32 product and one f32 sum of values of order 2 (F32's budget).
      expectAllClose(got, expected, F32, `${H}x${W}x${C} standardised`);
      free(env, x, y, idxView);
      for (const b of [...res.buffers, ...resStd.buffers]) env.pool.release(b);
    });
  }

  it('refuses augmentation on float rows and on non-square images without a geometry', async () => {
    const { env } = await testGpu();
    const idx = upload(env, [0], 'u32');
    const x = poisoned(env, 12);
    const y = poisoned(env, 1);
    const float = uploadResident(
      env,
      { kind: 'float', x: new Float32Array(12).fill(0.5), count: 1, labels: Int32Array.of(0) },
      12,
    );
    await expect(
      prepareGathers(env, float, 1, idx, x, y, 'softmax-ce', 2, { flip: true, seed: 1 }),
    ).rejects.toThrow(ConfigError);
    const bytes = uploadResident(
      env,
      {
        kind: 'uint8',
        images: new Uint8Array(12).fill(7),
        count: 1,
        labels: Int32Array.of(0),
        channels: 1,
        mul: [1],
        add: [0],
      },
      12,
    );
    await expect(
      prepareGathers(env, bytes, 1, idx, x, y, 'softmax-ce', 2, { flip: true, seed: 1 }),
    ).rejects.toThrow(/height and width/);
    expect(() => writeGatherEpoch(env.device.queue, [], -1)).toThrow(ConfigError);
  });
});
