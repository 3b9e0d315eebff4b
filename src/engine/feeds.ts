// Which feed (src/engine/feed.ts) each batch source gets, per batch size, residency and
// augmentation, built once and kept: resident data (fits one storage binding) is gathered on the
// GPU, float rows that do not fit are uploaded per batch, and uint8 records that do not fit (or
// streamed ones) stream. The resident GPU copies of datasets live here too, shared by every feed
// of the same data, until forget() releases them.

import { ConfigError, ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { view, type KernelEnv } from '../kernels/common.js';
import {
  loadStreamed,
  memoryReader,
  sourceBytes,
  type BatchSource,
  type FloatData,
  type StreamedData,
  type TrainingData,
  type Uint8Data,
} from './batch-source.js';
import { GatherFeed, HostFeed, StreamFeed, type Feed, type FeedModel, type Residency } from './feed.js';
import {
  fitsResident,
  prepareGathers,
  uploadResident,
  type AugmentOptions,
  type ResidentData,
} from './gpu-data.js';
import type { Plan } from './plan.js';

/** The trainer's feeds and resident copies, per (dataset, batch size, mode, augmentation). */
export class Feeds {
  private readonly feeds = new Map<string, Feed>();
  private readonly residents = new WeakMap<TrainingData, ResidentData>();
  private readonly ids = new WeakMap<BatchSource, string>();
  /** Streamed sets read into memory because they fit the memory budget. */
  private readonly loaded = new WeakMap<BatchSource, Promise<Uint8Data>>();
  private seq = 0;

  constructor(
    private readonly env: KernelEnv,
    private readonly m: FeedModel,
    private readonly augmentSeed: number,
  ) {}

  async get(plan: Plan, data: BatchSource, residency: Residency, augment?: AugmentOptions): Promise<Feed> {
    let id = this.ids.get(data);
    if (!id) this.ids.set(data, (id = `d${this.seq++}`));
    let mode: Feed['mode'];
    if (data.kind === 'stream') {
      if (residency === 'gpu')
        throw new ConfigError(
          "streamed data is loaded onto the GPU by fit (residency 'gpu'), not by a feed.",
        );
      mode = 'stream';
    } else {
      const gpuOk = fitsResident(this.env, data);
      if (residency === 'gpu' && !gpuOk) {
        throw new ShapeError(
          `The dataset does not fit one GPU storage binding (${this.env.device.limits.maxStorageBufferBindingSize} bytes); use residency 'upload'.`,
        );
      }
      mode = residency !== 'upload' && gpuOk ? 'gpu' : data.kind === 'float' ? 'host' : 'stream';
    }
    if (augment && mode === 'host') {
      throw new ConfigError('augment works on uint8 images; this dataset holds float rows.');
    }
    const key = `${id}:${plan.B}:${mode}${augment ? `:aug${JSON.stringify(augment)}` : ''}`;
    const known = this.feeds.get(key);
    if (known) return known;
    const queue = this.env.device.queue;
    let f: Feed;
    if (mode === 'gpu') {
      const d = data as TrainingData;
      const idxBuf = this.env.pool.acquire(plan.B * 4, USAGE.STORAGE | USAGE.COPY_DST, 'batch-indices');
      const idx = view(idxBuf, plan.B);
      const res = this.resident(d);
      const gathers = await prepareGathers(
        this.env,
        res,
        plan.B,
        idx,
        plan.x,
        plan.targets,
        this.m.loss,
        this.m.outputs,
        augment ? { ...augment, seed: this.augmentSeed } : undefined,
      );
      f = new GatherFeed(queue, gathers, idx, augment !== undefined);
    } else if (mode === 'host') {
      f = new HostFeed(queue, data as FloatData, this.m, plan.B);
    } else {
      const d: StreamedData =
        data.kind === 'stream'
          ? data
          : {
              kind: 'stream',
              reader: memoryReader(data as Extract<TrainingData, { kind: 'uint8' }>),
              ...geometryOf(data as Extract<TrainingData, { kind: 'uint8' }>, this.m.inputSize),
            };
      f = await StreamFeed.create(
        this.env,
        plan,
        d,
        this.m,
        augment ? { ...augment, seed: this.augmentSeed } : undefined,
      );
    }
    this.feeds.set(key, f);
    return f;
  }

  /**
   * What a fit or evaluation feeds from: streamed data that fits the memory budget (or must be
   * resident) is read into memory once; everything else as given.
   */
  async source(data: BatchSource, residency: Residency, budget: number | undefined): Promise<BatchSource> {
    if (data.kind !== 'stream') return data;
    const fitsBudget = budget !== undefined && sourceBytes(data) <= budget;
    if (residency === 'upload' || (residency === 'auto' && !fitsBudget)) return data;
    let p = this.loaded.get(data);
    if (!p) {
      p = loadStreamed(data);
      this.loaded.set(data, p);
    }
    const d = await p;
    if (residency === 'auto' && !fitsResident(this.env, d)) return data;
    return d;
  }

  private resident(data: TrainingData): ResidentData {
    let r = this.residents.get(data);
    if (!r) {
      r = uploadResident(this.env, data, this.m.inputSize);
      this.residents.set(data, r);
    }
    return r;
  }

  /** Releases the GPU copy of a dataset and every feed built for it. */
  forget(data: BatchSource): void {
    const r = data.kind === 'stream' ? undefined : this.residents.get(data);
    if (r) {
      for (const b of r.buffers) this.env.pool.release(b);
      this.residents.delete(data as TrainingData);
    }
    const id = this.ids.get(data);
    if (id)
      for (const k of [...this.feeds.keys()])
        if (k.startsWith(`${id}:`)) {
          this.feeds.get(k)!.release(this.env);
          this.feeds.delete(k);
        }
  }
}

function geometryOf(
  d: Extract<TrainingData, { kind: 'uint8' }>,
  features: number,
): Omit<StreamedData, 'kind' | 'reader'> {
  const common = { count: d.count, channels: d.channels, mul: d.mul, add: d.add };
  // A cropped source streams its larger records; the feed cuts the crop from each.
  if (d.crop) return { ...common, height: d.height!, width: d.width!, crop: d.crop };
  const hw = features / d.channels;
  return { ...common, height: d.height ?? hw, width: d.width ?? 1 };
}
