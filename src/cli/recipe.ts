// The CLI applies the training recipe (src/optim/recipe.ts) to the options the user did not give.
// The arch decides whether a recipe applies: mlp keeps the fixed defaults of its options (the
// dense nets' results in docs/results.md were measured with them); lenet, cnn and --model stacks
// get the recipe. The lr and the warm-up are computed for the run as it will be: with the user's
// --batch-size or --epochs when given.

import { adamLr, chooseRecipe, warmupSteps } from '../optim/recipe.js';
import type { Arch } from './arch.js';
import type { TrainConfig } from './config.js';

export { adamLr, chooseRecipe, warmupSteps, type Recipe, type RecipeInput } from '../optim/recipe.js';

/** The options a recipe sets, by option name (what --epochs etc. are called). */
export const RECIPE_OPTIONS = ['epochs', 'batch-size', 'lr', 'schedule', 'warmup'] as const;

/** Whether a run gets a recipe: convolutional presets and --model stacks, never the MLP. */
export function recipeApplies(arch: Arch, custom: boolean): boolean {
  return custom || arch !== 'mlp';
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
  const r = chooseRecipe({ samples, shape });
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
