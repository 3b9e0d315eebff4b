// Mixed precision kernels against the float64 reference (src/gpu/half.ts, the f16 variants of
// shaders/matmul*.wgsl, conv.wgsl, reduce.wgsl, and shaders/cast.wgsl, shaders/amp.wgsl):
//   - binary16 packing on the CPU: rounding to nearest even, subnormals, overflow to infinity
//   - every matmul form in every main-loop kind (plus split-K) with f16 operands and outputs,
//     and the mixed boundaries a plan makes (f32 X in, f16 out; f16 in, f32 logits out)
//   - conv forward / weight grad / input grad (im2col and implicit) on f16 tensors
//   - bias gradient of an f16 dZ; the weight cast (bit-exact against packHalf)
//   - the loss scaler: the loss gradient scaled, unscale + overflow flag on inf and NaN, the
//     optimizer skipping a flagged step, the scale halving on overflow and doubling after the
//     growth interval
// Pooling, dropout and batch norm in f16 are in half-exact.test.ts.
// Inputs are seeded random values rounded to f16 on both sides; outputs are NaN-poisoned first.

import { describe, expect, it } from 'vitest';
import { fromHalfBits, packHalf, toHalfBits } from '../../src/gpu/half.js';
import { prepareCastWeights, prepareLossScaler } from '../../src/kernels/amp.js';
import { encodeDispatch, type Dispatch, type TensorView } from '../../src/kernels/common.js';
import {
  convScratchLength,
  prepareConvForward,
  prepareConvInputGrad,
  prepareConvWeightGrad,
  type ConvAlgo,
} from '../../src/kernels/conv.js';
import { prepareLoss } from '../../src/kernels/losses.js';
import {
  MATMUL_VARIANTS,
  SUBGROUP_VARIANTS,
  matmulScratchLength,
  prepareMatmulSteps,
  subgroupMatmulAvailable,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../../src/kernels/matmul.js';
import { prepareOptimizer } from '../../src/kernels/optim.js';
import { prepareBiasGradSteps } from '../../src/kernels/reduce.js';
import { resolveModel, type ConvGeometry } from '../../src/nn/layers.js';
import { resolveOptimizer } from '../../src/optim/optimizers.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { conv2dBackward, conv2dForward } from '../../src/reference/conv.js';
import { matmul, matmulForward } from '../../src/reference/matmul.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose } from '../helpers/allclose.js';
import {
  download,
  downloadHalf,
  poisoned,
  poisonedHalf,
  run,
  testGpu,
  upload,
  uploadHalf,
} from '../helpers/gpu.js';
import { convBiasTol, halfStoreTol, matmulTol } from '../tolerances.js';
import { halfArray, needF16 } from './f16.js';
import { free, randF32, seedOf } from './inputs.js';

describe('binary16 on the CPU', () => {
  it('rounds to nearest even, with subnormals, overflow and NaN', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519, 0x7bff], // below the halfway point to 65536
      [65520, 0x7c00], // halfway: rounds to even, which is infinity
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to 0: ties to even
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: even is 2
      [1 + 2 ** -11, 0x3c00], // halfway: even
      [1 + 3 * 2 ** -11, 0x3c02],
      [0.1, 0x2e66],
    ];
    for (const [x, bits] of cases) expect(toHalfBits(x), `toHalfBits(${x})`).toBe(bits);
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 37) expect(toHalfBits(fromHalfBits(h))).toBe(h);
  });
});

type Shape = [B: number, K: number, N: number];
const SHAPES: Shape[] = [
  [1, 1, 1],
  [7, 13, 5],
  [17, 33, 31],
  [64, 129, 63],
];
const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];
const byKind = (kind: MatmulVariant['kind']) => MATMUL_VARIANTS.find((v) => v.kind === kind)!;
const VARIANTS: MatmulVariant[] = [
  byKind('reg'),
  byKind('row'),
  byKind('wg'),
  SUBGROUP_VARIANTS[0],
  { ...byKind('reg'), splitK: 3 },
];

