// What the engine trains on: one contract between the data library and the trainer.
//
// A BatchSource is either RESIDENT data (host arrays the trainer uploads once and gathers batches
// from by index on the GPU: uint8 images or float rows, see gpu-data.ts) or STREAMED data (a
// RecordReader that fills host batches of uint8 records on demand, e.g. from a shard directory on
// disk through worker threads, src/data/shard-records.ts). fit() picks how to feed each kind
// (feed.ts): resident data by index, streamed data by uploading each batch into one of two GPU
// slots that alternate, so the upload of batch k+1 overlaps the GPU work of batch k. Both end in
// the same gather kernels, so a streamed batch is bit for bit the batch a resident set would give.
// Which samples and in which order come from the data library (src/data/pipeline-order.ts), never
// from the source: a source only answers "give me records ids[0..n)".

import { ConfigError, NonFiniteInputError, ShapeError } from '../errors.js';
import type { LossName } from '../nn/losses.js';

/** Float features [count, features] with integer labels [count] or float targets [count, outputs]. */
export interface FloatData {
  kind: 'float';
  x: Float32Array;
  count: number;
  labels?: Int32Array;
  targets?: Float32Array;
}

/** uint8 records [count, features] (NHWC images), normalised per channel on the GPU. */
export interface Uint8Data {
  kind: 'uint8';
  images: Uint8Array;
  count: number;
  labels: Int32Array;
  channels: number;
  /** Image geometry (NHWC), needed only to augment non-square images; square ones are inferred. */
  height?: number;
  width?: number;
  /** out = byte * mul[c] + add[c] for channel c = feature % channels. */
  mul: ArrayLike<number>;
  add: ArrayLike<number>;
}

export type TrainingData = FloatData | Uint8Data;

export function dataFeatures(d: TrainingData): number {
  const total = d.kind === 'float' ? d.x.length : d.images.length;
  return d.count > 0 ? total / d.count : 0;
}

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
  if (total !== d.count * inputSize) {
    throw new ShapeError(
      `${what}: expected ${d.count} x ${inputSize} = ${d.count * inputSize} input values, got ${total}. Check the model's inputSize.`,
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

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(x: Float32Array, from = 0, to = x.length): number {
  for (let i = from; i < to; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

/**
 * Random access to uint8 records (NHWC images) and their labels, possibly from disk. read() fills
 * images[i*recordBytes, (i+1)*recordBytes) and labels[i] with record ids[i], for i < ids.length;
 * it may run on other threads (the arrays may view a SharedArrayBuffer). Calls may overlap.
 */
export interface RecordReader {
  readonly count: number;
  readonly recordBytes: number;
  read(ids: Uint32Array, images: Uint8Array, labels: Int32Array): Promise<void>;
  /** Stops any threads; the reader is unusable afterwards. */
  close(): Promise<void>;
}

/** uint8 records read on demand, normalised per channel on the GPU like Uint8Data. */
export interface StreamedData {
  kind: 'stream';
  reader: RecordReader;
  count: number;
  channels: number;
  height: number;
  width: number;
  mul: ArrayLike<number>;
  add: ArrayLike<number>;
  /** Batches read ahead of the one being trained on (default 2). */
  readAhead?: number;
  /** Where the records come from, for messages (e.g. the shard folder). */
  source?: string;
}

/** Anything fit() and evaluate() accept. */
export type BatchSource = TrainingData | StreamedData;

/** Bytes the records of a source hold (images or rows, plus labels/targets). */
export function sourceBytes(d: BatchSource): number {
  if (d.kind === 'stream') return d.count * (d.reader.recordBytes + 4);
  if (d.kind === 'uint8') return d.images.byteLength + d.labels.byteLength;
  return d.x.byteLength + (d.targets ?? d.labels)!.byteLength;
}

/** Streamed records as a uint8 source of the same geometry (labels checked per batch). */
export function validateStreamed(d: StreamedData, inputSize: number, what: string): void {
  if (!Number.isInteger(d.count) || d.count < 1 || d.count > d.reader.count)
    throw new ShapeError(`${what}: count must be in [1, ${d.reader.count}], got ${d.count}.`);
  const F = d.height * d.width * d.channels;
  if (F !== inputSize || d.reader.recordBytes !== F) {
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

/** Reads every record of `d` into memory: streamed data that fits a budget trains resident. */
export async function loadStreamed(d: StreamedData): Promise<Uint8Data> {
  const R = d.reader.recordBytes;
  const images = new Uint8Array(d.count * R);
  const labels = new Int32Array(d.count);
  const CHUNK = 4096;
  for (let from = 0; from < d.count; from += CHUNK) {
    const n = Math.min(CHUNK, d.count - from);
    const ids = Uint32Array.from({ length: n }, (_, i) => from + i);
    await d.reader.read(ids, images.subarray(from * R, (from + n) * R), labels.subarray(from, from + n));
  }
  return {
    kind: 'uint8',
    images,
    labels,
    count: d.count,
    channels: d.channels,
    height: d.height,
    width: d.width,
    mul: d.mul,
    add: d.add,
  };
}

/** uint8 data in memory as a RecordReader (uint8 sets too large for one GPU binding stream from it). */
export function memoryReader(d: Uint8Data): RecordReader {
  const R = d.images.length / d.count;
  return {
    count: d.count,
    recordBytes: R,
    read(ids, images, labels) {
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        images.set(d.images.subarray(s * R, (s + 1) * R), i * R);
        labels[i] = d.labels[s];
      }
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}
