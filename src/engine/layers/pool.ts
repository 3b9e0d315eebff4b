// Pooling layers (src/kernels/pool.ts), NHWC:
//   maxpool2d      out = window max; forward records the winner so backward routes dOut to it
//   avgpool2d      out = window mean; backward spreads dOut / (KH*KW) over the window
//   (both with PyTorch's padding, carried by the layer's PoolGeometry as PH, PW)
//   globalavgpool  [B,H,W,C] -> [B,C] mean over H, W; backward spreads dOut / (H*W)
// Backward writes dIn = d/dX * act'(inputZ) (fused) and is skipped for a first layer.

import {
  prepareAvgPoolBackward,
  prepareAvgPoolForward,
  prepareGlobalAvgPoolBackward,
  prepareGlobalAvgPoolForward,
  prepareMaxPoolBackward,
  prepareMaxPoolForward,
} from '../../kernels/pool.js';
import type { Dispatch } from '../../kernels/common.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

function fused(io: LayerIO) {
  return { activation: io.inputAct, alpha: io.inputAlpha, aux: io.inputZ };
}

async function prepareMax(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const g = io.layer.pool!;
  const B = ctx.B;
  const argmax = ctx.alloc(B * io.layer.outSize, `L${io.layer.index}-argmax`);
  const forward = [await prepareMaxPoolForward(ctx.env, { B, g, x: io.input, out: io.z, argmax })];
  const backward: Dispatch[] = io.dIn
    ? [await prepareMaxPoolBackward(ctx.env, { B, g, dOut: io.dOut, argmax, dX: io.dIn, ...fused(io) })]
    : [];
  return { forward, forwardEval: forward, backward };
}

async function prepareAvg(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const g = io.layer.pool!;
  const B = ctx.B;
  const forward = [await prepareAvgPoolForward(ctx.env, { B, g, x: io.input, out: io.z })];
  const backward: Dispatch[] = io.dIn
    ? [await prepareAvgPoolBackward(ctx.env, { B, g, dOut: io.dOut, dX: io.dIn, ...fused(io) })]
    : [];
  return { forward, forwardEval: forward, backward };
}

async function prepareGlobal(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { H, W, C } = io.layer.pool!;
  const B = ctx.B;
  const forward = [await prepareGlobalAvgPoolForward(ctx.env, { B, H, W, C, x: io.input, out: io.z })];
  const backward: Dispatch[] = io.dIn
    ? [
        await prepareGlobalAvgPoolBackward(ctx.env, {
          B,
          H,
          W,
          C,
          dOut: io.dOut,
          dX: io.dIn,
          ...fused(io),
        }),
      ]
    : [];
  return { forward, forwardEval: forward, backward };
}

export const maxPoolLayer: LayerModule = { prepare: prepareMax, halfPrecision: true };
export const avgPoolLayer: LayerModule = { prepare: prepareAvg, halfPrecision: true };
export const globalAvgPoolLayer: LayerModule = { prepare: prepareGlobal, halfPrecision: true };