/** Which tensors of a matmul are f16: all of them, or the first / last layer of a plan. */
type Mix = 'all' | 'f32-in' | 'f32-out';

/** The epilogue activations run here: relu everywhere, relu6 and hardswish in their own test. */
type HalfAct = 'relu' | 'relu6' | 'hardswish';

async function checkMatmul(
  form: MatmulForm,
  [B, K, N]: Shape,
  variant: MatmulVariant,
  mix: Mix,
  act: HalfAct = 'relu',
) {
  const { env, dummies } = await testGpu();
  const rng = new Rng(seedOf(B, K, N, FORMS.indexOf(form), 16));
  // forward: lhs X [B,K], rhs W [N,K], bias; weightGrad: dZ [B,N], X [B,K]; inputGrad: dZ, W, Zprev.
  const lhsLen = form === 'forward' ? B * K : B * N;
  const rhsLen = form === 'weightGrad' ? B * K : N * K;
  const lhs = halfArray(rng, lhsLen);
  const rhs = halfArray(rng, rhsLen);
  const bias = randF32(rng, N);
  // relu6 and hardswish get Zprev in [-8, 8] (x4 is exact in f16) to reach their kinks at -3, 3, 6.
  const zPrev = halfArray(rng, B * K).map((v) => (act === 'relu' ? v : 4 * v));
  const outLen = form === 'forward' ? B * N : form === 'weightGrad' ? N * K : B * K;
  // Weight gradients are f32 in every plan; the first layer reads f32 X, the last writes f32.
  const halfLhs = mix !== 'f32-in' && !(form === 'weightGrad' && mix === 'f32-out');
  const halfOut = form !== 'weightGrad' && mix !== 'f32-out';
  const lhsV = halfLhs ? uploadHalf(env, lhs) : upload(env, lhs);
  const rhsV = uploadHalf(env, rhs);
  const biasV = upload(env, bias);
  const auxV = uploadHalf(env, zPrev);
  const out = halfOut ? poisonedHalf(env, outLen) : poisoned(env, outLen);
  const outA = halfOut ? poisonedHalf(env, outLen) : poisoned(env, outLen);
  const scratch = poisoned(env, Math.max(1, matmulScratchLength(form, B, K, N, variant)));
  const epilogue = form !== 'weightGrad';
  const ds = await prepareMatmulSteps(env, {
    form,
    lhs: lhsV,
    rhs: rhsV,
    B,
    K,
    N,
    out,
    bias: form === 'forward' ? biasV : undefined,
    outA: form === 'forward' ? outA : undefined,
    aux: form === 'inputGrad' ? auxV : undefined,
    activation: epilogue ? act : undefined,
    variant,
    scratch,
    dummies,
  });
  run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
  const read = (t: TensorView) => (t.dtype === 'f16' ? downloadHalf(env, t) : download(env, t));
  const got = await read(out);
  let ref: Float64Array;
  let r: number;
  if (form === 'forward') {
    ref = matmulForward(lhs, rhs, bias, B, K, N);
    r = K;
    const gotA = await read(outA);
    expectAllClose(gotA, activationForward(act, ref, B, N), halfStoreTol(r), `${form} ${mix} ${act} A`, N);
  } else if (form === 'weightGrad') {
    ref = matmul(lhs, rhs, N, B, K, true, false);
    r = B;
  } else {
    const aPrev = activationForward(act, zPrev, B, K);
    ref = activationBackward(act, zPrev, aPrev, matmul(lhs, rhs, B, N, K, false, false), B, K);
    r = N;
  }
  const tol = halfOut ? halfStoreTol(r) : matmulTol(r);
  expectAllClose(got, ref, tol, `${form} ${mix} ${act} ${variantName(variant)} ${B}x${K}x${N}`);
  for (const t of [lhsV, rhsV, biasV, auxV, out, outA, scratch]) env.pool.release(t.buffer);
}

