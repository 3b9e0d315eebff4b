// GPU conv2d (src/kernels/conv.ts) against the float64 reference (src/reference/conv.ts), for both
// algorithms (im2col + matmul, implicit GEMM) and two matmul variants (the register-tiled default
// and the subgroup 'sg' one where 8-lane subgroups exist), plus a split-K variant, and the direct
// forward kernel (every case, whatever the tuner would time it for):
//   forward     Z = conv(x, w) + b, A = act(Z)        (relu / tanh / identity / relu6 / hardswish)
//   weightGrad  dW = dZ^T col(x), db = column sums of dZ            (with and without bias)
//   inputGrad   dX = conv^T(dZ, w) * act'(Zprev)                    (the previous layer's act)
// CASES is a chosen list, not a cross product: every value of batch {1, 3}, H and W {1, 2, 5, 7,
// 13}, C {1, 3, 5}, filters {1, 7, 16}, kernel {1, 3, 5}, stride {1, 2}, padding same / valid /
// numeric occurs at least twice, with kernels larger than the map under 'same', rectangular
// kernels and strides, C or F multiples of 4 (the vec4 paths) and output widths of 4. Each case
// runs an exact tier (integers in -3..3, relu: every f32 sum is exact, so any difference is an
// indexing bug) and a float tier (inputs in [-2, 2]; Zprev in [-8, 8] under relu6 and hardswish,
// whose kinks lie at -3, 3 and 6). Every output and the scratch are
// NaN-poisoned before each run.

