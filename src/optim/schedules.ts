// Learning-rate schedules, evaluated on the CPU once per step (the value is written into the
// optimizer's uniform). `step` is 0-based; `totalSteps` is the planned length of training.

import { ConfigError } from '../errors.js';

export type Schedule =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'cosine'; totalSteps?: number; minLr?: number; warmupSteps?: number };

export function learningRate(
  base: number,
  s: Schedule | undefined,
  step: number,
  totalSteps: number,
): number {
  if (!s || s.kind === 'constant') return base;
  if (s.kind === 'step') return base * Math.pow(s.gamma, Math.floor(step / s.stepSize));
  const warm = s.warmupSteps ?? 0;
  if (step < warm) return (base * (step + 1)) / warm;
  const total = Math.max(1, (s.totalSteps ?? totalSteps) - warm);
  const t = Math.min(1, (step - warm) / total);
  const min = s.minLr ?? 0;
  return min + 0.5 * (base - min) * (1 + Math.cos(Math.PI * t));
}

export function validateSchedule(s: Schedule | undefined): void {
  if (!s || s.kind === 'constant') return;
  if (s.kind === 'step') {
    if (!(Number.isInteger(s.stepSize) && s.stepSize > 0))
      throw new ConfigError(`step schedule: stepSize must be a positive integer, got ${s.stepSize}.`);
    if (!(s.gamma > 0 && s.gamma <= 1))
      throw new ConfigError(`step schedule: gamma must be in (0, 1], got ${s.gamma}.`);
    return;
  }
  if (s.kind === 'cosine') {
    if (s.minLr !== undefined && !(s.minLr >= 0))
      throw new ConfigError('cosine schedule: minLr must be >= 0.');
    if (s.warmupSteps !== undefined && !(Number.isInteger(s.warmupSteps) && s.warmupSteps >= 0))
      throw new ConfigError('cosine schedule: warmupSteps must be a non-negative integer.');
    return;
  }
  throw new ConfigError(`Unknown schedule '${(s as { kind: string }).kind}' (use constant, step or cosine).`);
}
