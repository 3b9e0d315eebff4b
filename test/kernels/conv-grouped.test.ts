// GPU grouped and depthwise conv2d (src/kernels/conv-grouped.ts) against the float64 reference
// (src/reference/conv.ts with g.G):
//   forward     Z = conv(x, w) + b, A = act(Z)                      (A written unless A is Z)
//   weightGrad  dW (partial sums over row chunks, then their column sums), db = colsum dZ
//   inputGrad   dX = conv^T(dZ, w) * act'(Zprev)                    (the previous layer's act)
// CASES cover C = F in {1, 3, 7, 17}, B {1, 3}, H and W {1, 5, 9}, kernels 1x1, 3x3, 5x5 and a
// rectangular one, strides 1 and 2, 'same', 'valid' and numeric padding, G = 1 (the kernels run
// an ungrouped conv too), 1 < G < C with several channels and filters per group, depthwise
// (G = C = F), and depthwise with a channel multiplier (F = 2C). Cases with B*OH*OW > 64 sum the
// weight grad over several chunks; LARGE over 256 chunks of more than 64 rows. Each case runs an
// exact tier (integers in -3..3, relu: every f32 sum is exact, so any difference is an indexing
// bug) and a float tier (inputs in [-2, 2]; Zprev in [-8, 8] under relu6 and hardswish). Every
// output and the scratch are NaN-poisoned before each run.

import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { encodeDispatch, type TensorView } from '../../src/kernels/common.js';
import {
  groupedConvScratchLength,
  groupedWeightLength,
  prepareGroupedConvForward,
  prepareGroupedConvInputGrad,
  prepareGroupedConvWeightGrad,
} from '../../src/kernels/conv-grouped.js';
import type { Activation } from '../../src/nn/activations.js';
import { resolveModel, type Conv2dSpec, type ConvGeometry } from '../../src/nn/layers.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { conv2dBackward, conv2dForward } from '../../src/reference/conv.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
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
import { convBiasTol, groupedConvActTol, groupedConvTol, halfStoreTol } from '../tolerances.js';
import { halfArray, needF16 } from './f16.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

type Act = Exclude<Activation, 'softmax'>;
type Form = 'forward' | 'weightGrad' | 'inputGrad';
interface Case {
  B: number;
  /** [H, W, C] */
  input: [number, number, number];
  F: number;
  G: number;
  k: number | [number, number];
  s?: number | [number, number];
  pad: 'same' | 'valid' | number;
  bias?: boolean;
  act: Act;
  prev: Act;
}

const CASES: Case[] = [
  { B: 1, input: [1, 1, 1], F: 1, G: 1, k: 1, pad: 'valid', act: 'identity', prev: 'identity' },
  { B: 3, input: [5, 5, 3], F: 3, G: 3, k: 3, pad: 'same', act: 'relu', prev: 'tanh' },
  { B: 1, input: [9, 9, 7], F: 7, G: 7, k: 5, s: 2, pad: 'same', act: 'relu6', prev: 'hardswish' },
  { B: 3, input: [9, 5, 17], F: 17, G: 17, k: 3, s: 2, pad: 1, act: 'tanh', prev: 'relu', bias: false },
  { B: 1, input: [5, 9, 3], F: 6, G: 3, k: 3, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 3, input: [1, 5, 7], F: 7, G: 7, k: 1, pad: 'valid', act: 'identity', prev: 'tanh' },
  { B: 1, input: [9, 9, 17], F: 17, G: 1, k: 3, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 3, input: [5, 9, 6], F: 9, G: 3, k: 3, s: 2, pad: 'same', act: 'tanh', prev: 'relu' },
  { B: 1, input: [9, 5, 12], F: 8, G: 4, k: 5, pad: 2, act: 'hardswish', prev: 'relu6' },
  { B: 3, input: [9, 9, 8], F: 4, G: 2, k: 3, s: 2, pad: 'valid', act: 'relu', prev: 'tanh', bias: false },
  { B: 3, input: [9, 9, 17], F: 34, G: 17, k: 3, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 1, input: [9, 5, 7], F: 7, G: 7, k: [3, 5], s: [2, 1], pad: 'same', act: 'tanh', prev: 'tanh' },
  { B: 3, input: [1, 9, 3], F: 3, G: 3, k: 3, pad: 'same', act: 'relu', prev: 'identity' },
  { B: 1, input: [5, 1, 1], F: 1, G: 1, k: [5, 1], s: 2, pad: 'same', act: 'relu', prev: 'relu' },
  { B: 3, input: [5, 5, 7], F: 14, G: 7, k: 5, s: 2, pad: 'valid', act: 'identity', prev: 'relu' },
];
/** B*OH*OW = 18432 rows: 256 weight-grad chunks of 72 rows. */
const LARGE: Case = { B: 2, input: [96, 96, 4], F: 4, G: 4, k: 3, pad: 'same', act: 'relu', prev: 'relu' };

