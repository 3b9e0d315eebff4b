// The self-test's grouped and depthwise conv2d checks (src/kernels/conv-grouped.ts) against the
// float64 reference, run by the conv2d family (cnn.ts): forward with bias and relu (Z and A),
// weight grad over several row chunks with the bias grad, input grad with the previous layer's
// tanh'. Two odd geometries: a depthwise 3x3/2 'same' conv with a channel multiplier of 2
// (F = 2C; 105 output pixels, two weight-grad chunks), and a G = 3 conv of 2 channels and 3
// filters per group with a 5x5 'valid' kernel.

import {
  groupedConvScratchLength,
  groupedWeightLength,
  prepareGroupedConvForward,
  prepareGroupedConvInputGrad,
  prepareGroupedConvWeightGrad,
} from '../kernels/conv-grouped.js';
import { resolveModel, type Conv2dSpec, type ConvGeometry } from '../nn/layers.js';
import { activationBackward, activationForward } from '../reference/activations.js';
import { conv2dBackward, conv2dForward } from '../reference/conv.js';
import { Rng } from '../rng.js';
import { randF32, seedOf, type Harness } from './harness.js';
import { convBiasTol, groupedConvActTol, groupedConvTol } from './tolerances.js';

const CASES: { B: number; input: [number, number, number]; spec: Conv2dSpec }[] = [
  {
    B: 3,
    input: [9, 13, 5],
    spec: { type: 'conv2d', filters: 10, kernelSize: 3, stride: 2, padding: 'same', groups: 5 },
  },
  {
    B: 2,
    input: [9, 9, 6],
    spec: { type: 'conv2d', filters: 9, kernelSize: 5, padding: 'valid', groups: 3 },
  },
];

function geometry(input: [number, number, number], spec: Conv2dSpec): ConvGeometry {
  const layers = [spec, { type: 'flatten' as const }, { units: 1 }];
  return resolveModel({ inputShape: input, layers, loss: 'mse' }).layers[0].conv!;
}

async function groupedCase(h: Harness, B: number, g: ConvGeometry): Promise<void> {
  const G = g.G ?? 1;
  const rng = new Rng(seedOf(B, g.H, g.W, g.C, g.F, G, g.KH));
  const x = randF32(rng, B * g.H * g.W * g.C);
  const w = randF32(rng, groupedWeightLength(g));
  const bias = randF32(rng, g.F);
  const dZ = randF32(rng, B * g.OH * g.OW * g.F);
  const zPrev = randF32(rng, x.length);
  const M = B * g.OH * g.OW;
  const dummies = { read: h.poisoned(4).buffer, write: h.poisoned(4).buffer };
  const name = G === g.C ? 'conv2d depthwise' : 'conv2d grouped';
  const row = (what: string) => ({
    kernel: `${name} ${what}`,
    variant: 'direct',
    shape: `B${B} ${g.H}x${g.W}x${g.C} -> ${g.F} G${G} k${g.KH}x${g.KW} s${g.SH}x${g.SW}`,
  });
  const [xb, wb, dZb] = [h.upload(x), h.upload(w), h.upload(dZ)];
  const [z, a, dW, db, dX] = [M * g.F, M * g.F, w.length, g.F, x.length].map((n) => h.poisoned(n));
  const len = groupedConvScratchLength(B, g);
  h.run([
    ...(await prepareGroupedConvForward(h.env, {
      B,
      g,
      x: xb,
      w: wb,
      bias: h.upload(bias),
      z,
      a,
      activation: 'relu',
      dummies,
    })),
    ...(await prepareGroupedConvWeightGrad(h.env, {
      B,
      g,
      x: xb,
      dZ: dZb,
      dW,
      db,
      scratch: len > 0 ? h.poisoned(len) : undefined,
    })),
    ...(await prepareGroupedConvInputGrad(h.env, {
      B,
      g,
      dZ: dZb,
      w: wb,
      dX,
      activation: 'tanh',
      aux: h.upload(zPrev),
      dummies,
    })),
  ]);
  const r = (g.KH * g.KW * g.C) / G;
  const zRef = conv2dForward(x, w, bias, B, g);
  h.compare(row('forward'), await h.download(z), zRef, groupedConvTol(r));
  const aRef = activationForward('relu', zRef, M, g.F);
  h.compare(row('forward (A = relu)'), await h.download(a), aRef, groupedConvActTol(r));
  const ref = conv2dBackward(x, w, dZ, B, g, true);
  h.compare(row('weightGrad'), await h.download(dW), ref.dW, groupedConvTol(M));
  h.compare(row('biasGrad'), await h.download(db), ref.db, convBiasTol(M));
  const n = x.length;
  const dxRef = activationBackward('tanh', zPrev, activationForward('tanh', zPrev, 1, n), ref.dX, 1, n);
  h.compare(
    row("inputGrad * tanh'"),
    await h.download(dX),
    dxRef,
    groupedConvActTol((g.KH * g.KW * g.F) / G),
  );
  h.free();
}

/** Every grouped case; the conv2d family runs these after its GEMM and direct checks. */
export async function groupedConvChecks(h: Harness): Promise<void> {
  for (const { B, input, spec } of CASES) await groupedCase(h, B, geometry(input, spec));
}
