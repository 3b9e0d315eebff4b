// Layer-norm kernels (shaders/layernorm.wgsl via src/kernels/layernorm.ts) against the float64
// reference (src/reference/layernorm.ts). x is [B*S, C]; statistics per row over its C values:
//   forward   z = gamma (x - mean_r) invStd_r + beta, a = act(z); mean and invStd saved per row
//   backward  dX = invStd (g - mean_c g - xhat mean_c(g xhat)) * act'_prev(aux), g = dZ gamma;
//             dGamma = sum dZ xhat, dBeta = sum dZ over the rows
// Every layout (one invocation per row, the same on vec4s, one workgroup per row) runs on every
// shape it takes, whatever layerNormLayout would pick. The GPU backward runs on the GPU forward's
// own mean/invStd (the chain the plan runs). The padding rows of a partial batch get dZ = 0, as
// the loss writes it, over random x: their dX must come out exactly 0 and they must add nothing
// to dGamma, dBeta. Outputs are NaN-poisoned before every run.

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { encodeDispatch, type TensorView } from '../../src/kernels/common.js';
import {
  layerNormLayout,
  layerNormPartialLength,
  prepareLayerNormBackward,
  prepareLayerNormForward,
  type LayerNormLayout,
} from '../../src/kernels/layernorm.js';
import type { Activation } from '../../src/nn/activations.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { layerNormBackward, layerNormForward } from '../../src/reference/layernorm.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import {
  LN_INV_STD,
  layerNormGammaTol,
  layerNormGradTol,
  layerNormMeanTol,
  layerNormTol,
  matmulTol,
} from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

const EPS = 1e-5;

interface Case {
  B: number;
  S: number;
  C: number;
  active: number;
}
// rows = B*S in 1, 3, 64 (4 samples of 16 positions, the last one padding in the backward), 257;
// C from 1 (x̂ = 0) and 4 (one vec4 per row) to past a workgroup's width.
const ROWS: [B: number, S: number, active: number][] = [
  [1, 1, 1],
  [3, 1, 3],
  [4, 16, 3],
  [1, 257, 1],
];
const CS = [1, 2, 4, 7, 33, 256, 1000];
const CASES: Case[] = ROWS.flatMap(([B, S, active]) => CS.map((C) => ({ B, S, C, active })));
const LAYOUTS: LayerNormLayout[] = ['row', 'row4', 'group'];
/** The cases a layout takes: row4 reads vec4s, so C % 4 == 0 only. */
const casesFor = (layout: LayerNormLayout) => CASES.filter((c) => layout !== 'row4' || c.C % 4 === 0);
const caseName = ({ B, S, C, active }: Case) => `B${B} S${S} C${C} active ${active}`;

function withAct(name: Activation, z: ArrayLike<number>, dA: Float64Array | null) {
  const a = activationForward(name, z, 1, z.length);
  return dA ? activationBackward(name, z, a, dA, 1, z.length) : a;
}

function inputs(c: Case, salt: number, offset = 0) {
  const rng = new Rng(seedOf(c.B, c.S, c.C, c.active, salt));
  const x = randF32(rng, c.B * c.S * c.C);
  if (offset !== 0) for (let i = 0; i < x.length; i++) x[i] = Math.fround(offset + x[i]);
  return { x, gamma: randF32(rng, c.C), beta: randF32(rng, c.C), rng };
}

/** k = max_r invStd_r max_c |x[r, c]| (the conditioning the tolerances scale with) and max invStd. */
function conditioning(x: ArrayLike<number>, C: number, invStd: Float64Array) {
  let k = 0;
  for (let r = 0; r < invStd.length; r++) {
    for (let c = 0; c < C; c++) k = Math.max(k, invStd[r] * Math.abs(x[r * C + c]));
  }
  return { k, s: Math.max(...invStd) };
}

/** Row means in float64 (the reference returns x̂ and invStd only). */
function rowMeans(x: ArrayLike<number>, R: number, C: number): Float64Array {
  const m = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) m[r] += x[r * C + c];
    m[r] /= C;
  }
  return m;
}

interface Fwd {
  x: TensorView;
  gamma: TensorView;
  z: TensorView;
  a: TensorView;
  mean: TensorView;
  invStd: TensorView;
  views: TensorView[];
}

