// The training recipe of a convolutional run when the user names none: epochs, batch size,
// learning rate and schedule from the number of training samples, the image size and the
// network. `train --data X --arch cnn --augment crop,flip` with no other flags gets it; every flag
// the user gives (or a --config file sets) wins over the recipe's choice for that option.
//
// The rules (Adam, the CLI's default optimizer):
//   batch    32 below 2,000 samples, 64 below 20,000, else 128: small sets need more updates
//            per pass; images over 64x64 pixels cap it at 32 (activation memory grows with H*W)
//   epochs   about 600,000 samples seen: floor(600,000 / samples), at least 12 and at most 30.
//            MNIST-sized sets (54,000) get 12, CIFAR-10's 36,000 get 16, sets under 20,000 get 30
//            (a 209-image set is then 210 steps). Fewer epochs underfit: on CIFAR-10 a flat 12
//            left training accuracy below validation; 16 fit lavapipe's hour (docs/results.md).
//   lr       1e-3 * sqrt(batch / 32) (Adam's square-root batch scaling): 1e-3, 1.4e-3, 2e-3
//   schedule cosine to zero with a linear warm-up of 5% of the run, at most one epoch
// The lr and the warm-up are computed for the run as it will be: with the user's --batch-size or
// --epochs when given.
// The arch enters by choosing whether a recipe applies: mlp keeps the fixed defaults of its
// options (the dense nets' results in docs/results.md were measured with them); lenet, cnn and
// --model stacks get the recipe.

import type { Arch } from './arch.js';
import type { TrainConfig } from './config.js';

export interface RecipeInput {
  /** Training samples per epoch (after any validation hold-out). */
  samples: number;
  /** Image shape [h, w, c]. */
  shape: readonly [number, number, number];
  arch: Arch;
  /** A --model stack instead of a preset. */
  custom: boolean;
}

export interface Recipe {
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: 'cosine';
  /** Warm-up steps of the cosine schedule. */
  warmup: number;
}

/** The options a recipe sets, by option name (what --epochs etc. are called). */
export const RECIPE_OPTIONS = ['epochs', 'batch-size', 'lr', 'schedule', 'warmup'] as const;

/** Whether a run gets a recipe: convolutional presets and --model stacks, never the MLP. */
export function recipeApplies(arch: Arch, custom: boolean): boolean {
  return custom || arch !== 'mlp';
}

/** Samples a recipe's run visits in all (epochs x samples), before the 12..30 epoch clamp. */
const SAMPLES_SEEN = 600_000;

export function chooseRecipe(r: RecipeInput): Recipe {
  const n = r.samples;
  const [h, w] = r.shape;
  let batchSize = n < 2000 ? 32 : n < 20000 ? 64 : 128;
  if (h * w > 64 * 64) batchSize = Math.min(batchSize, 32);
  batchSize = Math.max(1, Math.min(batchSize, n));
  const epochs = Math.min(30, Math.max(12, Math.floor(SAMPLES_SEEN / n)));
  return {
    epochs,
    batchSize,
    lr: adamLr(batchSize),
    schedule: 'cosine',
    warmup: warmupSteps(n, batchSize, epochs),
  };
}

/** Adam's rate for a batch size, rounded to 2 significant digits (the header and config read cleanly). */
export function adamLr(batchSize: number): number {
  return Number((1e-3 * Math.sqrt(batchSize / 32)).toPrecision(2));
}

/** 5% of the run's steps, at most one epoch. */
export function warmupSteps(samples: number, batchSize: number, epochs: number): number {
  const steps = Math.ceil(samples / Math.min(batchSize, samples));
  return Math.min(steps, Math.round(0.05 * steps * epochs));
}

/**
 * Fills the options the user did not give with the recipe's choices (in place) and returns the
 * header line, or undefined when no recipe applies (mlp) or the user gave every option.
 */
export function applyRecipe(
  cfg: TrainConfig,
  explicit: ReadonlySet<string>,
  samples: number,
  shape: readonly [number, number, number],
): string | undefined {
  if (!recipeApplies(cfg.arch, cfg.net !== null || cfg.model !== null)) return undefined;
  const chosen = RECIPE_OPTIONS.filter((o) => !explicit.has(o));
  if (chosen.length === 0) return undefined;
  const r = chooseRecipe({ samples, shape, arch: cfg.arch, custom: cfg.model !== null });
  for (const o of chosen) {
    if (o === 'epochs') cfg.epochs = r.epochs;
    else if (o === 'batch-size') cfg.batchSize = r.batchSize;
    // The rate and the warm-up follow the run as it will be, a given --batch-size or --epochs included.
    else if (o === 'lr') cfg.lr = adamLr(cfg.batchSize);
    else if (o === 'schedule') cfg.schedule = r.schedule;
    // A warm-up belongs to the cosine schedule; a user's step or constant schedule takes none.
    else if (cfg.schedule === 'cosine') cfg.warmup = warmupSteps(samples, cfg.batchSize, cfg.epochs);
  }
  return recipeText(cfg, chosen, samples, shape);
}

function recipeText(
  cfg: TrainConfig,
  chosen: readonly string[],
  samples: number,
  shape: readonly [number, number, number],
): string {
  const sched =
    cfg.schedule === 'cosine' && cfg.warmup > 0
      ? `cosine, ${cfg.warmup} warm-up step${cfg.warmup === 1 ? '' : 's'}`
      : cfg.schedule;
  const kept = RECIPE_OPTIONS.filter((o) => !chosen.includes(o));
  const keptText = kept.length > 0 ? `; kept your ${kept.map((o) => `--${o}`).join(', ')}` : '';
  return (
    `${cfg.epochs} epoch${cfg.epochs === 1 ? '' : 's'}, batch ${cfg.batchSize}, lr ${cfg.lr} ${sched}, chosen for ` +
    `${samples.toLocaleString('en-US')} samples of ${shape.join('x')}${keptText}; ` +
    `override with --epochs, --batch-size, --lr, --schedule, --warmup`
  );
}
