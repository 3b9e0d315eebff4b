// What a batch is, and the one routine that turns a uint8 record into a batch row, shared by the
// in-memory loader (dataset.ts) and the streaming loader (stream.ts) so both produce identical rows.
//
// Row r of a batch: x[r*F, (r+1)*F) = normalise(augment(record)), F = H*W*C in NHWC order;
// labels[r] = class index; oneHot[r*K, (r+1)*K) = e_label when one-hot is on (K classes);
// sampleIndices[r] = index of the record in its source (the ImageSet, or the shard set's global
// record number), which is what a GPU-resident dataset needs to gather the row itself.

import { ConfigError, DatasetFormatError, ShapeError } from '../errors.js';
import { augmentRecord, isIdentityAugment, validateAugmentOptions } from './augment.js';
import type { AugmentOptions, ImageShape } from './augment.js';
import { normalizeRange, validateNormalization } from './pipeline-normalize.js';
import type { Normalization } from './pipeline-normalize.js';

/** Where an iterator is: the next batch to produce. Store it in a checkpoint to resume exactly. */
export interface BatchPosition {
  epoch: number;
  batchIndex: number;
}

export interface Batch {
  /** size x features floats, normalised, NHWC flattened. */
  x: Float32Array;
  /** size class indices. */
  labels: Int32Array;
  /** size x numClasses floats, when the loader was built with oneHot: true. */
  oneHot?: Float32Array;
  /** Real number of samples; smaller than the batch size only for a kept last partial batch. */
  size: number;
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
  /** Source record index of each row (see the header). */
  sampleIndices: Uint32Array;
}

export interface BatchOptions {
  batchSize: number;
  normalization: Normalization;
  /** Seed of the shuffle and augmentation streams (default 0). */
  seed?: number;
  /** Shuffle every epoch (default true); false gives source order. */
  shuffle?: boolean;
  /** 'keep' (default): the last batch may be smaller and says so in `size`; 'drop': it is skipped. */
  lastBatch?: 'keep' | 'drop';
  /** Also produce one-hot targets. */
  oneHot?: boolean;
  /** Number of classes for one-hot; defaults to the class names' count, else max label + 1. */
  numClasses?: number;
  augment?: AugmentOptions;
}

export interface ResolvedBatchOptions {
  batchSize: number;
  normalization: Normalization;
  seed: number;
  shuffle: boolean;
  lastBatch: 'keep' | 'drop';
  oneHot: boolean;
  numClasses: number;
  augment: AugmentOptions | undefined;
}

/** Validates loader options at the boundary; every problem is a ConfigError that names the option. */
export function resolveBatchOptions(
  opts: BatchOptions,
  shape: ImageShape,
  defaultNumClasses: number,
): ResolvedBatchOptions {
  const { batchSize } = opts;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ConfigError(`seed must be an integer, got ${seed}`);
  const lastBatch = opts.lastBatch ?? 'keep';
  if (lastBatch !== 'keep' && lastBatch !== 'drop') {
    throw new ConfigError(`lastBatch must be 'keep' or 'drop', got ${JSON.stringify(lastBatch)}`);
  }
  const numClasses = opts.numClasses ?? defaultNumClasses;
  if (!(Number.isInteger(numClasses) && numClasses > 0)) {
    throw new ConfigError(`numClasses must be a positive integer, got ${numClasses}`);
  }
  const norm = validateNormalization(opts.normalization);
  if (norm.kind === 'standardize' && norm.mean.length !== shape.channels) {
    throw new ConfigError(
      `normalization has ${norm.mean.length} channel(s) but the images have ${shape.channels}; recompute it for this dataset`,
    );
  }
  const augment = opts.augment === undefined ? undefined : validateAugmentOptions(opts.augment, shape);
  return {
    batchSize,
    // Keep the caller's object (not the validated copy) so its normalisation table is cached once.
    normalization: opts.normalization,
    seed,
    shuffle: opts.shuffle ?? true,
    lastBatch,
    oneHot: opts.oneHot ?? false,
    numClasses,
    augment: isIdentityAugment(augment) ? undefined : augment,
  };
}

export function batchesPerEpoch(count: number, batchSize: number, lastBatch: 'keep' | 'drop'): number {
  return lastBatch === 'keep' ? Math.ceil(count / batchSize) : Math.floor(count / batchSize);
}

