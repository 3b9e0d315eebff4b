// Batch assembly: how each step's X and targets reach the plan's input buffers, for every kind of
// BatchSource (batch-source.ts), plus the NaN scans of float inputs.
//
//   GatherFeed  resident data (fits one storage binding): each step writes only the batch's sample
//               indices; gather kernels (gpu-data.ts) build X and the targets on the device,
//               optionally augmenting uint8 images. A step that repeats the previous batch exactly
//               (full-batch training) skips the gather.
//   HostFeed    float rows that do not fit one binding: the batch is assembled on the CPU, scanned
//               for NaN/Infinity and written into X and the targets.
//   StreamFeed  streamed uint8 records (or a uint8 set too large for one binding): a RecordReader
//               fills host slots `readAhead` batches ahead (on worker threads for shards); each
//               step uploads its batch into one of TWO GPU slots, alternating, and gathers it with
//               indices 0..n-1. Batch k+1 is written into the other slot while the GPU still runs
//               step k (the trainer keeps up to maxInFlight steps in flight), and the queue orders
//               that write after every step already submitted, so a slot is never overwritten
//               while a step reads it. Training batches are augmented on the CPU with the data
//               library's augmentRecord, whose draws and pixels equal the GPU gather's for the
//               same (seed, epoch, sample): a streamed augmented run equals a resident one.
// Every feed walks `order` (from the data library's seeded pipeline) in batches of B: begin() once
// per epoch or evaluation pass, load() per batch, encode() into the step's compute pass. Which
// feed a source gets, and the resident copies they share, is src/engine/feeds.ts.

import { NonFiniteInputError } from '../errors.js';
import { USAGE, writeArray } from '../gpu/buffers.js';
import { view, type KernelEnv, type TensorView } from '../kernels/common.js';
import { GATHER_ACTIVE_OFFSET, type GatherDispatch } from '../kernels/data.js';
import { augmentRecord, isIdentityAugment, validateAugmentOptions } from '../data/augment.js';
import type { ImageShape } from '../data/augment.js';
import type { LossName } from '../nn/losses.js';
import {
  checkLabels,
  firstNonFinite,
  type BatchSource,
  type FloatData,
  type RecordReader,
  type StreamedData,
} from './batch-source.js';
import {
  allocateBatchSlot,
  prepareGathers,
  writeGatherEpoch,
  type AugmentOptions,
  type ResidentData,
} from './gpu-data.js';
import { encodeAll, type Plan } from './plan.js';

export type Residency = 'auto' | 'gpu' | 'upload';

/** What every feed needs to know about the model it feeds. */
export interface FeedModel {
  inputSize: number;
  outputs: number;
  loss: LossName;
}

export interface Feed {
  /** 'gpu' (resident, gathered by index), 'host' (float batches uploaded) or 'stream'. */
  readonly mode: 'gpu' | 'host' | 'stream';
  /** Starts a pass over `order` in batches of B, at batch `first`. */
  begin(order: Uint32Array, B: number, first: number): void;
  /** Puts batch `bi` of the pass into the plan's inputs; returns its row count. */
  load(plan: Plan, bi: number, where: string): Promise<number>;
  /** Encodes this step's gathers (if any) into the pass. */
  encode(pass: GPUComputePassEncoder): void;
  /** The dispatches encode() would encode (for profiling). */
  dispatches(): GatherDispatch[];
  /** Sets the augmentation epoch (augmented feeds only). */
  setEpoch(queue: GPUQueue, epoch: number): void;
  /** Waits for reads still in flight (after a stop or a failure). */
  settle(): Promise<void>;
  release(env: KernelEnv): void;
}

const scalar = new Uint32Array(1);

function setGatherActive(queue: GPUQueue, gathers: readonly GatherDispatch[], n: number): void {
  scalar[0] = n;
  for (const g of gathers) writeArray(queue, g.params, GATHER_ACTIVE_OFFSET, scalar);
}