describe('matmul with f16 tensors vs float64 reference', () => {
  for (const variant of VARIANTS) {
    it(`${variantName(variant)}: every form, all tensors f16`, async () => {
      if (!(await needF16())) return;
      const { gpu } = await testGpu();
      if (variant.kind === 'sg' && !subgroupMatmulAvailable(gpu.device)) return;
      for (const form of FORMS) for (const shape of SHAPES) await checkMatmul(form, shape, variant, 'all');
    });
  }
  it("relu6 and hardswish epilogues store f16 A and dX * act'", async () => {
    if (!(await needF16())) return;
    for (const act of ['relu6', 'hardswish'] as const) {
      for (const shape of SHAPES) {
        await checkMatmul('forward', shape, byKind('reg'), 'all', act);
        await checkMatmul('inputGrad', shape, byKind('reg'), 'all', act);
      }
    }
  });
  it('plan boundaries: f32 X into f16 Z/A, f16 A into f32 logits', async () => {
    if (!(await needF16())) return;
    for (const variant of [byKind('reg'), byKind('wg')]) {
      for (const shape of SHAPES) {
        await checkMatmul('forward', shape, variant, 'f32-in');
        await checkMatmul('weightGrad', shape, variant, 'f32-in');
        await checkMatmul('forward', shape, variant, 'f32-out');
        await checkMatmul('weightGrad', shape, variant, 'f32-out');
        await checkMatmul('inputGrad', shape, variant, 'f32-out');
      }
    }
  });
});

function convGeometry(B: number, input: [number, number, number], F: number, k: number): ConvGeometry {
  void B;
  const layers = [
    { type: 'conv2d' as const, filters: F, kernelSize: k, padding: 'same' as const },
    { type: 'flatten' as const },
    { units: 1 },
  ];
  return resolveModel({ inputShape: input, layers, loss: 'mse' }).layers[0].conv!;
}

