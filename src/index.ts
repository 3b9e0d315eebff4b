// Public entry point (browser-safe: no Node built-ins). Node-only helpers live in ./node.ts.

export * from './errors.js';
export { Rng, type RngState } from './rng.js';
export { acquireGpu, type AcquireOptions, type AdapterReport, type GpuDevice } from './gpu/device.js';
export {
  Trainer,
  type EpochLog,
  type FitOptions,
  type FreezeSpec,
  type FreezeSummary,
  type History,
  type StepLog,
  type TrainerOptions,
  type RunningStats,
  type Weights,
} from './engine/trainer.js';
export type { FloatData, TrainingData, Uint8Data } from './engine/gpu-data.js';
export { ACTIVATIONS, type Activation } from './nn/activations.js';
export { INITS, type Init } from './nn/init.js';
export {
  paramLayout,
  validateModel,
  type DenseLayerSpec,
  type DenseModelSpec,
  type LayerSpec,
  type ModelSpec,
} from './nn/model.js';
export {
  LAYER_TYPES,
  describeLayer,
  resolveModel,
  type BatchNormSpec,
  type Conv2dSpec,
  type DenseSpec,
  type DropoutSpec,
  type FlattenSpec,
  type GlobalAvgPoolSpec,
  type LayerType,
  type Pool2dSpec,
  type ResolvedLayer,
  type ResolvedModel,
} from './nn/layers.js';
export { LOSSES, type LossName } from './kernels/losses.js';
export { MATMUL_VARIANTS, variantName, type MatmulForm, type MatmulVariant } from './kernels/matmul.js';
export { OPTIMIZERS, type OptimizerConfig, type OptimizerName } from './optim/optimizers.js';
export { learningRate, type Schedule } from './optim/schedules.js';
export { adamLr, chooseRecipe, warmupSteps, type Recipe, type RecipeInput } from './optim/recipe.js';
export {
  ARCHS as PRESETS,
  cnnLayers,
  completeStack,
  lenetLayers,
  outputLayer,
  presetSpec,
  type Arch as Preset,
} from './nn/presets.js';
export { mobilenetLayers, resnetLayers } from './nn/preset-graphs.js';
export type { DatasetSplits, ImageSet } from './data/types.js';
export { parseIdx, parseIdxImages, parseIdxLabels } from './data/idx.js';
export { parseCatHdf5 } from './data/hdf5.js';
export {
  augmentRecord,
  validateAugmentOptions,
  type AugmentOptions,
  type ImageShape,
} from './data/augment.js';
export {
  DEFAULT_RRC,
  RRC_RECORD_SCALE,
  centreCropImages,
  rrcRecordSize,
  type RrcOptions,
} from './data/augment-rrc.js';
export { decodeSafetensors, encodeSafetensors } from './io/safetensors.js';
export { loadCheckpoint, loadModel, saveCheckpoint, saveModel } from './io/modelfile.js';
// A training run as the CLI does it (checkpoints, resume, metrics, stops, test evaluation with TTA).
export {
  TrainingRun,
  runTraining,
  type EpochInfo,
  type RunConfig,
  type RunControl,
  type RunData,
  type RunMeta,
  type RunOptions,
  type RunResult,
} from './engine/run.js';
export { MemoryRunStore, type MetricRecord, type RunStore } from './io/run-store.js';
export {
  DivergedError,
  LIBRARY_ADVICE,
  RunDeviceLostError,
  RunGuard,
  type RunAdvice,
} from './engine/run-guard.js';
export {
  TTA_CHOICES,
  addScores,
  evaluateTest,
  evaluateWithFlip,
  meanOfViews,
  mirrorImages,
  predictBothViews,
  resolveTta,
  scoreProbabilities,
  storedTta,
  trainedWithFlip,
  ttaForModel,
  type ScoreSums,
  type TestResult,
  type Tta,
  type TtaChoice,
  type TtaScores,
} from './engine/tta.js';
export { architectureOf, specOf } from './io/architecture.js';
export { curvesSvg } from './io/curves.js';
// Pretrained weights as users have them: torch.save state dicts (.pth) and safetensors files, and
// torchvision's architectures with their names (src/nn/torchvision.ts).
export {
  parseStateDict,
  stateDictFormat,
  type StateDict,
  type StateDictTensor,
  type StateDictFormat,
} from './io/state-dict.js';
export {
  detectArch,
  importTorchvision,
  type TorchvisionImport,
  type TorchvisionImportOptions,
} from './io/torchvision-import.js';
export {
  IMAGENET_NORMALIZATION,
  TORCHVISION_ARCHS,
  torchvisionSpec,
  type TorchvisionArch,
} from './nn/torchvision.js';
export { findHead, reheadModel } from './nn/reheading.js';
