// The self-test's checks for the CNN kernel families, against src/reference/: conv2d (forward
// with bias and activation, filter and bias grad, input grad with the previous layer's act'; both
// algorithms, im2col and implicit GEMM, on the tuner's forward variant and the default; and the
// grouped/depthwise direct kernels, conv-grouped.ts), pooling (max with
// its argmax, window average, global average; forward and backward with the previous layer's
// act' fused), batch norm (training forward: batch statistics and z; backward: dX, dGamma,
// dBeta), and dropout (the mask from the counter hash: forward and backward, whose keep
// pattern must equal the reference's bit for bit). Two odd NHWC pooling geometries: overlapping
// 3x3/2 windows on 13x13, and a non-square window with gaps (stride > window) on 7x13.

import {
  prepareAvgPoolBackward,
  prepareAvgPoolForward,
  prepareMaxPoolBackward,
  prepareMaxPoolForward,
} from '../kernels/pool.js';
import { prepareBatchNormBackward, prepareBatchNormForward } from '../kernels/batchnorm.js';
import {
  convScratchLength,
  implicitInputGradUsable,
  prepareConvForward,
  prepareConvInputGrad,
  prepareConvWeightGrad,
  type ConvAlgo,
} from '../kernels/conv.js';
import { prepareDropoutBackward, prepareDropoutForward } from '../kernels/dropout.js';
import { createStepParams, writeStepParams } from '../kernels/step-params.js';
import { subgroupMatmulAvailable, variantName, type MatmulForm } from '../kernels/matmul.js';
import { resolveModel, type Conv2dSpec, type ConvGeometry, type PoolGeometry } from '../nn/layers.js';
import { batchNormBackward, batchNormForwardTrain } from '../reference/batchnorm.js';
import { conv2dBackward, conv2dForward } from '../reference/conv.js';
import { dropoutBackward, dropoutForward, dropoutMask } from '../reference/dropout.js';
import { activationBackward, activationForward } from '../reference/activations.js';
import {
  avgPool2dBackward,
  avgPool2dForward,
  maxPool2dBackward,
  maxPool2dForward,
} from '../reference/pool.js';
import { Rng } from '../rng.js';
import type { SelftestFamily } from './checks.js';
import { layerNormFamily } from './layernorm.js';
import { groupedConvChecks } from './conv-grouped.js';
import { randF32, seedOf, type Harness } from './harness.js';
import {
  BN_FORWARD,
  BN_GRAD,
  BN_STATS,
  convActTol,
  convBiasTol,
  convTol,
  DROPOUT,
  matmulTol,
  POOL,
  POOL_GRAD,
} from './tolerances.js';

function geom(H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number): PoolGeometry {
  return { H, W, C, KH, KW, SH, SW, OH: Math.floor((H - KH) / SH) + 1, OW: Math.floor((W - KW) / SW) + 1 };
}

const POOL_CASES: { B: number; g: PoolGeometry }[] = [
  { B: 3, g: geom(13, 13, 3, 3, 3, 2, 2) },
  { B: 2, g: geom(7, 13, 5, 2, 3, 3, 4) },
];

