// batchnorm [H,W,C] or [F], per channel (the last axis): Z = gamma * (X - mu) / sqrt(var + eps) +
// beta, A = act(Z). Training uses the batch's mean and biased variance, and the running averages
// move as PyTorch's do: r = (1 - momentum) r + momentum * batch (the running variance takes the
// unbiased batch variance). Evaluation uses the running averages.

import type { BatchNormSpec } from '../layer-types.js';
import { activationSuffix, type LayerKind } from './kind.js';

export const batchnorm: LayerKind = {
  type: 'batchnorm',
  fields: ['momentum', 'epsilon', 'activation', 'alpha'],
  hasModes: true,
  resolve(raw, r, ctx) {
    const s = raw as BatchNormSpec;
    const momentum = s.momentum ?? 0.1;
    const epsilon = s.epsilon ?? 1e-5;
    if (!(momentum >= 0 && momentum <= 1))
      ctx.bad(`momentum must be in [0, 1] (PyTorch's convention), got ${momentum}.`);
    if (!(epsilon > 0 && Number.isFinite(epsilon)))
      ctx.bad(`epsilon must be a positive number, got ${epsilon}.`);
    [r.activation, r.alpha] = ctx.activationOf(s);
    r.momentum = momentum;
    r.epsilon = epsilon;
    const C = ctx.shape[ctx.shape.length - 1];
    const W = ctx.take(C);
    const b = ctx.take(C);
    r.param = { layer: ctx.index, type: 'batchnorm', W, b, shape: [C], fanIn: 1, fanOut: 1, units: C };
    r.state = ctx.takeState(C);
    r.macs = ctx.inSize * 2;
  },
  describe: (l) => `batchnorm${activationSuffix(l)}`,
};
