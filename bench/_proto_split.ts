import { acquireGpu } from '../src/gpu/device.js';
import { convCandidate, convFlops, timeConv } from '../src/engine/conv-tune.js';
import { createKernelEnv } from '../src/kernels/env.js';
import { variantName, type MatmulForm } from '../src/kernels/matmul.js';
import { chooseMatmulVariants } from '../src/engine/tune.js';
import { resolveModel } from '../src/nn/layers.js';
const conv = (H: number, C: number, F: number, k = 3, padding: 'same' | 'valid' = 'same') =>
  resolveModel({ inputShape: [H, H, C], layers: [{ type: 'conv2d' as const, filters: F, kernelSize: k, padding }, { type: 'flatten' as const }, { units: 1 }], loss: 'mse' }).layers[0].conv!;
const gpu = await acquireGpu({ software: 'lavapipe' });
const env = createKernelEnv(gpu);
const tuning = await chooseMatmulVariants(env, gpu.report);
const L = [['E1', conv(28, 1, 6, 5)]] as const; const _X = [['D1', conv(32, 3, 32)], ['E1', conv(28, 1, 6, 5)], ['E2', conv(14, 6, 16, 5, 'valid')], ['D3', conv(8, 64, 128)]] as const;
const forms = (process.argv[2] ?? 'weightGrad').split(',') as MatmulForm[];
for (const [name, g] of L) for (const form of forms) {
  const base = convCandidate('implicit', form, 64, g, tuning);
  const out: string[] = [];
  for (const tm of [8, 16]) for (const s of [1, 2, 4, 8, 16, 32]) {
    const algo = { kind: 'implicit' as const, variant: { ...base.variant, tm, splitK: s } };
    const ms = await timeConv(env, form, 64, g, algo, { reps: 2, rounds: 3 });
    out.push(`${variantName(algo.variant)} ${ms.toFixed(2)}`);
  }
  console.log(name, form, out.join(' | '));
}
gpu.destroy();