const poolFamily: SelftestFamily = {
  name: 'pooling',
  async run(h) {
    for (const { B, g } of POOL_CASES) {
      const rng = new Rng(seedOf(B, g.H, g.W, g.C, g.KH, g.KW));
      const inN = B * g.H * g.W * g.C;
      const outN = B * g.OH * g.OW * g.C;
      const x = randF32(rng, inN);
      const dOut = randF32(rng, outN);
      const aux = randF32(rng, inN);
      // dX * relu'(aux): the previous layer's derivative that the backward kernels fuse.
      const relu = (dX: Float64Array) =>
        activationBackward('relu', aux, activationForward('relu', aux, 1, inN), dX, 1, inN);
      const shape = `B${B} ${g.H}x${g.W}x${g.C} win ${g.KH}x${g.KW}/${g.SH}x${g.SW}`;
      const xb = h.upload(x);
      const db = h.upload(dOut);
      const auxb = h.upload(aux);

      const ref = maxPool2dForward(x, B, g);
      const out = h.poisoned(outN);
      const argmax = h.poisoned(outN);
      h.run([await prepareMaxPoolForward(h.env, { B, g, x: xb, out, argmax })]);
      h.compare({ kernel: 'maxpool forward', shape }, await h.download(out), ref.out, POOL);
      const dX = h.poisoned(inN);
      h.run([
        await prepareMaxPoolBackward(h.env, {
          B,
          g,
          dOut: db,
          dX,
          argmax: h.upload(ref.argmax, 'u32'),
          activation: 'relu',
          aux: auxb,
        }),
      ]);
      h.compare(
        { kernel: "maxpool backward * relu'", shape },
        await h.download(dX),
        relu(maxPool2dBackward(dOut, ref.argmax, B, g)),
        POOL_GRAD,
      );

      const avg = h.poisoned(outN);
      h.run([await prepareAvgPoolForward(h.env, { B, g, x: xb, out: avg })]);
      h.compare({ kernel: 'avgpool forward', shape }, await h.download(avg), avgPool2dForward(x, B, g), POOL);
      const dXa = h.poisoned(inN);
      h.run([
        await prepareAvgPoolBackward(h.env, { B, g, dOut: db, dX: dXa, activation: 'relu', aux: auxb }),
      ]);
      h.compare(
        { kernel: "avgpool backward * relu'", shape },
        await h.download(dXa),
        relu(avgPool2dBackward(dOut, B, g)),
        POOL_GRAD,
      );
      h.free();
    }
  },
};

const DROPOUT_CASES: [B: number, size: number, rate: number, seed: number, stream: number, step: number][] = [
  [3, 13, 0.5, 1, 2, 3],
  [64, 129, 0.3, 0xdeadbeef, 7, 1000],
];

const dropoutFamily: SelftestFamily = {
  name: 'dropout',
  async run(h) {
    const sp = createStepParams(h.env, 'selftest step params');
    for (const [B, size, rate, seed, stream, step] of DROPOUT_CASES) {
      const rng = new Rng(seedOf(B, size, rate * 10));
      const x = randF32(rng, B * size);
      const dOut = randF32(rng, B * size);
      const mask = dropoutMask(seed, stream, step, B, size, rate);
      writeStepParams(h.env.device.queue, sp, new Uint32Array(4), { seed, step, active: B });
      const out = h.poisoned(B * size);
      const dX = h.poisoned(B * size);
      const common = { B, size, rate, stream, stepParams: sp };
      h.run([
        await prepareDropoutForward(h.env, { ...common, x: h.upload(x), out, training: true }),
        await prepareDropoutBackward(h.env, { ...common, dOut: h.upload(dOut), dX }),
      ]);
      const shape = `${B}x${size} rate ${rate}`;
      const got = await h.download(out);
      // The keep pattern is exact: 1 where the GPU kept the element, 0 where it dropped it.
      const keep = (a: ArrayLike<number>) =>
        Float32Array.from({ length: a.length }, (_, i) => (a[i] !== 0 ? 1 : 0));
      h.compare({ kernel: 'dropout mask', shape }, keep(got), keep(mask), { atol: 0, rtol: 0, l2: 0 });
      h.compare({ kernel: 'dropout forward', shape }, got, dropoutForward(x, mask), DROPOUT);
      h.compare(
        { kernel: 'dropout backward', shape },
        await h.download(dX),
        dropoutBackward(dOut, mask),
        DROPOUT,
      );
      h.free();
    }
    h.env.pool.release(sp);
  },
};

// [B, S (= H*W), C]: a 5x7 map of 5 channels, and a dense layer's 13 features over 3 rows.
const BN_CASES: [B: number, S: number, C: number][] = [
  [7, 35, 5],
  [3, 1, 13],
];
const BN_EPS = 1e-5;

