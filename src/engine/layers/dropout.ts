// Dropout (src/kernels/dropout.ts): training keeps element e of the batch tensor when
// counterHash(seed, layer index, step, e) clears the rate's threshold and scales it by
// 1 / (1 - rate); the mask is never stored: backward draws it again from the same counter.
// Evaluation copies the input (the next layer's bindings stay the same in both modes).

import { prepareDropoutBackward, prepareDropoutForward } from '../../kernels/dropout.js';
import type { Dispatch } from '../../kernels/common.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function prepare(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const common = {
    B: ctx.B,
    size: layer.outSize,
    rate: layer.rate!,
    stream: layer.index,
    stepParams: ctx.stepParams,
  };
  const forward = [
    await prepareDropoutForward(ctx.env, { ...common, x: io.input, out: io.z, training: true }),
  ];
  const forwardEval = [
    await prepareDropoutForward(ctx.env, { ...common, x: io.input, out: io.z, training: false }),
  ];
  const backward: Dispatch[] = io.dIn
    ? [
        await prepareDropoutBackward(ctx.env, {
          ...common,
          dOut: io.dOut,
          dX: io.dIn,
          activation: io.inputAct,
          alpha: io.inputAlpha,
          aux: io.inputZ,
        }),
      ]
    : [];
  return { forward, forwardEval, backward };
}

export const dropoutLayer: LayerModule = { prepare, halfPrecision: true };