function geometryOf(c: Case): ConvGeometry {
  const spec: Conv2dSpec = {
    type: 'conv2d',
    filters: c.F,
    kernelSize: c.k,
    stride: c.s,
    padding: c.pad,
    groups: c.G,
  };
  const layers = [spec, { type: 'flatten' as const }, { units: 1 }];
  return resolveModel({ inputShape: c.input, layers, loss: 'mse' }).layers[0].conv!;
}
const caseName = (c: Case) => {
  const g = geometryOf(c);
  return `B${c.B} ${g.H}x${g.W}x${g.C} -> ${g.F} G${c.G} k${g.KH}x${g.KW} s${g.SH}x${g.SW} ${String(c.pad)}`;
};

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
  dZ: Float32Array;
  zPrev: Float32Array;
}

function inputs(c: Case, g: ConvGeometry, gen: (rng: Rng, n: number) => Float32Array): Inputs {
  const rng = new Rng(seedOf(c.B, g.H, g.W, g.C, g.F, c.G, g.KH, g.KW, g.SH, g.SW, g.padTop));
  const nx = c.B * g.H * g.W * g.C;
  return {
    x: gen(rng, nx),
    w: gen(rng, groupedWeightLength(g)),
    bias: c.bias === false ? null : gen(rng, g.F),
    dZ: gen(rng, c.B * g.OH * g.OW * g.F),
    zPrev: gen(rng, nx),
  };
}

type Out = Float32Array | Float64Array;

function reference(form: Form, c: Case, g: ConvGeometry, o: Inputs, act: Act, prev: Act): Out[] {
  if (form === 'forward') {
    const z = conv2dForward(o.x, o.w, o.bias, c.B, g);
    return [z, activationForward(act, z, 1, z.length)];
  }
  const grads = conv2dBackward(o.x, o.w, o.dZ, c.B, g, o.bias !== null);
  if (form === 'weightGrad') return o.bias ? [grads.dW, grads.db] : [grads.dW];
  const n = o.zPrev.length;
  return [activationBackward(prev, o.zPrev, activationForward(prev, o.zPrev, 1, n), grads.dX, 1, n)];
}

async function gpuRun(form: Form, c: Case, g: ConvGeometry, o: Inputs, act: Act, prev: Act): Promise<Out[]> {
  const { env, dummies } = await testGpu();
  const B = c.B;
  const made: TensorView[] = [];
  const up = (d: Float32Array) => (made.push(upload(env, d)), made[made.length - 1]);
  const nan = (n: number) => (made.push(poisoned(env, Math.max(1, n))), made[made.length - 1]);
  let outs: TensorView[];
  let steps;
  if (form === 'forward') {
    outs = [nan(o.dZ.length), nan(o.dZ.length)];
    const [z, a] = outs;
    const bias = o.bias ? up(o.bias) : null;
    const args = { B, g, x: up(o.x), w: up(o.w), bias, z, a, activation: act, dummies };
    steps = await prepareGroupedConvForward(env, args);
  } else if (form === 'weightGrad') {
    outs = o.bias ? [nan(o.w.length), nan(g.F)] : [nan(o.w.length)];
    const len = groupedConvScratchLength(B, g);
    const scratch = len > 0 ? nan(len) : undefined;
    const args = { B, g, x: up(o.x), dZ: up(o.dZ), dW: outs[0], db: outs[1] ?? null, scratch };
    steps = await prepareGroupedConvWeightGrad(env, args);
  } else {
    outs = [nan(o.x.length)];
    const args = { B, g, dZ: up(o.dZ), w: up(o.w), dX: outs[0], activation: prev, aux: up(o.zPrev) };
    steps = await prepareGroupedConvInputGrad(env, { ...args, dummies });
  }
  run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
  const got = await Promise.all(outs.map((t) => download(env, t)));
  free(env, ...made);
  return got;
}

