// dense [F] -> [units]: Z = X W^T + b, A = act(Z); W [units, F] (nn.Linear's layout).

import type { DenseSpec } from '../layer-types.js';
import { activationSuffix, type LayerKind } from './kind.js';

export const dense: LayerKind = {
  type: 'dense',
  fields: ['units', 'activation', 'alpha'],
  resolve(raw, r, ctx) {
    const s = raw as DenseSpec;
    const units = ctx.posInt(s.units, 'units');
    if (ctx.shape.length !== 1)
      ctx.bad(
        `its input is the map [${ctx.shape.join(', ')}]; add a 'flatten' or 'globalavgpool' layer before it.`,
      );
    [r.activation, r.alpha] = ctx.activationOf(s);
    r.outShape = [units];
    const W = ctx.take(units * ctx.inSize);
    const b = ctx.take(units);
    r.param = {
      layer: ctx.index,
      type: 'dense',
      W,
      b,
      shape: [units, ctx.inSize],
      fanIn: ctx.inSize,
      fanOut: units,
      units,
    };
    r.macs = units * ctx.inSize;
  },
  describe: (l) => `dense ${l.outShape[0]}${activationSuffix(l)}`,
};
