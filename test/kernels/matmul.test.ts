// GPU matmul (shaders/matmul.wgsl via src/kernels/matmul.ts) against the float64 reference, for
// all three forms and every variant in MATMUL_VARIANTS and SUBGROUP_VARIANTS:
//   forward     Z[B,N] = X[B,K] W[N,K]^T + b, A = act(Z)   one case per epilogue activation
//   weightGrad  dW[N,K] = dZ[B,N]^T X[B,K]
//   inputGrad   dX[B,K] = (dZ[B,N] W[N,K]) * act'(Zprev[B,K])   one case per derivative epilogue
// Shapes are 1, primes and the tile sizes +-1 (4-wide register blocks; 32/64-wide wg tiles).
// The large 512x784x300 case runs for one variant per form only: lavapipe is slow.
// The subgroup ('sg') variants need 8-lane subgroups: they must run on lavapipe (CI's adapter) and
// are skipped, saying so, only on adapters without them (SwiftShader's subgroups are 4 wide).
// Every output is NaN-poisoned first, so an element no invocation wrote fails the test.
// Pipelines are compiled once per (form, activation, variant) and shared by all shapes.

import { describe, expect, it } from 'vitest';
import { encodeDispatch } from '../../src/kernels/common.js';
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
import type { Activation } from '../../src/nn/activations.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { matmul, matmulForward } from '../../src/reference/matmul.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { matmulActTol, matmulTol } from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

type Shape = [B: number, K: number, N: number];
const SHAPES: Shape[] = [
  [1, 1, 1],
  [7, 13, 5],
  [15, 17, 16],
  [16, 16, 16],
  [17, 33, 31],
  [45, 65, 33],
  [127, 129, 63],
];
const LARGE: Shape = [512, 784, 300];

interface Act {
  name: Exclude<Activation, 'softmax'>;
  alpha?: number;
  /** inputGrad's Zprev drawn from [-8, 8] instead of [-2, 2], to reach kinks far from 0. */
  wide?: boolean;
}
const ACTS: Act[] = [
  { name: 'identity' },
  { name: 'relu' },
  { name: 'leaky_relu', alpha: 0.01 },
  { name: 'leaky_relu', alpha: 0.2 },
  { name: 'sigmoid' },
  { name: 'tanh' },
  { name: 'gelu' },
  // Forward Z (sums of K products) already spans the kinks; Zprev needs the wider range to reach
  // hardswish's -3 and 3 and relu6's cap at 6.
  { name: 'relu6', wide: true },
  { name: 'hardswish', wide: true },
];
const IDENTITY = ACTS[0];
const RELU = ACTS[1];
const actName = (a: Act) => (a.alpha === undefined ? a.name : `${a.name}(${a.alpha})`);
const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];

// Split-K on the two loop structures that differ (reg: 4-step k loop plus scalar tail; wg:
// TK-slab loop with zero-filled tail). splitK 3 leaves a short last slice on most shapes.
const byKind = (kind: MatmulVariant['kind']) =>
  MATMUL_VARIANTS.find((v) => v.kind === kind) ?? MATMUL_VARIANTS[0];
const SPLIT_VARIANTS: MatmulVariant[] = [
  { ...byKind('reg'), splitK: 2 },
  { ...byKind('wg'), splitK: 3 },
  { ...SUBGROUP_VARIANTS[0], splitK: 3 },
];

/** False (the test returns early) where an sg variant cannot run; lavapipe must run them. */
async function runnable(variant: MatmulVariant): Promise<boolean> {
  if (variant.kind !== 'sg') return true;
  const { gpu } = await testGpu();
  if (subgroupMatmulAvailable(gpu.device)) return true;
  expect(gpu.report.kind, `lavapipe must offer 8-lane subgroups for ${variantName(variant)}`).not.toBe(
    'lavapipe',
  );
  console.log(`[gpu] ${variantName(variant)} skipped: ${gpu.report.name} has no 8-lane subgroups`);
  return false;
}
const SWEEP = byKind('wg');

