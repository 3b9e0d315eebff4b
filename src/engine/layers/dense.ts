// Dense layer: Z[B,N] = X[B,K] W^T + b, A = act(Z)  (W [N,K], nn.Linear's layout).
//   forward    one matmul (FORM forward) with the bias and activation fused
//   backward   dW = dZ^T X;  db = colsum dZ (in two passes on real GPUs: denseBiasChunk);
//              dIn = (dZ W) * act'(inputZ)  (fused epilogue)
// Split-K variants get a scratch buffer of their own per matmul (they are rare and small).

import { matmulScratchLength, prepareMatmulSteps, type MatmulArgs } from '../../kernels/matmul.js';
import { biasGradPartialsLength, prepareBiasGradSteps } from '../../kernels/reduce.js';
import type { Dispatch } from '../../kernels/common.js';
import type { LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function matmul(
  ctx: PlanContext,
  args: Omit<MatmulArgs, 'variant' | 'dummies' | 'scratch'>,
): Promise<Dispatch[]> {
  const variant = ctx.pickMatmul(args.form, args.B, args.K, args.N);
  const need = matmulScratchLength(args.form, args.B, args.K, args.N, variant);
  const scratch = need > 0 ? ctx.alloc(need, `matmul-scratch-${args.form}`) : undefined;
  return prepareMatmulSteps(ctx.env, { ...args, variant, dummies: ctx.dummies, scratch });
}

/** db = column sums of dZ: one pass, or partial sums over row chunks where the adapter wants them. */
function biasGrad(ctx: PlanContext, B: number, N: number, io: LayerIO): Promise<Dispatch[]> {
  const chunk = ctx.denseBiasChunk;
  const need = biasGradPartialsLength(B, N, chunk);
  const partials = need > 0 ? ctx.alloc(need, 'bias-grad-partials') : undefined;
  return prepareBiasGradSteps(ctx.env, { B, N, dZ: io.dOut, db: io.db!, chunk, partials });
}

async function prepare(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const { layer } = io;
  const B = ctx.B;
  const K = layer.inSize;
  const N = layer.outSize;
  const softmax = layer.activation === 'softmax';
  const forward = await matmul(ctx, {
    form: 'forward',
    lhs: io.input,
    rhs: io.W!,
    bias: io.b!,
    B,
    K,
    N,
    out: io.z,
    outA: io.a,
    // softmax is a row operation: the plan runs it separately (only predict and mse need it).
    activation: softmax ? 'identity' : layer.activation,
    alpha: layer.alpha,
  });
  if (ctx.inference) return { forward, forwardEval: forward, backward: [] };
  const backward: Dispatch[] = [
    ...(await matmul(ctx, { form: 'weightGrad', lhs: io.dOut, rhs: io.input, B, K, N, out: io.dW! })),
    ...(await biasGrad(ctx, B, N, io)),
  ];
  if (io.dIn) {
    backward.push(
      ...(await matmul(ctx, {
        form: 'inputGrad',
        lhs: io.dOut,
        rhs: io.W!,
        B,
        K,
        N,
        out: io.dIn,
        activation: io.inputAct,
        alpha: io.inputAlpha,
        aux: io.inputZ,
      })),
    );
  }
  return { forward, forwardEval: forward, backward };
}

export const denseLayer: LayerModule = { prepare, halfPrecision: true };