/** Preallocated storage for one full batch; a Batch returned by a fill call views into it. */
export interface BatchBuffers {
  x: Float32Array;
  labels: Int32Array;
  oneHot?: Float32Array;
  sampleIndices: Uint32Array;
}

export function allocateBatchBuffers(
  batchSize: number,
  features: number,
  oneHotClasses?: number,
): BatchBuffers {
  const b: BatchBuffers = {
    x: new Float32Array(batchSize * features),
    labels: new Int32Array(batchSize),
    sampleIndices: new Uint32Array(batchSize),
  };
  if (oneHotClasses !== undefined) b.oneHot = new Float32Array(batchSize * oneHotClasses);
  return b;
}

export function batchBuffersBytes(b: BatchBuffers): number {
  return b.x.byteLength + b.labels.byteLength + b.sampleIndices.byteLength + (b.oneHot?.byteLength ?? 0);
}

/** Writes rows into BatchBuffers: augmentation, normalisation, label and one-hot. */
export class SampleWriter {
  readonly features: number;
  /** Augmentation output; one record, reused for every sample. */
  private readonly scratch: Uint8Array;

  constructor(
    readonly shape: ImageShape,
    readonly opts: ResolvedBatchOptions,
    /** Named in label errors. */
    readonly source: string,
  ) {
    this.features = shape.height * shape.width * shape.channels;
    this.scratch = new Uint8Array(opts.augment ? this.features : 0);
  }

  allocate(): BatchBuffers {
    return allocateBatchBuffers(
      this.opts.batchSize,
      this.features,
      this.opts.oneHot ? this.opts.numClasses : undefined,
    );
  }

  check(b: BatchBuffers): void {
    const B = this.opts.batchSize;
    if (b.x.length < B * this.features || b.labels.length < B || b.sampleIndices.length < B) {
      throw new ShapeError(
        `batch buffers too small for batch size ${B} x ${this.features} features; allocate them with allocateBuffers()`,
      );
    }
    if (this.opts.oneHot && (b.oneHot === undefined || b.oneHot.length < B * this.opts.numClasses)) {
      throw new ShapeError(`batch buffers need a oneHot array of ${B * this.opts.numClasses} floats`);
    }
  }

  /**
   * Writes row `row` from the record at bytes [offset, offset + features) of `bytes`.
   * Augmentation (when on) draws from (seed, epoch, sourceIndex) alone, like the GPU gather.
   */
  write(
    b: BatchBuffers,
    row: number,
    bytes: Uint8Array,
    offset: number,
    label: number,
    sourceIndex: number,
    epoch: number,
  ): void {
    const F = this.features;
    if (this.opts.augment) {
      augmentRecord(
        bytes.subarray(offset, offset + F),
        this.scratch,
        this.shape,
        this.opts.augment,
        this.opts.seed,
        epoch,
        sourceIndex,
      );
      normalizeRange(this.scratch, 0, F, this.opts.normalization, b.x, row * F);
    } else {
      normalizeRange(bytes, offset, F, this.opts.normalization, b.x, row * F);
    }
    b.labels[row] = label;
    b.sampleIndices[row] = sourceIndex;
    if (this.opts.oneHot && b.oneHot) {
      const K = this.opts.numClasses;
      if (!(label >= 0 && label < K)) {
        throw new DatasetFormatError(
          `label ${label} of record ${sourceIndex} is outside [0, ${K}); set numClasses to cover every label`,
          this.source,
          sourceIndex,
        );
      }
      b.oneHot.fill(0, row * K, (row + 1) * K);
      b.oneHot[row * K + label] = 1;
    }
  }

  /** A Batch viewing the first `size` rows of `b` (views, not copies). */
  view(b: BatchBuffers, size: number, epoch: number, index: number): Batch {
    const full = size === this.opts.batchSize;
    const batch: Batch = {
      x: full && b.x.length === size * this.features ? b.x : b.x.subarray(0, size * this.features),
      labels: full && b.labels.length === size ? b.labels : b.labels.subarray(0, size),
      size,
      epoch,
      index,
      sampleIndices:
        full && b.sampleIndices.length === size ? b.sampleIndices : b.sampleIndices.subarray(0, size),
    };
    if (this.opts.oneHot && b.oneHot) {
      const K = this.opts.numClasses;
      batch.oneHot = full && b.oneHot.length === size * K ? b.oneHot : b.oneHot.subarray(0, size * K);
    }
    return batch;
  }
}