type Gen = (rng: Rng, n: number) => Float32Array;

interface Operands {
  lhs: Float32Array;
  rhs: Float32Array;
  /** forward: bias [N]; inputGrad: Zprev [B,K]. */
  extra: Float32Array | null;
}

/** Inputs for one (form, shape), the same for every variant and activation. */
function operands(form: MatmulForm, [B, K, N]: Shape, gen: Gen): Operands {
  const rng = new Rng(seedOf(B, K, N, ['forward', 'weightGrad', 'inputGrad'].indexOf(form)));
  if (form === 'forward') return { lhs: gen(rng, B * K), rhs: gen(rng, N * K), extra: gen(rng, N) };
  if (form === 'weightGrad') return { lhs: gen(rng, B * N), rhs: gen(rng, B * K), extra: null };
  return { lhs: gen(rng, B * N), rhs: gen(rng, N * K), extra: gen(rng, B * K) };
}

/** The float64 reference: { out, a } with a = act(Z) for forward. */
function reference(form: MatmulForm, [B, K, N]: Shape, o: Operands, act: Act) {
  const opts = { alpha: act.alpha };
  if (form === 'forward') {
    const z = matmulForward(o.lhs, o.rhs, o.extra, B, K, N);
    return { out: z, a: activationForward(act.name, z, B, N, opts) };
  }
  if (form === 'weightGrad') return { out: matmul(o.lhs, o.rhs, N, B, K, true, false), a: null };
  const dX = matmul(o.lhs, o.rhs, B, N, K, false, false);
  const zPrev = o.extra!;
  const aPrev = activationForward(act.name, zPrev, B, K, opts);
  return { out: activationBackward(act.name, zPrev, aPrev, dX, B, K, opts), a: null };
}

/** Runs one form on the GPU; returns the output (and A for forward). */
async function gpu(form: MatmulForm, [B, K, N]: Shape, o: Operands, act: Act, variant: MatmulVariant) {
  const { env, dummies } = await testGpu();
  const outLen = form === 'weightGrad' ? N * K : form === 'forward' ? B * N : B * K;
  const lhs = upload(env, o.lhs);
  const rhs = upload(env, o.rhs);
  const extra = upload(env, o.extra ?? [0]);
  const out = poisoned(env, outLen);
  const outA = poisoned(env, form === 'forward' ? outLen : 1);
  // Split-K partials: poisoned too, so a slice that stores nothing shows up as NaN.
  const scratch = poisoned(env, Math.max(1, matmulScratchLength(form, B, K, N, variant)));
  const ds = await prepareMatmulSteps(env, {
    form,
    lhs,
    rhs,
    B,
    K,
    N,
    out,
    bias: form === 'forward' ? extra : undefined,
    outA: form === 'forward' ? outA : undefined,
    aux: form === 'inputGrad' ? extra : undefined,
    activation: form === 'weightGrad' ? undefined : act.name,
    alpha: act.alpha,
    variant,
    scratch,
    dummies,
  });
  run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
  const res = { out: await download(env, out), a: form === 'forward' ? await download(env, outA) : null };
  free(env, lhs, rhs, extra, out, outA, scratch);
  return res;
}

/** Output columns, for [row, col] in failure messages. */
const colsOf = (form: MatmulForm, [, K, N]: Shape) => (form === 'forward' ? N : K);
/** Length of the reduction: the dot-product length that sets the rounding error. */
const reductionOf = (form: MatmulForm, [B, K, N]: Shape) =>
  form === 'forward' ? K : form === 'weightGrad' ? B : N;

