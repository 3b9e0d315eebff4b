// Pooling, dropout and batch norm on f16 tensors (the f16 variants of shaders/pool.wgsl,
// dropout.wgsl, batchnorm.wgsl): they do their arithmetic in f32 whatever the storage, so on the
// same f16-rounded inputs each f16 kernel must give exactly the f32 kernel's result rounded once.
// Matmul, conv, the weight cast and the loss scaler in f16 are in half.test.ts.

import { describe, expect, it } from 'vitest';
import { roundHalf } from '../../src/gpu/half.js';
import { prepareBatchNormBackward, prepareBatchNormForward } from '../../src/kernels/batchnorm.js';
import { encodeDispatch, type Dispatch, type TensorView } from '../../src/kernels/common.js';
import { prepareDropoutBackward, prepareDropoutForward } from '../../src/kernels/dropout.js';
import {
  prepareAvgPoolBackward,
  prepareAvgPoolForward,
  prepareGlobalAvgPoolForward,
  prepareMaxPoolBackward,
  prepareMaxPoolForward,
} from '../../src/kernels/pool.js';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.js';
import type { PoolGeometry } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
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
import { halfArray, needF16 } from './f16.js';
import { free, randF32, seedOf } from './inputs.js';

// Pooling and dropout do their arithmetic in f32 whatever the storage, so on the same
// f16-rounded inputs the f16 kernels must give exactly the f32 kernels' results rounded once.
describe('pooling and dropout on f16 tensors: the f32 result rounded once, exactly', () => {
  type Build = (io: {
    src: TensorView;
    dst: TensorView;
    aux: TensorView;
    extra: TensorView;
  }) => Promise<Dispatch>;
  async function differential(label: string, srcLen: number, dstLen: number, build: Build) {
    const { env } = await testGpu();
    const rng = new Rng(seedOf(srcLen, dstLen, label.length));
    const src = halfArray(rng, srcLen);
    const aux = halfArray(rng, dstLen);
    const results: Float32Array[] = [];
    for (const half of [false, true]) {
      const put = (d: ArrayLike<number>) => (half ? uploadHalf(env, d) : upload(env, d));
      const io = {
        src: put(src),
        dst: half ? poisonedHalf(env, dstLen) : poisoned(env, dstLen),
        aux: put(aux),
        extra: upload(env, new Array<number>(Math.max(srcLen, dstLen)).fill(0), 'u32'),
      };
      const d = await build(io);
      run(env, (pass) => encodeDispatch(pass, d));
      results.push(half ? await downloadHalf(env, io.dst) : await download(env, io.dst));
      for (const t of Object.values(io)) env.pool.release(t.buffer);
    }
    const [f32, f16] = results;
    for (let i = 0; i < dstLen; i++) {
      expect(Number.isNaN(f16[i]), `${label} [${i}] unwritten`).toBe(false);
      expect(f16[i], `${label} [${i}]`).toBe(roundHalf(f32[i]));
    }
  }

  it('max, average and global average pooling, forward and backward (vec4 and scalar channels)', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    for (const C of [4, 3]) {
      const B = 2;
      const g: PoolGeometry = { H: 5, W: 6, C, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 3 };
      const inLen = B * g.H * g.W * C;
      const outLen = B * g.OH * g.OW * C;
      // The f32 run's winners feed both backward runs (so both route gradients the same way).
      const argmax = upload(env, new Array<number>(outLen).fill(0), 'u32');
      await differential(`maxpool forward C${C}`, inLen, outLen, ({ src, dst }) =>
        prepareMaxPoolForward(env, { B, g, x: src, out: dst, argmax }),
      );
      await differential(`maxpool backward C${C}`, outLen, inLen, ({ src, dst, aux }) =>
        prepareMaxPoolBackward(env, { B, g, dOut: src, dX: dst, argmax, activation: 'relu', aux }),
      );
      await differential(`avgpool forward C${C}`, inLen, outLen, ({ src, dst }) =>
        prepareAvgPoolForward(env, { B, g, x: src, out: dst }),
      );
      await differential(`avgpool backward C${C}`, outLen, inLen, ({ src, dst, aux }) =>
        prepareAvgPoolBackward(env, { B, g, dOut: src, dX: dst, activation: 'tanh', aux }),
      );
      await differential(`global avgpool C${C}`, inLen, B * C, ({ src, dst }) =>
        prepareGlobalAvgPoolForward(env, { B, H: g.H, W: g.W, C, x: src, out: dst }),
      );
      env.pool.release(argmax.buffer);
    }
  });

  it('dropout forward and backward', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    const sp = createStepParams(env, 'f16 dropout step params');
    writeStepParams(env.device.queue, sp, new Uint32Array(4), { seed: 9, step: 3, active: 7 });
    const a = { B: 7, size: 37, rate: 0.3, stream: 2, stepParams: sp };
    await differential('dropout forward', 7 * 37, 7 * 37, ({ src, dst }) =>
      prepareDropoutForward(env, { ...a, x: src, out: dst, training: true }),
    );
    await differential('dropout backward', 7 * 37, 7 * 37, ({ src, dst, aux }) =>
      prepareDropoutBackward(env, { ...a, dOut: src, dX: dst, activation: 'relu', aux }),
    );
  });
});

