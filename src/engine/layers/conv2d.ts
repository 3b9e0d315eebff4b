// conv2d: Z[B,OH,OW,F] = conv(X[B,H,W,C], W[F,KH,KW,C]) + b, A = act(Z) (src/kernels/conv.ts).
//   forward    one GEMM-shaped conv (im2col + matmul, or implicit GEMM: chosen per adapter and
//              shape by measurement), bias and activation fused
//   backward   dW = dZ^T col(X);  db = colsum dZ (as [B*OH*OW, F]);
//              dIn = conv^T(dZ, W) * act'(inputZ)  (fused)
// Every form may use the plan's shared scratch; none needs it to survive its own dispatches.
// Grouped and depthwise convs (G > 1) run the direct kernels of src/kernels/conv-grouped.ts
// instead (no tuner: its GEMM candidates know no groups); their weight grad's partial sums use
// the scratch, db is the same column sum.

import {
  convScratchLength,
  prepareConvForward,
  prepareConvInputGrad,
  prepareConvWeightGrad,
} from '../../kernels/conv.js';
import {
  groupedConvScratchLength,
  prepareGroupedConvForward,
  prepareGroupedConvInputGrad,
  prepareGroupedConvWeightGrad,
} from '../../kernels/conv-grouped.js';
import { biasGradPartialsLength, prepareBiasGradSteps } from '../../kernels/reduce.js';
import type { Dispatch } from '../../kernels/common.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function scratchLength(ctx: PlanContext, io: LayerIO): Promise<number> {
  const g = io.layer.conv!;
  // The grouped kernels' scratch is the weight gradient's partial sums.
  if ((g.G ?? 1) > 1) return ctx.inference ? 0 : groupedConvScratchLength(ctx.B, g);
  let n = 0;
  for (const form of ['forward', 'weightGrad', 'inputGrad'] as const) {
    if (form !== 'forward' && ctx.inference) continue;
    if (form === 'inputGrad' && !io.dIn) continue;
    n = Math.max(n, convScratchLength(form, ctx.B, g, await ctx.pickConv(g, ctx.B, form)));
  }
  return n;
}

/** db = column sums of dZ over B*OH*OW rows, in two passes; the partials are the plan's. */
function convBiasGrad(ctx: PlanContext, rows: number, F: number, io: LayerIO): Promise<Dispatch[]> {
  const need = biasGradPartialsLength(rows, F);
  const partials = need > 0 ? ctx.alloc(need, 'bias-grad-partials') : undefined;
  return prepareBiasGradSteps(ctx.env, { B: rows, N: F, dZ: io.dOut, db: io.db!, partials });
}

/** A grouped conv's dispatches: direct kernels, bias and activations fused as on the GEMM path. */
async function prepareGrouped(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const g = layer.conv!;
  const B = ctx.B;
  const hasBias = (io.b?.length ?? 0) > 0;
  const forward = await prepareGroupedConvForward(ctx.env, {
    B,
    g,
    x: io.input,
    w: io.W!,
    bias: hasBias ? io.b! : null,
    z: io.z,
    a: io.a,
    activation: layer.activation,
    alpha: layer.alpha,
    dummies: ctx.dummies,
  });
  if (ctx.inference) return { forward, forwardEval: forward, backward: [] };
  const backward = await prepareGroupedConvWeightGrad(ctx.env, {
    B,
    g,
    x: io.input,
    dZ: io.dOut,
    dW: io.dW!,
    db: null,
    scratch: ctx.scratch(),
  });
  if (hasBias) backward.push(...(await convBiasGrad(ctx, B * g.OH * g.OW, g.F, io)));
  if (io.dIn) {
    backward.push(
      ...(await prepareGroupedConvInputGrad(ctx.env, {
        B,
        g,
        dZ: io.dOut,
        w: io.W!,
        dX: io.dIn,
        activation: io.inputAct,
        alpha: io.inputAlpha,
        aux: io.inputZ,
        dummies: ctx.dummies,
      })),
    );
  }
  return { forward, forwardEval: forward, backward };
}

async function prepare(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const g = layer.conv!;
  if ((g.G ?? 1) > 1) return prepareGrouped(ctx, io);
  const B = ctx.B;
  const hasBias = (io.b?.length ?? 0) > 0;
  const forward = await prepareConvForward(ctx.env, {
    B,
    g,
    x: io.input,
    w: io.W!,
    bias: hasBias ? io.b! : null,
    z: io.z,
    a: io.a,
    activation: layer.activation,
    alpha: layer.alpha,
    algo: await ctx.pickConv(g, B, 'forward'),
    scratch: ctx.scratch(),
    dummies: ctx.dummies,
  });
  if (ctx.inference) return { forward, forwardEval: forward, backward: [] };
  const backward: Dispatch[] = await prepareConvWeightGrad(ctx.env, {
    B,
    g,
    x: io.input,
    dZ: io.dOut,
    dW: io.dW!,
    db: null,
    algo: await ctx.pickConv(g, B, 'weightGrad'),
    scratch: ctx.scratch(),
    dummies: ctx.dummies,
  });
  if (hasBias) {
    backward.push(...(await convBiasGrad(ctx, B * g.OH * g.OW, g.F, io)));
  }
  if (io.dIn) {
    backward.push(
      ...(await prepareConvInputGrad(ctx.env, {
        B,
        g,
        dZ: io.dOut,
        w: io.W!,
        dX: io.dIn,
        activation: io.inputAct,
        alpha: io.inputAlpha,
        aux: io.inputZ,
        algo: await ctx.pickConv(g, B, 'inputGrad'),
        scratch: ctx.scratch(),
        dummies: ctx.dummies,
      })),
    );
  }
  return { forward, forwardEval: forward, backward };
}

export const conv2dLayer: LayerModule = { scratchLength, prepare, halfPrecision: true };
