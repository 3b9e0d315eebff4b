// Dropout kernels (shaders/dropout.wgsl via src/kernels/dropout.ts) against the float64 reference
// (src/reference/dropout.ts):
//   forward   training: out = x * mask, mask = keep / (1 - rate), keep from counterHash(seed,
//             stream, step, e) (src/rng.ts); evaluation: out = x
//   backward  dX = dOut * mask * act'(aux), the mask regenerated from the same counters
// The GPU's keep pattern must equal the reference's EXACTLY for every (seed, stream, step): the
// hash is integer arithmetic on both sides. seed and step come from the step-params uniform, so
// one prepared dispatch is rerun with new values written between runs. Outputs NaN-poisoned.

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { encodeDispatch, type Dispatch } from '../../src/kernels/common.js';
import { prepareDropoutBackward, prepareDropoutForward } from '../../src/kernels/dropout.js';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.js';
import type { Activation } from '../../src/nn/activations.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { dropoutBackward, dropoutForward, dropoutMask } from '../../src/reference/dropout.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, run, testGpu, upload } from '../helpers/gpu.js';
import { DROPOUT } from '../tolerances.js';
import { free, randF32, seedOf } from './inputs.js';

// [B, size]: one element; primes; counts past one and several 256-wide workgroups.
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 13],
  [5, 333],
  [64, 129],
];
// (seed, stream, step): zeros, small, large u32 values and the last u32 step.
const COUNTERS: [number, number, number][] = [
  [0, 0, 0],
  [1, 2, 3],
  [0xdeadbeef, 7, 1000],
  [42, 1, 0xffffffff],
];

interface Prev {
  activation: Activation;
  alpha?: number;
}

function withPrevAct(dX: Float64Array, prev: Prev, aux: Float32Array): Float64Array {
  if (prev.activation === 'identity') return dX;
  const n = dX.length;
  const a = activationForward(prev.activation, aux, 1, n, { alpha: prev.alpha });
  return activationBackward(prev.activation, aux, a, dX, 1, n, { alpha: prev.alpha });
}

const keepOf = (a: ArrayLike<number>) =>
  Uint8Array.from({ length: a.length }, (_, i) => (a[i] !== 0 ? 1 : 0));

/** Runs `d` after NaN-filling `out` and writing the step params; returns `out`. */
async function runWith(
  d: Dispatch,
  out: ReturnType<typeof upload>,
  stepParams: GPUBuffer,
  v: { seed: number; step: number; active: number },
) {
  const { env } = await testGpu();
  env.device.queue.writeBuffer(out.buffer, out.offset, new Float32Array(out.length).fill(NaN));
  writeStepParams(env.device.queue, stepParams, new Uint32Array(4), v);
  run(env, (pass) => encodeDispatch(pass, d));
  return download(env, out);
}

