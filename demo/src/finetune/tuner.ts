// Fine-tuning a backbone's head on the user's pictures (runs in the worker). The backbone's
// network is re-headed for the classes (src/nn/reheading.ts) at the chosen picture size and
// trained with freeze 'backbone': only the new head's weights change, and the frozen batch norms
// use their running statistics, so each step is the backbone's forward pass plus the head's
// dense backward. The pictures are decoded and resized once (the library's preprocessing, as the
// CLI reads an image folder) and normalised on the GPU with the backbone's normalisation.

import {
  ConfigError,
  DatasetFormatError,
  Trainer,
  type GpuDevice,
  type Weights,
} from '../../../src/index.js';
import { normalizationMulAdd, type Normalization } from '../../../src/data/normalize.js';
import { specOf } from '../../../src/io/architecture.js';
import type { ModelSpec } from '../../../src/nn/layer-types.js';
import { reheadModel } from '../../../src/nn/reheading.js';
import { decodeResized } from '../folder.js';
import { modelBytes } from '../modelfile.js';
import type { Backbone } from './backbone.js';
import type { ClassFiles, TuneConfig, TuneSummary } from './protocol.js';

export interface StepReport {
  step: number;
  loss: number;
  accuracy: number;
  samplesPerSecond: number;
}

/** Pictures decoded at once: enough to keep the decoder busy, few enough to bound memory. */
const PARALLEL = 8;

interface Pictures {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  bad: { name: string; reason: string }[];
}

async function decodeAll(
  classes: ClassFiles[],
  side: number,
  progress: (t: string) => void,
): Promise<Pictures> {
  const all = classes.flatMap((c, label) => c.files.map((file) => ({ file, label })));
  const bytes = side * side * 3;
  const images = new Uint8Array(all.length * bytes);
  const labels = new Int32Array(all.length);
  const ok = new Array<boolean>(all.length).fill(false);
  const bad: Pictures['bad'] = [];
  for (let start = 0; start < all.length; start += PARALLEL) {
    await Promise.all(
      all.slice(start, start + PARALLEL).map(async ({ file, label }, k) => {
        const i = start + k;
        try {
          await decodeResized(file, [side, side, 3], images.subarray(i * bytes, (i + 1) * bytes));
          labels[i] = label;
          ok[i] = true;
        } catch (e) {
          bad.push({ name: file.name, reason: e instanceof Error ? e.message : String(e) });
        }
      }),
    );
    progress(`Decoded ${Math.min(all.length, start + PARALLEL)} of ${all.length} pictures`);
  }
  // Close the gaps the undecodable pictures left.
  let n = 0;
  for (let i = 0; i < all.length; i++) {
    if (!ok[i]) continue;
    if (n !== i) images.copyWithin(n * bytes, i * bytes, (i + 1) * bytes);
    labels[n++] = labels[i];
  }
  return { images: images.subarray(0, n * bytes), labels: labels.subarray(0, n), count: n, bad };
}

export class FineTune {
  private stopRequested = false;

  private constructor(
    readonly backbone: Backbone,
    readonly spec: ModelSpec,
    readonly classNames: string[],
    readonly side: number,
    readonly normalization: Normalization,
    readonly trainer: Trainer,
    private readonly cfg: TuneConfig,
  ) {}

  /** The backbone re-headed for `classes`, its weights loaded, the new head initialised (seeded). */
  static async create(
    gpu: GpuDevice,
    b: Backbone,
    classes: ClassFiles[],
    cfg: TuneConfig,
  ): Promise<FineTune> {
    const names = classes.map((c) => c.name.trim());
    if (names.length < 2 || names.some((n) => n === '') || new Set(names).size !== names.length)
      throw new ConfigError(
        `Give at least two classes with different, non-empty names (got ${names.join(', ')}).`,
      );
    const { spec, replaced } = reheadModel(specOf(b.model.architecture), [cfg.side, cfg.side, 3], {
      classes: names.length,
      loss: 'softmax-ce',
      sameClasses: false,
    });
    const trainer = await Trainer.create(gpu, spec, {
      seed: cfg.seed,
      optimizer: { name: 'adam', lr: cfg.lr },
      conv: 'implicit',
      freeze: 'backbone',
    });
    const fresh = await trainer.getWeights();
    const head = replaced?.param;
    trainer.setWeights(b.model.weights.map((w, k) => (k === head ? fresh[k] : w)));
    trainer.setRunningStats(b.model.runningStats, b.model.batchesTracked);
    const norm = b.model.normalization as unknown as Normalization;
    return new FineTune(b, spec, names, cfg.side, norm, trainer, cfg);
  }

