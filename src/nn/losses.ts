// Loss names: the one list that kernels, model files, the CLI and the demo import.
//   bce         binary cross-entropy on the logits of a final sigmoid layer
//   softmax-ce  cross-entropy on the logits of a final softmax layer (integer class labels)
//   mse         mean squared error on the final activations

import { ConfigError } from '../errors.js';

export const LOSSES = ['bce', 'softmax-ce', 'mse'] as const;
export type LossName = (typeof LOSSES)[number];

export function isLoss(s: string): s is LossName {
  return (LOSSES as readonly string[]).includes(s);
}

/**
 * Label smoothing eps (softmax-ce's target (1-eps)*onehot + eps/K, as PyTorch's
 * CrossEntropyLoss(label_smoothing=eps)): a number in [0, 1), and nonzero only with softmax-ce.
 */
export function checkLabelSmoothing(loss: LossName, eps: number): void {
  if (!(eps >= 0 && eps < 1))
    throw new ConfigError(`Label smoothing must be in [0, 1), got ${eps}; 0.1 is the usual value.`);
  if (eps > 0 && loss !== 'softmax-ce')
    throw new ConfigError(
      `Label smoothing applies to the softmax-ce loss only, not ${loss}; drop it or use softmax-ce.`,
    );
}