async function forward(
  c: Case,
  inp: ReturnType<typeof inputs>,
  act: Activation,
  inPlace: boolean,
  layout: LayerNormLayout,
): Promise<Fwd> {
  const { env } = await testGpu();
  const rows = c.B * c.S;
  const x = upload(env, inp.x);
  const gamma = upload(env, inp.gamma);
  const beta = upload(env, inp.beta);
  const z = poisoned(env, rows * c.C);
  const a = inPlace ? z : poisoned(env, rows * c.C);
  const mean = poisoned(env, rows);
  const invStd = poisoned(env, rows);
  const d = await prepareLayerNormForward(env, {
    B: c.B,
    S: c.S,
    C: c.C,
    x,
    gamma,
    beta,
    z,
    a,
    activation: act,
    epsilon: EPS,
    mean,
    invStd,
    layout,
  });
  run(env, (pass) => encodeDispatch(pass, d));
  const views = [x, gamma, beta, z, mean, invStd, ...(inPlace ? [] : [a])];
  return { x, gamma, z, a, mean, invStd, views };
}

describe('layer-norm kernels vs float64 reference', () => {
  it('the layout follows C and the adapter', async () => {
    const { env } = await testGpu();
    const cpu = /software/.test(env.device.adapterInfo.architecture);
    expect(layerNormLayout(7, env.device)).toBe('row');
    expect(layerNormLayout(64, env.device)).toBe('row4');
    expect(layerNormLayout(1000, env.device)).toBe(cpu ? 'row4' : 'group');
    expect(layerNormLayout(1001, env.device)).toBe(cpu ? 'row' : 'group');
  });

  for (const layout of LAYOUTS) {
    for (const [act, inPlace] of [
      ['identity', true],
      ['identity', false],
      ['relu', false],
      ['gelu', false],
    ] as const) {
      it(`forward, ${layout} layout, ${act}${inPlace ? ' (a = z in place)' : ''}`, async () => {
        const { env } = await testGpu();
        for (const c of casesFor(layout)) {
          const inp = inputs(c, 1);
          const rows = c.B * c.S;
          const g = await forward(c, inp, act, inPlace, layout);
          const ref = layerNormForward(inp.x, rows, c.C, inp.gamma, inp.beta, EPS);
          const label = `${layout} ${caseName(c)} ${act}`;
          const tol = layerNormTol(c.C, conditioning(inp.x, c.C, ref.invStd).k);
          const z = await download(env, g.z);
          expectAllClose(z, ref.out, tol, `${label} z`, c.C);
          if (!inPlace)
            expectAllClose(await download(env, g.a), withAct(act, z, null), tol, `${label} a`, c.C);
          const mean = await download(env, g.mean);
          expectAllClose(mean, rowMeans(inp.x, rows, c.C), layerNormMeanTol(c.C), `${label} mean`);
          expectAllClose(await download(env, g.invStd), ref.invStd, LN_INV_STD, `${label} invStd`);
          free(env, ...g.views);
        }
      });
    }
  }

  it('a row offset of 1e3 keeps its digits: corrected two-pass statistics', async () => {
    const { env } = await testGpu();
    for (const layout of LAYOUTS) {
      for (const c of casesFor(layout).filter((k) => k.C >= 33)) {
        const inp = inputs(c, 2, 1e3);
        const rows = c.B * c.S;
        const g = await forward(c, inp, 'identity', true, layout);
        const ref = layerNormForward(inp.x, rows, c.C, inp.gamma, inp.beta, EPS);
        const label = `offset ${layout} ${caseName(c)}`;
        // E[x^2] - E[x]^2 in f32 would be off by ~1e6 * 2^-24 here, invStd by ~5%.
        expectAllClose(await download(env, g.invStd), ref.invStd, LN_INV_STD, `${label} invStd`);
        // An f32 sum of 1000 values near 1e3 is off by ~1e-3 / C in the mean: z shows it unless
        // the second pass corrects it. k ~ 1e3 here (the f32 mean's own ulp(1e3)/2 times invStd).
        const tol = layerNormTol(c.C, conditioning(inp.x, c.C, ref.invStd).k);
        expectAllClose(await download(env, g.z), ref.out, tol, `${label} z`, c.C);
        free(env, ...g.views);
      }
    }
  });

  for (const layout of LAYOUTS) {
    for (const prev of ['identity', 'relu', 'gelu'] as const) {
      it(`backward, ${layout} layout, fused ${prev}': dX, dGamma, dBeta; padding rows 0`, async () => {
        const { env } = await testGpu();
        for (const c of casesFor(layout)) {
          for (const intDz of [true, false]) {
            const inp = inputs(c, 3);
            const rows = c.B * c.S;
            const n = c.active * c.S;
            const f = await forward(c, inp, 'identity', true, layout);
            const dZ = intDz ? randInts(inp.rng, rows * c.C) : randF32(inp.rng, rows * c.C);
            dZ.fill(0, n * c.C);
            const aux = randF32(inp.rng, rows * c.C);
            const dzb = upload(env, dZ);
            const auxb = upload(env, aux);
            const dX = poisoned(env, rows * c.C);
            const dGamma = poisoned(env, c.C);
            const dBeta = poisoned(env, c.C);
            const partial = poisoned(env, layerNormPartialLength(rows, c.C));
            const ds = await prepareLayerNormBackward(env, {
              B: c.B,
              S: c.S,
              C: c.C,
              x: f.x,
              dZ: dzb,
              gamma: f.gamma,
              mean: f.mean,
              invStd: f.invStd,
              dX,
              dGamma,
              dBeta,
              partial,
              activation: prev,
              aux: auxb,
              layout,
            });
            run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
            const ref = layerNormForward(inp.x.subarray(0, n * c.C), n, c.C, inp.gamma, inp.beta, EPS);
            const gr = layerNormBackward(dZ.subarray(0, n * c.C), ref.xhat, ref.invStd, inp.gamma, n, c.C);
            const dxRef = new Float64Array(rows * c.C);
            dxRef.set(prev === 'identity' ? gr.dX : withAct(prev, aux.subarray(0, n * c.C), gr.dX));
            const label = `${layout} ${prev} ${caseName(c)}${intDz ? ' integer dZ' : ''}`;
            const got = await download(env, dX);
            const { k, s } = conditioning(inp.x, c.C, ref.invStd);
            expectAllClose(got, dxRef, layerNormGradTol(c.C, k, s), `${label} dX`, c.C);
            expectExact(got.subarray(n * c.C), dxRef.subarray(n * c.C), `${label} padding rows of dX`, c.C);
            const db = await download(env, dBeta);
            // dBeta is a column sum of n values: exact for small integers, matmul's budget otherwise.
            if (intDz) expectExact(db, gr.dBeta, `${label} dBeta`);
            else expectAllClose(db, gr.dBeta, matmulTol(n), `${label} dBeta`);
            const dg = await download(env, dGamma);
            expectAllClose(dg, gr.dGamma, layerNormGammaTol(n, c.C, k), `${label} dGamma`);
            free(env, ...f.views, dzb, auxb, dX, dGamma, dBeta, partial);
          }
        }
      });
    }
  }

  it('without dX (a first layer) only the parameter gradients run', async () => {
    const { env } = await testGpu();
    const c: Case = { B: 3, S: 5, C: 7, active: 3 };
    const inp = inputs(c, 4);
    const f = await forward(c, inp, 'identity', true, 'row');
    const dZ = randF32(inp.rng, 15 * 7);
    const dGamma = poisoned(env, 7);
    const dBeta = poisoned(env, 7);
    const partial = poisoned(env, layerNormPartialLength(15, 7));
    const dzb = upload(env, dZ);
    const args = { ...c, x: f.x, dZ: dzb, gamma: f.gamma, mean: f.mean, invStd: f.invStd };
    const ds = await prepareLayerNormBackward(env, { ...args, dGamma, dBeta, partial });
    expect(ds.length).toBe(2);
    run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
    const ref = layerNormForward(inp.x, 15, 7, inp.gamma, inp.beta, EPS);
    const gr = layerNormBackward(dZ, ref.xhat, ref.invStd, inp.gamma, 15, 7);
    const { k } = conditioning(inp.x, 7, ref.invStd);
    expectAllClose(await download(env, dGamma), gr.dGamma, layerNormGammaTol(15, 7, k), 'dGamma');
    expectAllClose(await download(env, dBeta), gr.dBeta, matmulTol(15), 'dBeta');
    free(env, ...f.views, dzb, dGamma, dBeta, partial);
  });

  it('rejects a = z with a non-identity activation, a bad epsilon and short buffers', async () => {
    const { env } = await testGpu();
    const x = upload(env, new Float32Array(15).fill(1));
    const p = upload(env, new Float32Array(5).fill(1));
    const st = upload(env, new Float32Array(3));
    const args = { B: 3, S: 1, C: 5, x, gamma: p, beta: p, z: x, a: x, mean: st, invStd: st };
    await expect(prepareLayerNormForward(env, { ...args, activation: 'relu', epsilon: EPS })).rejects.toThrow(
      /give a its own buffer/,
    );
    await expect(
      prepareLayerNormForward(env, { ...args, activation: 'identity', epsilon: 0 }),
    ).rejects.toThrow(ConfigError);
    await expect(
      prepareLayerNormForward(env, { ...args, activation: 'identity', epsilon: EPS, C: 6 }),
    ).rejects.toThrow(ShapeError);
    await expect(
      prepareLayerNormForward(env, { ...args, activation: 'identity', epsilon: EPS, layout: 'row4' }),
    ).rejects.toThrow(/C % 4 == 0/);
    const back = { B: 3, S: 1, C: 5, x, dZ: x, gamma: p, mean: st, invStd: st, dGamma: p, dBeta: p };
    await expect(prepareLayerNormBackward(env, { ...back, partial: st })).rejects.toThrow(/partial/);
    free(env, x, p, st);
  });
});
