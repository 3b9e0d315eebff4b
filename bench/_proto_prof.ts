import { acquireGpu } from '../src/gpu/device.js';
import { convCandidate } from '../src/engine/conv-tune.js';
import { createKernelEnv } from '../src/kernels/env.js';
import { view } from '../src/kernels/common.js';
import { USAGE } from '../src/gpu/buffers.js';
import { prepareConvWeightGrad, prepareConvForward, prepareConvInputGrad, convScratchLength } from '../src/kernels/conv.js';
import { variantName, type MatmulForm, type MatmulVariant } from '../src/kernels/matmul.js';
import { chooseMatmulVariants } from '../src/engine/tune.js';
import { profileDispatches } from '../src/engine/profile.js';
import { resolveModel } from '../src/nn/layers.js';
const conv = (H: number, C: number, F: number, k = 3, padding: 'same' | 'valid' = 'same') =>
  resolveModel({ inputShape: [H, H, C], layers: [{ type: 'conv2d' as const, filters: F, kernelSize: k, padding }, { type: 'flatten' as const }, { units: 1 }], loss: 'mse' }).layers[0].conv!;
const gpu = await acquireGpu({ software: 'lavapipe' });
const env = createKernelEnv(gpu);
const tuning = await chooseMatmulVariants(env, gpu.report);
const LAYERS: Record<string, ReturnType<typeof conv>> = { D1: conv(32, 3, 32), D2: conv(16, 32, 64), D3: conv(8, 64, 128), E1: conv(28, 1, 6, 5), E2: conv(14, 6, 16, 5, 'valid') };
const [name, form, kind, ...vs] = process.argv.slice(2) as [string, MatmulForm, 'implicit' | 'im2col' | 'direct', ...string[]];
const g = LAYERS[name]; const B = 64;
const t = (n: number, fill = true) => { const b = env.pool.acquire(Math.max(4, n) * 4, USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC, 'p'); if (fill) { const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = Math.sin(i * 0.37); env.device.queue.writeBuffer(b, 0, d); } return view(b, Math.max(1, n)); };
const dummies = { read: t(4).buffer, write: t(4, false).buffer };
const xLen = B * g.H * g.W * g.C, zLen = B * g.OH * g.OW * g.F, wLen = g.F * g.KH * g.KW * g.C;
for (const vname of vs) {
  const [k, tm, split, wgy] = vname.split(':');
  const base = convCandidate(kind === 'direct' ? 'implicit' : kind, form, B, g, tuning);
  const variant: MatmulVariant = { ...base.variant, tm: Number(tm), splitK: Number(split), wgY: Number(wgy ?? base.variant.wgY) };
  const algo = { kind, variant };
  const sl = convScratchLength(form, B, g, algo);
  const scratch = sl > 0 ? t(sl, false) : undefined;
  const steps = form === 'forward' ? await prepareConvForward(env, { B, g, x: t(xLen), w: t(wLen), bias: t(g.F), z: t(zLen, false), a: t(zLen, false), activation: 'relu', algo, scratch, dummies })
    : form === 'weightGrad' ? await prepareConvWeightGrad(env, { B, g, x: t(xLen), dZ: t(zLen), dW: t(wLen, false), db: t(g.F, false), algo, scratch, dummies })
    : await prepareConvInputGrad(env, { B, g, dZ: t(zLen), w: t(wLen), dX: t(xLen, false), activation: 'relu', aux: t(xLen), algo, scratch, dummies });
  const best: number[] = [];
  for (let r = 0; r < 4; r++) { const times = await profileDispatches(env.device, env.pool, steps); times.forEach((x, i) => best[i] = r === 0 ? Infinity : Math.min(best[i], x.ms)); }
  console.log(name, form, kind, variantName(variant), steps.map((s, i) => `${s.label.replace('conv2d_', '')} ${JSON.stringify(s.workgroups)} ${best[i].toFixed(2)}`).join(' | '), 'total', best.reduce((a, b) => a + b, 0).toFixed(2));
}
gpu.destroy();
