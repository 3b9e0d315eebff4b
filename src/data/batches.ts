// What the engine trains on: the one contract between the data library and the trainer.
//
// A BatchSource is either RESIDENT data (host arrays the trainer uploads once and gathers batches
// from by index on the GPU: uint8 images or float rows) or STREAMED data (a RecordReader that fills
// host batches of uint8 records on demand, e.g. from a shard set on disk through worker threads,
// shard-records.ts). The engine picks how to feed each kind (src/engine/feed.ts) and checks a
// source against the model (src/engine/batch-source.ts); both kinds end in the same gather
// kernels, so a streamed batch is bit for bit the batch a resident set would give. Which samples
// and in which order come from order.ts, never from the source: a source only answers "give me
// records ids[0..n)". Browser-safe: no Node built-ins.

import { normalizationMulAdd, type Normalization } from './normalize.js';
import type { ImageSet } from './types.js';

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
  /**
   * The network's input [height, width] when the records are stored larger (random-resized crop,
   * src/data/augment-rrc.ts): training batches take a box of each record (augment.rrc) or its
   * centre, evaluation and prediction the centre. Needs height and width. Default: the record.
   */
  crop?: { height: number; width: number };
  /** out = byte * mul[c] + add[c] for channel c = feature % channels. */
  mul: ArrayLike<number>;
  add: ArrayLike<number>;
}

export type TrainingData = FloatData | Uint8Data;

/** Values per stored record (row or image). */
export function dataFeatures(d: TrainingData): number {
  const total = d.kind === 'float' ? d.x.length : d.images.length;
  return d.count > 0 ? total / d.count : 0;
}

/** Values per sample the network sees: the crop of a cropped source, else the record. */
export function inputFeatures(d: BatchSource): number {
  if (d.kind !== 'float' && d.crop) return d.crop.height * d.crop.width * d.channels;
  if (d.kind === 'stream') return d.height * d.width * d.channels;
  return dataFeatures(d);
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
  /**
   * The network's input [height, width] when the records are stored larger (random-resized crop,
   * src/data/augment-rrc.ts): training batches take a box of each record (augment.rrc) or its
   * centre, evaluation and prediction the centre. Needs height and width. Default: the record.
   */
  crop?: { height: number; width: number };
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
    crop: d.crop,
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

/** An ImageSet in memory as resident training data, normalised on the GPU by `norm`. */
export function toTrainingData(s: ImageSet, norm: Normalization): Uint8Data {
  return {
    kind: 'uint8',
    images: s.images,
    count: s.count,
    labels: s.labels,
    channels: s.channels,
    // The geometry lets the GPU gather crop and flip non-square images (augmentation).
    height: s.height,
    width: s.width,
    crop: s.crop,
    ...normalizationMulAdd(norm, s.channels),
  };
}

/**
 * Bytes a source occupies on the GPU once uploaded (images packed 4 per u32, plus labels);
 * streamed data takes none beyond its batches.
 */
export function dataBytes(d: BatchSource): number {
  if (d.kind === 'stream') return 0;
  const x = d.kind === 'uint8' ? Math.ceil(d.images.byteLength / 4) * 4 : d.x.byteLength;
  return x + d.count * 4;
}