describe('batch norm on f16 tensors: statistics in f32, each store rounded once, exactly', () => {
  it('training forward (z and a) and backward (dX, dGamma, dBeta)', async () => {
    if (!(await needF16())) return;
    const { env } = await testGpu();
    for (const [B, S, C] of [
      [3, 7, 5],
      [4, 33, 8],
    ]) {
      const n = B * S * C;
      const rng = new Rng(seedOf(B, S, C, 21));
      const x = halfArray(rng, n);
      const dZ = halfArray(rng, n);
      const zPrev = halfArray(rng, n);
      const gamma = randF32(rng, C, 0.5, 1.5);
      const beta = randF32(rng, C);
      const sp = createStepParams(env, 'f16 bn step params');
      writeStepParams(env.device.queue, sp, new Uint32Array(4), { seed: 1, step: 0, active: B });
      const outs: Record<string, Float32Array>[] = [];
      for (const half of [false, true]) {
        const put = (d: ArrayLike<number>) => (half ? uploadHalf(env, d) : upload(env, d));
        const fresh = (len: number) => (half ? poisonedHalf(env, len) : poisoned(env, len));
        const [xV, dZV, auxV] = [put(x), put(dZ), put(zPrev)];
        const [z, a, dX] = [fresh(n), fresh(n), fresh(n)];
        const f32s = [gamma, beta].map((v) => upload(env, v));
        const [mean, invStd, rm, rv, dGamma, dBeta] = [0, 1, 2, 3, 4, 5].map(() => poisoned(env, C));
        env.device.queue.writeBuffer(rm.buffer, 0, new Float32Array(C));
        env.device.queue.writeBuffer(rv.buffer, 0, new Float32Array(C).fill(1));
        const common = { B, S, C, x: xV, gamma: f32s[0], mean, invStd, stepParams: sp };
        const ds = [
          ...(await prepareBatchNormForward(env, {
            ...common,
            beta: f32s[1],
            z,
            a,
            activation: 'relu',
            epsilon: 1e-5,
            momentum: 0.1,
            training: true,
            runningMean: rm,
            runningVar: rv,
          })),
          ...(await prepareBatchNormBackward(env, {
            ...common,
            dZ: dZV,
            dX,
            dGamma,
            dBeta,
            activation: 'tanh',
            aux: auxV,
          })),
        ];
        run(env, (pass) => ds.forEach((d) => encodeDispatch(pass, d)));
        const read = (t: TensorView) => (t.dtype === 'f16' ? downloadHalf(env, t) : download(env, t));
        outs.push({
          z: await read(z),
          a: await read(a),
          dX: await read(dX),
          dGamma: await download(env, dGamma),
          dBeta: await download(env, dBeta),
          mean: await download(env, mean),
        });
        free(env, xV, dZV, auxV, z, a, dX, ...f32s, mean, invStd, rm, rv, dGamma, dBeta);
      }
      const [f32, f16] = outs;
      for (const k of ['z', 'a', 'dX'])
        expect(Array.from(f16[k]), `${k} ${B}x${S}x${C}`).toEqual(Array.from(f32[k], roundHalf));
      for (const k of ['dGamma', 'dBeta', 'mean'])
        expect(Array.from(f16[k]), `${k} ${B}x${S}x${C}`).toEqual(Array.from(f32[k]));
    }
  });
});