import { describe, expect, it } from 'vitest';
import { chooseConvAlgo, convCandidates, defaultConvAlgo } from '../../src/engine/conv-tune.js';
import { ShapeError } from '../../src/errors.js';
import { encodeDispatch, type TensorView } from '../../src/kernels/common.js';
import {
  convScratchLength,
  prepareConvForward,
  prepareConvInputGrad,
  prepareConvWeightGrad,
  type ConvAlgo,
} from '../../src/kernels/conv.js';
import {
  DEFAULT_VARIANT,
  SUBGROUP_VARIANTS,
  subgroupMatmulAvailable,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../../src/kernels/matmul.js';
import type { MatmulTuning } from '../../src/engine/tune.js';
import type { Activation } from '../../src/nn/activations.js';
import { resolveModel, type Conv2dSpec, type ConvGeometry } from '../../src/nn/layers.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { conv2dBackward, conv2dForward } from '../../src/reference/conv.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { convActTol, convBiasTol, convTol } from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

type Act = Exclude<Activation, 'softmax'>;
interface Case {
  B: number;
  /** [H, W, C] */
  input: [number, number, number];
  F: number;
  k: number | [number, number];
  s?: number | [number, number];
  pad: 'same' | 'valid' | number;
  bias?: boolean;
  /** Forward activation (float tier), and the previous layer's activation for the input grad. */
  act: Act;
  prev: Act;
}

const CASES: Case[] = [
  { B: 1, input: [1, 1, 1], F: 1, k: 1, pad: 'valid', act: 'identity', prev: 'identity' },
  { B: 3, input: [1, 1, 3], F: 7, k: 3, pad: 'same', act: 'relu', prev: 'tanh' },
  { B: 1, input: [2, 2, 1], F: 16, k: 5, pad: 'same', act: 'tanh', prev: 'relu' },
  { B: 3, input: [2, 5, 5], F: 7, k: 3, s: 2, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 1, input: [5, 5, 3], F: 1, k: 3, pad: 'valid', act: 'tanh', prev: 'identity', bias: false },
  { B: 3, input: [5, 7, 1], F: 16, k: 5, s: 2, pad: 2, act: 'identity', prev: 'tanh' },
  { B: 1, input: [7, 7, 5], F: 7, k: 1, s: 2, pad: 'valid', act: 'relu', prev: 'relu' },
  { B: 3, input: [7, 5, 3], F: 16, k: [3, 5], pad: 'same', act: 'tanh', prev: 'relu', bias: false },
  { B: 1, input: [13, 13, 1], F: 7, k: 5, s: 2, pad: 'valid', act: 'relu', prev: 'tanh' },
  { B: 3, input: [13, 7, 5], F: 1, k: 3, s: [2, 1], pad: 1, act: 'tanh', prev: 'identity' },
  { B: 1, input: [7, 13, 3], F: 16, k: [5, 3], s: [1, 2], pad: 'same', act: 'relu', prev: 'relu' },
  { B: 3, input: [13, 2, 1], F: 7, k: [3, 1], pad: 'valid', act: 'identity', prev: 'relu' },
  { B: 1, input: [2, 13, 5], F: 16, k: [1, 5], s: 2, pad: 'same', act: 'tanh', prev: 'tanh' },
  { B: 3, input: [5, 2, 3], F: 1, k: 5, pad: 'same', act: 'relu', prev: 'relu', bias: false },
  { B: 1, input: [1, 7, 5], F: 7, k: [3, 5], s: 2, pad: 1, act: 'relu6', prev: 'hardswish' },
  { B: 3, input: [7, 1, 1], F: 16, k: [3, 1], s: 2, pad: 'same', act: 'tanh', prev: 'relu' },
  { B: 1, input: [5, 13, 1], F: 1, k: [5, 3], pad: 2, act: 'identity', prev: 'tanh' },
  { B: 3, input: [13, 5, 3], F: 7, k: 5, s: 1, pad: 'valid', act: 'relu', prev: 'relu' },
  // Vec4 paths: C a multiple of 4 (col(x) and w rows as vec4), F a multiple of 4 (dZ rows).
  { B: 3, input: [5, 7, 4], F: 16, k: 3, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 1, input: [7, 5, 8], F: 7, k: 3, s: 2, pad: 1, act: 'hardswish', prev: 'relu6' },
  { B: 3, input: [2, 5, 4], F: 1, k: 5, pad: 'same', act: 'relu', prev: 'identity', bias: false },
  { B: 1, input: [13, 13, 8], F: 16, k: 5, s: 2, pad: 'valid', act: 'relu', prev: 'relu' },
  { B: 3, input: [7, 7, 4], F: 16, k: [1, 3], s: [2, 1], pad: 'same', act: 'identity', prev: 'tanh' },
  { B: 1, input: [5, 5, 5], F: 16, k: 3, pad: 1, act: 'tanh', prev: 'relu' },
  { B: 3, input: [13, 1, 3], F: 7, k: [5, 1], s: 2, pad: 'same', act: 'relu', prev: 'relu' },
  // Output widths of 4 (the D net's maps are 32, 16 and 8 wide): a column stride with scalar
  // taps, then vec4 taps with several images in one split-K slice.
  { B: 3, input: [5, 8, 3], F: 7, k: 3, s: [1, 2], pad: 'same', act: 'relu', prev: 'tanh' },
  { B: 3, input: [3, 4, 4], F: 16, k: 3, pad: 1, act: 'relu', prev: 'relu' },
];
const LARGE: Case = { B: 32, input: [32, 32, 16], F: 32, k: 3, pad: 'same', act: 'relu', prev: 'relu' };

function geometryOf(c: Case): ConvGeometry {
  const spec: Conv2dSpec = { type: 'conv2d', filters: c.F, kernelSize: c.k, stride: c.s, padding: c.pad };
  // The dense head only makes the model valid; layer 0's geometry is what resolveModel derives.
  const layers = [spec, { type: 'flatten' as const }, { units: 1 }];
  return resolveModel({ inputShape: c.input, layers, loss: 'mse' }).layers[0].conv!;
}
const caseName = (c: Case) => {
  const g = geometryOf(c);
  return `B${c.B} ${g.H}x${g.W}x${g.C} -> ${g.F} k${g.KH}x${g.KW} s${g.SH}x${g.SW} ${String(c.pad)}`;
};

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

type Gen = (rng: Rng, n: number) => Float32Array;

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
  dZ: Float32Array;
  zPrev: Float32Array;
}

function inputs(c: Case, g: ConvGeometry, gen: Gen): Inputs {
  const rng = new Rng(seedOf(c.B, g.H, g.W, g.C, g.F, g.KH, g.KW, g.SH, g.SW, g.padTop, g.padLeft));
  const nx = c.B * g.H * g.W * g.C;
  return {
    x: gen(rng, nx),
    w: gen(rng, g.F * g.KH * g.KW * g.C),
    bias: c.bias === false ? null : gen(rng, g.F),
    dZ: gen(rng, c.B * g.OH * g.OW * g.F),
    zPrev: gen(rng, nx),
  };
}

interface Outputs {
  out: Float32Array | Float64Array;
  /** forward: A; weightGrad: db (or null without bias). */
  second: Float32Array | Float64Array | null;
}

