// maxpool2d / avgpool2d [H,W,C] -> [OH,OW,C]: window max (ties: the first in row-major window order)
// or mean. Pools never pad: OH = floor((H - KH) / SH) + 1, the stride defaulting to the window size.
// globalavgpool [H,W,C] -> [C]: the mean over H and W (a pool whose window is the whole map).

import type { Pool2dSpec } from '../layer-types.js';
import { windowText, type LayerKind } from './kind.js';

function windowPool(type: 'maxpool2d' | 'avgpool2d'): LayerKind {
  return {
    type,
    fields: ['size', 'stride'],
    resolve(raw, r, ctx) {
      const s = raw as Pool2dSpec;
      const [H, W, C] = ctx.needMap(type);
      const [KH, KW] = ctx.pairOf(s.size, 'size');
      const [SH, SW] = ctx.pairOf(s.stride ?? s.size, 'stride');
      if (KH > H || KW > W)
        ctx.bad(
          `a ${KH}x${KW} window does not fit the ${H}x${W} input map; use a smaller window or remove a pooling layer before it.`,
        );
      const OH = Math.floor((H - KH) / SH) + 1;
      const OW = Math.floor((W - KW) / SW) + 1;
      r.pool = { H, W, C, KH, KW, SH, SW, OH, OW };
      r.outShape = [OH, OW, C];
      r.macs = OH * OW * C * KH * KW;
    },
    describe: (l) => `${l.type} ${windowText(l.pool!.KH, l.pool!.KW, l.pool!.SH, l.pool!.SW)}`,
  };
}

export const maxpool2d = windowPool('maxpool2d');
export const avgpool2d = windowPool('avgpool2d');

export const globalavgpool: LayerKind = {
  type: 'globalavgpool',
  fields: [],
  resolve(_raw, r, ctx) {
    const [H, W, C] = ctx.needMap('globalavgpool');
    r.pool = { H, W, C, KH: H, KW: W, SH: H, SW: W, OH: 1, OW: 1 };
    r.outShape = [C];
    r.macs = H * W * C;
  },
  describe: () => 'globalavgpool',
};
