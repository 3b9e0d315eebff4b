// The training recipe of a convolutional run when the user names none: epochs, batch size,
// learning rate and schedule from the number of training samples and the image size.
// `train --data X --arch cnn --augment crop,flip` with no other flags gets it (src/cli/recipe.ts
// applies it; every flag the user gives wins over the recipe's choice for that option).
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
// adamLr and warmupSteps also serve a run whose batch size or epochs the user fixed.

export interface RecipeInput {
  /** Training samples per epoch (after any validation hold-out). */
  samples: number;
  /** Image shape [h, w, c]. */
  shape: readonly [number, number, number];
}

export interface Recipe {
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: 'cosine';
  /** Warm-up steps of the cosine schedule. */
  warmup: number;
}

/** Samples a recipe's run visits in all (epochs x samples), before the 12..30 epoch clamp. */
const SAMPLES_SEEN = 600_000;

/** Epochs, batch size, Adam's rate and a cosine schedule with warm-up for this data. */
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
