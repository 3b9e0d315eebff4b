// The one tensor type that both state-dict readers (.pth and .safetensors) return, and the dtype
// widening they share. The engine computes in f32, so every floating tensor comes out as F32
// (F16, BF16 and F64 are converted; `sourceDtype` keeps what the file held). Integer and bool
// tensors keep their dtype and storage: I64 (num_batches_tracked) stays a BigInt64Array, exactly
// as the file holds it; callers that want a number use Number(data[0]).

import { unpackHalf } from '../gpu/half.js';
import type { Dtype, TensorData } from './safetensors.js';

export interface StateDictTensor {
  /** F32 for every floating tensor; the file's dtype otherwise. */
  dtype: Dtype;
  shape: number[];
  /** Row-major, contiguous; may be a view into the file's bytes. */
  data: TensorData;
  /** The dtype the file stored (F16, BF16, F64 before widening). */
  sourceDtype: Dtype;
}

/** Tensor name -> tensor, in the file's order (the pickle's for .pth, the data's for .safetensors). */
export type StateDict = Map<string, StateDictTensor>;

/** Dtypes a state dict may hold; F8 and unsigned wide integers are refused by the readers. */
export const STATE_DICT_DTYPES: readonly Dtype[] = [
  'F32',
  'F16',
  'BF16',
  'F64',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
];

/** `data` of `dtype` as the engine holds it: floating tensors widened to a new Float32Array. */
export function toEngineTensor(dtype: Dtype, shape: number[], data: TensorData): StateDictTensor {
  switch (dtype) {
    case 'F16':
      return { dtype: 'F32', shape, data: unpackHalf(data as Uint16Array), sourceDtype: dtype };
    case 'BF16': {
      // bfloat16 is the top half of an f32: shifting the bits back up is exact.
      const bits = data as Uint16Array;
      const out = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
      return { dtype: 'F32', shape, data: new Float32Array(out.buffer), sourceDtype: dtype };
    }
    case 'F64':
      return { dtype: 'F32', shape, data: Float32Array.from(data as Float64Array), sourceDtype: dtype };
    default:
      return { dtype, shape, data, sourceDtype: dtype };
  }
}
