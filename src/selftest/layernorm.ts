// The self-test's layer-norm check, against src/reference/layernorm.ts: the forward (per-row
// mean and invStd, z and a = relu(z)) and the backward (dX with the previous layer's tanh' fused,
// dGamma, dBeta), in the layout the engine picks on this adapter. Three shapes: a 5x7 map of 5
// channels (scalar kernels), a dense layer's 36 features over 3 rows (vec4 kernels), and 1000
// features over 2 rows (on a GPU, C > 64 takes the workgroup-per-row layout).

import {
  layerNormLayout,
  layerNormPartialLength,
  prepareLayerNormBackward,
  prepareLayerNormForward,
} from '../kernels/layernorm.js';
import { activationBackward, activationForward } from '../reference/activations.js';
import { layerNormBackward, layerNormForward } from '../reference/layernorm.js';
import { Rng } from '../rng.js';
import type { SelftestFamily } from './checks.js';
import { randF32, seedOf } from './harness.js';
import { LN_INV_STD, layerNormGammaTol, layerNormGradTol, layerNormTol, matmulTol } from './tolerances.js';

// [B, S (= H*W), C]
const LN_CASES: [B: number, S: number, C: number][] = [
  [7, 35, 5],
  [3, 1, 36],
  [2, 1, 1000],
];
const LN_EPS = 1e-5;

export const layerNormFamily: SelftestFamily = {
  name: 'layernorm',
  async run(h) {
    for (const [B, S, C] of LN_CASES) {
      const rng = new Rng(seedOf(B, S, C, 13));
      const rows = B * S;
      const n = rows * C;
      const x = randF32(rng, n);
      const gamma = randF32(rng, C);
      const beta = randF32(rng, C);
      const dZ = randF32(rng, n);
      const aux = randF32(rng, n);
      const xb = h.upload(x);
      const gb = h.upload(gamma);
      const z = h.poisoned(n);
      const a = h.poisoned(n);
      const mean = h.poisoned(rows);
      const invStd = h.poisoned(rows);
      const dX = h.poisoned(n);
      const dGamma = h.poisoned(C);
      const dBeta = h.poisoned(C);
      const shape = { B, S, C };
      const fwd = await prepareLayerNormForward(h.env, {
        ...shape,
        x: xb,
        gamma: gb,
        beta: h.upload(beta),
        z,
        a,
        activation: 'relu',
        epsilon: LN_EPS,
        mean,
        invStd,
      });
      const bwd = await prepareLayerNormBackward(h.env, {
        ...shape,
        x: xb,
        dZ: h.upload(dZ),
        gamma: gb,
        mean,
        invStd,
        dX,
        dGamma,
        dBeta,
        partial: h.poisoned(layerNormPartialLength(rows, C)),
        activation: 'tanh',
        aux: h.upload(aux),
      });
      h.run([fwd, ...bwd]);
      const ref = layerNormForward(x, rows, C, gamma, beta, LN_EPS);
      const grads = layerNormBackward(dZ, ref.xhat, ref.invStd, gamma, rows, C);
      const dXRef = activationBackward('tanh', aux, activationForward('tanh', aux, 1, n), grads.dX, 1, n);
      let k = 0;
      for (let i = 0; i < n; i++) k = Math.max(k, ref.invStd[Math.floor(i / C)] * Math.abs(x[i]));
      const s = Math.max(...ref.invStd);
      const row = (kernel: string) => ({
        kernel: `layernorm ${kernel}`,
        variant: layerNormLayout(C, h.env.device),
        shape: `B${B} S${S} C${C}`,
      });
      h.compare(row('forward invStd'), await h.download(invStd), ref.invStd, LN_INV_STD);
      const tol = layerNormTol(C, k);
      h.compare(row('forward z'), await h.download(z), ref.out, tol);
      h.compare(
        row('forward a = relu(z)'),
        await h.download(a),
        activationForward('relu', ref.out, 1, n),
        tol,
      );
      h.compare(row("backward dX * tanh'"), await h.download(dX), dXRef, layerNormGradTol(C, k, s));
      h.compare(
        row('backward dGamma'),
        await h.download(dGamma),
        grads.dGamma,
        layerNormGammaTol(rows, C, k),
      );
      h.compare(row('backward dBeta'), await h.download(dBeta), grads.dBeta, matmulTol(rows));
      h.free();
    }
  },
};
