// Layers without parameters that keep or flatten the shape.
//   dropout  same shape: training keeps each element with probability 1 - rate and scales it by
//            1 / (1 - rate); the mask is counterHash(seed, layer, step, element) (src/rng.ts), so the
//            GPU and the CPU reference draw the same mask. Evaluation: the identity.
//   flatten  [H,W,C] -> [H*W*C] in NHWC order (no data moves). A dense layer after it is stored in
//            model files with its columns permuted to PyTorch's NCHW flatten order.

import type { DropoutSpec } from '../layer-types.js';
import type { LayerKind } from './kind.js';

export const dropout: LayerKind = {
  type: 'dropout',
  fields: ['rate'],
  hasModes: true,
  resolve(raw, r, ctx) {
    const s = raw as DropoutSpec;
    if (typeof s.rate !== 'number' || !(s.rate >= 0 && s.rate < 1))
      ctx.bad(`rate must be in [0, 1), got ${String(s.rate)}.`);
    r.rate = s.rate;
  },
  describe: (l) => `dropout ${l.rate}`,
};

export const flatten: LayerKind = {
  type: 'flatten',
  fields: [],
  resolve(_raw, r, ctx) {
    r.outShape = [ctx.inSize];
  },
  describe: () => 'flatten',
};
