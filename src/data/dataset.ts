// Random-access datasets over fixed-size uint8 records, and a seeded batch iterator.
//
// A Dataset is a source (an ImageSet, or anything implementing RecordSource) plus a list of source
// record indices; split() and subset() only make new index lists, so every split shares the bytes.
//
// Shuffling: the order of epoch e is permutation(n) from an Rng seeded with deriveSeed(seed, e), and
// the augmentation of source record s in epoch e is drawn from (seed, e, s) (augment.ts), the same
// draws the GPU gather makes. Nothing depends on
// earlier draws, so resuming at {epoch, batchIndex} (stored in a checkpoint) reproduces the run
// exactly, and any batch can be produced on its own in any order.
//
// Batch rows and sampleIndices are described in pipeline-batch.ts. sampleIndices are SOURCE indices
// (into the ImageSet), so a GPU that holds the whole ImageSet can gather train and validation
// batches of any split from the same upload.

import { ConfigError, DatasetFormatError } from '../errors.js';
import type { ImageShape } from './augment.js';
import { batchesPerEpoch, resolveBatchOptions, SampleWriter } from './pipeline-batch.js';
import type {
  Batch,
  BatchBuffers,
  BatchOptions,
  BatchPosition,
  ResolvedBatchOptions,
} from './pipeline-batch.js';
import { PixelHistogram } from './pipeline-normalize.js';
import type { StandardizeNormalization } from './pipeline-normalize.js';
import { epochPositions } from './pipeline-order.js';
import { deriveRng, SeedTag } from './pipeline-seed.js';
import type { ImageSet } from './types.js';

export type { Batch, BatchBuffers, BatchOptions, BatchPosition } from './pipeline-batch.js';
export { allocateBatchBuffers, batchesPerEpoch } from './pipeline-batch.js';
export {
  applyNormalization,
  normalizationTable,
  normalizeRange,
  PixelHistogram,
  validateNormalization,
} from './pipeline-normalize.js';
export type { Normalization, ScaleNormalization, StandardizeNormalization } from './pipeline-normalize.js';

/** Fixed-size uint8 records with labels, addressable by index. */
export interface RecordSource {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** count labels. */
  readonly labels: Int32Array;
  readonly classNames?: string[];
  /** A path or URL, named in errors. */
  readonly source: string;
  /** The H*W*C bytes of record i; may be a view that is only valid until the next call. */
  record(i: number): Uint8Array;
  /** When the records are one contiguous NHWC buffer, record i at i*H*W*C (lets batching skip views). */
  readonly images?: Uint8Array;
}

/** Wraps an ImageSet (record() returns views, no copies) after checking its sizes. */
export function imageSetSource(set: ImageSet): RecordSource {
  const { count, height, width, channels, images, labels } = set;
  for (const [k, v] of Object.entries({ count, height, width, channels })) {
    if (!(Number.isInteger(v) && v >= (k === 'count' ? 0 : 1))) {
      throw new DatasetFormatError(
        `ImageSet ${k} must be a ${k === 'count' ? 'non-negative' : 'positive'} integer, got ${v}`,
        set.source,
      );
    }
  }
  const rb = height * width * channels;
  if (images.length !== count * rb) {
    throw new DatasetFormatError(
      `ImageSet holds ${images.length} image bytes, expected ${count} x ${height}x${width}x${channels} = ${count * rb}`,
      set.source,
      Math.floor(images.length / rb),
    );
  }
  if (labels.length !== count) {
    throw new DatasetFormatError(`ImageSet has ${labels.length} labels for ${count} images`, set.source);
  }
  return {
    count,
    height,
    width,
    channels,
    labels,
    classNames: set.classNames,
    source: set.source,
    images,
    record: (i: number) => images.subarray(i * rb, (i + 1) * rb),
  };
}

function isImageSet(x: ImageSet | RecordSource): x is ImageSet {
  return typeof (x as Partial<RecordSource>).record !== 'function';
}

export interface SplitOptions {
  /** Fraction of the samples that go to validation, strictly between 0 and 1. */
  validationFraction: number;
  seed: number;
  /** Keep each class's proportion in both parts (largest-remainder rounding). */
  stratify?: boolean;
}

export class Dataset {
  readonly source: RecordSource;
  /** Source record index of each dataset position. */
  readonly indices: Uint32Array;

  constructor(data: ImageSet | RecordSource, indices?: Uint32Array) {
    this.source = isImageSet(data) ? imageSetSource(data) : data;
    if (indices) {
      for (let i = 0; i < indices.length; i++) {
        if (indices[i] >= this.source.count) {
          throw new ConfigError(
            `dataset index ${indices[i]} at position ${i} is outside the ${this.source.count} records`,
          );
        }
      }
      this.indices = indices;
    } else {
      this.indices = new Uint32Array(this.source.count);
      for (let i = 0; i < this.indices.length; i++) this.indices[i] = i;
    }
  }

