// The static plan for one model and one batch size: every buffer a training step touches and
// every dispatch, prepared once. Encoding a step then only records prepared dispatches.
//
// Step order (one compute pass):
//   [gather X, targets from the resident dataset]            (data.ts, owned by the trainer)
//   forward   l = 0..L-1:  Z_l, A_l = matmul_forward(A_{l-1}, W_l, b_l)   (softmax: + row kernel)
//   loss:     bce / softmax-ce on Z_L (logits), mse on A_L  -> dZ_L (or dA_L, then act backward)
//   accumulate (loss, correct, rows) into `acc`
//   backward  l = L-1..0:  dW_l = dZ_l^T A_{l-1};  db_l = colsum dZ_l;
//                          dZ_{l-1} = (dZ_l W_l) * act'_{l-1}(Z_{l-1})  (fused epilogue)
//   [clip: global norm -> scale]   optimizer: one dispatch over the flat parameters

import { USAGE } from '../gpu/buffers.js';
import { prepareActivationBackward, prepareActivationForward } from '../kernels/activations.js';
import { encodeDispatch, view, type Dispatch, type KernelEnv, type TensorView } from '../kernels/common.js';
import { prepareLoss, type LossDispatch } from '../kernels/losses.js';
import {
  matmulScratchLength,
  prepareMatmulSteps,
  type MatmulArgs,
  type MatmulForm,
  type MatmulVariant,
} from '../kernels/matmul.js';
import { prepareOptimizer, type OptimizerDispatch } from '../kernels/optim.js';
import { CLIP_PARTIALS, prepareBiasGrad, prepareClip, prepareLossAccumulate } from '../kernels/reduce.js';
import type { ModelSpec, ParamLayout } from '../nn/model.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';

export interface ModelBuffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  m?: GPUBuffer;
  v?: GPUBuffer;
  layout: ParamLayout;
}

export interface Plan {
  B: number;
  x: TensorView;
  /** labels u32 [B] for softmax-ce, else f32 [B, outputs]. */
  targets: TensorView;
  /** Final outputs after the last activation, [B, outputs]. */
  output: TensorView;
  acc: TensorView;
  evalAcc: TensorView;
  /** Forward pass up to the logits (and A for non-softmax outputs). */
  forward: Dispatch[];
  /** Row softmax of the last layer into `output`, when the last activation is softmax. */
  outputSoftmax: Dispatch[];
  loss: LossDispatch;
  lossBackward: Dispatch[];
  accumulate: Dispatch;
  evalAccumulate: Dispatch;
  backward: Dispatch[];
  update: Dispatch[];
  optimizer: OptimizerDispatch;
  buffers: GPUBuffer[];
  /** Which data feed last wrote X and the targets (the trainer skips re-gathering the same batch). */
  inputsFrom?: object;
}

export function encodeAll(pass: GPUComputePassEncoder, list: readonly Dispatch[]): void {
  for (const d of list) encodeDispatch(pass, d);
}

