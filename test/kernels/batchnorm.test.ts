// Batch-norm kernels (shaders/batchnorm.wgsl via src/kernels/batchnorm.ts) against the float64
// reference (src/reference/batchnorm.ts). x is [B*S, C]; statistics per channel over the ACTIVE
// rows n = active * S only (active from the step-params uniform):
//   training  mean, biased var (two-pass), invStd = 1/sqrt(var + eps); z = gamma xhat + beta,
//             a = act(z); running stats r = (1 - m) r + m batch (unbiased var)
//   eval      z = gamma (x - rm) / sqrt(rv + eps) + beta; running stats untouched
//   backward  dBeta = sum dZ, dGamma = sum dZ xhat over active rows; dX through the statistics,
//             times act'_prev(aux); padding rows of dX exactly 0
// The GPU backward runs on the GPU forward's own mean/invStd (the chain the plan runs). Padding
// rows hold random data, so any leak of them into the statistics or sums shows. Outputs are
// NaN-poisoned before every run.

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { prepareBatchNormBackward, prepareBatchNormForward } from '../../src/kernels/batchnorm.js';
import { encodeDispatch, type TensorView } from '../../src/kernels/common.js';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.js';
import type { Activation } from '../../src/nn/activations.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import {
  batchNormBackward,
  batchNormForwardEval,
  batchNormForwardTrain,
  updateRunningStats,
} from '../../src/reference/batchnorm.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { BN_FORWARD, BN_GRAD, BN_OFFSET, BN_STATS, matmulTol } from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

const EPS = 1e-5;
const MOMENTUM = 0.1;

interface Case {
  B: number;
  S: number;
  C: number;
  active: number;
}
// S = 1 (after a dense layer) and maps (S = H*W); n = 1 (the biased-variance rule); partial batches;
// 3 x 169 = 507 rows so every lane of a 256-wide reduction sums several rows. No case has n = 2,
// where dX is identically 0 (two normalised values are always +-1) and has no relative accuracy.
const CASES: Case[] = [
  { B: 1, S: 1, C: 3, active: 1 },
  { B: 3, S: 1, C: 5, active: 3 },
  { B: 7, S: 1, C: 5, active: 5 },
  { B: 3, S: 35, C: 3, active: 3 },
  { B: 3, S: 4, C: 5, active: 1 },
  { B: 1, S: 169, C: 1, active: 1 },
  { B: 3, S: 169, C: 3, active: 2 },
  // Over 4,096 rows: partitions of more than 16 rows (21 here), the last active one partial, and
  // rows not a multiple of the elementwise kernels' 8-row blocks.
  { B: 5, S: 1031, C: 7, active: 4 },
];
const caseName = ({ B, S, C, active }: Case) => `B${B} S${S} C${C} active ${active}`;

interface Prev {
  activation: Activation;
  alpha?: number;
}

function withAct(name: Activation, z: ArrayLike<number>, dA: Float64Array | null, alpha?: number) {
  const n = z.length;
  const a = activationForward(name, z, 1, n, { alpha });
  return dA ? activationBackward(name, z, a, dA, 1, n, { alpha }) : a;
}

/** float32 x and the per-channel parameters of one case. */
function inputs(c: Case, salt: number, offset = 0) {
  const rng = new Rng(seedOf(c.B, c.S, c.C, c.active, salt));
  const rows = c.B * c.S;
  const x = randF32(rng, rows * c.C);
  if (offset !== 0) for (let i = 0; i < x.length; i++) x[i] = Math.fround(offset + x[i]);
  return {
    x,
    gamma: randF32(rng, c.C),
    beta: randF32(rng, c.C),
    runningMean: randF32(rng, c.C),
    runningVar: randF32(rng, c.C, 0.5, 2),
    rng,
  };
}

interface Gpu {
  x: TensorView;
  gamma: TensorView;
  beta: TensorView;
  z: TensorView;
  a: TensorView;
  mean: TensorView;
  invStd: TensorView;
  rm: TensorView;
  rv: TensorView;
  sp: GPUBuffer;
}

