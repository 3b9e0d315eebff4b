// The join layers of graph models (src/kernels/join.ts):
//   add     forward  Z = X0 + X1 (+ X2 ...), A = act(Z)
//           gradient each input's producer gets dOut times its own act' (the plan may skip the
//           copy and hand dOut's buffer on when that producer has no activation and no other reader)
//   concat  forward  each input copied into its channel slice of Z
//           gradient each input's producer gets its channel slice of dOut times its act'
// Neither has a backward dispatch of its own: the plan asks joinGrad for each input once the
// producer's other readers are done, so that a tensor with several readers sums their gradients.

import { prepareActivationForward } from '../../kernels/activations.js';
import type { Dispatch } from '../../kernels/common.js';
import { prepareAddForward, prepareJoinCopy } from '../../kernels/join.js';
import type { JoinGradTarget, LayerDispatches, LayerIO, LayerModule, PlanContext } from './types.js';

async function addForward(ctx: PlanContext, io: LayerIO): Promise<Dispatch[]> {
  const { layer } = io;
  const count = ctx.B * layer.outSize;
  const n = io.inputs.length;
  // Two inputs: one fused dispatch. More: sum into Z, then the activation.
  const out: Dispatch[] = [
    await prepareAddForward(ctx.env, {
      count,
      x0: io.inputs[0],
      x1: io.inputs[1],
      z: io.z,
      a: io.a,
      activation: n === 2 ? layer.activation : 'identity',
      alpha: layer.alpha,
      standIn: ctx.dummies.write,
    }),
  ];
  for (let k = 2; k < n; k++) {
    const flat = { rows: 1, cols: count, srcStride: count, srcOffset: 0, dstStride: count, dstOffset: 0 };
    out.push(await prepareJoinCopy(ctx.env, { ...flat, src: io.inputs[k], dst: io.z, accumulate: true }));
  }
  if (n > 2 && layer.activation !== 'identity') {
    out.push(
      await prepareActivationForward(ctx.env, {
        activation: layer.activation,
        alpha: layer.alpha,
        rows: ctx.B,
        cols: layer.outSize,
        z: io.z,
        out: io.a,
      }),
    );
  }
  return out;
}

async function prepareAdd(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const forward = await addForward(ctx, io);
  return { forward, forwardEval: forward, backward: [] };
}

function addGrad(ctx: PlanContext, io: LayerIO, t: JoinGradTarget): Promise<Dispatch> {
  const count = ctx.B * io.layer.outSize;
  return prepareJoinCopy(ctx.env, {
    rows: 1,
    cols: count,
    src: io.dOut,
    srcStride: count,
    srcOffset: 0,
    dst: t.dX,
    dstStride: count,
    dstOffset: 0,
    accumulate: t.accumulate,
    activation: t.activation,
    alpha: t.alpha,
    aux: t.aux,
  });
}

/** Channel offset of input k in concat's output, and the channels of the output and of input k. */
function slice(io: LayerIO, k: number): { offset: number; cols: number; total: number; rows: number } {
  const channels = (s: readonly number[]) => s[s.length - 1];
  const { inShapes, outShape } = io.layer;
  let offset = 0;
  for (let j = 0; j < k; j++) offset += channels(inShapes[j]);
  const total = channels(outShape);
  return { offset, cols: channels(inShapes[k]), total, rows: io.layer.outSize / total };
}

async function prepareConcat(ctx: PlanContext, io: LayerIO): Promise<LayerDispatches> {
  const forward: Dispatch[] = [];
  for (let k = 0; k < io.inputs.length; k++) {
    const s = slice(io, k);
    forward.push(
      await prepareJoinCopy(ctx.env, {
        rows: ctx.B * s.rows,
        cols: s.cols,
        src: io.inputs[k],
        srcStride: s.cols,
        srcOffset: 0,
        dst: io.z,
        dstStride: s.total,
        dstOffset: s.offset,
        accumulate: false,
      }),
    );
  }
  return { forward, forwardEval: forward, backward: [] };
}

function concatGrad(ctx: PlanContext, io: LayerIO, t: JoinGradTarget): Promise<Dispatch> {
  const s = slice(io, t.k);
  return prepareJoinCopy(ctx.env, {
    rows: ctx.B * s.rows,
    cols: s.cols,
    src: io.dOut,
    srcStride: s.total,
    srcOffset: s.offset,
    dst: t.dX,
    dstStride: s.cols,
    dstOffset: 0,
    accumulate: t.accumulate,
    activation: t.activation,
    alpha: t.alpha,
    aux: t.aux,
  });
}

export const addLayer: LayerModule = { prepare: prepareAdd, joinGrad: addGrad };
export const concatLayer: LayerModule = { prepare: prepareConcat, joinGrad: concatGrad };
