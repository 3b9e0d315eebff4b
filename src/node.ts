// Node-only additions to the public API: disk readers, known datasets, atomic model files.

export * from './index.js';
export { loadDataset, resolveDatasetDir, KNOWN_DATASETS, type KnownDatasetName } from './data/known.js';
export {
  readIdxFiles,
  readHdf5File,
  readCifarFiles,
  readImageFolderFromDisk,
  readImageFileFromDisk,
} from './data/readers-node.js';
export { loadModelFile, saveModelFile, loadCheckpointFile, saveCheckpointFile } from './io/files.js';
export { writeFileAtomic } from './io/atomic.js';
export { main as runCommandLine } from './cli/main.js';
// Opening data the way the command line does, and turning it into what the Trainer consumes.
export {
  openDataset,
  checkDatasetSpec,
  datasetNormalization,
  toBatchSource,
  DEFAULT_IMAGE_OPTIONS,
  type ImageOptions,
  type OpenOptions,
  type OpenedDataset,
} from './data/open.js';
export { matchClasses } from './data/classes.js';
// An image folder's training size when none is given, and the files it skipped.
export { chooseImageSize, type ChosenImageSize, type ImageSize } from './data/image-size.js';
export { describeSkipped, type SkipKind, type SkippedFile } from './data/skipped.js';
export {
  computeNormalization,
  imageSetNormalization,
  normalizationMulAdd,
  validateNormalization,
  type Normalization,
} from './data/normalize.js';
export {
  dataBytes,
  loadStreamed,
  memoryReader,
  sourceBytes,
  toTrainingData,
  type BatchSource,
  type RecordReader,
  type StreamedData,
} from './data/batches.js';
export { ShardSet } from './data/shards.js';
export {
  ShardWriter,
  writeShards,
  type LabeledRecord,
  type ShardWriterOptions,
} from './data/shard-writer.js';
export { readShardIndex, type ShardIndex } from './data/shard-format.js';
export { ShardRecordReader } from './data/shard-records.js';
// A training run's files in a folder (model, checkpoint, metrics log, curves), as `train` writes them.
export { FileRunStore, readMetricsFile } from './io/run-files.js';
// Pretrained weights from disk (parseStateDict and importTorchvision are in the browser-safe index).
export { readStateDict } from './io/state-dict-file.js';
