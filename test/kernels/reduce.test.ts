// Reductions (shaders/reduce.wgsl via src/kernels/reduce.ts) against the float64 reference
// (src/reference/reduce.ts, src/reference/optim.ts):
//   bias_grad        db[N] = column sums of dZ[B,N]                 OVERWRITES db
//   loss_accumulate  acc += (sum loss, sum correct, active rows, 1)  ACCUMULATES: two dispatches
//   clip             sumsq_partial + clip_scale: scale = (min(1, maxNorm / (norm + 1e-6)), norm)

import { describe, expect, it } from 'vitest';
import { encodeDispatch, view } from '../../src/kernels/common.js';
import {
  CLIP_PARTIALS,
  prepareBiasGrad,
  biasGradPartialsLength,
  denseBiasChunk,
  prepareBiasGradSteps,
  prepareClip,
  prepareLossAccumulate,
} from '../../src/kernels/reduce.js';
import { clipScale } from '../../src/reference/optim.js';
import { columnSum, globalNorm } from '../../src/reference/reduce.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { CLIP, matmulTol } from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

describe('reduction kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  it('bias_grad: column sums, exact tier and float tier', async () => {
    const { env } = await testGpu();
    // N = 257 and 300 need two 256-wide workgroups; B = 127 rows summed per column.
    for (const [B, N] of [
      [1, 1],
      [7, 13],
      [127, 257],
      [45, 300],
    ]) {
      for (const exact of [true, false]) {
        const rng = new Rng(seedOf(B, N, exact ? 1 : 0));
        const dZ = exact ? randInts(rng, B * N) : randF32(rng, B * N);
        const dzb = upload(env, dZ);
        const db = poisoned(env, N);
        const d = await prepareBiasGrad(env, { B, N, dZ: dzb, db });
        run(env, (pass) => encodeDispatch(pass, d));
        const got = await download(env, db);
        free(env, dzb, db);
        const ref = columnSum(dZ, B, N);
        const label = `bias_grad ${B}x${N}`;
        // A column sum is a dot product with a ones vector: the matmul budget for r = B applies.
        if (exact) expectExact(got, ref, `exact ${label}`);
        else expectAllClose(got, ref, matmulTol(B), label);
      }
    }
  });

  it('bias_grad in two passes for long columns (conv layers): chunk partials, then their sums', async () => {
    const { env } = await testGpu();
    // 512 rows is the first two-pass size; 1031 (prime) leaves a short last chunk; 5000 x 3 is a
    // conv layer's shape (B*OH*OW rows, few filters). N % 4 == 0 takes the vec4 kernel (4, 12:
    // one and three vec4s per row; 1031 x 4 ends in a short chunk there too).
    for (const [B, N] of [
      [512, 1],
      [1031, 7],
      [5000, 3],
      [1031, 4],
      [777, 12],
    ]) {
      for (const exact of [true, false]) {
        const rng = new Rng(seedOf(B, N, exact ? 3 : 2));
        const dZ = exact ? randInts(rng, B * N) : randF32(rng, B * N);
        const dzb = upload(env, dZ);
        const db = poisoned(env, N);
        const steps = await prepareBiasGradSteps(env, { B, N, dZ: dzb, db });
        expect(steps).toHaveLength(2);
        expect(steps[0].label).toBe(N % 4 === 0 ? 'bias_grad_partial4' : 'bias_grad_partial');
        run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
        const got = await download(env, db);
        free(env, dzb, db);
        const ref = columnSum(dZ, B, N);
        const label = `bias_grad two-pass ${B}x${N}`;
        // Loosened l2 (1e-5): with 1-7 columns the relative L2 is the relative error of a few
        // sums that may cancel to a few units (measured 3.9e-6 at 512x1); atol stays r-scaled.
        if (exact) expectExact(got, ref, `exact ${label}`);
        else expectAllClose(got, ref, { ...matmulTol(B), l2: 1e-5 }, label);
      }
    }
  });

  it("bias_grad in 32-row chunks (a dense layer's batch on a real GPU), partials in a caller's view", async () => {
    const { env } = await testGpu();
    expect(denseBiasChunk(true)).toBe(32);
    expect(denseBiasChunk(false)).toBe(0);
    // 63 rows stay one pass; 64 is the first two-pass size; 129 leaves a 1-row last chunk; 512 x
    // 1024 is MLP C's hidden layer. N: 1, 13 (scalar partials), 12 and 1024 (vec4).
    for (const [B, N] of [
      [63, 13],
      [64, 1],
      [129, 12],
      [200, 13],
      [512, 1024],
    ]) {
      const rng = new Rng(seedOf(B, N, 32));
      const dZ = randInts(rng, B * N);
      const need = biasGradPartialsLength(B, N, 32);
      expect(need).toBe(B >= 64 ? Math.ceil(B / 32) * N : 0);
      // The partials start 256 bytes into a poisoned buffer, as a view the plan could hand over.
      const room = poisoned(env, need + 64);
      const partials = need > 0 ? view(room.buffer, need, 256) : undefined;
      const dzb = upload(env, dZ);
      const db = poisoned(env, N);
      const steps = await prepareBiasGradSteps(env, { B, N, dZ: dzb, db, chunk: 32, partials });
      expect(steps).toHaveLength(need > 0 ? 2 : 1);
      run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
      expectExact(await download(env, db), columnSum(dZ, B, N), `bias_grad chunk 32 ${B}x${N}`);
      free(env, dzb, db, room);
    }
  });

  it('loss_accumulate adds across two dispatches', async () => {
    const { env } = await testGpu();
    // B = 1000 makes each of the 256 invocations stride over several rows.
    for (const B of [1, 7, 1000]) {
      const rng = new Rng(seedOf(B, 7));
      const makeStats = (active: number) => {
        const s = new Float32Array(3 * B);
        for (let r = 0; r < active; r++) {
          s[3 * r] = Math.fround(rng.uniform(0.01, 3));
          s[3 * r + 1] = rng.next() < 0.5 ? 1 : 0;
          s[3 * r + 2] = 1;
        }
        return s;
      };
      // Second step is a partial batch: its inactive rows hold zeros, as loss_* writes them.
      const s1 = makeStats(B);
      const s2 = makeStats(Math.max(1, B - 3));
      const initial = [0.5, 2, 3, 4];
      const stats = upload(env, s1);
      const acc = upload(env, initial);
      const d = await prepareLossAccumulate(env, { B, stats, acc });
      run(env, (pass) => encodeDispatch(pass, d));
      env.device.queue.writeBuffer(stats.buffer, stats.offset, s2);
      run(env, (pass) => encodeDispatch(pass, d));
      const got = await download(env, acc);
      free(env, stats, acc);

      const sum = (s: Float32Array, k: number) => s.reduce((a, v, i) => (i % 3 === k ? a + v : a), 0);
      const label = `loss_accumulate B=${B}`;
      // Loss: f32 tree sum of <= 1000 values in (0, 3]; the matmul budget for r = B.
      expectAllClose([got[0]], [initial[0] + sum(s1, 0) + sum(s2, 0)], matmulTol(B), `${label} loss sum`);
      // Counts are small integers: exact in f32.
      expectExact(
        [got[1], got[2], got[3]],
        [initial[1] + sum(s1, 1) + sum(s2, 1), initial[2] + sum(s1, 2) + sum(s2, 2), initial[3] + 2],
        `${label} counts`,
      );
    }
  });

  it('clip: global norm and scale on odd lengths, past 64 x 256', async () => {
    const { env } = await testGpu();
    for (const n of [1, 1001, 64 * 256 + 4097]) {
      const rng = new Rng(seedOf(n, 3));
      const g = randF32(rng, n);
      const norm = globalNorm([g]);
      // One max norm that clips, one far above the norm (scale exactly 1).
      for (const maxNorm of [norm / 3, norm * 10]) {
        const grads = upload(env, g);
        const partials = poisoned(env, CLIP_PARTIALS);
        const scale = poisoned(env, 2);
        const ds = await prepareClip(env, { grads, maxNorm, partials, scale });
        run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
        const got = await download(env, scale);
        free(env, grads, partials, scale);
        const label = `clip n=${n} maxNorm=${maxNorm.toFixed(3)}`;
        expectAllClose([got[1]], [norm], CLIP, `${label} norm`);
        expectAllClose([got[0]], [clipScale(norm, Math.fround(maxNorm))], CLIP, `${label} scale`);
        if (maxNorm > norm) expect(got[0], `${label}: no clipping means a scale of exactly 1`).toBe(1);
      }
    }
  });
});
