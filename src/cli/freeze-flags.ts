// `train --freeze backbone|none`, `--unfreeze-after N` and `--unfreeze-lr-factor X` (fine-tuning
// a pretrained backbone): the checks of their combinations, the header row that says what is
// frozen, and the progress line printed when the run unfreezes. The engine side is
// src/engine/freeze.ts (what a frozen layer is) and src/engine/run.ts (unfreezing after N epochs).

import type { FreezeSummary } from '../engine/freeze.js';
import type { FreezeSpec } from '../engine/trainer-types.js';
import { UsageError } from './args.js';
import type { TrainConfig } from './config.js';

/** The run's freeze settings, as RunConfig takes them. */
export function freezeConfig(cfg: TrainConfig): {
  freeze?: FreezeSpec;
  unfreezeAfter?: number;
  unfreezeLrFactor?: number;
} {
  const freeze = cfg.freeze ?? 'none';
  if (freeze === 'none') return {};
  const after = cfg.unfreezeAfter ?? undefined;
  return {
    freeze,
    ...(after !== undefined ? { unfreezeAfter: after, unfreezeLrFactor: cfg.unfreezeLrFactor ?? 0.1 } : {}),
  };
}

/**
 * Bad combinations, each a one-line usage error with a hint: --unfreeze-after without --freeze
 * backbone, or at or past the last epoch (after the recipe has set --epochs); a factor without
 * --unfreeze-after.
 */
export function checkFreezeFlags(cfg: TrainConfig, given: ReadonlySet<string>): void {
  const after = cfg.unfreezeAfter ?? null;
  if (after !== null && (cfg.freeze ?? 'none') === 'none')
    throw new UsageError(
      '--unfreeze-after needs --freeze backbone: nothing is frozen to unfreeze (add --freeze backbone, or drop --unfreeze-after)',
    );
  if (after !== null && after >= cfg.epochs)
    throw new UsageError(
      `--unfreeze-after ${after} is not before the last epoch (--epochs ${cfg.epochs}): the network would never train unfrozen; give fewer epochs than --epochs, or drop it to train the head only`,
    );
  if (after === null && given.has('unfreeze-lr-factor'))
    throw new UsageError(
      '--unfreeze-lr-factor applies when the run unfreezes: add --unfreeze-after N, or drop the factor',
    );
}

const count = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)} k` : n.toLocaleString('en-US');

/**
 * The header row, e.g. "frozen     44 of 45 layers (backbone), 11.2 M of 11.2 M parameters;
 * all layers train after epoch 3 at lr x0.1"; empty when nothing is frozen.
 */
export function freezeRow(cfg: TrainConfig, s: FreezeSummary, now: FreezeSpec): string {
  if ((cfg.freeze ?? 'none') === 'none') return '';
  const what =
    now === 'none'
      ? 'nothing (the run has unfrozen)'
      : `${s.frozenLayers} of ${s.layers} layers (${typeof now === 'string' ? now : 'listed'}), ${count(s.frozenParams)} of ${count(s.params)} parameters`;
  const later =
    cfg.unfreezeAfter !== null && cfg.unfreezeAfter !== undefined
      ? `; every layer trains after epoch ${cfg.unfreezeAfter}, at lr x${cfg.unfreezeLrFactor ?? 0.1}`
      : '; only the head trains';
  return `${'frozen'.padEnd(11)}${what}${now === 'none' ? '' : later}\n`;
}

/** The progress line at the end of the epoch that unfroze the network. */
export function unfreezeLine(epoch: number, lrFactor: number): string {
  return `epoch ${epoch}: unfreezing: every layer trains from here on, at the learning rate x${lrFactor}\n`;
}