async function check(form: Form, c: Case, exact: boolean): Promise<void> {
  const g = geometryOf(c);
  const o = inputs(c, g, exact ? (rng, n) => randInts(rng, n) : randF32);
  if (!exact && (c.prev === 'relu6' || c.prev === 'hardswish'))
    o.zPrev = randF32(new Rng(seedOf(o.zPrev.length, 8)), o.zPrev.length, -8, 8);
  // relu and its 0/1 derivative add no rounding, so the exact tier stays exact.
  const act: Act = exact ? (c.act === 'identity' ? 'identity' : 'relu') : c.act;
  const prev: Act = exact ? (c.prev === 'identity' ? 'identity' : 'relu') : c.prev;
  const ref = reference(form, c, g, o, act, prev);
  const got = await gpuRun(form, c, g, o, act, prev);
  const label = `${exact ? 'exact ' : ''}${form} ${caseName(c)} act ${form === 'inputGrad' ? prev : act}`;
  const M = c.B * g.OH * g.OW;
  const Cg = g.C / c.G;
  const names = form === 'forward' ? ['Z', 'A'] : form === 'weightGrad' ? ['dW', 'db'] : ['dX'];
  const cols = form === 'inputGrad' ? g.C : form === 'forward' ? g.F : g.KH * g.KW * Cg;
  ref.forEach((r, i) => {
    const what = `${label} ${names[i]}`;
    const at = form === 'weightGrad' && i === 1 ? undefined : cols;
    if (exact) return expectExact(got[i], r, what, at);
    const tol =
      form === 'forward'
        ? (i === 0 ? groupedConvTol : groupedConvActTol)(g.KH * g.KW * Cg)
        : form === 'inputGrad'
          ? groupedConvActTol((g.KH * g.KW * g.F) / c.G)
          : (i === 0 ? groupedConvTol : convBiasTol)(M);
    expectAllClose(got[i], r, tol, what, at);
  });
}

const FORMS: readonly Form[] = ['forward', 'weightGrad', 'inputGrad'];
// Each lavapipe pipeline is seconds of LLVM compile on a busy 2-core machine.
const SLOW = 360_000;

describe('grouped conv2d kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const form of FORMS) {
    it(`${form}: every case, both tiers`, { timeout: SLOW }, async () => {
      for (const c of CASES) {
        await check(form, c, true);
        await check(form, c, false);
      }
    });
  }

  it(`every form at ${caseName(LARGE)} (256 weight-grad chunks)`, { timeout: SLOW }, async () => {
    expect(groupedConvScratchLength(LARGE.B, geometryOf(LARGE))).toBe(256 * 36);
    for (const form of FORMS) await check(form, LARGE, false);
  });

  it('A may be Z itself for the identity activation (only Z is stored)', async () => {
    const { env, dummies } = await testGpu();
    const c = CASES[4];
    const g = geometryOf(c);
    const o = inputs(c, g, randF32);
    const z = poisoned(env, o.dZ.length);
    const [x, w] = [upload(env, o.x), upload(env, o.w)];
    const common = { B: c.B, g, x, w, bias: null, z, a: z, dummies };
    const steps = await prepareGroupedConvForward(env, { ...common, activation: 'identity' });
    run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
    const ref = conv2dForward(o.x, o.w, null, c.B, g);
    expectAllClose(await download(env, z), ref, groupedConvTol(g.KH * g.KW), 'A = Z', g.F);
    await expect(prepareGroupedConvForward(env, { ...common, activation: 'relu' })).rejects.toThrow(
      ShapeError,
    );
    free(env, z, x, w);
  });

  it('refuses groups that do not divide C and F, short buffers and a missing scratch', async () => {
    const { env, dummies } = await testGpu();
    const g = geometryOf(CASES[10]);
    const t = upload(env, [1, 2, 3, 4]);
    const common = { B: 3, x: t, w: t, bias: null, z: t, a: t, activation: 'identity' as const, dummies };
    await expect(prepareGroupedConvForward(env, { ...common, g: { ...g, G: 5 } })).rejects.toThrow(
      /groups 5 must divide/,
    );
    await expect(prepareGroupedConvForward(env, { ...common, g })).rejects.toThrow(ShapeError);
    const xLen = 3 * g.H * g.W * g.C;
    const [x, dZ, dW] = [poisoned(env, xLen), poisoned(env, 3 * g.OH * g.OW * g.F), poisoned(env, 9 * g.F)];
    await expect(prepareGroupedConvWeightGrad(env, { B: 3, g, x, dZ, dW, db: null })).rejects.toThrow(
      /scratch/,
    );
    free(env, t, x, dZ, dW);
  });
});