describe('conv2d with f16 tensors vs float64 reference', () => {
  const cases: { B: number; input: [number, number, number]; F: number; k: number }[] = [
    { B: 2, input: [5, 7, 3], F: 5, k: 3 },
    { B: 3, input: [8, 8, 4], F: 8, k: 3 },
  ];
  for (const kind of ['im2col', 'implicit'] as const) {
    it(`${kind}: forward, weight grad, input grad`, async () => {
      if (!(await needF16())) return;
      const { env, dummies } = await testGpu();
      for (const c of cases) {
        const g = convGeometry(c.B, c.input, c.F, c.k);
        const rng = new Rng(seedOf(c.B, g.H, g.C, g.F, 7));
        const x = halfArray(rng, c.B * g.H * g.W * g.C);
        const w = halfArray(rng, g.F * g.KH * g.KW * g.C);
        const dZ = halfArray(rng, c.B * g.OH * g.OW * g.F);
        const bias = randF32(rng, g.F);
        const algo: ConvAlgo = { kind, variant: byKind('reg') };
        const scratchLen = Math.max(
          ...(['forward', 'weightGrad', 'inputGrad'] as const).map((f) => convScratchLength(f, c.B, g, algo)),
          1,
        );
        const scratch = poisoned(env, scratchLen);
        const [xV, wV, dZV, bV] = [
          uploadHalf(env, x),
          uploadHalf(env, w),
          uploadHalf(env, dZ),
          upload(env, bias),
        ];
        const z = poisonedHalf(env, dZ.length);
        const dW = poisoned(env, w.length);
        const db = poisoned(env, g.F);
        const dX = poisonedHalf(env, x.length);
        const label = `${kind} B${c.B} ${g.H}x${g.W}x${g.C}->${g.F}`;
        const common = { B: c.B, g, algo, scratch, dummies };
        const ds: Dispatch[] = [
          ...(await prepareConvForward(env, {
            ...common,
            x: xV,
            w: wV,
            bias: bV,
            z,
            a: z,
            activation: 'identity',
          })),
          ...(await prepareConvWeightGrad(env, { ...common, x: xV, dZ: dZV, dW, db })),
          ...(await prepareConvInputGrad(env, { ...common, dZ: dZV, w: wV, dX })),
        ];
        // One submit per form: the forms share the scratch buffer.
        for (const d of ds) run(env, (pass) => encodeDispatch(pass, d));
        const refZ = conv2dForward(x, w, bias, c.B, g);
        const ref = conv2dBackward(x, w, dZ, c.B, g, true);
        const K = g.KH * g.KW * g.C;
        expectAllClose(await downloadHalf(env, z), refZ, halfStoreTol(K), `${label} Z`, g.F);
        expectAllClose(await download(env, dW), ref.dW, matmulTol(c.B * g.OH * g.OW), `${label} dW`);
        expectAllClose(await download(env, db), ref.db, convBiasTol(c.B * g.OH * g.OW), `${label} db`);
        expectAllClose(
          await downloadHalf(env, dX),
          ref.dX,
          halfStoreTol(g.KH * g.KW * g.F),
          `${label} dX`,
          g.C,
        );
        for (const t of [xV, wV, dZV, bV, z, dW, db, dX, scratch]) env.pool.release(t.buffer);
      }
    });
  }

  it('direct: forward, Z and A both f16', async () => {
    if (!(await needF16())) return;
    const { env, dummies } = await testGpu();
    for (const c of [...cases, { B: 2, input: [28, 28, 1] as [number, number, number], F: 6, k: 5 }]) {
      const g = convGeometry(c.B, c.input, c.F, c.k);
      const rng = new Rng(seedOf(c.B, g.H, g.C, g.F, 8));
      const x = halfArray(rng, c.B * g.H * g.W * g.C);
      const w = halfArray(rng, g.F * g.KH * g.KW * g.C);
      const bias = randF32(rng, g.F);
      const [xV, wV, bV] = [uploadHalf(env, x), uploadHalf(env, w), upload(env, bias)];
      const n = c.B * g.OH * g.OW * g.F;
      const [z, a] = [poisonedHalf(env, n), poisonedHalf(env, n)];
      const algo: ConvAlgo = { kind: 'direct', variant: byKind('reg') };
      const ds = await prepareConvForward(env, {
        B: c.B,
        g,
        algo,
        dummies,
        x: xV,
        w: wV,
        bias: bV,
        z,
        a,
        activation: 'relu',
      });
      run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
      const refZ = conv2dForward(x, w, bias, c.B, g);
      const refA = refZ.map((v) => Math.max(v, 0));
      const K = g.KH * g.KW * g.C;
      const label = `direct B${c.B} ${g.H}x${g.W}x${g.C}->${g.F}`;
      expectAllClose(await downloadHalf(env, z), refZ, halfStoreTol(K), `${label} Z`, g.F);
      expectAllClose(await downloadHalf(env, a), refA, halfStoreTol(K), `${label} A`, g.F);
      for (const t of [xV, wV, bV, z, a]) env.pool.release(t.buffer);
    }
  });
});

describe('bias gradient of an f16 dZ and the weight cast', () => {
  it('sums f16 columns in f32 (one pass and two)', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    for (const [B, N] of [
      [5, 3],
      [1031, 17],
      [1031, 16], // vec4<f16> partials
    ]) {
      const dZ = halfArray(new Rng(seedOf(B, N, 3)), B * N);
      const ref = new Float64Array(N);
      for (let i = 0; i < B * N; i++) ref[i % N] += dZ[i];
      const dZV = uploadHalf(env, dZ);
      const db = poisoned(env, N);
      const ds = await prepareBiasGradSteps(env, { B, N, dZ: dZV, db });
      run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
      expectAllClose(await download(env, db), ref, convBiasTol(B), `bias_grad ${B}x${N}`);
    }
  });

  it('casts f32 weights to f16 bit-exactly (nearest even, overflow to infinity)', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    for (const n of [1, 7, 257, 1000]) {
      const src = randF32(new Rng(seedOf(n, 5)), n, -3, 3);
      src[0] = n === 1 ? 70000 : 1 + 2 ** -11; // overflow; a tie
      if (n > 3) src[1] = 3e-8; // subnormal in f16
      const srcV = upload(env, src);
      const dst = poisonedHalf(env, n);
      const d = await prepareCastWeights(env, { src: srcV, dst });
      run(env, (pass) => encodeDispatch(pass, d));
      const got = await downloadHalf(env, dst);
      const want = packHalf(src);
      for (let i = 0; i < n; i++) {
        expect(toHalfBits(got[i]), `cast ${n} [${i}] of ${src[i]}`).toBe(want[i]);
      }
    }
  });
});

