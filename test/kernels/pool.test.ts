// Pooling kernels (shaders/pool.wgsl via src/kernels/pool.ts) against the float64 reference
// (src/reference/pool.ts), NHWC:
//   max     out = window max, argmax = the winner's flat x index (ties: first in window order);
//           dX = gather of dOut over the windows each element wins, * act'(aux)
//   avg     out = window mean; dX = gather of dOut / (KH*KW), * act'(aux)
//   global  [B,H,W,C] -> [B,C] mean; dX = dOut / (H*W), * act'(aux)
// Geometries: batch 1 and 3; H, W in {1, 2, 5, 7, 13}; C in {1, 3, 5}; windows 2 and 3 with
// strides 1 (overlapping), 2, 3 (gaps: elements no window covers must get 0), windows equal to
// the map; PyTorch's padding (ResNet's 3x3/2 pad 1 stem pool, 112 -> 56 and 7 -> 4; tiling
// 2x2/2 pad 1 windows; a 1x1 map whose window is mostly padding; one padded axis). Outputs are
// NaN-poisoned before every run.

import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { encodeDispatch, type Dispatch, type TensorView } from '../../src/kernels/common.js';
import {
  globalPoolGeometry,
  prepareAvgPoolBackward,
  prepareAvgPoolForward,
  prepareGlobalAvgPoolBackward,
  prepareGlobalAvgPoolForward,
  prepareMaxPoolBackward,
  prepareMaxPoolForward,
} from '../../src/kernels/pool.js';
import type { Activation } from '../../src/nn/activations.js';
import type { PoolGeometry } from '../../src/nn/layers.js';
import { activationBackward, activationForward } from '../../src/reference/activations.js';
import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
} from '../../src/reference/pool.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectExact } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { POOL, POOL_GRAD } from '../tolerances.js';
import { free, randF32, randInts, seedOf } from './inputs.js';

function geom(
  ...[H, W, C, KH, KW, SH, SW, PH = 0, PW = 0]: [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number?,
    number?,
  ]
): PoolGeometry {
  const [OH, OW] = [Math.floor((H + 2 * PH - KH) / SH) + 1, Math.floor((W + 2 * PW - KW) / SW) + 1];
  // Unpadded geometries leave PH and PW absent, as resolveModel does.
  return { H, W, C, KH, KW, SH, SW, ...(PH + PW > 0 ? { PH, PW } : {}), OH, OW };
}

