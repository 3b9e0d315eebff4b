// Which conv2d algorithm each layer shape and form runs: the tuner's measured choice on this
// adapter (src/engine/conv-tune.ts), or one fixed kind. Either way the GEMM inside uses the
// matmul variant the matmul tuning picked for the equivalent product shape, and im2col is never
// used where its column buffer would exceed one storage binding.

import { convScratchLength, type ConvAlgo } from '../kernels/conv.js';
import type { KernelEnv } from '../kernels/common.js';
import type { GpuDevice } from '../gpu/device.js';
import { variantFor, type MatmulTuning } from './tune.js';
import type { ConvGeometry } from '../nn/layers.js';
import { chooseConvAlgo } from './conv-tune.js';
import type { ConvForm } from './layers/types.js';

export function convAlgoPicker(
  env: KernelEnv,
  gpu: GpuDevice,
  tuning: MatmulTuning,
  choice: 'tuned' | 'im2col' | 'implicit' = 'tuned',
): (g: ConvGeometry, B: number, form: ConvForm) => Promise<ConvAlgo> {
  return async (g, B, form) => {
    if (choice === 'tuned') return chooseConvAlgo(env, gpu.report, g, B, form, tuning);
    const M = B * g.OH * g.OW;
    const K = g.KH * g.KW * g.C;
    const variant = variantFor(tuning, form, M, K, g.F);
    const algo: ConvAlgo = { kind: choice, variant };
    const limit = env.device.limits.maxStorageBufferBindingSize / 4;
    if (choice === 'im2col' && convScratchLength(form, B, g, algo) > limit)
      return { kind: 'implicit', variant };
    return algo;
  };
}
