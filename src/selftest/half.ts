// The self-test's mixed-precision family, on adapters with 'shader-f16' (none of it runs
// elsewhere, and the table then has no f16 rows): the three matmul forms with every tensor in f16
// for each variant in use, the plan's boundary (f32 input, f16 output), the weight cast
// (bit-exact against the CPU's round-to-nearest-even), and the loss scaler's unscale with its
// overflow flag. Inputs are rounded to f16 on both sides; the reference is float64.

import { packHalf, roundHalf, toHalfBits } from '../gpu/half.js';
import { readBuffer } from '../gpu/readback.js';
import { prepareCastWeights, prepareLossScaler } from '../kernels/amp.js';
import type { TensorView } from '../kernels/common.js';
import { matmulScratchLength, prepareMatmulSteps, variantName, type MatmulForm } from '../kernels/matmul.js';
import { matmul, matmulForward } from '../reference/matmul.js';
import { Rng } from '../rng.js';
import type { SelftestFamily } from './checks.js';
import { randF32, seedOf, type Harness } from './harness.js';
import { halfStoreTol, matmulTol } from './tolerances.js';

const SHAPES: [number, number, number][] = [
  [7, 13, 5],
  [45, 65, 33],
];
const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];
const halfRand = (rng: Rng, n: number) => Float32Array.from(randF32(rng, n), roundHalf);

export const halfFamily: SelftestFamily = {
  name: 'f16',
  async run(h: Harness, ctx) {
    if (!h.env.device.features.has('shader-f16')) return;
    const dummies = { read: h.poisoned(4).buffer, write: h.poisoned(4).buffer };
    for (const variant of ctx.variants) {
      for (const form of FORMS) {
        for (const [B, K, N] of SHAPES) {
          const rng = new Rng(seedOf(B, K, N, FORMS.indexOf(form), 16));
          const lhs = halfRand(rng, form === 'forward' ? B * K : B * N);
          const rhs = halfRand(rng, form === 'weightGrad' ? B * K : N * K);
          const bias = randF32(rng, N);
          // weightGrad writes dW in f32 (as every f16 plan does); the others store f16.
          const outLen = form === 'forward' ? B * N : form === 'weightGrad' ? N * K : B * K;
          const out: TensorView =
            form === 'weightGrad' ? h.poisoned(outLen) : h.uploadHalf(new Float32Array(outLen).fill(NaN));
          const scratch = h.poisoned(Math.max(1, matmulScratchLength(form, B, K, N, variant)));
          const lhsV = h.uploadHalf(lhs);
          const rhsV = h.uploadHalf(rhs);
          const biasV = h.upload(bias);
          h.run(
            await prepareMatmulSteps(h.env, {
              form,
              lhs: lhsV,
              rhs: rhsV,
              B,
              K,
              N,
              out,
              bias: form === 'forward' ? biasV : undefined,
              outA: form === 'forward' ? out : undefined,
              variant,
              scratch,
              dummies,
            }),
          );
          const ref =
            form === 'forward'
              ? matmulForward(lhs, rhs, bias, B, K, N)
              : form === 'weightGrad'
                ? matmul(lhs, rhs, N, B, K, true, false)
                : matmul(lhs, rhs, B, N, K, false, false);
          const r = form === 'forward' ? K : form === 'weightGrad' ? B : N;
          h.compare(
            { kernel: `f16 matmul ${form}`, variant: variantName(variant), shape: `${B}x${K}x${N}` },
            await h.download(out),
            ref,
            form === 'weightGrad' ? matmulTol(r) : halfStoreTol(r),
          );
          h.free();
        }
      }
    }

    // The weight cast: bit-exact, including a tie, a subnormal and an overflow to infinity.
    const n = 259;
    const src = randF32(new Rng(seedOf(n, 5)), n, -3, 3);
    src[0] = 1 + 2 ** -11;
    src[1] = 3e-8;
    src[2] = 70000;
    const dst = h.uploadHalf(new Float32Array(n).fill(NaN));
    h.run([await prepareCastWeights(h.env, { src: h.upload(src), dst })]);
    // Compared as bit patterns, so the infinity compares equal to itself.
    const got = Float32Array.from(await h.download(dst), toHalfBits);
    h.compare({ kernel: 'f16 cast_weights', shape: `${n}` }, got, packHalf(src), { atol: 0, rtol: 0, l2: 0 });
    h.free();

    // Loss scaler: grads divided by the scale; an infinity sets the overflow flag (state word 2).
    const P = 64;
    const g = randF32(new Rng(3), P).map((x) => x * 256);
    g[P - 1] = Infinity;
    const grads = h.upload(g);
    const scaler = await prepareLossScaler(h.env, { grads, options: { initScale: 256 } });
    h.run([scaler.unscale]);
    const unscaled = await h.download(grads);
    const words = await readBuffer(h.env.device, h.env.pool, scaler.state, 32);
    const flag = new Uint32Array(words)[2];
    h.compare(
      { kernel: 'f16 amp_unscale', shape: `${P}` },
      Float32Array.from([...unscaled.subarray(0, P - 1), flag]),
      [...Array.from(g.subarray(0, P - 1), (x) => x / 256), 1],
      { atol: 0, rtol: 0, l2: 0 },
    );
    h.env.pool.release(scaler.state);
    h.free();
  },
};
