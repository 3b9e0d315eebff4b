// Loss kernels fused with their gradient (shaders/losses.wgsl via src/kernels/losses.ts) against
// the float64 reference (src/reference/losses.ts): bce on logits, softmax cross-entropy, mse.
// Each run checks grad [B,N] and stats [B,3] = (row loss, correct, active):
//  - rows < active: grad and row loss within LOSS, correct and active exactly;
//  - rows >= active (the tail of a partial batch): grad and stats exactly 0, and their outputs
//    are NaN on input, so a kernel that reads them would poison a stat and fail.
// Stability: logits of +-100 must give finite values that match the reference.
// softmax-ce with label smoothing eps in {0, 0.1, 0.3} at odd shapes (B = 1, 7, 65; K = 2, 10, 13).

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { encodeDispatch } from '../../src/kernels/common.js';
import { prepareLoss, type LossName } from '../../src/kernels/losses.js';
import { bceWithLogits, mse, softmaxCrossEntropy, type LossResult } from '../../src/reference/losses.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { LOSS, LOSS_GRAD, LOSS_LARGE_LOGITS, type Tol } from '../tolerances.js';
import { free, randF32, seedOf } from './inputs.js';

type Shape = [B: number, N: number];
// B = 130 needs three 64-wide workgroups; N = 1 is the single-output bce/mse case.
const SHAPES: Shape[] = [
  [1, 1],
  [7, 13],
  [45, 10],
  [130, 3],
];

interface Case {
  outputs: Float32Array;
  /** bce/mse: targets [B,N]; softmax-ce: labels [B]. */
  targets: Float32Array | Uint32Array;
}

function makeCase(loss: LossName, [B, N]: Shape, active: number, big: boolean): Case {
  const rng = new Rng(seedOf(B, N, active, loss.length, big ? 1 : 0));
  const outputs = randF32(rng, B * N);
  // +-100 on top of the usual values: past exp's f32 range either way for the naive formulas.
  if (big) for (let i = 0; i < outputs.length; i++) outputs[i] += rng.next() < 0.5 ? -100 : 100;
  let targets: Float32Array | Uint32Array;
  if (loss === 'softmax-ce') targets = Uint32Array.from({ length: B }, () => rng.int(N));
  else if (loss === 'bce') targets = Float32Array.from({ length: B * N }, () => Math.fround(rng.next()));
  else targets = randF32(rng, B * N);
  // Rows past `active` hold NaN, as stale data of a last partial batch might: never read.
  outputs.fill(NaN, active * N);
  return { outputs, targets };
}

function reference(loss: LossName, [B, N]: Shape, active: number, c: Case, eps: number): LossResult {
  if (loss === 'bce') return bceWithLogits(c.outputs, c.targets, B, N, active);
  if (loss === 'softmax-ce') return softmaxCrossEntropy(c.outputs, c.targets, B, N, active, eps);
  return mse(c.outputs, c.targets, B, N, active);
}

/** Per-row correctness from the reference, which only returns the count. */
function rowCorrect(loss: LossName, [, N]: Shape, active: number, c: Case): number[] {
  const flags: number[] = [];
  for (let r = 0; r < active; r++) {
    const row = c.outputs.subarray(r * N, (r + 1) * N);
    if (loss === 'softmax-ce') {
      flags.push(softmaxCrossEntropy(row, [c.targets[r]], 1, N).correct);
    } else {
      const y = c.targets.subarray(r * N, (r + 1) * N);
      flags.push(loss === 'bce' ? bceWithLogits(row, y, 1, N).correct : mse(row, y, 1, N).correct);
    }
  }
  return flags;
}