  get length(): number {
    return this.indices.length;
  }

  get shape(): ImageShape {
    return { height: this.source.height, width: this.source.width, channels: this.source.channels };
  }

  /** Values per record (H*W*C). */
  get features(): number {
    return this.source.height * this.source.width * this.source.channels;
  }

  /** Class count: the class names' count when known, else max label + 1 over the whole source. */
  get numClasses(): number {
    if (this.source.classNames) return this.source.classNames.length;
    let max = -1;
    for (const l of this.source.labels) if (l > max) max = l;
    return max + 1;
  }

  /** Bytes of the record at dataset position i. */
  record(i: number): Uint8Array {
    return this.source.record(this.indices[i]);
  }

  label(i: number): number {
    return this.source.labels[this.indices[i]];
  }

  /** A dataset of the given positions of this one (same bytes). */
  subset(positions: ArrayLike<number>): Dataset {
    const idx = new Uint32Array(positions.length);
    for (let i = 0; i < idx.length; i++) {
      const p = positions[i];
      if (!(Number.isInteger(p) && p >= 0 && p < this.length)) {
        throw new ConfigError(`subset position ${p} is outside [0, ${this.length})`);
      }
      idx[i] = this.indices[p];
    }
    return new Dataset(this.source, idx);
  }

  /**
   * Seeded train/validation split. Validation gets round(n * fraction) samples; both parts keep
   * ascending source order (the loader shuffles) and share this dataset's bytes.
   */
  split(opts: SplitOptions): { train: Dataset; validation: Dataset } {
    const f = opts.validationFraction;
    if (!(f > 0 && f < 1)) {
      throw new ConfigError(`validationFraction must be strictly between 0 and 1, got ${f}`);
    }
    if (!Number.isInteger(opts.seed))
      throw new ConfigError(`split seed must be an integer, got ${opts.seed}`);
    const n = this.length;
    const nVal = Math.round(n * f);
    if (nVal < 1 || nVal > n - 1) {
      throw new ConfigError(
        `validationFraction ${f} of ${n} samples gives ${nVal} validation and ${n - nVal} training samples; ` +
          `both parts need at least one — change the fraction or use more data`,
      );
    }
    const rng = deriveRng(opts.seed, SeedTag.split);
    const isVal = new Uint8Array(n);
    if (opts.stratify) {
      const byClass = new Map<number, number[]>();
      for (let i = 0; i < n; i++) {
        const l = this.label(i);
        let list = byClass.get(l);
        if (!list) byClass.set(l, (list = []));
        list.push(i);
      }
      const classes = [...byClass.keys()].sort((a, b) => a - b);
      // Largest remainder: floor every quota, then hand the leftover places to the largest fractions.
      const quota = classes.map((c) => byClass.get(c)!.length * f);
      const take = quota.map(Math.floor);
      let left = nVal - take.reduce((a, b) => a + b, 0);
      const order = classes
        .map((_, k) => k)
        .sort((a, b) => quota[b] - take[b] - (quota[a] - take[a]) || a - b);
      for (const k of order) {
        if (left === 0) break;
        take[k]++;
        left--;
      }
      classes.forEach((c, k) => {
        const members = Uint32Array.from(byClass.get(c)!);
        rng.shuffle(members);
        for (let j = 0; j < take[k]; j++) isVal[members[j]] = 1;
      });
    } else {
      const perm = rng.permutation(n);
      for (let j = 0; j < nVal; j++) isVal[perm[j]] = 1;
    }
    const train: number[] = [];
    const validation: number[] = [];
    for (let i = 0; i < n; i++) (isVal[i] ? validation : train).push(i);
    return { train: this.subset(train), validation: this.subset(validation) };
  }

  /** Per-channel mean/std of this dataset's pixels (compute it on the train split only). */
  computeNormalization(): StandardizeNormalization {
    const h = new PixelHistogram(this.source.channels);
    for (let i = 0; i < this.length; i++) h.add(this.record(i));
    return h.toNormalization();
  }

  loader(opts: BatchOptions): BatchLoader {
    return new BatchLoader(this, opts);
  }
}

/**
 * Seeded batches over a Dataset. Stateless apart from a cache of the current epoch's order: any
 * (epoch, batchIndex) can be asked for at any time.
 */
export class BatchLoader {
  readonly options: ResolvedBatchOptions;
  readonly batchesPerEpoch: number;
  private readonly writer: SampleWriter;
  private cachedEpoch = -1;
  private cachedOrder: Uint32Array = new Uint32Array(0);