describe('grouped conv2d with f16 tensors', () => {
  const cases: Case[] = [CASES[2], CASES[7], CASES[10]];
  it('forward (Z, A), weight grad and input grad (with aux) vs the float64 reference', async () => {
    if (!(await needF16())) return;
    const { env, dummies } = await testGpu();
    for (const c of cases) {
      const g = geometryOf(c);
      const rng = new Rng(seedOf(c.B, g.H, g.C, g.F, c.G, 16));
      const M = c.B * g.OH * g.OW;
      const [x, w, dZ, zPrev] = [
        halfArray(rng, c.B * g.H * g.W * g.C),
        halfArray(rng, groupedWeightLength(g)),
        halfArray(rng, M * g.F),
        halfArray(rng, c.B * g.H * g.W * g.C),
      ];
      const bias = randF32(rng, g.F);
      const [xV, wV, dZV, auxV, bV] = [x, w, dZ, zPrev]
        .map((d) => uploadHalf(env, d))
        .concat(upload(env, bias));
      const [z, a, dX] = [
        poisonedHalf(env, dZ.length),
        poisonedHalf(env, dZ.length),
        poisonedHalf(env, x.length),
      ];
      const dW = poisoned(env, w.length);
      const len = groupedConvScratchLength(c.B, g);
      const scratch = len > 0 ? poisoned(env, len) : undefined;
      const steps = [
        ...(await prepareGroupedConvForward(env, {
          B: c.B,
          g,
          x: xV,
          w: wV,
          bias: bV,
          z,
          a,
          activation: 'relu',
          dummies,
        })),
        ...(await prepareGroupedConvWeightGrad(env, { B: c.B, g, x: xV, dZ: dZV, dW, db: null, scratch })),
        ...(await prepareGroupedConvInputGrad(env, {
          B: c.B,
          g,
          dZ: dZV,
          w: wV,
          dX,
          activation: 'relu',
          aux: auxV,
          dummies,
        })),
      ];
      run(env, (pass) => steps.forEach((d) => encodeDispatch(pass, d)));
      const refZ = conv2dForward(x, w, bias, c.B, g);
      const ref = conv2dBackward(x, w, dZ, c.B, g, false);
      const refDX = ref.dX.map((v, i) => (zPrev[i] > 0 ? v : 0));
      const label = caseName(c);
      const r = (g.KH * g.KW * g.C) / c.G;
      expectAllClose(await downloadHalf(env, z), refZ, halfStoreTol(r), `${label} Z`, g.F);
      expectAllClose(
        await downloadHalf(env, a),
        refZ.map((v) => Math.max(v, 0)),
        halfStoreTol(r),
        `${label} A`,
        g.F,
      );
      expectAllClose(await download(env, dW), ref.dW, groupedConvTol(M), `${label} dW`);
      expectAllClose(
        await downloadHalf(env, dX),
        refDX,
        halfStoreTol((g.KH * g.KW * g.F) / c.G),
        `${label} dX`,
        g.C,
      );
      free(env, xV, wV, dZV, auxV, bV, z, a, dX, dW, ...(scratch ? [scratch] : []));
    }
  });
});
