// Checks of what the engine trains on against the model (sizes, labels, finiteness, geometry),
// before anything reaches the GPU. The contract itself, BatchSource (resident or streamed data) and
// its adapters, belongs to the data library: src/data/batches.ts. fit() picks how to feed each kind
// (feed.ts): resident data by index, streamed data by uploading each batch into one of two GPU
// slots that alternate, so the upload of batch k+1 overlaps the GPU work of batch k.

import { ConfigError, NonFiniteInputError, ShapeError } from '../errors.js';
import type { LossName } from '../nn/losses.js';
import type { StreamedData, TrainingData } from '../data/batches.js';

// The data kinds and their adapters are the data library's (src/data/batches.ts); re-exported for
// the engine modules that import them from here.
export type {
  BatchSource,
  FloatData,
  RecordReader,
  StreamedData,
  TrainingData,
  Uint8Data,
} from '../data/batches.js';
export { dataFeatures, inputFeatures, loadStreamed, memoryReader, sourceBytes } from '../data/batches.js';

/** Checks sizes, labels and (for float data) finiteness before anything reaches the GPU. */
export function validateData(
  d: TrainingData,
  inputSize: number,
  outputs: number,
  loss: LossName,
  what = 'dataset',
): void {
  if (!Number.isInteger(d.count) || d.count < 1)
    throw new ShapeError(`${what}: count must be a positive integer, got ${d.count}.`);
  const total = d.kind === 'float' ? d.x.length : d.images.length;
  if (d.kind === 'uint8' && d.crop) checkCrop(d, inputSize, what);
  const perRecord = d.kind === 'uint8' && d.crop ? d.height! * d.width! * d.channels : inputSize;
  if (total !== d.count * perRecord) {
    throw new ShapeError(
      `${what}: expected ${d.count} x ${perRecord} = ${d.count * perRecord} input values, got ${total}. Check the model's inputSize.`,
    );
  }
  if (d.kind === 'uint8') {
    if (d.mul.length !== d.channels || d.add.length !== d.channels)
      throw new ShapeError(`${what}: normalisation needs ${d.channels} mul/add values.`);
    if (inputSize % d.channels !== 0)
      throw new ShapeError(`${what}: ${inputSize} features are not a multiple of ${d.channels} channels.`);
  }
  const labels = d.kind === 'uint8' ? d.labels : d.labels;
  const targets = d.kind === 'float' ? d.targets : undefined;
  if (targets) {
    if (loss === 'softmax-ce')
      throw new ConfigError(`${what}: softmax-ce needs integer labels, not float targets.`);
    if (targets.length !== d.count * outputs)
      throw new ShapeError(`${what}: targets must be ${d.count} x ${outputs}, got ${targets.length} values.`);
    const bad = targets.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new NonFiniteInputError(
        `${what}: target ${bad} (sample ${Math.floor(bad / outputs)}) is ${targets[bad]}.`,
      );
  } else {
    if (!labels || labels.length !== d.count)
      throw new ShapeError(`${what}: needs ${d.count} labels, got ${labels?.length ?? 0}.`);
    const classes = loss === 'bce' && outputs === 1 ? 2 : outputs;
    for (let i = 0; i < labels.length; i++) {
      if (!(labels[i] >= 0 && labels[i] < classes)) {
        throw new ShapeError(
          `${what}: label ${labels[i]} of sample ${i} is outside [0, ${classes - 1}] for a model with ${outputs} outputs.`,
        );
      }
    }
  }
}

/** A cropped source: records at least the crop's size, the crop the model's input. */
function checkCrop(
  d: { height?: number; width?: number; channels: number; crop?: { height: number; width: number } },
  inputSize: number,
  what: string,
): void {
  const c = d.crop!;
  if (d.height === undefined || d.width === undefined || d.height < c.height || d.width < c.width) {
    throw new ShapeError(
      `${what}: a ${c.height}x${c.width} crop needs records at least that large with their height and width set, got ${d.height}x${d.width}.`,
    );
  }
  if (c.height * c.width * d.channels !== inputSize) {
    throw new ShapeError(
      `${what}: the ${c.height}x${c.width}x${d.channels} crop does not match the model's inputSize ${inputSize}.`,
    );
  }
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(x: Float32Array, from = 0, to = x.length): number {
  for (let i = from; i < to; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

/** Streamed records as a uint8 source of the same geometry (labels checked per batch). */
export function validateStreamed(d: StreamedData, inputSize: number, what: string): void {
  if (!Number.isInteger(d.count) || d.count < 1 || d.count > d.reader.count)
    throw new ShapeError(`${what}: count must be in [1, ${d.reader.count}], got ${d.count}.`);
  const F = d.height * d.width * d.channels;
  if (d.crop) checkCrop(d, inputSize, what);
  if ((!d.crop && F !== inputSize) || d.reader.recordBytes !== F) {
    throw new ShapeError(
      `${what}: ${d.height}x${d.width}x${d.channels} records of ${d.reader.recordBytes} bytes do not match the model's inputSize ${inputSize}.`,
    );
  }
  if (d.mul.length !== d.channels || d.add.length !== d.channels)
    throw new ShapeError(`${what}: normalisation needs ${d.channels} mul/add values.`);
  if (d.readAhead !== undefined && !(Number.isInteger(d.readAhead) && d.readAhead >= 1))
    throw new ConfigError(`${what}: readAhead must be a positive integer, got ${d.readAhead}.`);
}

/** Checks a batch of streamed labels (the resident path checks all labels up front). */
export function checkLabels(
  labels: Int32Array,
  n: number,
  ids: ArrayLike<number>,
  classes: number,
  what: string,
): void {
  for (let i = 0; i < n; i++) {
    if (!(labels[i] >= 0 && labels[i] < classes)) {
      throw new ShapeError(
        `${what}: label ${labels[i]} of sample ${ids[i]} is outside [0, ${classes - 1}] for a model with ${classes} classes.`,
      );
    }
  }
}