interface Case {
  B: number;
  g: PoolGeometry;
}
const CASES: Case[] = [
  { B: 1, g: geom(1, 1, 3, 1, 1, 1, 1) }, // 1x1 map, window = map
  { B: 3, g: geom(2, 2, 5, 2, 2, 2, 2) }, // window = map
  { B: 3, g: geom(5, 7, 3, 2, 2, 2, 2) }, // non-overlapping, last row/column uncovered
  { B: 1, g: geom(7, 5, 5, 3, 3, 1, 1) }, // stride 1: up to 9 windows per element
  { B: 3, g: geom(13, 13, 3, 3, 3, 2, 2) }, // overlapping by one
  { B: 1, g: geom(13, 7, 1, 2, 3, 3, 3) }, // stride > window: gaps
  { B: 3, g: geom(7, 13, 1, 3, 2, 3, 1) }, // non-square window and stride
  { B: 1, g: geom(1, 5, 3, 1, 3, 1, 2) }, // one-row map
  { B: 3, g: geom(5, 5, 5, 5, 5, 1, 1) }, // window = map, 5x5
  // Tiling windows (KH == SH, KW == SW): max-pool backward scatters per window.
  { B: 2, g: geom(28, 28, 6, 2, 2, 2, 2) }, // LeNet's first pool
  { B: 1, g: geom(8, 7, 6, 3, 3, 3, 3) }, // 3x3/3 tiles, 2 rows and 1 column uncovered
  { B: 3, g: geom(7, 5, 8, 3, 2, 3, 2) }, // non-square tiles, vec4, 1 row and 1 column uncovered
  // C a multiple of 4: max pooling runs its vec4 entry points.
  { B: 3, g: geom(5, 7, 4, 2, 2, 2, 2) }, // non-overlapping, last row/column uncovered
  { B: 1, g: geom(7, 5, 8, 3, 3, 1, 1) }, // stride 1: up to 9 windows per element
  { B: 3, g: geom(13, 7, 12, 2, 3, 3, 3) }, // stride > window: gaps
  { B: 2, g: geom(4, 4, 4, 4, 4, 1, 1) }, // window = map
  // Padded (PyTorch's padding): padded cells never win a max and count as zeros in a mean.
  { B: 1, g: geom(112, 112, 4, 3, 3, 2, 2, 1, 1) }, // ResNet's stem pool, 112 -> 56, vec4
  { B: 3, g: geom(7, 7, 3, 3, 3, 2, 2, 1, 1) }, // the same on 7 -> 4
  { B: 2, g: geom(5, 6, 3, 2, 2, 2, 2, 1, 1) }, // tiles with padding: 3x4 windows, max scatters
  { B: 3, g: geom(5, 6, 8, 2, 2, 2, 2, 1, 1) }, // the same, vec4
  { B: 1, g: geom(1, 1, 5, 3, 3, 2, 2, 1, 1) }, // 1x1 map, the window 8/9 padding
  { B: 3, g: geom(1, 7, 4, 2, 3, 1, 2, 1, 1) }, // one-row map, two overlapping padded rows, vec4
  { B: 1, g: geom(13, 11, 1, 3, 3, 2, 2, 0, 1) }, // only the columns padded
  { B: 3, g: geom(11, 13, 5, 3, 3, 1, 1, 1, 1) }, // stride 1: the output keeps the map's size
];
const caseName = ({ B, g }: Case) =>
  `B${B} ${g.H}x${g.W}x${g.C} win ${g.KH}x${g.KW}/${g.SH}x${g.SW} pad ${g.PH ?? 0}x${g.PW ?? 0} -> ${g.OH}x${g.OW}`;

interface Prev {
  activation: Activation;
  alpha?: number;
}
const PREVS: Prev[] = [
  { activation: 'identity' },
  { activation: 'relu' },
  { activation: 'leaky_relu', alpha: 0.2 },
];

/** dX * act'(aux) in float64, through the reference activations. */
function withPrevAct(dX: Float64Array, prev: Prev, aux: Float32Array): Float64Array {
  if (prev.activation === 'identity') return dX;
  const n = dX.length;
  const opts = { alpha: prev.alpha };
  const a = activationForward(prev.activation, aux, 1, n, opts);
  return activationBackward(prev.activation, aux, a, dX, 1, n, opts);
}

async function runOne(prepared: Promise<Dispatch>): Promise<void> {
  const { env } = await testGpu();
  const d = await prepared;
  run(env, (pass) => encodeDispatch(pass, d));
}

async function gpuMaxForward({ B, g }: Case, x: Float32Array) {
  const { env } = await testGpu();
  const xb = upload(env, x);
  const n = B * g.OH * g.OW * g.C;
  const out = poisoned(env, n);
  const argmax = poisoned(env, n);
  await runOne(prepareMaxPoolForward(env, { B, g, x: xb, out, argmax }));
  const o = await download(env, out);
  const am = new Uint32Array((await download(env, argmax)).buffer);
  free(env, xb, out, argmax);
  return { out: o, argmax: am };
}

async function gpuBackward(
  kind: 'max' | 'avg' | 'global',
  { B, g }: Case,
  dOut: Float32Array,
  prev: Prev,
  aux: Float32Array,
  argmax?: Uint32Array,
) {
  const { env } = await testGpu();
  const db = upload(env, dOut);
  const auxb = upload(env, aux);
  const dX = poisoned(env, B * g.H * g.W * g.C);
  const am: TensorView | undefined = argmax ? upload(env, argmax, 'u32') : undefined;
  const common = { B, dOut: db, dX, activation: prev.activation, alpha: prev.alpha, aux: auxb };
  const dispatch =
    kind === 'max'
      ? prepareMaxPoolBackward(env, { ...common, g, argmax: am! })
      : kind === 'avg'
        ? prepareAvgPoolBackward(env, { ...common, g })
        : prepareGlobalAvgPoolBackward(env, { ...common, H: g.H, W: g.W, C: g.C });
  await runOne(dispatch);
  const res = await download(env, dX);
  free(env, db, auxb, dX, ...(am ? [am] : []));
  return res;
}