export class GatherFeed implements Feed {
  readonly mode = 'gpu';
  private order: Uint32Array = new Uint32Array(0);
  private B = 1;
  private active = -1;
  private skip = false;
  private readonly idxHost: Uint32Array;

  constructor(
    private readonly queue: GPUQueue,
    private readonly gathers: GatherDispatch[],
    private readonly idx: TensorView,
    private readonly augmented: boolean,
  ) {
    this.idxHost = new Uint32Array(idx.length);
  }

  begin(order: Uint32Array, B: number): void {
    this.order = order;
    this.B = B;
  }

  load(plan: Plan, bi: number): Promise<number> {
    const from = bi * this.B;
    const n = Math.min(this.B, this.order.length - from);
    const ids = this.order.subarray(from, from + n);
    // Full-batch training (same rows every step) leaves X and the targets in place: skip the
    // gather when this plan's inputs already hold exactly this batch of this dataset.
    // An augmented batch differs every epoch even for the same rows: always gather it.
    let same = plan.inputsFrom === this && this.active === n && !this.augmented;
    for (let i = 0; same && i < n; i++) same = this.idxHost[i] === ids[i];
    this.skip = same;
    if (!same) {
      this.idxHost.fill(0);
      this.idxHost.set(ids);
      writeArray(this.queue, this.idx.buffer, 0, this.idxHost);
      if (this.active !== n) setGatherActive(this.queue, this.gathers, n);
      this.active = n;
      plan.inputsFrom = this;
    }
    return Promise.resolve(n);
  }

  encode(pass: GPUComputePassEncoder): void {
    encodeAll(pass, this.dispatches());
  }

  dispatches(): GatherDispatch[] {
    return this.skip ? [] : this.gathers;
  }

  setEpoch(queue: GPUQueue, epoch: number): void {
    if (this.augmented) writeGatherEpoch(queue, this.gathers, epoch);
  }

  settle(): Promise<void> {
    return Promise.resolve();
  }

  release(env: KernelEnv): void {
    env.pool.release(this.idx.buffer);
  }
}

export class HostFeed implements Feed {
  readonly mode = 'host';
  private order: Uint32Array = new Uint32Array(0);
  private B = 1;
  private readonly X: Float32Array;
  private readonly Y: Uint32Array | Float32Array;

  constructor(
    private readonly queue: GPUQueue,
    private readonly data: FloatData,
    private readonly m: FeedModel,
    B: number,
  ) {
    this.X = new Float32Array(B * m.inputSize);
    this.Y = m.loss === 'softmax-ce' ? new Uint32Array(B) : new Float32Array(B * m.outputs);
  }

  begin(order: Uint32Array, B: number): void {
    this.order = order;
    this.B = B;
  }

  load(plan: Plan, bi: number, where: string): Promise<number> {
    plan.inputsFrom = this;
    const { data: d, X, Y } = this;
    const K = this.m.inputSize;
    const outputs = this.m.outputs;
    const from = bi * this.B;
    const n = Math.min(this.B, this.order.length - from);
    const ids = this.order.subarray(from, from + n);
    X.fill(0);
    for (let i = 0; i < n; i++) X.set(d.x.subarray(ids[i] * K, (ids[i] + 1) * K), i * K);
    const bad = firstNonFinite(X, 0, n * K);
    if (bad >= 0) {
      throw new NonFiniteInputError(
        `Input ${where}: sample ${ids[Math.floor(bad / K)]}, feature ${bad % K} is ${X[bad]}. Clean the data (no NaN/Infinity) before training.`,
      );
    }
    Y.fill(0);
    for (let i = 0; i < n; i++) {
      const s = ids[i];
      if (d.targets) (Y as Float32Array).set(d.targets.subarray(s * outputs, (s + 1) * outputs), i * outputs);
      else if (Y instanceof Uint32Array) Y[i] = d.labels![s];
      else if (outputs === 1) Y[i] = d.labels![s];
      else Y[i * outputs + d.labels![s]] = 1;
    }
    writeArray(this.queue, plan.x.buffer, 0, X);
    writeArray(this.queue, plan.targets.buffer, 0, Y);
    return Promise.resolve(n);
  }