async function setup(c: Case, inp: ReturnType<typeof inputs>, inPlace: boolean): Promise<Gpu> {
  const { env } = await testGpu();
  const n = c.B * c.S * c.C;
  const z = poisoned(env, n);
  return {
    x: upload(env, inp.x),
    gamma: upload(env, inp.gamma),
    beta: upload(env, inp.beta),
    z,
    a: inPlace ? z : poisoned(env, n),
    mean: poisoned(env, c.C),
    invStd: poisoned(env, c.C),
    rm: upload(env, inp.runningMean),
    rv: upload(env, inp.runningVar),
    sp: createStepParams(env, 'test step params'),
  };
}

async function release(g: Gpu, inPlace: boolean) {
  const { env } = await testGpu();
  free(env, g.x, g.gamma, g.beta, g.z, g.mean, g.invStd, g.rm, g.rv, ...(inPlace ? [] : [g.a]));
  env.pool.release(g.sp);
}

async function forward(c: Case, g: Gpu, act: Prev, training: boolean, step = 0) {
  const { env } = await testGpu();
  writeStepParams(env.device.queue, g.sp, new Uint32Array(4), { active: c.active, step, seed: 0 });
  const ds = await prepareBatchNormForward(env, {
    B: c.B,
    S: c.S,
    C: c.C,
    x: g.x,
    gamma: g.gamma,
    beta: g.beta,
    z: g.z,
    a: g.a,
    activation: act.activation,
    alpha: act.alpha,
    epsilon: EPS,
    momentum: MOMENTUM,
    training,
    mean: g.mean,
    invStd: g.invStd,
    runningMean: g.rm,
    runningVar: g.rv,
    stepParams: g.sp,
  });
  expect(ds.length).toBe(training ? 3 : 1);
  run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
}

/** Expected z for every row (padding rows too) from float64 statistics. */
function expectedZ(
  x: Float32Array,
  C: number,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float64Array,
  invStd: Float64Array,
) {
  return Float64Array.from(x, (v, i) => gamma[i % C] * (v - mean[i % C]) * invStd[i % C] + beta[i % C]);
}

const ACTS: Prev[] = [{ activation: 'identity' }, { activation: 'relu' }, { activation: 'tanh' }];