const batchNormFamily: SelftestFamily = {
  name: 'batchnorm',
  async run(h) {
    const sp = createStepParams(h.env, 'selftest step params');
    for (const [B, S, C] of BN_CASES) {
      const rng = new Rng(seedOf(B, S, C, 11));
      const rows = B * S;
      const x = randF32(rng, rows * C);
      const gamma = randF32(rng, C);
      const beta = randF32(rng, C);
      const dZ = randF32(rng, rows * C);
      writeStepParams(h.env.device.queue, sp, new Uint32Array(4), { seed: 0, step: 0, active: B });
      const xb = h.upload(x);
      const gb = h.upload(gamma);
      const z = h.poisoned(rows * C);
      const mean = h.poisoned(C);
      const invStd = h.poisoned(C);
      const dX = h.poisoned(rows * C);
      const dGamma = h.poisoned(C);
      const dBeta = h.poisoned(C);
      const fwd = await prepareBatchNormForward(h.env, {
        B,
        S,
        C,
        x: xb,
        gamma: gb,
        beta: h.upload(beta),
        z,
        a: z,
        activation: 'identity',
        epsilon: BN_EPS,
        momentum: 0.1,
        training: true,
        mean,
        invStd,
        runningMean: h.upload(new Float32Array(C)),
        runningVar: h.upload(new Float32Array(C).fill(1)),
        stepParams: sp,
      });
      const bwd = await prepareBatchNormBackward(h.env, {
        B,
        S,
        C,
        x: xb,
        dZ: h.upload(dZ),
        gamma: gb,
        mean,
        invStd,
        dX,
        dGamma,
        dBeta,
        stepParams: sp,
      });
      h.run([...fwd, ...bwd]);
      const ref = batchNormForwardTrain(x, rows, C, gamma, beta, BN_EPS);
      const grads = batchNormBackward(dZ, ref.xhat, ref.invStd, gamma, rows, C);
      const shape = `B${B} S${S} C${C}`;
      h.compare({ kernel: 'batchnorm forward mean', shape }, await h.download(mean), ref.mean, BN_STATS);
      h.compare(
        { kernel: 'batchnorm forward invStd', shape },
        await h.download(invStd),
        ref.invStd,
        BN_STATS,
      );
      h.compare({ kernel: 'batchnorm forward z', shape }, await h.download(z), ref.out, BN_FORWARD);
      h.compare({ kernel: 'batchnorm backward dX', shape }, await h.download(dX), grads.dX, BN_GRAD);
      h.compare(
        { kernel: 'batchnorm backward dGamma', shape },
        await h.download(dGamma),
        grads.dGamma,
        matmulTol(rows),
      );
      h.compare(
        { kernel: 'batchnorm backward dBeta', shape },
        await h.download(dBeta),
        grads.dBeta,
        matmulTol(rows),
      );
      h.free();
    }
    h.env.pool.release(sp);
  },
};

// Two odd geometries: a non-square kernel with 'same' padding, and a strided 'valid' one.
const CONV_CASES: { B: number; input: [number, number, number]; spec: Conv2dSpec }[] = [
  { B: 3, input: [7, 5, 3], spec: { type: 'conv2d', filters: 7, kernelSize: [3, 5], padding: 'same' } },
  {
    B: 1,
    input: [13, 13, 1],
    spec: { type: 'conv2d', filters: 7, kernelSize: 5, stride: 2, padding: 'valid' },
  },
];

function convGeometry(input: [number, number, number], spec: Conv2dSpec): ConvGeometry {
  // The dense head only makes the model valid; layer 0's geometry is what training would use.
  const layers = [spec, { type: 'flatten' as const }, { units: 1 }];
  return resolveModel({ inputShape: input, layers, loss: 'mse' }).layers[0].conv!;
}

