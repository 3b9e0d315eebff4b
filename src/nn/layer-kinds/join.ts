// The layers that join two or more inputs (graph models, src/nn/graph.ts).
//   add     [..S] x k -> [..S]           Z = X_1 + ... + X_k, A = act(Z) (a residual join)
//   concat  [..., C_i] x k -> [..., sum C_i]   along the last (channel) axis, in `inputs` order
// A projection on a skip path is an ordinary 1x1 conv layer in the graph, not part of `add`.

import type { AddSpec } from '../layer-types.js';
import { activationSuffix, type LayerKind } from './kind.js';

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

export const add: LayerKind = {
  type: 'add',
  fields: ['activation', 'alpha'],
  joins: true,
  resolve(raw, r, ctx) {
    const first = ctx.shapes[0];
    ctx.shapes.forEach((s, k) => {
      if (s.length !== first.length || s.some((d, j) => d !== first[j]))
        ctx.bad(
          `cannot add input ${k} ${shapeText(s)} to input 0 ${shapeText(first)}; every input needs the same shape (put a 1x1 conv with the right filters and stride on the skip path).`,
        );
    });
    [r.activation, r.alpha] = ctx.activationOf(raw as AddSpec);
    r.macs = ctx.inSize * (ctx.shapes.length - 1);
  },
  describe: (l) => `add ${l.inputs.length}${activationSuffix(l)}`,
};

export const concat: LayerKind = {
  type: 'concat',
  fields: [],
  joins: true,
  resolve(_raw, r, ctx) {
    const first = ctx.shapes[0];
    ctx.shapes.forEach((s, k) => {
      const lead = s.slice(0, -1);
      if (s.length !== first.length || lead.some((d, j) => d !== first[j]))
        ctx.bad(
          `cannot concat input ${k} ${shapeText(s)} with input 0 ${shapeText(first)}; all axes but the last (channels) must agree.`,
        );
    });
    const channels = ctx.shapes.reduce((n, s) => n + s[s.length - 1], 0);
    r.outShape = [...first.slice(0, -1), channels];
    r.inSize = ctx.shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  },
  describe: (l) => `concat ${l.inputs.length} -> ${l.outShape[l.outShape.length - 1]}`,
};