async function checkFloat(form: MatmulForm, shape: Shape, act: Act, variant: MatmulVariant) {
  const o = operands(form, shape, randF32);
  if (act.wide && form === 'inputGrad')
    o.extra = randF32(new Rng(seedOf(...shape, 8)), o.extra!.length, -8, 8);
  const ref = reference(form, shape, o, act);
  const got = await gpu(form, shape, o, act, variant);
  const label = `${form} ${actName(act)} ${variantName(variant)} ${shape.join('x')}`;
  const cols = colsOf(form, shape);
  const r = reductionOf(form, shape);
  // inputGrad multiplies by act'(Zprev) in its epilogue: the activation's rounding adds on.
  const outTol = form === 'inputGrad' ? matmulActTol(r) : matmulTol(r);
  expectAllClose(got.out, ref.out, outTol, `${label} out`, cols);
  if (got.a && ref.a) expectAllClose(got.a, ref.a, matmulActTol(r), `${label} A`, cols);
}

async function checkExact(form: MatmulForm, shape: Shape, act: Act, variant: MatmulVariant) {
  const o = operands(form, shape, (rng, n) => randInts(rng, n));
  const ref = reference(form, shape, o, act);
  const got = await gpu(form, shape, o, act, variant);
  const label = `exact ${form} ${actName(act)} ${variantName(variant)} ${shape.join('x')}`;
  const cols = colsOf(form, shape);
  expectExact(got.out, ref.out, `${label} out`, cols);
  if (got.a && ref.a) expectExact(got.a, ref.a, `${label} A`, cols);
}

describe('matmul kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  // Every main loop, plain and split-K, through all three forms, on every shape, exact tier then
  // float tier. The forms use relu so both epilogues that take an activation run and stay exact
  // (relu and its 0/1 derivative introduce no rounding); the pipelines are shared by both tiers.
  for (const variant of [...MATMUL_VARIANTS, ...SUBGROUP_VARIANTS, ...SPLIT_VARIANTS]) {
    describe(variantName(variant), () => {
      for (const form of FORMS) {
        const act = form === 'weightGrad' ? IDENTITY : RELU;
        it(`${form}${form === 'weightGrad' ? '' : ` + ${actName(act)}`}`, async () => {
          if (!(await runnable(variant))) return;
          for (const shape of SHAPES) {
            await checkExact(form, shape, act, variant);
            await checkFloat(form, shape, act, variant);
          }
        });
      }
    });
  }

  // Every activation epilogue. The epilogue (store_one) is the same code in every main loop, so
  // the sweep runs on one variant, the quickest to compile on lavapipe, instead of multiplying
  // activations by variants (each pipeline costs seconds of LLVM time there).
  describe(`epilogue activations (${variantName(SWEEP)})`, () => {
    for (const act of ACTS) {
      for (const form of ['forward', 'inputGrad'] as const) {
        it(`${form} ${form === 'forward' ? 'A = ' : 'x '}${actName(act)}${form === 'forward' ? '' : "'"}`, async () => {
          for (const shape of SHAPES) {
            if (['identity', 'relu', 'relu6'].includes(act.name)) await checkExact(form, shape, act, SWEEP);
            await checkFloat(form, shape, act, SWEEP);
          }
        });
      }
    }
  });

  // One variant per form, the main-loop kinds between them, reusing compiled pipelines; the sg
  // variant runs all three forms (it is the one lavapipe picks).
  describe(`large ${LARGE.join('x')}`, () => {
    for (const [form, kind] of [
      ['forward', 'row'],
      ['weightGrad', 'wg'],
      ['inputGrad', 'reg'],
    ] as const) {
      const variant = MATMUL_VARIANTS.find((v) => v.kind === kind) ?? MATMUL_VARIANTS[0];
      it(`${form} (${variantName(variant)})`, async () => {
        await checkFloat(form, LARGE, form === 'weightGrad' ? IDENTITY : RELU, variant);
      });
    }
    for (const form of FORMS) {
      const variant = SUBGROUP_VARIANTS[0];
      it(`${form} (${variantName(variant)})`, async () => {
        if (!(await runnable(variant))) return;
        await checkFloat(form, LARGE, form === 'weightGrad' ? IDENTITY : RELU, variant);
      });
    }
  });
});