async function convCase(h: Harness, B: number, g: ConvGeometry, algo: ConvAlgo, form: MatmulForm) {
  const rng = new Rng(seedOf(B, g.H, g.W, g.C, g.F, g.KH, g.KW, g.SH));
  const x = randF32(rng, B * g.H * g.W * g.C);
  const w = randF32(rng, g.F * g.KH * g.KW * g.C);
  const bias = randF32(rng, g.F);
  const dZ = randF32(rng, B * g.OH * g.OW * g.F);
  const zPrev = randF32(rng, x.length);
  const M = B * g.OH * g.OW;
  const len = convScratchLength(form, B, g, algo);
  const scratch = len > 0 ? h.poisoned(len) : undefined;
  const dummies = { read: h.poisoned(4).buffer, write: h.poisoned(4).buffer };
  const shape = `B${B} ${g.H}x${g.W}x${g.C} -> ${g.F} k${g.KH}x${g.KW} s${g.SH}x${g.SW}`;
  const row = (kernel: string) => ({
    kernel,
    variant: algo.kind === 'direct' ? 'direct' : `${algo.kind} ${variantName(algo.variant)}`,
    shape,
  });
  if (form === 'forward') {
    const z = h.poisoned(M * g.F);
    const a = h.poisoned(M * g.F);
    h.run(
      await prepareConvForward(h.env, {
        B,
        g,
        x: h.upload(x),
        w: h.upload(w),
        bias: h.upload(bias),
        z,
        a,
        activation: 'relu',
        algo,
        scratch,
        dummies,
      }),
    );
    const zRef = conv2dForward(x, w, bias, B, g);
    const r = g.KH * g.KW * g.C;
    h.compare(row('conv2d forward'), await h.download(z), zRef, convTol(r));
    h.compare(
      row('conv2d forward (A = relu)'),
      await h.download(a),
      activationForward('relu', zRef, M, g.F),
      convActTol(r),
    );
  } else if (form === 'weightGrad') {
    const dW = h.poisoned(w.length);
    const db = h.poisoned(g.F);
    h.run(
      await prepareConvWeightGrad(h.env, {
        B,
        g,
        x: h.upload(x),
        dZ: h.upload(dZ),
        dW,
        db,
        algo,
        scratch,
        dummies,
      }),
    );
    const ref = conv2dBackward(x, w, dZ, B, g, true);
    h.compare(row('conv2d weightGrad'), await h.download(dW), ref.dW, convTol(M));
    h.compare(row('conv2d biasGrad'), await h.download(db), ref.db, convBiasTol(M));
  } else {
    const dX = h.poisoned(x.length);
    h.run(
      await prepareConvInputGrad(h.env, {
        B,
        g,
        dZ: h.upload(dZ),
        w: h.upload(w),
        dX,
        activation: 'tanh',
        aux: h.upload(zPrev),
        algo,
        scratch,
        dummies,
      }),
    );
    const n = x.length;
    const ref = conv2dBackward(x, w, dZ, B, g, false).dX;
    const refAct = activationBackward('tanh', zPrev, activationForward('tanh', zPrev, 1, n), ref, 1, n);
    h.compare(row("conv2d inputGrad * tanh'"), await h.download(dX), refAct, convActTol(g.KH * g.KW * g.F));
  }
  h.free();
}

const convFamily: SelftestFamily = {
  name: 'conv2d',
  async run(h, ctx) {
    const sg = subgroupMatmulAvailable(h.env.device);
    // The tuner's forward choice and the default (first and last of ctx.variants): each conv
    // variant compiles its own pipelines for both algorithms, which costs seconds on a CPU adapter.
    const picked = [ctx.variants[0], ctx.variants[ctx.variants.length - 1]];
    for (const variant of picked.filter((v, i) => i === 0 || v !== picked[0])) {
      if (variant.kind === 'sg' && !sg) continue;
      for (const kind of ['im2col', 'implicit'] as const) {
        for (const { B, input, spec } of CONV_CASES) {
          const g = convGeometry(input, spec);
          for (const form of ['forward', 'weightGrad', 'inputGrad'] as const) {
            // The engine never runs the implicit input gradient where it is not usable (SwiftShader).
            if (kind === 'implicit' && form === 'inputGrad' && !implicitInputGradUsable(h.env.device))
              continue;
            await convCase(h, B, g, { kind, variant }, form);
          }
        }
      }
    }
    // The direct kernel (forward only; it has no matmul variant).
    for (const { B, input, spec } of CONV_CASES) {
      await convCase(
        h,
        B,
        convGeometry(input, spec),
        { kind: 'direct', variant: ctx.variants[0] },
        'forward',
      );
    }
    await groupedConvChecks(h);
  },
};

export const CNN_FAMILIES: readonly SelftestFamily[] = [
  convFamily,
  poolFamily,
  batchNormFamily,
  layerNormFamily,
  dropoutFamily,
];