async function check(loss: LossName, shape: Shape, active: number, big: boolean, smoothing = 0) {
  const lossTol: Tol = big ? LOSS_LARGE_LOGITS : LOSS;
  const [B, N] = shape;
  const { env } = await testGpu();
  const c = makeCase(loss, shape, active, big);
  const out = upload(env, c.outputs);
  const tgt = upload(env, c.targets, loss === 'softmax-ce' ? 'u32' : 'f32');
  const grad = poisoned(env, B * N);
  const stats = poisoned(env, B * 3);
  const d = await prepareLoss(env, {
    loss,
    B,
    N,
    active,
    outputs: out,
    targets: tgt,
    grad,
    stats,
    smoothing,
  });
  run(env, (pass) => encodeDispatch(pass, d));
  const g = await download(env, grad);
  const s = await download(env, stats);
  free(env, out, tgt, grad, stats);

  const ref = reference(loss, shape, active, c, smoothing);
  const label = `${loss} ${B}x${N} active ${active}${big ? ' logits +-100' : ''} eps ${smoothing}`;
  expect(g.every(Number.isFinite) && s.every(Number.isFinite), `${label}: non-finite grad or stats`).toBe(
    true,
  );
  expectAllClose(g.subarray(0, active * N), ref.grad.subarray(0, active * N), LOSS_GRAD, `${label} grad`, N);
  expectExact(
    g.subarray(active * N),
    new Float32Array((B - active) * N),
    `${label} grad of inactive rows`,
    N,
  );

  const rowLoss = Float32Array.from({ length: active }, (_, r) => s[3 * r]);
  expectAllClose(rowLoss, ref.perSample, lossTol, `${label} row loss`);
  const flags = Array.from({ length: active }, (_, r) => s[3 * r + 1]);
  expectExact(flags, rowCorrect(loss, shape, active, c), `${label} correct flags`);
  expect(
    flags.reduce((a, b) => a + b, 0),
    `${label} correct count`,
  ).toBe(ref.correct);
  expectExact(
    Array.from({ length: active }, (_, r) => s[3 * r + 2]),
    new Array<number>(active).fill(1),
    `${label} active flags`,
  );
  expectExact(
    s.subarray(3 * active),
    new Float32Array(3 * (B - active)),
    `${label} stats of inactive rows`,
    3,
  );
}

describe('softmax-ce with label smoothing vs float64 reference', () => {
  for (const eps of [0, 0.1, 0.3]) {
    it(`eps ${eps}: B = 1, 7, 65; K = 2, 10, 13; full and partial batches, logits +-100`, async () => {
      for (const B of [1, 7, 65]) {
        for (const K of [2, 10, 13]) {
          await check('softmax-ce', [B, K], B, false, eps);
          if (B > 1) await check('softmax-ce', [B, K], B - 1, false, eps);
          await check('softmax-ce', [B, K], B, true, eps);
        }
      }
    });
  }

  it('rejects eps outside [0, 1) and eps with another loss', async () => {
    const { env } = await testGpu();
    const t = poisoned(env, 8);
    const args = { B: 2, N: 2, outputs: t, targets: t, grad: t, stats: poisoned(env, 6) };
    await expect(prepareLoss(env, { ...args, loss: 'softmax-ce', smoothing: 1 })).rejects.toThrow(
      ConfigError,
    );
    await expect(prepareLoss(env, { ...args, loss: 'softmax-ce', smoothing: -0.1 })).rejects.toThrow(
      ConfigError,
    );
    await expect(prepareLoss(env, { ...args, loss: 'bce', smoothing: 0.1 })).rejects.toThrow(/softmax-ce/);
    free(env, t, args.stats);
  });
});

describe('loss kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const loss of ['bce', 'softmax-ce', 'mse'] as const) {
    describe(loss, () => {
      // softmax-ce needs N >= 2 (the wrapper rejects N = 1).
      const shapes = SHAPES.map(([B, N]): Shape => [B, loss === 'softmax-ce' ? Math.max(N, 2) : N]);

      it('full batch', async () => {
        for (const shape of shapes) await check(loss, shape, shape[0], false);
      });

      it('partial batch: rows >= active get zero grad and zero stats', async () => {
        for (const shape of shapes) {
          const B = shape[0];
          if (B === 1) continue;
          for (const active of [1, B - 1, Math.ceil(B / 2)]) await check(loss, shape, active, false);
        }
      });

      it('logits of +-100: finite and equal to the reference', async () => {
        for (const shape of shapes) {
          await check(loss, shape, shape[0], true);
          if (shape[0] > 1) await check(loss, shape, shape[0] - 1, true);
        }
      });
    });
  }
});
