// Batch norm per channel (the last axis) over B*S rows, S = spatial positions per sample
// (src/kernels/batchnorm.ts):
//   forward (training)  batch mean / biased variance of the ACTIVE rows, saved for backward;
//                       Z = gamma (X - mean) invStd + beta, A = act(Z); running stats updated
//   forward (eval)      the running statistics, nothing updated
//   backward            dGamma, dBeta, and dIn through the batch statistics, times act'(inputZ);
//                       padding rows of a partial batch get a zero gradient
// gamma/beta are parameters (W and b of the layer); running mean/var are plan-external state.

import { prepareBatchNormBackward, prepareBatchNormForward } from '../../kernels/batchnorm.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function prepare(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const B = ctx.B;
  const C = layer.param!.units;
  const S = layer.inSize / C;
  const mean = ctx.alloc(C, `L${layer.index}-bn-mean`);
  const invStd = ctx.alloc(C, `L${layer.index}-bn-invstd`);
  const common = {
    B,
    S,
    C,
    x: io.input,
    gamma: io.W!,
    beta: io.b!,
    z: io.z,
    a: io.a,
    activation: layer.activation,
    alpha: layer.alpha,
    epsilon: layer.epsilon!,
    momentum: layer.momentum!,
    mean,
    invStd,
    runningMean: io.runningMean!,
    runningVar: io.runningVar!,
    stepParams: ctx.stepParams,
  };
  const forward = await prepareBatchNormForward(ctx.env, { ...common, training: true });
  const forwardEval = await prepareBatchNormForward(ctx.env, { ...common, training: false });
  if (ctx.inference) return { forward, forwardEval, backward: [] };
  // A first-layer batch norm still needs dGamma/dBeta; its input gradient goes nowhere.
  const dX = io.dIn ?? ctx.alloc(B * layer.inSize, `L${layer.index}-bn-dx-unused`);
  const backward = await prepareBatchNormBackward(ctx.env, {
    B,
    S,
    C,
    x: io.input,
    dZ: io.dOut,
    gamma: io.W!,
    mean,
    invStd,
    dX,
    dGamma: io.dW!,
    dBeta: io.db!,
    activation: io.dIn ? io.inputAct : 'identity',
    alpha: io.inputAlpha,
    aux: io.dIn ? io.inputZ : undefined,
    stepParams: ctx.stepParams,
  });
  return { forward, forwardEval, backward };
}

export const batchNormLayer: LayerModule = { prepare, halfPrecision: true };
