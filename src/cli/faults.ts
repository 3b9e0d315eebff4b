// How `train` ends when training goes wrong, in the CLI's words. The run itself
// (src/engine/run-guard.ts) stops on a divergence (a NaN/Inf loss or weight) or a lost GPU
// device without writing over the last good checkpoint or model; here is what the CLI adds:
// - its advice names flags and the exact command that continues (CLI_ADVICE);
// - resuming with the same learning rate would diverge again at the same step (training is
//   deterministic), so `--resume` accepts --lr and --max-norm overrides (RESUME_OVERRIDES) and
//   the printed command lowers --lr. It also takes --tta, which changes only the final test
//   evaluation, never the training.

import type { RunAdvice } from '../engine/run-guard.js';
import type { TtaChoice } from '../engine/tta.js';
import type { ParsedArgs } from './args.js';

/** Training options that `--resume` may change: the ways out of a divergence, and --tta. */
export const RESUME_OVERRIDES: ReadonlySet<string> = new Set(['lr', 'max-norm', 'tta']);

/** Applies --lr / --max-norm / --tta given together with --resume onto the checkpoint's configuration. */
export function applyResumeOverrides(
  cfg: { lr: number; maxNorm: number | null; tta: TtaChoice },
  args: ParsedArgs,
): void {
  if (args.given.has('lr')) cfg.lr = args.values.lr as number;
  if (args.given.has('max-norm')) cfg.maxNorm = args.values['max-norm'] as number;
  if (args.given.has('tta')) cfg.tta = args.values.tta as TtaChoice;
}

/** Quotes a path for a POSIX shell when it needs it, so a printed command can be pasted as is. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The run's divergence and device-loss advice as flags and a command line. */
export const CLI_ADVICE: RunAdvice = {
  lr: (lr) => `--lr ${lr}`,
  clip: '--max-norm 1',
  resume: (file, lr) => `webgpu-trainer train --resume ${shellQuote(file)}${lr ? ` --lr ${lr}` : ''}`,
};
