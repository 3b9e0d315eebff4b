// Loss names: the one list that kernels, model files, the CLI and the demo import.
//   bce         binary cross-entropy on the logits of a final sigmoid layer
//   softmax-ce  cross-entropy on the logits of a final softmax layer (integer class labels)
//   mse         mean squared error on the final activations

export const LOSSES = ['bce', 'softmax-ce', 'mse'] as const;
export type LossName = (typeof LOSSES)[number];

export function isLoss(s: string): s is LossName {
  return (LOSSES as readonly string[]).includes(s);
}