export async function buildPlan(
  env: KernelEnv,
  spec: ModelSpec,
  model: ModelBuffers,
  opt: ResolvedOptimizer,
  B: number,
  pick: (form: MatmulForm, B: number, K: number, N: number) => MatmulVariant,
  dummies: { read: GPUBuffer; write: GPUBuffer },
): Promise<Plan> {
  const owned: GPUBuffer[] = [];
  const alloc = (n: number, label: string): TensorView => {
    const b = env.pool.acquire(n * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, label);
    owned.push(b);
    return view(b, n);
  };
  const L = spec.layers.length;
  const outputs = spec.layers[L - 1].units;
  const lay = model.layout.layers;
  const W = (l: number) => view(model.params, lay[l].W.length, lay[l].W.offset * 4);
  const bias = (l: number) => view(model.params, lay[l].b.length, lay[l].b.offset * 4);
  const dW = (l: number) => view(model.grads, lay[l].W.length, lay[l].W.offset * 4);
  const db = (l: number) => view(model.grads, lay[l].b.length, lay[l].b.offset * 4);

  const x = alloc(B * spec.inputSize, 'X');
  const Z = spec.layers.map((l, i) => alloc(B * l.units, `Z${i}`));
  const A = spec.layers.map((l, i) => alloc(B * l.units, `A${i}`));
  const dZ = spec.layers.map((l, i) => alloc(B * l.units, `dZ${i}`));
  const targets = alloc(spec.loss === 'softmax-ce' ? B : B * outputs, 'targets');
  const stats = alloc(B * 3, 'stats');
  const acc = alloc(4, 'acc');
  const evalAcc = alloc(4, 'eval-acc');
  const input = (l: number) => (l === 0 ? x : A[l - 1]);
  // Every matmul goes through here: it picks the tuned variant for the shape and gives split-K
  // variants a scratch buffer of their own (one or two dispatches).
  const matmul = async (args: Omit<MatmulArgs, 'variant' | 'dummies' | 'scratch'>) => {
    const variant = pick(args.form, args.B, args.K, args.N);
    const need = matmulScratchLength(args.form, args.B, args.K, args.N, variant);
    const scratch = need > 0 ? alloc(need, `matmul-scratch-${args.form}`) : undefined;
    return prepareMatmulSteps(env, { ...args, variant, dummies, scratch });
  };

  const forward: Dispatch[] = [];
  // The final softmax (probabilities) is only needed by predict and by an MSE loss: softmax
  // cross-entropy works on the logits, so training and evaluation skip it.
  const outputSoftmax: Dispatch[] = [];
  for (let l = 0; l < L; l++) {
    const layer = spec.layers[l];
    const softmax = layer.activation === 'softmax';
    forward.push(
      ...(await matmul({
        form: 'forward',
        lhs: input(l),
        rhs: W(l),
        bias: bias(l),
        B,
        K: lay[l].fanIn,
        N: layer.units,
        out: Z[l],
        outA: A[l],
        activation: softmax ? 'identity' : layer.activation,
        alpha: layer.alpha,
      })),
    );
    if (softmax) {
      outputSoftmax.push(
        await prepareActivationForward(env, {
          activation: 'softmax',
          rows: B,
          cols: layer.units,
          z: Z[l],
          out: A[l],
        }),
      );
    }
  }

  const last = spec.layers[L - 1];
  const lossOnLogits = spec.loss !== 'mse';
  const mseNeedsAct = spec.loss === 'mse' && last.activation !== 'identity';
  const dA = mseNeedsAct ? alloc(B * outputs, 'dA-out') : dZ[L - 1];
  const loss = await prepareLoss(env, {
    loss: spec.loss,
    B,
    N: outputs,
    outputs: lossOnLogits ? Z[L - 1] : A[L - 1],
    targets,
    grad: dA,
    stats,
  });
  const lossBackward: Dispatch[] = [];
  if (mseNeedsAct) {
    lossBackward.push(
      await prepareActivationBackward(env, {
        activation: last.activation,
        alpha: last.alpha,
        rows: B,
        cols: outputs,
        // softmax backward wants S = softmax(Z); the others want Z.
        z: last.activation === 'softmax' ? A[L - 1] : Z[L - 1],
        dA,
        out: dZ[L - 1],
      }),
    );
  }
  const accumulate = await prepareLossAccumulate(env, { B, stats, acc });
  const evalAccumulate = await prepareLossAccumulate(env, { B, stats, acc: evalAcc });

  const backward: Dispatch[] = [];
  for (let l = L - 1; l >= 0; l--) {
    const N = spec.layers[l].units;
    const K = lay[l].fanIn;
    backward.push(...(await matmul({ form: 'weightGrad', lhs: dZ[l], rhs: input(l), B, K, N, out: dW(l) })));
    backward.push(await prepareBiasGrad(env, { B, N, dZ: dZ[l], db: db(l) }));
    if (l > 0) {
      const prev = spec.layers[l - 1];
      backward.push(
        ...(await matmul({
          form: 'inputGrad',
          lhs: dZ[l],
          rhs: W(l),
          B,
          K,
          N,
          out: dZ[l - 1],
          activation: prev.activation,
          alpha: prev.alpha,
          aux: Z[l - 1],
        })),
      );
    }
  }

  const P = model.layout.size;
  const update: Dispatch[] = [];
  let clip: TensorView | undefined;
  if (opt.maxNorm !== undefined) {
    const partials = alloc(CLIP_PARTIALS, 'clip-partials');
    clip = alloc(2, 'clip-scale');
    update.push(
      ...(await prepareClip(env, {
        grads: view(model.grads, P),
        maxNorm: opt.maxNorm,
        partials,
        scale: clip,
      })),
    );
  }
  const optimizer = await prepareOptimizer(env, {
    opt,
    params: view(model.params, P),
    grads: view(model.grads, P),
    m: model.m ? view(model.m, P) : undefined,
    v: model.v ? view(model.v, P) : undefined,
    clip,
  });
  update.push(optimizer);

  return {
    B,
    x,
    targets,
    output: A[L - 1],
    acc,
    evalAcc,
    forward: spec.loss === 'mse' ? [...forward, ...outputSoftmax] : forward,
    outputSoftmax: spec.loss === 'mse' ? [] : outputSoftmax,
    loss,
    lossBackward,
    accumulate,
    evalAccumulate,
    backward,
    update,
    optimizer,
    buffers: owned,
  };
}