  stop(): void {
    this.stopRequested = true;
  }

  /** Decodes the pictures and trains the head for cfg.steps steps (fewer when stopped). */
  async train(
    classes: ClassFiles[],
    progress: (text: string) => void,
    onStep: (s: StepReport) => void,
  ): Promise<TuneSummary> {
    const pics = await decodeAll(classes, this.side, progress);
    const counts = this.classNames.map((_, k) => pics.labels.filter((l) => l === k).length);
    const empty = counts.findIndex((n) => n === 0);
    if (empty >= 0)
      throw new DatasetFormatError(
        `class "${this.classNames[empty]}" has no picture that decodes; add pictures (PNG, JPEG, GIF, WebP, BMP) to it`,
        this.classNames[empty],
      );
    const { steps, batchSize } = this.cfg;
    const perEpoch = Math.ceil(pics.count / batchSize);
    progress(`Training the head: ${steps} steps of ${batchSize} pictures`);
    let last = performance.now();
    await this.trainer.fit(
      { kind: 'uint8', ...pics, channels: 3, ...normalizationMulAdd(this.normalization, 3) },
      {
        epochs: Math.ceil(steps / perEpoch),
        batchSize,
        shuffle: true,
        logEvery: 1,
        shouldStop: () => this.stopRequested || this.trainer.step >= steps,
        onStep: async (log) => {
          const now = performance.now();
          onStep({
            step: log.step,
            loss: log.loss,
            accuracy: log.accuracy,
            samplesPerSecond: (log.samples * 1000) / Math.max(1e-3, now - last),
          });
          last = now;
          // Lets a stop request in between steps.
          await new Promise((resolve) => setTimeout(resolve, 0));
        },
      },
    );
    const f = this.trainer.freezeSummary;
    return {
      classNames: this.classNames,
      counts,
      bad: pics.bad,
      trainable: f.params - f.frozenParams,
      frozen: f.frozenParams,
    };
  }

  /** Class probabilities of one picture. */
  async classify(file: Blob): Promise<number[]> {
    const s = this.side;
    const bytes = new Uint8Array(s * s * 3);
    await decodeResized(file, [s, s, 3], bytes);
    const { mul, add } = normalizationMulAdd(this.normalization, 3);
    const x = Float32Array.from(bytes, (v, i) => v * mul[i % 3] + add[i % 3]);
    return [...(await this.trainer.predict(x, { batchSize: 1 }))];
  }

  /** The fine-tuned model file (the CLI's format), recording the backbone it came from. */
  async save(): Promise<{ bytes: Uint8Array; fileName: string }> {
    const weights: Weights[] = await this.trainer.getWeights();
    const stats = await this.trainer.getRunningStats();
    const bytes = modelBytes(
      {
        spec: this.spec,
        inputShape: [this.side, this.side, 3],
        normalization: this.normalization,
        classNames: this.classNames,
      },
      weights,
      { stats, batchesTracked: this.trainer.batchesTracked },
      {
        optimizer: 'adam',
        lr: this.cfg.lr,
        batchSize: this.cfg.batchSize,
        steps: this.trainer.step,
        seed: this.cfg.seed,
        freeze: 'backbone',
        from: {
          file: this.backbone.fileName,
          ...(this.backbone.model.training.source !== undefined
            ? { source: this.backbone.model.training.source }
            : {}),
        },
      },
    );
    const stem = this.backbone.fileName.replace(/\.[^.]*$/, '');
    return { bytes, fileName: `${stem}-finetuned.safetensors` };
  }

  destroy(): void {
    this.trainer.destroy();
  }
}
