// The --tta option's help text, shared by `train`, `eval` and `predict`. What test-time
// augmentation does, and the scoring behind it, are the library's: src/engine/tta.ts.

export const TTA_HELP =
  'test-time augmentation for the test evaluation: flip averages the class probabilities of each image and its mirror; auto does so when the model trained with --augment flip';