  encode(): void {}
  dispatches(): GatherDispatch[] {
    return [];
  }
  setEpoch(): void {}
  settle(): Promise<void> {
    return Promise.resolve();
  }
  release(): void {}
}

interface HostSlot {
  images: Uint8Array;
  labels: Int32Array;
  /** Batch index this slot holds or is reading, and the read. */
  batch: number;
  read: Promise<void>;
}

interface GpuSlot {
  res: ResidentData;
  gathers: GatherDispatch[];
  active: number;
}

/** A SharedArrayBuffer where there is one, so a reader's worker thread can fill it in place. */
function sharedBytes(n: number): ArrayBuffer | SharedArrayBuffer {
  return typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(n) : new ArrayBuffer(n);
}

/** The CPU twin's settings for a streamed source: augmentation, a crop, or both. */
interface StreamAugment {
  opts: AugmentOptions;
  seed: number;
  shape: ImageShape;
  /** The output size: the source's crop, or the record. */
  out: { height: number; width: number };
}

export class StreamFeed implements Feed {
  readonly mode = 'stream';
  private order: Uint32Array = new Uint32Array(0);
  private B = 1;
  private cur = 0;
  private readonly host: HostSlot[];
  /** Plain (unshared) copies of the batch being uploaded. */
  private readonly images: Uint8Array;
  private readonly labels: Int32Array;
  /** Bytes of one input (what the network sees) and of one stored record (larger when cropped). */
  private readonly R: number;
  private readonly Rrec: number;
  private readonly classes: number;
  private epoch = 0;

  private constructor(
    private readonly queue: GPUQueue,
    private readonly reader: RecordReader,
    private readonly slots: GpuSlot[],
    private readonly idx: TensorView,
    m: FeedModel,
    B: number,
    readAhead: number,
    private readonly augment: StreamAugment | undefined,
  ) {
    this.R = m.inputSize;
    this.Rrec = reader.recordBytes;
    this.classes = m.loss === 'bce' && m.outputs === 1 ? 2 : m.outputs;
    const imageBytes = Math.ceil((B * this.R) / 4) * 4;
    this.images = new Uint8Array(imageBytes);
    this.labels = new Int32Array(B);
    const recordBytes = Math.ceil((B * this.Rrec) / 4) * 4;
    this.host = Array.from({ length: readAhead }, () => ({
      images: new Uint8Array(sharedBytes(recordBytes)),
      labels: new Int32Array(sharedBytes(B * 4)),
      batch: -1,
      read: Promise.resolve(),
    }));
  }

  static async create(
    env: KernelEnv,
    plan: Plan,
    d: StreamedData,
    m: FeedModel,
    augment?: AugmentOptions & { seed: number },
  ): Promise<StreamFeed> {
    const shape = { height: d.height, width: d.width, channels: d.channels };
    const opts = augment ? validateAugmentOptions(augment, shape) : undefined;
    // A cropped source always goes through the CPU twin: its centre box at least.
    const out = d.crop ?? shape;
    const aug =
      (opts && !isIdentityAugment(opts)) || d.crop
        ? { opts: opts ?? {}, seed: (augment?.seed ?? 0) >>> 0, shape, out }
        : undefined;
    const B = plan.B;
    const idxBuf = env.pool.acquire(B * 4, USAGE.STORAGE | USAGE.COPY_DST, 'stream-indices');
    const idx = view(idxBuf, B);
    writeArray(
      env.device.queue,
      idxBuf,
      0,
      Uint32Array.from({ length: B }, (_, i) => i),
    );
    const slots: GpuSlot[] = [];
    for (let s = 0; s < 2; s++) {
      const res = allocateBatchSlot(env, { ...d, ...d.crop }, B, m.inputSize);
      const gathers = await prepareGathers(env, res, B, idx, plan.x, plan.targets, m.loss, m.outputs);
      slots.push({ res, gathers, active: -1 });
    }
    return new StreamFeed(env.device.queue, d.reader, slots, idx, m, B, d.readAhead ?? 2, aug);
  }

