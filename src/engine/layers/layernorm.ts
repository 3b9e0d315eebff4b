// Layer norm per position over the last axis C, rows = B*S (S = positions per sample)
// (src/kernels/layernorm.ts):
//   forward   per-row mean and invStd, saved for backward; Z = gamma (X - mean) invStd + beta,
//             A = act(Z). Training and evaluation run the same dispatch.
//   backward  dGamma, dBeta, and dIn through the row statistics, times act'(inputZ). The
//             padding rows of a partial batch arrive with dOut = 0 (as the loss writes it), so
//             they get dIn = 0 and add nothing to dGamma, dBeta. A first layer has no dIn and
//             skips that pass.
// gamma/beta are parameters (W and b of the layer); there is no running state.

import {
  layerNormPartialLength,
  prepareLayerNormBackward,
  prepareLayerNormForward,
} from '../../kernels/layernorm.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function prepare(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const B = ctx.B;
  const C = layer.param!.units;
  const S = layer.inSize / C;
  const shape = { B, S, C };
  const mean = ctx.alloc(B * S, `L${layer.index}-ln-mean`);
  const invStd = ctx.alloc(B * S, `L${layer.index}-ln-invstd`);
  const forward = await prepareLayerNormForward(ctx.env, {
    ...shape,
    x: io.input,
    gamma: io.W!,
    beta: io.b!,
    z: io.z,
    a: io.a,
    activation: layer.activation,
    alpha: layer.alpha,
    epsilon: layer.epsilon!,
    mean,
    invStd,
  });
  if (ctx.inference) return { forward: [forward], forwardEval: [forward], backward: [] };
  const backward = await prepareLayerNormBackward(ctx.env, {
    ...shape,
    x: io.input,
    dZ: io.dOut,
    gamma: io.W!,
    mean,
    invStd,
    dX: io.dIn,
    dGamma: io.dW!,
    dBeta: io.db!,
    partial: ctx.alloc(layerNormPartialLength(B * S, C), `L${layer.index}-ln-partial`),
    activation: io.dIn ? io.inputAct : 'identity',
    alpha: io.inputAlpha,
    aux: io.dIn ? io.inputZ : undefined,
  });
  return { forward: [forward], forwardEval: [forward], backward };
}

export const layerNormLayer: LayerModule = { prepare };
