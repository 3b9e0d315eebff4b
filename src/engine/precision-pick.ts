// precision 'auto': times a forward (evaluation mode: running statistics stay untouched) and
// backward pass of batch 64 in each precision, best of 5 after a warm-up, on whatever the buffers
// hold, and keeps the faster. Weights and optimizer state are not touched; the measuring plans
// are released.

import type { LossScaler } from '../kernels/amp.js';
import type { KernelEnv } from '../kernels/common.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import { buildPlan, encodeAll, type ModelBuffers, type PlanPickers } from './plan.js';

export async function fasterPrecision(
  env: KernelEnv,
  bufs: ModelBuffers,
  optimizer: ResolvedOptimizer,
  pickers: PlanPickers,
  dummies: { read: GPUBuffer; write: GPUBuffer },
  scaler: LossScaler | undefined,
): Promise<'f32' | 'f16'> {
  const B = 64;
  const device = env.device;
  const time = async (precision: 'f32' | 'f16'): Promise<number> => {
    const plan = await buildPlan(env, bufs, optimizer, B, pickers, dummies, {
      precision,
      scaler,
    });
    const list = [...plan.forwardEval, plan.loss, ...plan.lossBackward, ...plan.backward];
    let best = Infinity;
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeAll(pass, list);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (i > 0) best = Math.min(best, performance.now() - t0);
    }
    for (const b of plan.buffers) env.pool.release(b);
    return best;
  };
  const f32 = await time('f32');
  const f16 = await time('f16');
  return f16 < f32 ? 'f16' : 'f32';
}