function reference(form: MatmulForm, c: Case, g: ConvGeometry, o: Inputs, act: Act, prev: Act): Outputs {
  const M = c.B * g.OH * g.OW;
  if (form === 'forward') {
    const z = conv2dForward(o.x, o.w, o.bias, c.B, g);
    return { out: z, second: activationForward(act, z, M, g.F) };
  }
  const grads = conv2dBackward(o.x, o.w, o.dZ, c.B, g, o.bias !== null);
  if (form === 'weightGrad') return { out: grads.dW, second: o.bias ? grads.db : null };
  const n = o.zPrev.length;
  const aPrev = activationForward(prev, o.zPrev, 1, n);
  return { out: activationBackward(prev, o.zPrev, aPrev, grads.dX, 1, n), second: null };
}

async function gpuRun(
  form: MatmulForm,
  c: Case,
  g: ConvGeometry,
  o: Inputs,
  act: Act,
  prev: Act,
  algo: ConvAlgo,
): Promise<Outputs> {
  const { env, dummies } = await testGpu();
  const B = c.B;
  const M = B * g.OH * g.OW;
  const made: TensorView[] = [];
  const up = (d: Float32Array) => (made.push(upload(env, d)), made[made.length - 1]);
  const nan = (n: number) => (made.push(poisoned(env, Math.max(1, n))), made[made.length - 1]);
  const scratchLen = convScratchLength(form, B, g, algo);
  const scratch = scratchLen > 0 ? nan(scratchLen) : undefined;
  let steps;
  let out: TensorView;
  let second: TensorView | null = null;
  if (form === 'forward') {
    out = nan(M * g.F);
    second = nan(M * g.F);
    steps = await prepareConvForward(env, {
      B,
      g,
      x: up(o.x),
      w: up(o.w),
      bias: o.bias ? up(o.bias) : null,
      z: out,
      a: second,
      activation: act,
      algo,
      scratch,
      dummies,
    });
  } else if (form === 'weightGrad') {
    out = nan(g.F * g.KH * g.KW * g.C);
    second = o.bias ? nan(g.F) : null;
    steps = await prepareConvWeightGrad(env, {
      B,
      g,
      x: up(o.x),
      dZ: up(o.dZ),
      dW: out,
      db: second,
      algo,
      scratch,
      dummies,
    });
  } else {
    out = nan(o.x.length);
    steps = await prepareConvInputGrad(env, {
      B,
      g,
      dZ: up(o.dZ),
      w: up(o.w),
      dX: out,
      activation: prev,
      aux: up(o.zPrev),
      algo,
      scratch,
      dummies,
    });
  }
  run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
  const res = { out: await download(env, out), second: second ? await download(env, second) : null };
  free(env, ...made);
  return res;
}

/** Dot-product length of each output: sets the f32 rounding budget. */
function reductionOf(form: MatmulForm, c: Case, g: ConvGeometry): number {
  if (form === 'forward') return g.KH * g.KW * g.C;
  if (form === 'weightGrad') return c.B * g.OH * g.OW;
  return g.KH * g.KW * g.F;
}
const colsOf = (form: MatmulForm, g: ConvGeometry) =>
  form === 'forward' ? g.F : form === 'weightGrad' ? g.KH * g.KW * g.C : g.C;

async function check(form: MatmulForm, c: Case, algo: ConvAlgo, exact: boolean): Promise<void> {
  const g = geometryOf(c);
  const o = inputs(c, g, exact ? (rng, n) => randInts(rng, n) : randF32);
  if (!exact && (c.prev === 'relu6' || c.prev === 'hardswish'))
    o.zPrev = randF32(new Rng(seedOf(o.zPrev.length, 8)), o.zPrev.length, -8, 8);
  // relu and its 0/1 derivative add no rounding, so the exact tier stays exact.
  const act: Act = exact ? (c.act === 'identity' ? 'identity' : 'relu') : c.act;
  const prev: Act = exact ? (c.prev === 'identity' ? 'identity' : 'relu') : c.prev;
  const ref = reference(form, c, g, o, act, prev);
  const got = await gpuRun(form, c, g, o, act, prev, algo);
  const label = `${exact ? 'exact ' : ''}${form} ${algo.kind} ${variantName(algo.variant)} ${caseName(c)} act ${form === 'inputGrad' ? prev : act}`;
  const cols = colsOf(form, g);
  const r = reductionOf(form, c, g);
  if (exact) {
    expectExact(got.out, ref.out, `${label} out`, cols);
    if (ref.second) expectExact(got.second!, ref.second, `${label} ${form === 'forward' ? 'A' : 'db'}`);
    return;
  }
  expectAllClose(got.out, ref.out, form === 'inputGrad' ? convActTol(r) : convTol(r), `${label} out`, cols);
  if (form === 'forward') expectAllClose(got.second!, ref.second!, convActTol(r), `${label} A`, cols);
  if (form === 'weightGrad' && ref.second) {
    expectAllClose(got.second!, ref.second, convBiasTol(c.B * g.OH * g.OW), `${label} db`);
  }
}

