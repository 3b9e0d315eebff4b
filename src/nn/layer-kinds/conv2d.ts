// conv2d [H,W,C] -> [OH,OW,F]: Z = conv(X, W) + b, A = act(Z); W [F, KH, KW, C/G] internally (model
// files hold PyTorch's [F, C/G, KH, KW]). groups G (PyTorch's) splits channels and filters into G
// parts, filter f seeing channels g*C/G .. (g+1)*C/G - 1 of its group g = floor(f / (F/G)); G = C
// is a depthwise conv. G = 1 leaves ConvGeometry.G absent, so an ungrouped conv resolves as before.
//
// OH = floor((H + padTop + padBottom - KH) / SH) + 1. 'same' pads so that OH = ceil(H / SH), the odd
// pixel of padding going to the bottom/right (TensorFlow's rule); 'valid' pads nothing; a number
// pads that many pixels on every side (PyTorch's padding=p).

import type { Conv2dSpec } from '../layer-types.js';
import { activationSuffix, windowText, type LayerKind, type ResolveContext } from './kind.js';

type Pads = [top: number, bottom: number, left: number, right: number];

function padsOf(s: Conv2dSpec, H: number, W: number, k: number[], st: number[], ctx: ResolveContext): Pads {
  const [KH, KW] = k;
  const [SH, SW] = st;
  const pad = s.padding ?? 'valid';
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') {
    const th = Math.max((Math.ceil(H / SH) - 1) * SH + KH - H, 0);
    const tw = Math.max((Math.ceil(W / SW) - 1) * SW + KW - W, 0);
    const pt = Math.floor(th / 2);
    const pl = Math.floor(tw / 2);
    return [pt, th - pt, pl, tw - pl];
  }
  if (Number.isInteger(pad) && pad >= 0) return [pad, pad, pad, pad];
  return ctx.bad(`padding must be 'same', 'valid' or a non-negative integer, got ${JSON.stringify(pad)}.`);
}

/** The groups of a spec: a positive integer dividing both the input channels and the filters. */
function groupsOf(s: Conv2dSpec, C: number, F: number, ctx: ResolveContext): number {
  if (s.groups === undefined) return 1;
  const G = ctx.posInt(s.groups, 'groups');
  if (C % G !== 0 || F % G !== 0) {
    ctx.bad(
      `groups ${G} must divide both the ${C} input channels and the ${F} filters; ` +
        `use a common divisor (groups ${C} with filters a multiple of ${C} is a depthwise conv).`,
    );
  }
  return G;
}

export const conv2d: LayerKind = {
  type: 'conv2d',
  fields: ['filters', 'kernelSize', 'stride', 'padding', 'bias', 'groups', 'activation', 'alpha'],
  resolve(raw, r, ctx) {
    const s = raw as Conv2dSpec;
    const [H, W, C] = ctx.needMap('conv2d');
    const F = ctx.posInt(s.filters, 'filters');
    const G = groupsOf(s, C, F, ctx);
    const Cg = C / G;
    const [KH, KW] = ctx.pairOf(s.kernelSize, 'kernelSize');
    const [SH, SW] = ctx.pairOf(s.stride ?? 1, 'stride');
    const [pt, pb, pl, pr] = padsOf(s, H, W, [KH, KW], [SH, SW], ctx);
    if (pt >= KH || pl >= KW || pb >= KH || pr >= KW)
      ctx.bad(`padding ${pt}/${pl} must be smaller than the kernel ${KH}x${KW} (a window of only padding).`);
    if (H + pt + pb < KH || W + pl + pr < KW)
      ctx.bad(
        `a ${KH}x${KW} kernel does not fit the ${H}x${W} input map; use padding 'same' or a smaller kernel.`,
      );
    const OH = Math.floor((H + pt + pb - KH) / SH) + 1;
    const OW = Math.floor((W + pl + pr - KW) / SW) + 1;
    if (s.bias !== undefined && typeof s.bias !== 'boolean') ctx.bad('bias must be true or false.');
    [r.activation, r.alpha] = ctx.activationOf(s);
    r.conv = { H, W, C, F, KH, KW, SH, SW, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr, OH, OW };
    if (G > 1) r.conv.G = G;
    r.outShape = [OH, OW, F];
    const Wt = ctx.take(F * KH * KW * Cg);
    const b = s.bias === false ? ctx.empty() : ctx.take(F);
    r.param = {
      layer: ctx.index,
      type: 'conv2d',
      W: Wt,
      b,
      shape: [F, KH, KW, Cg],
      // PyTorch's fans (nn.init on its [F, C/G, KH, KW] weight): fanIn = C/G*KH*KW, the inputs a
      // filter sees; fanOut = F*KH*KW, its first axis times the window, whatever the groups.
      fanIn: Cg * KH * KW,
      fanOut: F * KH * KW,
      units: F,
    };
    r.macs = OH * OW * F * KH * KW * Cg;
  },
  describe(l) {
    const c = l.conv!;
    const s = l.spec as Conv2dSpec;
    const pad = typeof s.padding === 'number' ? `pad ${s.padding}` : (s.padding ?? 'valid');
    const G = c.G ?? 1;
    const groups = G === 1 ? '' : G === c.C ? ' dw' : ` g${G}`;
    return `conv2d${groups} ${windowText(c.KH, c.KW, c.SH, c.SW)} ${pad}, ${c.F}${activationSuffix(l)}`;
  },
};
