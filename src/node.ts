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
