// layernorm [..., C] -> [..., C]: per position, over the last axis (a dense layer's features, a
// map's channels): Z = gamma * (X - mean) / sqrt(var + eps) + beta with the biased variance,
// A = act(Z). gamma and beta have C entries (nn.LayerNorm(C) on channels-last tensors). Training
// and evaluation are the same.

import type { LayerNormSpec } from '../layer-types.js';
import { activationSuffix, type LayerKind } from './kind.js';

export const layernorm: LayerKind = {
  type: 'layernorm',
  fields: ['epsilon', 'activation', 'alpha'],
  resolve(raw, r, ctx) {
    const s = raw as LayerNormSpec;
    const epsilon = s.epsilon ?? 1e-5;
    if (!(typeof epsilon === 'number' && epsilon > 0 && Number.isFinite(epsilon)))
      ctx.bad(`epsilon must be a positive number, got ${String(epsilon)}.`);
    [r.activation, r.alpha] = ctx.activationOf(s);
    r.epsilon = epsilon;
    const C = ctx.shape[ctx.shape.length - 1];
    const W = ctx.take(C);
    const b = ctx.take(C);
    r.param = { layer: ctx.index, type: 'layernorm', W, b, shape: [C], fanIn: 1, fanOut: 1, units: C };
    r.macs = ctx.inSize * 4;
  },
  describe: (l) => `layernorm${activationSuffix(l)}`,
};
