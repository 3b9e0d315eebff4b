// Shared by the reference's whole-model tests: random parameters and targets, the guard against
// finite differences straddling a kink, and the finite-difference check of every gradient.

import { expect } from 'vitest';
import { resolveModel, type ModelSpec } from '../../src/nn/layers.js';
import {
  seqCreateBnState,
  seqEvaluate,
  seqForward,
  seqGradients,
  type RefModel,
  type RefParams,
} from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { expectGradMatches, randArray } from './helpers.js';

/** resolveModel's output is a RefModel as it stands (this line fails to compile otherwise). */
export const ref = (spec: ModelSpec): RefModel => resolveModel(spec);

/** Random parameters: weights ~ U[-2, 2]/√fanIn, biases U[-0.5, 0.5], γ U[0.5, 1.5], β U[-0.3, 0.3]. */
export function randomParams(model: RefModel, rng: Rng): RefParams {
  return model.layers.flatMap((l) => {
    if (!l.param) return [];
    const n = l.param.shape.reduce((a, b) => a * b, 1);
    if (l.type === 'batchnorm' || l.type === 'layernorm') {
      return [{ W: randArray(rng, n, 0.5, 1.5), b: randArray(rng, n, -0.3, 0.3) }];
    }
    const fanIn = n / l.param.shape[0];
    return [
      {
        W: randArray(rng, n).map((v) => v / Math.sqrt(fanIn)),
        b: randArray(rng, l.param.b.length, -0.5, 0.5),
      },
    ];
  });
}

export function targetsFor(model: RefModel, rows: number, rng: Rng): Float64Array | Int32Array {
  const n = model.outputSize;
  if (model.spec.loss === 'softmax-ce') return Int32Array.from({ length: rows }, () => rng.int(n));
  if (model.spec.loss === 'bce') return Float64Array.from({ length: rows * n }, () => rng.int(2));
  return randArray(rng, rows * n, -1, 1);
}

/**
 * Finite differences only see the analytic gradient when a 1e-6 step moves no relu input across
 * 0 and swaps no max-pool winner: fail loudly (rather than flakily) when the data comes too close.
 */
export function expectAwayFromKinks(model: RefModel, cache: ReturnType<typeof seqForward>['cache']): void {
  model.layers.forEach((l, i) => {
    const c = cache[i];
    if (l.activation === 'relu' || l.activation === 'leaky_relu') {
      expect(Math.min(...Array.from(c.Z, Math.abs)), `layer ${i} near a kink`).toBeGreaterThan(1e-4);
    }
    if (l.type === 'maxpool2d') {
      const g = l.pool!;
      const R = c.A.length / (g.OH * g.OW * g.C);
      for (let o = 0; o < c.A.length; o++) {
        if (c.A[o] === 0) continue; // all relu-dead: every candidate has zero gradient
        const ch = o % g.C;
        const ow = Math.floor(o / g.C) % g.OW;
        const oh = Math.floor(o / (g.C * g.OW)) % g.OH;
        const n = Math.floor(o / (g.C * g.OW * g.OH));
        expect(n).toBeLessThan(R);
        for (let kh = 0; kh < g.KH; kh++) {
          for (let kw = 0; kw < g.KW; kw++) {
            const j = ((n * g.H + oh * g.SH + kh) * g.W + ow * g.SW + kw) * g.C + ch;
            if (j !== c.argmax![o])
              expect(c.A[o] - c.X[j], `pool window ${o} near a tie`).toBeGreaterThan(1e-4);
          }
        }
      }
    }
  });
}

/** Every parameter's gradient and dX of a training-mode step match central finite differences. */
export function expectModelGradients(name: string, spec: ModelSpec, rows: number): void {
  const model = ref(spec);
  const rng = new Rng(name.length + rows);
  const params = randomParams(model, rng);
  const state = seqCreateBnState(model);
  const x = randArray(rng, rows * model.inputSize);
  const y = targetsFor(model, rows, rng);
  const mode = { seed: 77, step: 5 };
  const g = seqGradients(model, params, state, x, y, rows, mode);
  expectAwayFromKinks(model, g.cache);
  // Dropout with a fixed (seed, step) is a fixed mask: the training loss is a smooth function.
  const L = (): number => seqEvaluate(model, params, state, x, y, rows, { training: true, ...mode }).loss;
  expect(g.loss).toBe(L());
  params.forEach((p, k) => {
    expectGradMatches(L, p.W, g.grads[k].W, `param ${k} W`);
    expectGradMatches(L, p.b, g.grads[k].b, `param ${k} b`);
  });
  expectGradMatches(L, x, g.dX, 'dX');
}
