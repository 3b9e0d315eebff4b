// What a frozen set does to a plan (src/engine/freeze.ts, plan-steps.ts): which layers need a
// gradient, which stretches of the flat parameters the optimizer updates, and that a frozen
// plan's backward pass holds only the trainable layers' dispatches while its buffers stay those
// of the full plan (so the feeds bound to X stay valid across setFreeze).

import { describe, expect, it } from 'vitest';
import { encodeAll, buildPlan, type Plan } from '../../src/engine/plan.js';
import { allocateModelBuffers } from '../../src/engine/state-io.js';
import { gradientNeeded, resolveFreeze, trainableRanges } from '../../src/engine/freeze.js';
import { DEFAULT_VARIANT } from '../../src/kernels/matmul.js';
import { resolveModel, type ModelSpec } from '../../src/nn/layers.js';
import { resolveOptimizer } from '../../src/optim/optimizers.js';
import { testGpu } from '../helpers/gpu.js';

const spec: ModelSpec = {
  inputShape: [5, 5, 2],
  layers: [
    { type: 'maxpool2d', size: 2, stride: 1 },
    { type: 'conv2d', filters: 3, kernelSize: 3, bias: false },
    { type: 'batchnorm', activation: 'relu', name: 'stem' },
    { type: 'conv2d', filters: 3, kernelSize: 1, inputs: ['input'], name: 'side' },
    { type: 'globalavgpool', inputs: ['stem'], name: 'g1' },
    { type: 'globalavgpool', inputs: ['side'], name: 'g2' },
    { type: 'concat', inputs: ['g1', 'g2'] },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

describe('frozen sets', () => {
  const m = resolveModel(spec);

  it("'backbone' freezes all but the head; gradients stop where nothing upstream trains", () => {
    const backbone = resolveFreeze(m, 'backbone');
    expect(backbone).toEqual([true, true, true, true, true, true, true, false]);
    expect(gradientNeeded(m, backbone)).toEqual([false, false, false, false, false, false, false, true]);
    // Nothing frozen: a pool on the input needs no gradient, everything after it does.
    const none = resolveFreeze(m, 'none');
    expect(gradientNeeded(m, none)).toEqual([false, true, true, true, true, true, true, true]);
    // The stem frozen, the side branch trains: its pooled and concatenated gradients are needed.
    const stem = resolveFreeze(m, { layers: [0, 1, 2, 4] });
    expect(gradientNeeded(m, stem)).toEqual([false, false, false, true, false, true, true, true]);
  });

  it('the optimizer ranges are the trainable slots, merged where adjacent, 64-aligned', () => {
    const p = m.params;
    const [conv, bn, side, dense] = p;
    expect(trainableRanges(m, resolveFreeze(m, 'none'))).toEqual([[0, m.paramSize]]);
    expect(trainableRanges(m, resolveFreeze(m, 'backbone'))).toEqual([[dense.W.offset, m.paramSize]]);
    // conv and bn frozen, side and dense train: one stretch from side's W to the end.
    expect(trainableRanges(m, resolveFreeze(m, { layers: [0, 1, 2, 4] }))).toEqual([
      [side.W.offset, m.paramSize],
    ]);
    // Only the bn frozen would be an open set; freeze the side branch alone instead: two stretches.
    expect(trainableRanges(m, resolveFreeze(m, { layers: [3, 5] }))).toEqual([
      [conv.W.offset, bn.b.offset + 64],
      [dense.W.offset, m.paramSize],
    ]);
    for (const r of trainableRanges(m, resolveFreeze(m, { layers: [3, 5] }))) expect(r[0] % 64).toBe(0);
  });

  it("a frozen plan's backward holds only the head; refreeze keeps the buffers", async () => {
    const { gpu, env, dummies } = await testGpu();
    const bufs = allocateModelBuffers(gpu.device, env.pool, m, 'sgd');
    const opt = resolveOptimizer({ name: 'sgd', lr: 0.1 });
    const pick = {
      matmul: () => DEFAULT_VARIANT,
      conv: () => Promise.resolve({ kind: 'im2col' as const, variant: DEFAULT_VARIANT }),
    };
    const frozen = resolveFreeze(m, 'backbone');
    const plan: Plan = await buildPlan(env, bufs, opt, 4, pick, dummies, { precision: 'f32', frozen });
    const labels = (list: Plan['backward']) => list.map((d) => d.label).join(' ');
    const frozenBackward = labels(plan.backward);
    expect(plan.backward.length).toBeGreaterThan(0);
    expect(frozenBackward).not.toMatch(/conv|batchnorm|pool|join|input/i);
    // The frozen batch norm trains in evaluation mode: the same dispatch as forwardEval's.
    expect(plan.forward.length).toBe(plan.forwardEval.length);
    plan.forward.forEach((d, i) => expect(d, `forward ${i} ${d.label}`).toBe(plan.forwardEval[i]));
    const x = plan.x;
    await plan.refreeze(undefined);
    expect(plan.frozen).toBe('');
    expect(plan.x).toBe(x);
    expect(labels(plan.backward)).toMatch(/batchnorm/);
    expect(plan.forward.some((d, i) => d !== plan.forwardEval[i])).toBe(true);
    expect(plan.backward.length).toBeGreaterThan(3 * frozenBackward.split(' ').length);
    await plan.refreeze(frozen);
    expect(labels(plan.backward)).toBe(frozenBackward);
    // Preparing again reuses the step lists' buffers: a second round trip allocates nothing.
    const again = plan.bytes;
    await plan.refreeze(undefined);
    await plan.refreeze(frozen);
    expect(plan.bytes).toBe(again);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeAll(pass, [...plan.forward, plan.loss, ...plan.backward, ...plan.update]);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    gpu.throwIfFailed();
    for (const b of plan.buffers) env.pool.release(b);
  });
});