async function gpuAvgForward(kind: 'avg' | 'global', { B, g }: Case, x: Float32Array) {
  const { env } = await testGpu();
  const xb = upload(env, x);
  const out = poisoned(env, B * g.OH * g.OW * g.C);
  const dispatch =
    kind === 'avg'
      ? prepareAvgPoolForward(env, { B, g, x: xb, out })
      : prepareGlobalAvgPoolForward(env, { B, H: g.H, W: g.W, C: g.C, x: xb, out });
  await runOne(dispatch);
  const res = await download(env, out);
  free(env, xb, out);
  return res;
}

/** Inputs: small integers (exact tier; |v| <= 3 gives many ties) or uniform floats in [-2, 2]. */
function inputs(c: Case, exact: boolean, salt: number) {
  const { B, g } = c;
  const pads = g.PH || g.PW ? [g.PH ?? 0, g.PW ?? 0] : []; // unpadded cases keep their seeds
  const rng = new Rng(seedOf(B, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, ...pads, exact ? 1 : 0, salt));
  const gen = (n: number) => (exact ? randInts(rng, n) : randF32(rng, n));
  const inN = B * g.H * g.W * g.C;
  return { x: gen(inN), dOut: gen(B * g.OH * g.OW * g.C), aux: randF32(rng, inN) };
}

const isPow2 = (n: number) => (n & (n - 1)) === 0;

