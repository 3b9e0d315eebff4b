// Test-time augmentation (TTA) of a test evaluation, and the scoring it needs. A model trained
// with flip augmentation has seen every training image mirrored half the time, so to it a
// mirrored image is an ordinary input, and its class probabilities for an image and for the
// image's mirror are two estimates of one answer. Their mean is a better estimate:
//   p(x) = (net(x) + net(mirror(x))) / 2,   predicted class = argmax p(x),
//   loss = -log p_y(x) (softmax-ce) or -(y log p + (1 - y) log(1 - p)) (bce).
// It costs a second forward pass (docs/ and bench/results/ hold the measured gains).
// `auto` applies it exactly when the run trained with flip; a run without flip would see
// mirrored images it was never taught, so auto leaves it off (digits, for one, are not
// mirror-symmetric). Validation during training stays one view: it is for watching the run.
//
// The mean and the scores are computed here, on the CPU, from the network's probabilities
// (Trainer.predict); the single-view numbers reported beside them come from the same
// probabilities, so the two are compared like for like. Used by runTraining (src/engine/run.ts)
// and by the CLI's eval and predict.

import { ConfigError } from '../errors.js';
import { centreCropImages, type Size2 } from '../data/augment-rrc.js';
import type { BatchSource, StreamedData, Uint8Data } from './batch-source.js';
import type { Trainer } from './trainer.js';
import type { LossName } from '../nn/losses.js';

export const TTA_CHOICES = ['auto', 'flip', 'none'] as const;
export type TtaChoice = (typeof TTA_CHOICES)[number];
export type Tta = 'flip' | 'none';

/**
 * What `choice` means for a model: `auto` is flip when it trained with flip. Flip needs images
 * (height and width over 1; flat data reads as 1 x features x 1) and class probabilities
 * (softmax-ce or bce); asked for explicitly on anything else it is a ConfigError, and `auto`
 * quietly leaves it off. `option` names the setting in that error (the CLI passes '--tta').
 */
export function resolveTta(
  choice: TtaChoice,
  trainedWithFlip: boolean,
  shape: readonly [number, number, number],
  loss: LossName,
  option = 'tta',
): Tta {
  const want = choice === 'flip' || (choice === 'auto' && trainedWithFlip);
  if (!want) return 'none';
  const why =
    shape[0] < 2 || shape[1] < 2
      ? `the input is ${shape.join('x')}: flat features, not images`
      : loss === 'mse'
        ? 'the model is trained with the mse loss, which gives no class probabilities to average'
        : undefined;
  if (why === undefined) return 'flip';
  if (choice === 'flip') throw new ConfigError(`${option} flip: ${why}; use ${option} none`);
  return 'none';
}

/**
 * What `auto` means for a saved model: the --tta its run was trained with when that was flip or
 * none (so eval and predict score it as train did), else `auto` (model files from before --tta).
 */
export function storedTta(config: unknown): TtaChoice {
  const t = (config as { tta?: unknown } | undefined)?.tta;
  return t === 'flip' || t === 'none' ? t : 'auto';
}

/**
 * The TTA `eval` and `predict` use for a saved model: `asked`, where `auto` follows the run's
 * stored --tta, else whether it trained with flip.
 */
export function ttaForModel(
  asked: TtaChoice,
  config: unknown,
  shape: readonly [number, number, number],
  loss: LossName,
  option = 'tta',
): Tta {
  return resolveTta(
    asked === 'auto' ? storedTta(config) : asked,
    trainedWithFlip(config),
    shape,
    loss,
    option,
  );
}

/** Whether a stored training configuration's augmentation included flip. */
export function trainedWithFlip(config: unknown): boolean {
  const aug = (config as { augment?: unknown } | undefined)?.augment;
  return typeof aug === 'object' && aug !== null && (aug as { flip?: unknown }).flip === true;
}

