// The step timing shared by the tfjs peers (tfjs.ts, tfjs-cnn.ts): `warmup` steps, then `steps`
// steps each synced on its loss (await loss.data()), then `blockSteps` run back to back and
// synced once at the end. tfjs runs one queue, so when the last loss of a block is readable,
// every earlier step has finished too.

import type * as tf from '@tensorflow/tfjs-core';

/** The fewest synced (and block) steps a time budget may cut a run down to. */
export const MIN_TIMED_STEPS = 5;

export interface StepPlan {
  warmup: number;
  steps: number;
  blockSteps: number;
  /**
   * Wall-time budget for the timed steps, estimated from the last warm-up step; the counts are
   * cut to fit, never below MIN_TIMED_STEPS each. Undefined: no budget.
   */
  budgetMs?: number;
}

export interface TimedSteps {
  /** Every step's loss in order: warm-up, synced, block. */
  losses: number[];
  /** Each synced step's wall time. */
  msPerStep: number[];
  /** Mean wall time per step of the back-to-back block; NaN without one. */
  blockMsPerStep: number;
  /** The counts actually run. */
  steps: number;
  blockSteps: number;
}

/** Runs `step` (which returns its loss, for the caller to dispose) as `plan` says and times it. */
export async function timeSteps(step: () => tf.Scalar, plan: StepPlan): Promise<TimedSteps> {
  const readLoss = async (t: tf.Scalar): Promise<number> => {
    const v = (await t.data())[0];
    t.dispose();
    return v;
  };
  const losses: number[] = [];
  const msPerStep: number[] = [];
  let blockMsPerStep = NaN;
  let lastWarmupMs = NaN;
  for (let i = 0; i < plan.warmup; i++) {
    const t0 = performance.now();
    losses.push(await readLoss(step()));
    lastWarmupMs = performance.now() - t0;
  }
  const { steps, blockSteps } = fitBudget(plan.steps, plan.blockSteps, lastWarmupMs, plan.budgetMs);
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const loss = step();
    const v = (await loss.data())[0];
    msPerStep.push(performance.now() - t0);
    loss.dispose();
    losses.push(v);
  }
  if (blockSteps > 0) {
    const pending: tf.Scalar[] = [];
    const t0 = performance.now();
    for (let i = 0; i < blockSteps; i++) pending.push(step());
    await pending[pending.length - 1].data();
    blockMsPerStep = (performance.now() - t0) / blockSteps;
    for (const t of pending) losses.push(await readLoss(t));
  }
  return { losses, msPerStep, blockMsPerStep, steps, blockSteps };
}

function fitBudget(
  steps: number,
  blockSteps: number,
  stepMs: number,
  budgetMs: number | undefined,
): { steps: number; blockSteps: number } {
  const total = steps + blockSteps;
  if (budgetMs === undefined || !Number.isFinite(stepMs) || total * stepMs <= budgetMs)
    return { steps, blockSteps };
  const scale = budgetMs / (total * stepMs);
  return {
    steps: Math.min(steps, Math.max(MIN_TIMED_STEPS, Math.floor(steps * scale))),
    blockSteps:
      blockSteps === 0 ? 0 : Math.min(blockSteps, Math.max(MIN_TIMED_STEPS, Math.floor(blockSteps * scale))),
  };
}