describe('batch-norm kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const act of ACTS) {
    for (const inPlace of act.activation === 'identity' ? [true, false] : [false]) {
      it(`training forward, ${act.activation}${inPlace ? ' (a = z in place)' : ''}: stats over active rows, running stats`, async () => {
        const { env } = await testGpu();
        for (const c of CASES) {
          const inp = inputs(c, 1);
          const g = await setup(c, inp, inPlace);
          await forward(c, g, act, true);
          const n = c.active * c.S;
          const ref = batchNormForwardTrain(inp.x.subarray(0, n * c.C), n, c.C, inp.gamma, inp.beta, EPS);
          const label = `${caseName(c)} ${act.activation}`;
          expectAllClose(await download(env, g.mean), ref.mean, BN_STATS, `${label} mean`);
          expectAllClose(await download(env, g.invStd), ref.invStd, BN_STATS, `${label} invStd`);
          const zRef = expectedZ(inp.x, c.C, inp.gamma, inp.beta, ref.mean, ref.invStd);
          const z = await download(env, g.z);
          expectAllClose(z, zRef, BN_FORWARD, `${label} z`, c.C);
          if (!inPlace)
            expectAllClose(
              await download(env, g.a),
              withAct(act.activation, z, null),
              BN_FORWARD,
              `${label} a`,
              c.C,
            );
          const rm = Float64Array.from(inp.runningMean);
          const rv = Float64Array.from(inp.runningVar);
          updateRunningStats(rm, rv, ref.mean, ref.variance, n, MOMENTUM);
          expectAllClose(await download(env, g.rm), rm, BN_STATS, `${label} running mean`);
          expectAllClose(await download(env, g.rv), rv, BN_STATS, `${label} running var`);
          await release(g, inPlace);
        }
      });
    }
  }

  it('evaluation forward uses the running statistics and leaves them unchanged', async () => {
    const { env } = await testGpu();
    for (const c of CASES) {
      for (const act of [{ activation: 'identity' }, { activation: 'relu' }] as Prev[]) {
        const inp = inputs(c, 2);
        const g = await setup(c, inp, false);
        await forward(c, g, act, false);
        const label = `eval ${caseName(c)} ${act.activation}`;
        const rows = c.B * c.S;
        const zRef = batchNormForwardEval(
          inp.x,
          rows,
          c.C,
          inp.gamma,
          inp.beta,
          inp.runningMean,
          inp.runningVar,
          EPS,
        );
        const z = await download(env, g.z);
        expectAllClose(z, zRef, BN_FORWARD, `${label} z`, c.C);
        expectAllClose(
          await download(env, g.a),
          withAct(act.activation, z, null),
          BN_FORWARD,
          `${label} a`,
          c.C,
        );
        expectExact(await download(env, g.rm), inp.runningMean, `${label} running mean untouched`);
        expectExact(await download(env, g.rv), inp.runningVar, `${label} running var untouched`);
        await release(g, false);
      }
    }
  });

  it('a mean offset of 1e3 keeps the variance: shifted two-pass statistics', async () => {
    const { env } = await testGpu();
    // n >= 35: with a handful of rows the batch std can be tiny, and the f32 mean's rounding
    // (ulp(1e3)/2) is amplified by invStd in z: a property of storing the mean in f32, not of the
    // variance (invStd is still checked to BN_STATS below).
    for (const c of CASES.filter((k) => k.active * k.S >= 35)) {
      const inp = inputs(c, 3, 1e3);
      const g = await setup(c, inp, false);
      await forward(c, g, { activation: 'identity' }, true);
      const n = c.active * c.S;
      const ref = batchNormForwardTrain(inp.x.subarray(0, n * c.C), n, c.C, inp.gamma, inp.beta, EPS);
      const label = `offset 1e3 ${caseName(c)}`;
      // invStd carries the variance: E[x^2] - E[x]^2 in f32 would be off by ~1e6 * 2^-24 here.
      expectAllClose(await download(env, g.invStd), ref.invStd, BN_STATS, `${label} invStd`);
      expectAllClose(await download(env, g.mean), ref.mean, BN_STATS, `${label} mean`);
      const zRef = expectedZ(inp.x, c.C, inp.gamma, inp.beta, ref.mean, ref.invStd);
      expectAllClose(await download(env, g.z), zRef, BN_OFFSET, `${label} z`, c.C);
      const rm = Float64Array.from(inp.runningMean);
      const rv = Float64Array.from(inp.runningVar);
      updateRunningStats(rm, rv, ref.mean, ref.variance, n, MOMENTUM);
      expectAllClose(await download(env, g.rv), rv, BN_STATS, `${label} running var`);
      await release(g, false);
    }
  });

  it('running statistics after two steps (a full batch, then a partial one)', async () => {
    const { env } = await testGpu();
    const c1: Case = { B: 3, S: 35, C: 3, active: 3 };
    const c2: Case = { ...c1, active: 2 };
    const inp1 = inputs(c1, 4);
    const inp2 = inputs(c2, 5);
    const g = await setup(c1, inp1, false);
    await forward(c1, g, { activation: 'identity' }, true, 0);
    env.device.queue.writeBuffer(g.x.buffer, g.x.offset, inp2.x);
    await forward(c2, g, { activation: 'identity' }, true, 1);
    const rm = Float64Array.from(inp1.runningMean);
    const rv = Float64Array.from(inp1.runningVar);
    for (const [c, x] of [
      [c1, inp1.x],
      [c2, inp2.x],
    ] as const) {
      const n = c.active * c.S;
      const ref = batchNormForwardTrain(x.subarray(0, n * c.C), n, c.C, inp1.gamma, inp1.beta, EPS);
      updateRunningStats(rm, rv, ref.mean, ref.variance, n, MOMENTUM);
    }
    expectAllClose(await download(env, g.rm), rm, BN_STATS, 'running mean after two steps');
    expectAllClose(await download(env, g.rv), rv, BN_STATS, 'running var after two steps');
    await release(g, false);
  });

  const PREVS: Prev[] = [{ activation: 'identity' }, { activation: 'relu' }, { activation: 'tanh' }];
  for (const prev of PREVS) {
    it(`backward through the batch statistics, fused ${prev.activation}', padding rows 0`, async () => {
      const { env } = await testGpu();
      for (const c of CASES) {
        for (const intDz of [true, false]) {
          const inp = inputs(c, 6);
          const g = await setup(c, inp, false);
          await forward(c, g, { activation: 'identity' }, true);
          const rows = c.B * c.S;
          const n = c.active * c.S;
          // Padding rows of dZ are nonzero too: they must not reach dGamma, dBeta or dX.
          const dZ = intDz ? randInts(inp.rng, rows * c.C) : randF32(inp.rng, rows * c.C);
          const aux = randF32(inp.rng, rows * c.C);
          const dzb = upload(env, dZ);
          const auxb = upload(env, aux);
          const dX = poisoned(env, rows * c.C);
          const dGamma = poisoned(env, c.C);
          const dBeta = poisoned(env, c.C);
          const ds = await prepareBatchNormBackward(env, {
            B: c.B,
            S: c.S,
            C: c.C,
            x: g.x,
            dZ: dzb,
            gamma: g.gamma,
            mean: g.mean,
            invStd: g.invStd,
            dX,
            dGamma,
            dBeta,
            activation: prev.activation,
            alpha: prev.alpha,
            aux: auxb,
            stepParams: g.sp,
          });
          run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
          const ref = batchNormForwardTrain(inp.x.subarray(0, n * c.C), n, c.C, inp.gamma, inp.beta, EPS);
          const gr = batchNormBackward(dZ.subarray(0, n * c.C), ref.xhat, ref.invStd, inp.gamma, n, c.C);
          const dxRef = new Float64Array(rows * c.C);
          dxRef.set(
            prev.activation === 'identity'
              ? gr.dX
              : withAct(prev.activation, aux.subarray(0, n * c.C), gr.dX),
          );
          const label = `backward ${prev.activation} ${caseName(c)}${intDz ? ' integer dZ' : ''}`;
          const got = await download(env, dX);
          expectAllClose(got, dxRef, BN_GRAD, `${label} dX`, c.C);
          expectExact(
            got.subarray(n * c.C),
            dxRef.subarray(n * c.C),
            `${label} padding rows of dX are 0`,
            c.C,
          );
          const db = await download(env, dBeta);
          // dBeta is a column sum of n values: exact for small integers, matmul's budget otherwise.
          if (intDz) expectExact(db, gr.dBeta, `${label} dBeta`);
          else expectAllClose(db, gr.dBeta, matmulTol(n), `${label} dBeta`);
          expectAllClose(await download(env, dGamma), gr.dGamma, BN_GRAD, `${label} dGamma`);
          free(env, dzb, auxb, dX, dGamma, dBeta);
          await release(g, false);
        }
      }
    });
  }

  it('rejects a = z with a non-identity activation, a bad momentum and short buffers', async () => {
    const { env } = await testGpu();
    const c: Case = { B: 3, S: 1, C: 5, active: 3 };
    const inp = inputs(c, 7);
    const g = await setup(c, inp, true);
    const args = {
      B: 3,
      S: 1,
      C: 5,
      x: g.x,
      gamma: g.gamma,
      beta: g.beta,
      z: g.z,
      a: g.a,
      activation: 'relu' as const,
      epsilon: EPS,
      momentum: MOMENTUM,
      training: true,
      mean: g.mean,
      invStd: g.invStd,
      runningMean: g.rm,
      runningVar: g.rv,
      stepParams: g.sp,
    };
    await expect(prepareBatchNormForward(env, args)).rejects.toThrow(/give a its own buffer/);
    await expect(
      prepareBatchNormForward(env, { ...args, activation: 'identity', momentum: 2 }),
    ).rejects.toThrow(ConfigError);
    await expect(prepareBatchNormForward(env, { ...args, activation: 'identity', C: 6 })).rejects.toThrow(
      ShapeError,
    );
    await release(g, true);
  });
});