describe('loss scaler', () => {
  it('scales the loss gradient, unscales, flags inf and NaN, skips the step, adapts the scale', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    const P = 1024;
    const grads = upload(env, new Float32Array(P));
    const params = upload(env, randF32(new Rng(9), P));
    const opt = resolveOptimizer({ name: 'adam', lr: 0.01 });
    const m = upload(env, new Float32Array(P));
    const v = upload(env, new Float32Array(P));
    const scaler = await prepareLossScaler(env, { grads, options: { initScale: 1024, growthInterval: 2 } });
    const optimizer = await prepareOptimizer(env, { opt, params, grads, m, v, amp: scaler.state });

    // Loss gradient: softmax-ce of 3 rows x 4 classes, SCALED by 1024 against the plain one.
    const logits = upload(env, randF32(new Rng(4), 12));
    const labels = upload(env, [0, 3, 1], 'u32');
    const plain = poisoned(env, 12);
    const scaled = poisoned(env, 12);
    const stats = poisoned(env, 9);
    const l1 = await prepareLoss(env, {
      loss: 'softmax-ce',
      B: 3,
      N: 4,
      outputs: logits,
      targets: labels,
      grad: plain,
      stats,
    });
    const l2 = await prepareLoss(env, {
      loss: 'softmax-ce',
      B: 3,
      N: 4,
      outputs: logits,
      targets: labels,
      grad: scaled,
      stats,
      amp: scaler.state,
    });
    run(env, (pass) => [l1, l2].forEach((d) => encodeDispatch(pass, d)));
    const p0 = await download(env, plain);
    const p1 = await download(env, scaled);
    for (let i = 0; i < 12; i++) expect(p1[i]).toBe(p0[i] * 1024);

    const step = async (g: Float32Array<ArrayBuffer>) => {
      env.device.queue.writeBuffer(grads.buffer, 0, g);
      const before = await download(env, params);
      run(env, (pass) => [scaler.unscale, optimizer, scaler.update].forEach((d) => encodeDispatch(pass, d)));
      const after = await download(env, params);
      return { before, after, state: await scaler.read(), grads: await download(env, grads) };
    };
    const g = randF32(new Rng(11), P).map((x) => x * 1024);
    // A finite step: gradients divided by the scale exactly, parameters move.
    let s = await step(g);
    expect(Array.from(s.grads.slice(0, 8))).toEqual(Array.from(g.slice(0, 8)).map((x) => x / 1024));
    expect(s.after).not.toEqual(s.before);
    expect(s.state).toEqual({ scale: 1024, streak: 1, skipped: 0, steps: 1 });
    // Second finite step in a row: growth interval 2 doubles the scale.
    s = await step(g);
    expect(s.state).toEqual({ scale: 2048, streak: 0, skipped: 0, steps: 2 });
    // An infinity anywhere skips the whole step (parameters and moments) and halves the scale.
    const mBefore = await download(env, m);
    for (const bad of [Infinity, -Infinity, NaN]) {
      const gb = g.slice();
      gb[P - 1] = bad;
      s = await step(gb);
      expect(s.after, `params after a ${bad} gradient`).toEqual(s.before);
    }
    expect(await download(env, m)).toEqual(mBefore);
    expect(s.state).toEqual({ scale: 256, streak: 0, skipped: 3, steps: 5 });
    // Finite again: steps resume.
    s = await step(g);
    expect(s.after).not.toEqual(s.before);
    expect(s.state).toEqual({ scale: 256, streak: 1, skipped: 3, steps: 6 });
    free(env, grads, params, m, v, logits, labels, plain, scaled, stats);
  });
});