const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];
const KINDS: readonly ConvAlgo['kind'][] = ['im2col', 'implicit'];
const VARIANTS: readonly MatmulVariant[] = [DEFAULT_VARIANT, SUBGROUP_VARIANTS[0]];
// Split-K partials through the scratch buffer (implicit only: im2col drops split-K, see
// gemmVariant), on every third case.
const SPLIT: MatmulVariant = { ...DEFAULT_VARIANT, splitK: 3 };
// The sg kernel walks a conv's reduction by kernel pixel (matmul_sg.wgsl); its split-K slices
// start and end inside a kernel pixel's channel run.
// The 16-row sg kernel (two pixels per lane) runs here with split-K too.
const SG_SPLIT: MatmulVariant = { kind: 'sg', wgX: 8, wgY: 1, tm: 16, splitK: 3 };
const SG16: MatmulVariant = { kind: 'sg', wgX: 8, wgY: 4, tm: 16 };
// Each lavapipe pipeline is seconds of LLVM compile on a busy 2-core machine: cases run in chunks,
// each test with a generous limit (the first chunk of each form compiles its pipelines).
const CHUNK = 9;
const SLOW = 360_000;

describe('conv2d kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const kind of KINDS) {
    for (const variant of kind === 'implicit' ? [...VARIANTS, SPLIT, SG_SPLIT, SG16] : VARIANTS) {
      // Every third case for the extra variants, a different third for each.
      const third = [SPLIT, SG_SPLIT, SG16].indexOf(variant);
      const cases = third < 0 ? CASES : CASES.filter((_, i) => i % 3 === third);
      describe(`${kind} ${variantName(variant)}`, () => {
        for (const form of FORMS) {
          for (let at = 0; at < cases.length; at += CHUNK) {
            const chunk = cases.slice(at, at + CHUNK);
            it(`${form} cases ${at}-${at + chunk.length - 1}`, { timeout: SLOW }, async () => {
              if (!(await runnable(variant))) return;
              for (const c of chunk) {
                await check(form, c, { kind, variant }, true);
                await check(form, c, { kind, variant }, false);
              }
            });
          }
        }
      });
    }
  }

  describe(`large ${caseName(LARGE)}`, () => {
    for (const kind of KINDS) {
      for (const form of FORMS) {
        it(`${form} ${kind}`, { timeout: SLOW }, async () => {
          const { gpu } = await testGpu();
          const variant = subgroupMatmulAvailable(gpu.device) ? SUBGROUP_VARIANTS[0] : DEFAULT_VARIANT;
          await check(form, LARGE, { kind, variant }, false);
        });
      }
    }
  });

  describe('direct forward', () => {
    const DIRECT: ConvAlgo = { kind: 'direct', variant: DEFAULT_VARIANT };
    // The first layers of LeNet and the CIFAR preset (the shapes the tuner times it for), LARGE,
    // and 13 filters: 8 per invocation (FPI) past 4 filters, here a full group and one of 5.
    // CASES add 1 filter (FPI 4), 7 (one group, one filter past F) and 16.
    const FIRST: Case[] = [
      { B: 2, input: [28, 28, 1], F: 6, k: 5, pad: 'same', act: 'relu', prev: 'identity' },
      { B: 3, input: [9, 11, 2], F: 13, k: 3, pad: 'same', act: 'tanh', prev: 'identity' },
      { B: 2, input: [32, 32, 3], F: 32, k: 3, pad: 'same', act: 'identity', prev: 'identity', bias: false },
      LARGE,
    ];
    it('every case, both tiers, Z and A', { timeout: SLOW }, async () => {
      for (const c of [...CASES, ...FIRST]) {
        await check('forward', c, DIRECT, true);
        await check('forward', c, DIRECT, false);
      }
    });

    it('A may be Z itself for the identity activation (only Z is stored)', async () => {
      const { env, dummies } = await testGpu();
      const c = CASES[7];
      const g = geometryOf(c);
      const o = inputs(c, g, randF32);
      const z = poisoned(env, c.B * g.OH * g.OW * g.F);
      const x = upload(env, o.x);
      const w = upload(env, o.w);
      const common = { B: c.B, g, x, w, bias: null, z, a: z, algo: DIRECT, dummies };
      const steps = await prepareConvForward(env, { ...common, activation: 'identity' });
      run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
      const ref = conv2dForward(o.x, o.w, null, c.B, g);
      expectAllClose(await download(env, z), ref, convTol(g.KH * g.KW * g.C), 'direct, A = Z', g.F);
      await expect(prepareConvForward(env, { ...common, activation: 'relu' })).rejects.toThrow(ShapeError);
      free(env, z, x, w);
    });

    it('refuses the backward forms with ShapeError', async () => {
      const { env, dummies } = await testGpu();
      const g = geometryOf(CASES[1]);
      const t = upload(env, [1, 2, 3, 4]);
      await expect(
        prepareConvWeightGrad(env, { B: 1, g, x: t, dZ: t, dW: t, db: null, algo: DIRECT, dummies }),
      ).rejects.toThrow(/forward pass only/);
      free(env, t);
    });
  });

  it('im2col refuses a column buffer larger than one storage binding', async () => {
    const { env, dummies } = await testGpu();
    const max = env.device.limits.maxStorageBufferBindingSize;
    const g = geometryOf({ ...LARGE, B: 1 });
    const B = Math.ceil(max / (4 * g.OH * g.OW * g.KH * g.KW * g.C)) + 1;
    const t = upload(env, [1, 2, 3, 4]);
    await expect(
      prepareConvForward(env, {
        B,
        g,
        x: t,
        w: t,
        bias: null,
        z: t,
        a: t,
        activation: 'identity',
        algo: { kind: 'im2col', variant: DEFAULT_VARIANT },
        dummies,
      }),
    ).rejects.toThrow(ShapeError);
    free(env, t);
  });

  it('offers one-subgroup workgroups, and split-K only for products of very few workgroups', async () => {
    const { gpu } = await testGpu();
    const sg: MatmulVariant = { kind: 'sg', wgX: 8, wgY: 4, tm: 16 };
    const tuning: MatmulTuning = {
      forward: sg,
      weightGrad: sg,
      inputGrad: sg,
      longK: sg,
      source: 'forced',
      key: 'test',
    };
    const names = (g: ConvGeometry, form: MatmulForm) =>
      convCandidates(gpu.device, form, 64, g, tuning)
        .filter((a) => a.kind === 'implicit')
        .map((a) => variantName(a.variant));
    const layer = (H: number, C: number, F: number, k: number, padding: 'same' | 'valid') =>
      resolveModel({
        inputShape: [H, H, C],
        layers: [{ type: 'conv2d', filters: F, kernelSize: k, padding }, { type: 'flatten' }, { units: 1 }],
        loss: 'mse',
      }).layers[0].conv!;
    // LeNet's first weight grad: 6 x 25 outputs, one workgroup even with one subgroup each.
    expect(names(layer(28, 1, 6, 5, 'same'), 'weightGrad')).toEqual([
      'sg-8x4-tm16',
      'sg-8x4',
      'sg-8x1',
      'sg-8x1-split2',
      'sg-8x1-split4',
      'sg-8x1-tm16',
      'sg-8x1-tm16-split2',
      'sg-8x1-tm16-split4',
    ]);
    // The CIFAR layer's forward: 16,384 rows make hundreds of workgroups; no split-K.
    expect(names(layer(16, 32, 64, 3, 'same'), 'forward')).toEqual([
      'sg-8x4-tm16',
      'sg-8x4',
      'sg-8x1',
      'sg-8x1-tm16',
    ]);
  });

  it('the tuner and the default pick an algorithm that runs', { timeout: SLOW }, async () => {
    const { env, gpu } = await testGpu();
    const c = CASES[18];
    const g = geometryOf(c);
    const tuning: MatmulTuning = {
      forward: DEFAULT_VARIANT,
      weightGrad: DEFAULT_VARIANT,
      inputGrad: DEFAULT_VARIANT,
      longK: DEFAULT_VARIANT,
      source: 'forced',
      key: 'test',
    };
    for (const form of FORMS) {
      const algo = await chooseConvAlgo(env, gpu.report, g, c.B, form, tuning, { cache: false });
      // The direct kernel is a candidate for the forward only.
      expect(form === 'forward' ? [...KINDS, 'direct'] : KINDS).toContain(algo.kind);
      await check(form, c, algo, true);
    }
    await check('forward', c, defaultConvAlgo(gpu.device, c.B, g), true);
  });
});