  begin(order: Uint32Array, B: number, first: number): void {
    this.order = order;
    this.B = B;
    for (const h of this.host) h.batch = -1;
    for (let k = 0; k < this.host.length; k++) this.request(first + k);
  }

  /** Starts reading batch bi into its host slot, after whatever that slot was reading. */
  private request(bi: number): void {
    const from = bi * this.B;
    if (from >= this.order.length) return;
    const h = this.host[bi % this.host.length];
    const n = Math.min(this.B, this.order.length - from);
    const ids = this.order.slice(from, from + n);
    h.batch = bi;
    h.read = h.read
      .catch(() => undefined)
      .then(() => this.reader.read(ids, h.images.subarray(0, n * this.Rrec), h.labels.subarray(0, n)));
    // Settled by load() or settle(); never an unhandled rejection while waiting its turn.
    h.read.catch(() => undefined);
  }

  async load(plan: Plan, bi: number, where: string): Promise<number> {
    const h = this.host[bi % this.host.length];
    if (h.batch !== bi) this.request(bi);
    const from = bi * this.B;
    const n = Math.min(this.B, this.order.length - from);
    await h.read;
    checkLabels(h.labels, n, this.order.subarray(from, from + n), this.classes, where);
    const slot = this.slots[bi % 2];
    this.cur = bi % 2;
    const bytes = Math.ceil((n * this.R) / 4) * 4;
    // Dawn's writeBuffer takes no SharedArrayBuffer: one copy into plain staging arrays (through
    // the augmentation when on).
    const a = this.augment;
    if (a) {
      const R = this.R;
      const Rrec = this.Rrec;
      for (let i = 0; i < n; i++) {
        const src = h.images.subarray(i * Rrec, (i + 1) * Rrec);
        augmentRecord(
          src,
          this.images.subarray(i * R, (i + 1) * R),
          a.shape,
          a.opts,
          a.seed,
          this.epoch,
          this.order[from + i],
          { out: a.out },
        );
      }
    } else this.images.set(h.images.subarray(0, bytes));
    this.labels.set(h.labels.subarray(0, n));
    this.queue.writeBuffer(slot.res.x.buffer, 0, this.images.buffer, 0, bytes);
    this.queue.writeBuffer(slot.res.y.buffer, 0, this.labels.buffer, 0, n * 4);
    if (slot.active !== n) setGatherActive(this.queue, slot.gathers, n);
    slot.active = n;
    plan.inputsFrom = this;
    // writeBuffer copied the batch: the host slot can read batch bi + readAhead now.
    this.request(bi + this.host.length);
    return n;
  }

  encode(pass: GPUComputePassEncoder): void {
    encodeAll(pass, this.dispatches());
  }

  dispatches(): GatherDispatch[] {
    return this.slots[this.cur].gathers;
  }

  setEpoch(_queue: GPUQueue, epoch: number): void {
    this.epoch = epoch;
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.host.map((h) => h.read));
  }

  release(env: KernelEnv): void {
    env.pool.release(this.idx.buffer);
    for (const s of this.slots) for (const b of s.res.buffers) env.pool.release(b);
  }
}

/** Checks float data for NaN/Infinity up front, naming the sample and its first batch. */
export function checkFiniteRows(
  data: BatchSource,
  inputSize: number,
  order: ArrayLike<number>,
  B: number,
  epoch: number,
): void {
  if (data.kind !== 'float') return;
  const bad = firstNonFinite(data.x);
  if (bad < 0) return;
  const K = inputSize;
  const sample = Math.floor(bad / K);
  let pos = -1;
  for (let i = 0; i < order.length; i++) if (order[i] === sample) pos = i;
  const where = pos >= 0 ? `batch ${Math.floor(pos / B)} of epoch ${epoch + 1}` : 'the data';
  throw new NonFiniteInputError(
    `Input ${where}: sample ${sample}, feature ${bad % K} is ${data.x[bad]}. Clean the data (no NaN/Infinity) before training.`,
  );
}