/** The horizontal mirror of `count` NHWC uint8 images of height x width x channels. */
export function mirrorImages(
  images: Uint8Array,
  count: number,
  height: number,
  width: number,
  channels: number,
): Uint8Array {
  const row = width * channels;
  if (images.length < count * height * row)
    throw new RangeError(
      `mirrorImages: ${images.length} bytes hold fewer than ${count} images of ${height}x${width}x${channels}`,
    );
  const out = new Uint8Array(count * height * row);
  for (let r = 0; r < count * height; r++) {
    const base = r * row;
    for (let x = 0; x < width; x++) {
      const from = base + (width - 1 - x) * channels;
      const to = base + x * channels;
      for (let c = 0; c < channels; c++) out[to + c] = images[from + c];
    }
  }
  return out;
}

/** Element-wise mean of two views' outputs [count, outputs]. */
export function meanOfViews(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new RangeError(`meanOfViews: ${a.length} and ${b.length} outputs`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = 0.5 * (a[i] + b[i]);
  return out;
}

/** Sums over a set of samples, from output probabilities: total loss and number right. */
export interface ScoreSums {
  loss: number;
  correct: number;
  count: number;
}

/** Adds one chunk's sums into a running total. */
export function addScores(to: ScoreSums, s: ScoreSums): void {
  to.loss += s.loss;
  to.correct += s.correct;
  to.count += s.count;
}

// The smallest normal float32: a probability that rounded to 0 in float32 counts as this, which
// bounds one sample's loss at about 87.3, as float32 logits would.
const TINY = 1.1754943508222875e-38;

/**
 * Loss and correct predictions of outputs [count, outputs] (probabilities after the final
 * activation) against integer labels: softmax-ce with outputs = classes, or bce with one output.
 */
export function scoreProbabilities(
  p: Float32Array,
  labels: Int32Array,
  outputs: number,
  loss: LossName,
): ScoreSums {
  const count = labels.length;
  if (p.length !== count * outputs)
    throw new RangeError(`scoreProbabilities: ${p.length} outputs for ${count} samples of ${outputs}`);
  let total = 0;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const y = labels[i];
    if (loss === 'bce' || outputs === 1) {
      const q = p[i];
      total -= y === 1 ? Math.log(Math.max(q, TINY)) : Math.log(Math.max(1 - q, TINY));
      // Class 1 when p > 0.5, as the engine's accuracy (z > 0) and eval's argmax of [1 - p, p].
      if ((q > 0.5 ? 1 : 0) === y) correct++;
      continue;
    }
    let best = 0;
    for (let k = 1; k < outputs; k++) if (p[i * outputs + k] > p[i * outputs + best]) best = k;
    if (best === y) correct++;
    total -= Math.log(Math.max(p[i * outputs + y], TINY));
  }
  return { loss: total, correct, count };
}

/** A test evaluation with flip TTA: the mean of the two views, and the first view alone. */
export interface TtaScores {
  loss: number;
  accuracy: number;
  count: number;
  single: { loss: number; accuracy: number };
}

/** Records of a source a chunk at a time: all of it when resident, else read from its reader. */
async function* sourceChunks(
  src: Uint8Data | StreamedData,
  chunk: number,
): AsyncGenerator<{ images: Uint8Array; labels: Int32Array; count: number }> {
  if (src.kind === 'uint8') {
    // Resident: views a chunk at a time, so the mirror copy (and the GPU copies) stay one chunk.
    const R = src.images.length / Math.max(1, src.count);
    for (let from = 0; from < src.count; from += chunk) {
      const n = Math.min(chunk, src.count - from);
      yield {
        images: src.images.subarray(from * R, (from + n) * R),
        labels: src.labels.subarray(from, from + n),
        count: n,
      };
    }
    return;
  }
  const R = src.reader.recordBytes;
  for (let from = 0; from < src.count; from += chunk) {
    const n = Math.min(chunk, src.count - from);
    const images = new Uint8Array(n * R);
    const labels = new Int32Array(n);
    await src.reader.read(
      Uint32Array.from({ length: n }, (_, i) => from + i),
      images,
      labels,
    );
    yield { images, labels, count: n };
  }
}

