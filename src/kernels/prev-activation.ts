// The previous layer's activation derivative, fused into an input-gradient kernel (pool, batch
// norm, dropout): dX *= act'(aux), aux being the previous layer's pre-activation, shaped like dX.
// The shaders take it as the ACT/ALPHA overrides of shaders/activation_fns.wgsl, as matmul's
// EPILOGUE 2 does. With identity the kernel never reads aux, but the binding is still part of its
// layout, so a read-only buffer the dispatch already reads stands in.

import { ShapeError } from '../errors.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import { requireLength, type TensorView } from './common.js';

export interface PrevActivation {
  /** Default identity (no aux needed). */
  activation?: Activation;
  /** leaky_relu slope (default 0.01). */
  alpha?: number;
  /** The previous layer's pre-activation, shaped like dX; required unless activation is identity. */
  aux?: TensorView;
}

/** Overrides and the aux binding (or `stand` in its place) for `count` elements of dX. */
export function prevActivation(
  op: string,
  prev: PrevActivation,
  count: number,
  stand: TensorView,
): { constants: { ACT: number; ALPHA: number }; aux: TensorView } {
  const act = prev.activation ?? 'identity';
  if (act === 'softmax') {
    throw new ShapeError(`${op}: softmax is only an output activation; a hidden layer cannot use it.`);
  }
  let aux = stand;
  if (act !== 'identity') {
    if (!prev.aux) {
      throw new ShapeError(`${op}: the previous activation '${act}' needs aux (its pre-activation Z).`);
    }
    requireLength(prev.aux, count, `${op} aux`);
    aux = prev.aux;
  }
  return { constants: { ACT: ACTIVATION_IDS[act], ALPHA: prev.alpha ?? 0.01 }, aux };
}