describe('dropout kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const rate of [0, 0.5, 0.3]) {
    it(`rate ${rate}: forward mask equals the reference mask for every (seed, stream, step)`, async () => {
      const { env } = await testGpu();
      const sp = createStepParams(env, 'test step params');
      for (const [B, size] of SHAPES) {
        const rng = new Rng(seedOf(B, size, rate * 10));
        const x = randF32(rng, B * size);
        const xb = upload(env, x);
        const out = upload(env, new Float32Array(B * size));
        for (const [seed, stream, step] of COUNTERS) {
          const d = await prepareDropoutForward(env, {
            B,
            size,
            x: xb,
            out,
            rate,
            stream,
            stepParams: sp,
            training: true,
          });
          const label = `dropout ${rate} ${B}x${size} seed ${seed} stream ${stream} step ${step}`;
          const got = await runWith(d, out, sp, { seed, step, active: B });
          const mask = dropoutMask(seed, stream, step, B, size, rate);
          expectExact(keepOf(got), keepOf(mask), `${label} keep pattern`, size);
          const ref = dropoutForward(x, mask);
          // Scales 1 and 2 are exact in f32; 1 / 0.7 rounds once.
          if (rate === 0.3) expectAllClose(got, ref, DROPOUT, label, size);
          else expectExact(got, ref, label, size);
        }
        free(env, xb, out);
      }
      env.pool.release(sp);
    });
  }

  it('masks differ between steps and streams, and keep about 1 - rate', async () => {
    const { env } = await testGpu();
    const sp = createStepParams(env, 'test step params');
    const [B, size] = [64, 129];
    const xb = upload(env, new Float32Array(B * size).fill(1));
    const out = upload(env, new Float32Array(B * size));
    const masks: Uint8Array[] = [];
    for (const stream of [0, 1]) {
      const d = await prepareDropoutForward(env, {
        B,
        size,
        x: xb,
        out,
        rate: 0.5,
        stream,
        stepParams: sp,
        training: true,
      });
      for (const step of [0, 1]) masks.push(keepOf(await runWith(d, out, sp, { seed: 3, step, active: B })));
    }
    for (const m of masks) {
      const kept = m.reduce((s, v) => s + v, 0) / m.length;
      expect(Math.abs(kept - 0.5), `kept fraction ${kept}`).toBeLessThan(0.03);
    }
    for (let i = 0; i < masks.length; i++) {
      for (let j = i + 1; j < masks.length; j++) {
        const same = masks[i].reduce((s, v, k) => s + (v === masks[j][k] ? 1 : 0), 0) / masks[i].length;
        expect(same, `masks ${i} and ${j} agree on ${same} of the elements`).toBeLessThan(0.55);
      }
    }
    free(env, xb, out);
    env.pool.release(sp);
  });

  it('evaluation copies x exactly', async () => {
    const { env } = await testGpu();
    const sp = createStepParams(env, 'test step params');
    for (const [B, size] of SHAPES) {
      const x = randF32(new Rng(seedOf(B, size, 5)), B * size);
      const xb = upload(env, x);
      const out = upload(env, new Float32Array(B * size));
      const d = await prepareDropoutForward(env, {
        B,
        size,
        x: xb,
        out,
        rate: 0.5,
        stream: 3,
        stepParams: sp,
        training: false,
      });
      expectExact(await runWith(d, out, sp, { seed: 9, step: 4, active: B }), x, `eval ${B}x${size}`, size);
      free(env, xb, out);
    }
    env.pool.release(sp);
  });

  const PREVS: Prev[] = [{ activation: 'identity' }, { activation: 'relu' }, { activation: 'tanh' }];
  for (const prev of PREVS) {
    it(`backward regenerates the forward mask, fused ${prev.activation}'`, async () => {
      const { env } = await testGpu();
      const sp = createStepParams(env, 'test step params');
      for (const [B, size] of SHAPES) {
        for (const rate of [0, 0.5, 0.3]) {
          const rng = new Rng(seedOf(B, size, 11, rate * 10));
          const dOut = randF32(rng, B * size);
          const aux = randF32(rng, B * size);
          const db = upload(env, dOut);
          const auxb = upload(env, aux);
          const dX = upload(env, new Float32Array(B * size));
          const stream = 5;
          const d = await prepareDropoutBackward(env, {
            B,
            size,
            dOut: db,
            dX,
            rate,
            stream,
            stepParams: sp,
            activation: prev.activation,
            alpha: prev.alpha,
            aux: auxb,
          });
          // One prepared dispatch, rerun with each (seed, step) written to the uniform.
          for (const [seed, , step] of COUNTERS) {
            const got = await runWith(d, dX, sp, { seed, step, active: B });
            const mask = dropoutMask(seed, stream, step, B, size, rate);
            const ref = withPrevAct(dropoutBackward(dOut, mask), prev, aux);
            const label = `dropout backward ${prev.activation} rate ${rate} ${B}x${size} seed ${seed} step ${step}`;
            if (rate !== 0.3 && prev.activation !== 'tanh') expectExact(got, ref, label, size);
            else expectAllClose(got, ref, DROPOUT, label, size);
          }
          free(env, db, auxb, dX);
        }
      }
      env.pool.release(sp);
    });
  }

  it('rejects a rate outside [0, 1), a short buffer and an empty batch', async () => {
    const { env } = await testGpu();
    const sp = createStepParams(env, 'test step params');
    const x = upload(env, new Float32Array(12));
    const args = { B: 3, size: 4, x, out: x, rate: 1, stream: 0, stepParams: sp, training: true };
    await expect(prepareDropoutForward(env, args)).rejects.toThrow(ConfigError);
    await expect(prepareDropoutForward(env, { ...args, rate: 0.5, B: 4 })).rejects.toThrow(ShapeError);
    expect(() =>
      writeStepParams(env.device.queue, sp, new Uint32Array(4), { active: 0, step: 0, seed: 0 }),
    ).toThrow(ShapeError);
    free(env, x);
    env.pool.release(sp);
  });
});
