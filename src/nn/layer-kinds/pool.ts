// maxpool2d / avgpool2d [H,W,C] -> [OH,OW,C]: window max (ties: the first in row-major window order)
// or mean, the stride defaulting to the window size. padding p (PyTorch's, symmetric: PH rows on top
// and bottom, PW columns left and right, at most half the window) gives
// OH = floor((H + 2*PH - KH) / SH) + 1 (ceil_mode false). Padded cells never win a max (as -inf)
// and count as zeros in a mean, which still divides by KH*KW (PyTorch's count_include_pad=True).
// globalavgpool [H,W,C] -> [C]: the mean over H and W (a pool whose window is the whole map).

import type { Pool2dSpec } from '../layer-types.js';
import { windowText, type LayerKind, type ResolveContext } from './kind.js';

/** [PH, PW] of a spec: non-negative integers, each at most half its window side (PyTorch's rule). */
function paddingOf(s: Pool2dSpec, KH: number, KW: number, ctx: ResolveContext): [number, number] {
  const p = s.padding ?? 0;
  const pair = typeof p === 'number' ? [p, p] : p;
  const ok = Array.isArray(pair) && pair.length === 2 && pair.every((v) => Number.isInteger(v) && v >= 0);
  if (!ok) ctx.bad(`padding must be a non-negative integer or [ph, pw], got ${JSON.stringify(p)}.`);
  const [PH, PW] = pair as [number, number];
  if (2 * PH > KH || 2 * PW > KW)
    ctx.bad(
      `padding ${PH === PW ? PH : `[${PH}, ${PW}]`} must be at most half the ${KH}x${KW} window (PyTorch's rule); use a smaller padding or a larger window.`,
    );
  return [PH, PW];
}

function windowPool(type: 'maxpool2d' | 'avgpool2d'): LayerKind {
  return {
    type,
    fields: ['size', 'stride', 'padding'],
    resolve(raw, r, ctx) {
      const s = raw as Pool2dSpec;
      const [H, W, C] = ctx.needMap(type);
      const [KH, KW] = ctx.pairOf(s.size, 'size');
      const [SH, SW] = ctx.pairOf(s.stride ?? s.size, 'stride');
      const [PH, PW] = paddingOf(s, KH, KW, ctx);
      if (KH > H + 2 * PH || KW > W + 2 * PW)
        ctx.bad(
          `a ${KH}x${KW} window does not fit the ${H}x${W} input map${PH + PW > 0 ? ` padded by ${PH}x${PW}` : ''}; use a smaller window or remove a pooling layer before it.`,
        );
      const OH = Math.floor((H + 2 * PH - KH) / SH) + 1;
      const OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
      // An unpadded pool leaves PH and PW absent, as before padding existed.
      r.pool = { H, W, C, KH, KW, SH, SW, ...(PH + PW > 0 ? { PH, PW } : {}), OH, OW };
      r.outShape = [OH, OW, C];
      r.macs = OH * OW * C * KH * KW;
    },
    describe(l) {
      const { KH, KW, SH, SW, PH = 0, PW = 0 } = l.pool!;
      const pad = PH + PW === 0 ? '' : ` pad ${PH === PW ? PH : `${PH}x${PW}`}`;
      return `${l.type} ${windowText(KH, KW, SH, SW)}${pad}`;
    },
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