describe('pooling kernels vs float64 reference', () => {
  it('adapter', async () => {
    await testGpu();
  });

  it('max pool forward: values and argmax equal the reference (ties to the first)', async () => {
    for (const c of CASES) {
      for (const exact of [true, false]) {
        const { x } = inputs(c, exact, 0);
        const ref = maxPool2dForward(x, c.B, c.g);
        const got = await gpuMaxForward(c, x);
        // A max selects one of its inputs: exact in both tiers.
        expectExact(got.out, ref.out, `maxpool forward ${caseName(c)}`, c.g.C);
        expectExact(got.argmax, ref.argmax, `maxpool argmax ${caseName(c)}`, c.g.C);
      }
    }
  });

  it("max pool backward: gather over overlapping windows, one winner per window, fused act'", async () => {
    for (const c of CASES) {
      for (const exact of [true, false]) {
        for (const prev of PREVS) {
          const { x, dOut, aux } = inputs(c, exact, 1);
          const { argmax } = maxPool2dForward(x, c.B, c.g);
          const dXraw = maxPool2dBackward(dOut, argmax, c.B, c.g);
          const ref = withPrevAct(dXraw, prev, aux);
          const got = await gpuBackward('max', c, dOut, prev, aux, Uint32Array.from(argmax));
          const label = `maxpool backward ${prev.activation} ${caseName(c)}`;
          // Small integers: every partial sum is exact and relu's act' is 0/1.
          if (exact && prev.activation !== 'leaky_relu') expectExact(got, ref, label, c.g.C);
          else expectAllClose(got, ref, POOL_GRAD, label, c.g.C);
        }
      }
    }
  });

  it('max pool with deliberate ties routes each window to exactly one element', async () => {
    for (const c of CASES) {
      const { B, g } = c;
      const n = B * g.H * g.W * g.C;
      // Constant maps (every window is one big tie) and two-valued maps (ties of the max).
      const rng = new Rng(seedOf(n, 5));
      for (const x of [
        new Float32Array(n).fill(1.5),
        Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 2)),
      ]) {
        const ref = maxPool2dForward(x, B, g);
        const got = await gpuMaxForward(c, x);
        expectExact(got.argmax, ref.argmax, `tied argmax ${caseName(c)}`, g.C);
        const dOut = Float32Array.from({ length: got.out.length }, () => 1);
        const dX = await gpuBackward('max', c, dOut, { activation: 'identity' }, x, got.argmax);
        expectExact(dX, maxPool2dBackward(dOut, ref.argmax, B, g), `tied backward ${caseName(c)}`, g.C);
        // Each window's unit gradient lands on one element: the total equals the window count.
        expect(
          dX.reduce((s, v) => s + v, 0),
          `tied gradient mass ${caseName(c)}`,
        ).toBe(dOut.length);
      }
    }
  });

  it("avg pool forward and backward, fused act'", async () => {
    for (const c of CASES) {
      for (const exact of [true, false]) {
        const { x, dOut, aux } = inputs(c, exact, 2);
        const label = `avgpool ${caseName(c)}`;
        // Division by a power of two is exact; by 9 or 25 it rounds once in f32.
        const exactDiv = exact && isPow2(c.g.KH * c.g.KW);
        const ref = avgPool2dForward(x, c.B, c.g);
        const out = await gpuAvgForward('avg', c, x);
        if (exactDiv) expectExact(out, ref, `${label} forward`, c.g.C);
        else expectAllClose(out, ref, POOL, `${label} forward`, c.g.C);
        for (const prev of PREVS) {
          const refDx = withPrevAct(avgPool2dBackward(dOut, c.B, c.g), prev, aux);
          const dX = await gpuBackward('avg', c, dOut, prev, aux);
          const l = `${label} backward ${prev.activation}`;
          if (exactDiv && prev.activation !== 'leaky_relu') expectExact(dX, refDx, l, c.g.C);
          else expectAllClose(dX, refDx, POOL_GRAD, l, c.g.C);
        }
      }
    }
  });

  it("global average pool forward and backward, fused act'", async () => {
    const shapes: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [3, 5, 7, 3],
      [1, 13, 13, 5],
      [3, 2, 2, 1],
      [3, 7, 1, 5],
    ];
    for (const [B, H, W, C] of shapes) {
      const c: Case = { B, g: globalPoolGeometry(H, W, C) };
      for (const exact of [true, false]) {
        const { x, dOut, aux } = inputs(c, exact, 3);
        const label = `global avg pool B${B} ${H}x${W}x${C}`;
        const exactDiv = exact && isPow2(H * W);
        const ref = globalAvgPoolForward(x, B, H, W, C);
        const out = await gpuAvgForward('global', c, x);
        if (exactDiv) expectExact(out, ref, `${label} forward`, C);
        else expectAllClose(out, ref, POOL, `${label} forward`, C);
        for (const prev of PREVS) {
          const refDx = withPrevAct(globalAvgPoolBackward(dOut, B, H, W, C), prev, aux);
          const dX = await gpuBackward('global', c, dOut, prev, aux);
          const l = `${label} backward ${prev.activation}`;
          if (exactDiv && prev.activation !== 'leaky_relu') expectExact(dX, refDx, l, C);
          else expectAllClose(dX, refDx, POOL_GRAD, l, C);
        }
      }
    }
  });

  it('rejects a geometry, buffer or missing aux that does not fit, with ShapeError', async () => {
    const { env } = await testGpu();
    const g = geom(5, 7, 3, 2, 2, 2, 2);
    const x = upload(env, new Float32Array(105));
    const out = poisoned(env, 3 * 2 * 3);
    await expect(prepareAvgPoolForward(env, { B: 1, g: { ...g, OH: 3 }, x, out })).rejects.toThrow(
      ShapeError,
    );
    await expect(prepareAvgPoolForward(env, { B: 2, g, x, out })).rejects.toThrow(/needs 210/);
    // Padding over half the window (its windows could be all padding), or not the padded OH.
    const gp = geom(5, 7, 3, 2, 2, 2, 2, 1, 1);
    for (const bad of [
      { ...gp, PH: 2, OH: 4 },
      { ...gp, OH: 2 },
    ]) {
      await expect(prepareMaxPoolForward(env, { B: 1, g: bad, x, out, argmax: out })).rejects.toThrow(
        /padded/,
      );
    }
    await expect(
      prepareAvgPoolBackward(env, { B: 1, g, dOut: out, dX: x, activation: 'relu' }),
    ).rejects.toThrow(/needs aux/);
    free(env, x, out);
  });
});
