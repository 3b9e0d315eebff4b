// Standalone activation kernels (shaders/activations.wgsl via src/kernels/activations.ts) against
// the float64 reference (src/reference/activations.ts):
//   forward   A = act(Z)               elementwise; softmax row-wise and max-shifted
//   backward  dZ = dA * act'(Z)        the GPU takes the derivative from Z, the reference from A
//                                      for sigmoid/tanh (equal in exact arithmetic)
//             softmax: dZ = S (dA - rowsum(dA S)), given S
// Shapes rows x cols are odd and span several 256-wide workgroups (count and rows). Outputs are
// NaN-poisoned before every run.

import { describe, it } from 'vitest';
import { prepareActivationBackward, prepareActivationForward } from '../../src/kernels/activations.js';
import { encodeDispatch } from '../../src/kernels/common.js';
import type { Activation } from '../../src/nn/activations.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { ACTIVATION, ACTIVATION_WIDE, SOFTMAX } from '../tolerances.js';
import { free, randF32, seedOf } from './inputs.js';

type Shape = [rows: number, cols: number];
// 1x1; primes; 257 rows so softmax (one invocation per row) needs two workgroups; 45x65 and
// 257x33 put count past 256 and an odd tail in the last workgroup.
const SHAPES: Shape[] = [
  [1, 1],
  [7, 13],
  [45, 65],
  [257, 33],
];

interface Act {
  name: Activation;
  alpha?: number;
}
const ACTS: Act[] = [
  { name: 'identity' },
  { name: 'relu' },
  { name: 'leaky_relu', alpha: 0.01 },
  { name: 'leaky_relu', alpha: 0.2 },
  { name: 'sigmoid' },
  { name: 'tanh' },
  { name: 'gelu' },
  { name: 'relu6' },
  { name: 'hardswish' },
  { name: 'softmax' },
];
const actName = (a: Act) => (a.alpha === undefined ? a.name : `${a.name}(${a.alpha})`);
/** identity, relu and relu6 (and their 0/1 derivatives) introduce no rounding: compare exactly. */
const isExact = (a: Act) => a.name === 'identity' || a.name === 'relu' || a.name === 'relu6';
/** Activations with kinks away from 0 (relu6: 0 and 6; hardswish: -3 and 3) get a [-8, 8] pass. */
const hasFarKinks = (a: Act) => a.name === 'relu6' || a.name === 'hardswish';

async function gpuForward(act: Act, [rows, cols]: Shape, z: Float32Array): Promise<Float32Array> {
  const { env } = await testGpu();
  const zb = upload(env, z);
  const out = poisoned(env, rows * cols);
  const d = await prepareActivationForward(env, {
    activation: act.name,
    alpha: act.alpha,
    rows,
    cols,
    z: zb,
    out,
  });
  run(env, (pass) => encodeDispatch(pass, d));
  const res = await download(env, out);
  free(env, zb, out);
  return res;
}

/** For softmax `z` is the softmax output S, as the wrapper documents. */
async function gpuBackward(act: Act, [rows, cols]: Shape, z: Float32Array, dA: Float32Array) {
  const { env } = await testGpu();
  const zb = upload(env, z);
  const db = upload(env, dA);
  const out = poisoned(env, rows * cols);
  const d = await prepareActivationBackward(env, {
    activation: act.name,
    alpha: act.alpha,
    rows,
    cols,
    z: zb,
    dA: db,
    out,
  });
  run(env, (pass) => encodeDispatch(pass, d));
  const res = await download(env, out);
  free(env, zb, db, out);
  return res;
}

async function check(act: Act, shape: Shape, z: Float32Array, tag: string, tol = ACTIVATION) {
  const [rows, cols] = shape;
  const opts = { alpha: act.alpha };
  const label = `${actName(act)} ${tag} ${rows}x${cols}`;
  const rng = new Rng(seedOf(rows, cols, 99));
  const dA = randF32(rng, rows * cols);

  const aRef = activationForward(act.name, z, rows, cols, opts);
  const a = await gpuForward(act, shape, z);
  if (isExact(act)) expectExact(a, aRef, `${label} forward`, cols);
  else expectAllClose(a, aRef, act.name === 'softmax' ? SOFTMAX : tol, `${label} forward`, cols);

  // Softmax backward reads S; hand both sides the same f32-rounded S.
  const s = act.name === 'softmax' ? Float32Array.from(aRef) : null;
  const dzRef = activationBackward(act.name, z, s ?? aRef, dA, rows, cols, opts);
  const dz = await gpuBackward(act, shape, s ?? z, dA);
  if (isExact(act)) expectExact(dz, dzRef, `${label} backward`, cols);
  else expectAllClose(dz, dzRef, act.name === 'softmax' ? SOFTMAX : tol, `${label} backward`, cols);
}

describe('activation kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const act of ACTS) {
    it(`${actName(act)} forward and backward`, async () => {
      for (const shape of SHAPES) {
        const [rows, cols] = shape;
        const rng = new Rng(seedOf(rows, cols));
        await check(act, shape, randF32(rng, rows * cols), 'z in [-2,2]');
        // Saturated range: sigmoid's two branches, the tanh clamp at +-15, gelu's tails.
        await check(act, shape, randF32(rng, rows * cols, -40, 40), 'z in [-40,40]', ACTIVATION_WIDE);
        if (hasFarKinks(act)) await check(act, shape, randF32(rng, rows * cols, -8, 8), 'z in [-8,8]');
      }
    });
  }

  it('relu6 and hardswish at their kinks take the reference convention', async () => {
    // relu6' (0) = relu6' (6) = 0; hardswish' (-3) = -1/2, hardswish' (3) = 3/2 (PyTorch's).
    const z = Float32Array.from([-3, 0, 3, 6, -8, 8, 2.5]);
    for (const name of ['relu6', 'hardswish'] as const) await check({ name }, [1, z.length], z, 'kinks');
  });

  it('softmax with logits of +-100 stays finite and exact', async () => {
    for (const [rows, cols] of [
      [5, 7],
      [257, 33],
    ] as Shape[]) {
      const rng = new Rng(seedOf(rows, cols, 100));
      const z = randF32(rng, rows * cols);
      // Each row: a few entries pushed to +100 or -100 (row 0 all -100, row 1 all +100, where the
      // un-shifted exp would underflow to 0/0 or overflow to inf/inf).
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          if (r === 0) z[i] = -100;
          else if (r === 1) z[i] = 100;
          else if (rng.next() < 0.3) z[i] = (rng.next() < 0.5 ? -100 : 100) + z[i];
        }
      }
      await check({ name: 'softmax' }, [rows, cols], z, 'logits +-100');
    }
  });
});