  constructor(
    readonly dataset: Dataset,
    opts: BatchOptions,
  ) {
    this.options = resolveBatchOptions(opts, dataset.shape, dataset.numClasses);
    this.batchesPerEpoch = batchesPerEpoch(dataset.length, this.options.batchSize, this.options.lastBatch);
    if (dataset.length === 0)
      throw new ConfigError(`dataset ${dataset.source.source} is empty: no batches to make`);
    if (this.batchesPerEpoch === 0) {
      throw new ConfigError(
        `batch size ${this.options.batchSize} with lastBatch '${this.options.lastBatch}' gives no batches for ` +
          `${dataset.length} samples; use a smaller batch or lastBatch 'keep'`,
      );
    }
    this.writer = new SampleWriter(dataset.shape, this.options, dataset.source.source);
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  /** Dataset positions in the order epoch `epoch` visits them (a permutation of 0..n-1). */
  epochOrder(epoch: number): Uint32Array {
    checkEpoch(epoch);
    if (epoch !== this.cachedEpoch) {
      const n = this.dataset.length;
      this.cachedOrder = epochPositions(n, this.options.seed, epoch, this.options.shuffle);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  /** Real size of batch `batchIndex` (the last one may be smaller when kept). */
  batchSizeAt(batchIndex: number): number {
    this.checkBatchIndex(batchIndex);
    const B = this.options.batchSize;
    return Math.min(B, this.dataset.length - batchIndex * B);
  }

  /**
   * Source record indices of one batch, for a GPU-resident dataset that gathers rows itself.
   * Writes into `out` when given (must hold batchSize entries) and returns the filled view.
   */
  batchIndices(epoch: number, batchIndex: number, out?: Uint32Array): Uint32Array {
    const size = this.batchSizeAt(batchIndex);
    const order = this.epochOrder(epoch);
    const dst = out ?? new Uint32Array(size);
    if (dst.length < size)
      throw new ConfigError(`batchIndices: output holds ${dst.length}, batch has ${size}`);
    const start = batchIndex * this.options.batchSize;
    for (let r = 0; r < size; r++) dst[r] = this.dataset.indices[order[start + r]];
    return dst.length === size ? dst : dst.subarray(0, size);
  }

  /** Buffers for fillBatch, sized for a full batch. */
  allocateBuffers(): BatchBuffers {
    return this.writer.allocate();
  }

  /**
   * Fills caller-owned buffers (no allocation of sample memory) and returns a Batch viewing them;
   * it stays valid until the buffers are filled again.
   */
  fillBatch(epoch: number, batchIndex: number, buffers: BatchBuffers): Batch {
    this.writer.check(buffers);
    const size = this.batchSizeAt(batchIndex);
    const order = this.epochOrder(epoch);
    const start = batchIndex * this.options.batchSize;
    const { source, indices } = this.dataset;
    const F = this.writer.features;
    for (let r = 0; r < size; r++) {
      const s = indices[order[start + r]];
      if (source.images) this.writer.write(buffers, r, source.images, s * F, source.labels[s], s, epoch);
      else this.writer.write(buffers, r, source.record(s), 0, source.labels[s], s, epoch);
    }
    return this.writer.view(buffers, size, epoch, batchIndex);
  }

  /** A freshly allocated batch (convenient, not for the hot loop). */
  batch(epoch: number, batchIndex: number): Batch {
    return this.fillBatch(epoch, batchIndex, this.allocateBuffers());
  }

  /**
   * Batches of one epoch from `startBatch` on. With `buffers`, every batch reuses them (each batch is
   * valid until the next one is produced); without, each batch gets fresh arrays.
   */
  *epoch(epoch: number, startBatch = 0, buffers?: BatchBuffers): Generator<Batch, void, undefined> {
    if (startBatch !== this.batchesPerEpoch) this.checkBatchIndex(startBatch);
    for (let k = startBatch; k < this.batchesPerEpoch; k++) {
      yield buffers ? this.fillBatch(epoch, k, buffers) : this.batch(epoch, k);
    }
  }

  /** The position after `pos` (rolls over to batch 0 of the next epoch). Store it to resume. */
  nextPosition(pos: BatchPosition): BatchPosition {
    this.checkBatchIndex(pos.batchIndex);
    return pos.batchIndex + 1 < this.batchesPerEpoch
      ? { epoch: pos.epoch, batchIndex: pos.batchIndex + 1 }
      : { epoch: pos.epoch + 1, batchIndex: 0 };
  }

  private checkBatchIndex(batchIndex: number): void {
    if (!(Number.isInteger(batchIndex) && batchIndex >= 0 && batchIndex < this.batchesPerEpoch)) {
      throw new ConfigError(
        `batch index ${batchIndex} is outside the epoch's ${this.batchesPerEpoch} batches (0..${this.batchesPerEpoch - 1})`,
      );
    }
  }
}

function checkEpoch(epoch: number): void {
  if (!(Number.isInteger(epoch) && epoch >= 0 && epoch <= 0xffffffff)) {
    throw new ConfigError(`epoch must be an integer in [0, 2^32), got ${epoch}`);
  }
}
