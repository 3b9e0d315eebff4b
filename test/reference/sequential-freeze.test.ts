// The float64 reference's frozen layers (src/reference/sequential.ts, mode.frozen): the
// trainable parameters' gradients match central finite differences of the frozen-mode loss
// (frozen batch norm on its running statistics, dropout still dropping), frozen gradients are
// zero, and a training step leaves frozen parameters, their optimizer state and their running
// statistics exactly as they were.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import {
  seqCreateBnState,
  seqCreateOptimState,
  seqGradients,
  seqTrainStep,
} from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { expectGradMatches, randArray } from './helpers.js';
import { expectAwayFromKinks, randomParams, ref, targetsFor } from './model-helpers.js';

const spec: ModelSpec = {
  inputShape: [4, 3, 2],
  layers: [
    { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'tanh', name: 'stem' },
    { type: 'dropout', rate: 0.3 },
    { type: 'conv2d', filters: 2, kernelSize: 1, name: 'c' },
    { type: 'batchnorm', activation: 'relu' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

const FROZEN = [0, 1, 2];

/** The layer index of each RefParams entry. */
const paramLayers = (model: ReturnType<typeof ref>): number[] =>
  model.layers.flatMap((l, i) => (l.param ? [i] : []));

function setup(rows: number) {
  const model = ref(spec);
  const rng = new Rng(11);
  const params = randomParams(model, rng);
  const state = seqCreateBnState(model).map((s) => ({
    mean: s.mean.map(() => rng.uniform(-0.5, 0.5)),
    variance: s.variance.map(() => rng.uniform(0.5, 2)),
  }));
  const x = randArray(rng, rows * model.inputSize);
  const y = targetsFor(model, rows, rng);
  return { model, params, state, x, y };
}

describe('reference: frozen layers', () => {
  it('trainable gradients match finite differences of the frozen-mode loss; frozen ones are zero', () => {
    const rows = 5;
    const { model, params, state, x, y } = setup(rows);
    const mode = { seed: 3, step: 2, frozen: FROZEN };
    const g = seqGradients(model, params, state, x, y, rows, mode);
    expectAwayFromKinks(model, g.cache);
    const L = (): number => seqGradients(model, params, state, x, y, rows, mode).loss;
    params.forEach((p, k) => {
      const layer = paramLayers(model)[k];
      if (FROZEN.includes(layer)) {
        expect(g.grads[k].W.every((v) => v === 0)).toBe(true);
        expect(g.grads[k].b.every((v) => v === 0)).toBe(true);
      } else {
        expectGradMatches(L, p.W, g.grads[k].W, `param ${k} W`);
        expectGradMatches(L, p.b, g.grads[k].b, `param ${k} b`);
      }
    });
    expect(g.dX.every((v) => v === 0)).toBe(true);
    // The frozen batch norm reads its running statistics: moving them moves the loss.
    const before = L();
    state[0].mean[0] += 0.1;
    expect(L()).not.toBe(before);
    // The trainable one uses the batch's: its running mean does not enter the loss.
    const now = L();
    state[1].mean[0] += 0.1;
    expect(L()).toBe(now);
  });

  it('a step leaves frozen parameters, moments and running statistics as they were', () => {
    const rows = 6;
    const { model, params, state, x, y } = setup(rows);
    const opt = seqCreateOptimState(params);
    const copy = <T>(v: T): T => structuredClone(v);
    const p0 = copy(params);
    const s0 = copy(state);
    const optimizer = { name: 'adam' as const, lr: 0.01, weightDecay: 0.1, maxNorm: 0.5 };
    for (let t = 1; t <= 3; t++)
      seqTrainStep(model, params, state, opt, x, y, rows, optimizer, t, { seed: 1, step: t, frozen: FROZEN });
    params.forEach((p, k) => {
      const frozen = FROZEN.includes(paramLayers(model)[k]);
      expect(Array.from(p.W).join() === Array.from(p0[k].W).join(), `param ${k}`).toBe(frozen);
      if (frozen) expect(opt[k].W.m.every((v) => v === 0)).toBe(true);
    });
    expect(state[0]).toEqual(s0[0]);
    expect(state[1]).not.toEqual(s0[1]);
  });

  it('refuses a frozen layer that reads a trainable one', () => {
    const rows = 2;
    const { model, params, state, x, y } = setup(rows);
    const mode = { seed: 0, step: 0, frozen: [1] };
    expect(() => seqGradients(model, params, state, x, y, rows, mode)).toThrow(ConfigError);
    expect(() => seqGradients(model, params, state, x, y, rows, mode)).toThrow(
      /layer 1 is frozen but reads layer 0/,
    );
  });
});