/**
 * Evaluates `src` (resident uint8 images, or streamed from shards `chunk` records at a time) with
 * flip TTA. `shape` is the model's [h, w, c].
 */
export async function evaluateWithFlip(
  trainer: Trainer,
  src: BatchSource,
  o: {
    shape: readonly [number, number, number];
    outputs: number;
    loss: LossName;
    batchSize: number;
    chunk?: number;
  },
): Promise<TtaScores> {
  if (src.kind === 'float') throw new ConfigError('tta flip: the data is not images; use tta none');
  const [h, w, c] = o.shape;
  const both: ScoreSums = { loss: 0, correct: 0, count: 0 };
  const one: ScoreSums = { loss: 0, correct: 0, count: 0 };
  for await (const chunk of sourceChunks(src, o.chunk ?? 4096)) {
    // Records stored larger than the input (random-resized crop) are viewed through their centre.
    const part = src.crop
      ? {
          ...chunk,
          images: centreCropImages(chunk.images, chunk.count, src as Size2, src.crop, c),
        }
      : chunk;
    const [a, b] = await predictBothViews(trainer, part, src, [h, w, c], o.batchSize);
    addScores(both, scoreProbabilities(meanOfViews(a, b), part.labels, o.outputs, o.loss));
    addScores(one, scoreProbabilities(a, part.labels, o.outputs, o.loss));
  }
  const n = Math.max(1, both.count);
  return {
    loss: both.loss / n,
    accuracy: both.correct / n,
    count: both.count,
    single: { loss: one.loss / n, accuracy: one.correct / n },
  };
}

/**
 * The network's outputs for `part`'s images and for their mirrors, [count, outputs] each.
 * `norm` carries the per-channel normalisation (mul, add) the images are fed with.
 */
export async function predictBothViews(
  trainer: Trainer,
  part: { images: Uint8Array; labels: Int32Array; count: number },
  norm: { mul: ArrayLike<number>; add: ArrayLike<number> },
  shape: readonly [number, number, number],
  batchSize: number,
): Promise<[Float32Array, Float32Array]> {
  const [h, w, c] = shape;
  const view = (images: Uint8Array): Uint8Data => ({
    kind: 'uint8',
    images,
    count: part.count,
    labels: part.labels,
    channels: c,
    height: h,
    width: w,
    mul: norm.mul,
    add: norm.add,
  });
  // One view on the GPU at a time: each is forgotten (its GPU copy freed) before the next.
  const plain = view(part.images.subarray(0, part.count * h * w * c));
  let a: Float32Array;
  try {
    a = await trainer.predict(plain, { batchSize });
  } finally {
    trainer.forget(plain);
  }
  const mirrored = view(mirrorImages(part.images, part.count, h, w, c));
  try {
    return [a, await trainer.predict(mirrored, { batchSize })];
  } finally {
    trainer.forget(mirrored);
  }
}

/** A test evaluation: with flip TTA, `single` holds the first view's scores alone. */
export interface TestResult {
  loss: number;
  accuracy: number;
  count: number;
  tta: Tta;
  single?: { loss: number; accuracy: number };
}

/**
 * Scores `src` with the trainer's current weights: one view (Trainer.evaluate), or with flip TTA
 * the mean of each image and its mirror. `shape` is the model's [h, w, c].
 */
export async function evaluateTest(
  trainer: Trainer,
  src: BatchSource,
  o: { tta: Tta; shape: readonly [number, number, number]; batchSize?: number },
): Promise<TestResult> {
  const batchSize = o.batchSize ?? 256;
  if (o.tta === 'none') return { ...(await trainer.evaluate(src, { batchSize })), tta: 'none' };
  const r = await evaluateWithFlip(trainer, src, {
    shape: o.shape,
    outputs: trainer.model.outputSize,
    loss: trainer.spec.loss,
    batchSize,
  });
  return { loss: r.loss, accuracy: r.accuracy, count: r.count, tta: 'flip', single: r.single };
}
