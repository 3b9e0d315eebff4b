// `webgpu-trainer eval MODEL`: loss, accuracy, per-class precision and recall, and the confusion
// matrix of a saved model on a dataset split (by default the test split of the dataset it was
// trained on), preprocessed with the normalisation stored in the model file. A set whose images
// were left on disk (a shard set or decoded cache over --memory-budget) is evaluated a chunk of
// records at a time, so eval holds no more than one chunk of images whatever the set's size.

import { trainedWithRrc } from './config.js';
import { ShardRecordReader } from '../data/shard-records.js';
import type { ImageSet } from '../data/types.js';
import { resolveModel } from '../nn/layers.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { parseBytes } from './config.js';
import { toTrainingData } from '../data/batches.js';
import type { OpenedDataset as LoadedData } from '../data/open.js';
import { loadData, matchClasses } from './data-flags.js';
import { openGpu } from './adapter.js';
import { pct, table, type CliContext } from './terminal.js';
import { argmax, classProbabilities, inferenceTrainer, loadModelForUse, type LoadedModel } from './model.js';
import {
  addScores,
  meanOfViews,
  predictBothViews,
  scoreProbabilities,
  ttaForModel,
  TTA_CHOICES,
  type ScoreSums,
  type Tta,
  type TtaChoice,
} from '../engine/tta.js';
import type { Trainer } from '../engine/trainer.js';
import type { CliIo } from './terminal.js';
import { TTA_HELP } from './tta.js';

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary:
    'Evaluate a model file on a dataset: loss, accuracy, per-class precision/recall and the confusion matrix.',
  usage: 'webgpu-trainer eval MODEL [options]',
  positionals: { min: 1, max: 1 },
  options: [
    {
      name: 'data',
      type: 'string',
      arg: 'NAME|PATH',
      defaultText: 'the dataset the model was trained on',
      help: 'dataset name or folder (as for train)',
    },
    {
      name: 'split',
      type: 'choice',
      choices: ['test', 'train'],
      defaultText: 'test, or all of the data when it has no test split',
      help: 'which split to evaluate (a plain class-per-folder tree is all train)',
    },
    {
      name: 'limit',
      type: 'int',
      arg: 'N',
      min: 1,
      defaultText: 'all',
      help: 'evaluate only the first N samples',
    },
    { name: 'batch-size', type: 'int', arg: 'N', min: 1, default: 256, help: 'samples per forward pass' },
    {
      name: 'memory-budget',
      type: 'string',
      arg: 'SIZE',
      defaultText: 'none',
      help: 'most memory the images may take (e.g. 512MiB); a larger set is read from its shards (or decoded cache) a chunk at a time',
    },
    {
      name: 'tta',
      type: 'choice',
      choices: TTA_CHOICES,
      default: 'auto',
      help: TTA_HELP.replace('for the test evaluation', 'for the evaluation'),
    },
    { name: 'json', type: 'boolean', default: false, help: 'print the results as JSON' },
  ],
  examples: [
    'webgpu-trainer eval runs/fashion-mnist/model.safetensors',
    'webgpu-trainer eval model.safetensors --data ./photos',
  ],
};

export interface ClassReport {
  accuracy: number;
  precision: number[];
  recall: number[];
  support: number[];
  /** confusion[true][predicted]. */
  confusion: number[][];
}

export function classReport(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: number,
): ClassReport {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]][predicted[i]]++;
    if (labels[i] === predicted[i]) correct++;
  }
  const support = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const predictedCount = confusion[0].map((_, k) => confusion.reduce((s, row) => s + row[k], 0));
  return {
    accuracy: labels.length ? correct / labels.length : 0,
    precision: confusion.map((row, k) => (predictedCount[k] ? row[k] / predictedCount[k] : 0)),
    recall: confusion.map((row, k) => (support[k] ? row[k] / support[k] : 0)),
    support,
    confusion,
  };
}

/** The set's records a chunk at a time: all of it when in memory, else read from `shards`. */
async function* chunks(
  set: ImageSet,
  shards: string | undefined,
  size: number,
): AsyncGenerator<{ images: Uint8Array; labels: Int32Array; count: number }> {
  if (!shards) {
    yield set;
    return;
  }
  const reader = await ShardRecordReader.open(shards, { worker: false });
  try {
    const R = reader.recordBytes;
    const images = new Uint8Array(size * R);
    const labels = new Int32Array(size);
    for (let from = 0; from < set.count; from += size) {
      const n = Math.min(size, set.count - from);
      const ids = Uint32Array.from({ length: n }, (_, i) => from + i);
      await reader.read(ids, images.subarray(0, n * R), labels.subarray(0, n));
      yield { images: images.subarray(0, n * R), labels: labels.slice(0, n), count: n };
    }
  } finally {
    await reader.close();
  }
}

/** The split to evaluate, loaded with the model's input shape: what `eval` scores. */
interface EvalSet {
  dataSpec: string;
  data: LoadedData;
  split: 'test' | 'train' | 'all';
  set: ImageSet;
  /** The shard folder the set's images stay in (read a chunk at a time), if they were left on disk. */
  shards?: string;
  tta: Tta;
  /** Records per chunk. */
  chunkSize: number;
}

async function loadEvalSet(args: ParsedArgs, m: LoadedModel, io: CliIo): Promise<EvalSet> {
  const v = args.values;
  const budget = parseBytes(v['memory-budget'] as string | undefined);
  const training = m.model.training as { config?: { data?: unknown; resize?: unknown; augment?: unknown } };
  const tta = ttaForModel(v.tta as TtaChoice, training.config, m.shape, m.spec.loss, '--tta');
  const dataSpec =
    typeof v.data === 'string'
      ? v.data
      : typeof training.config?.data === 'string'
        ? training.config.data
        : undefined;
  if (!dataSpec) throw new UsageError(`${m.file} does not name its dataset; pass --data NAME|PATH`);
  const [h, w, c] = m.shape;
  if (c !== 1 && c !== 3)
    throw new UsageError(`${m.file}: input has ${c} channels; eval reads 1- or 3-channel images`);
  const resize = training.config?.resize === 'center-crop' ? 'center-crop' : 'resize';
  // A model trained with random-resized crop is evaluated as it validated: on the centre of
  // records stored 8/7 its input size.
  const rrc = trainedWithRrc(training.config);
  const data = await loadData(
    dataSpec,
    { imageSize: [h, w], channels: c, resize, rrc },
    (v.limit as number | undefined) ?? null,
    (line) => io.err(line + '\n'),
    budget ?? undefined,
  );
  // Without --split: the test split when there is one, else everything (a plain folder).
  const split = (v.split as 'test' | 'train' | undefined) ?? (data.test ? 'test' : 'all');
  const set = split === 'test' ? data.test : data.train;
  if (!set) throw new UsageError(`${dataSpec} has no test split; leave out --split to evaluate all of it`);
  const [ih, iw] = set.crop ? [set.crop.height, set.crop.width] : [set.height, set.width];
  if (ih * iw * set.channels !== m.model.architecture.inputSize) {
    throw new UsageError(
      `${dataSpec} holds ${ih}x${iw}x${set.channels} images but ${m.file} takes ${h}x${w}x${c}; evaluate it on data of its shape`,
    );
  }
  const B = v['batch-size'] as number;
  const R = set.height * set.width * set.channels;
  // Half the budget for a chunk of images (the GPU copy of the chunk is the other half); a
  // quarter with flip TTA, which holds the chunk's mirror beside it.
  const share = tta === 'flip' ? 4 : 2;
  const chunkSize = Math.max(B, Math.min(65536, Math.floor((budget ?? Infinity) / share / R)));
  const shards = split === 'test' ? data.testShards : data.trainShards;
  return { dataSpec, data, split, set, shards, tta, chunkSize };
}

interface EvalScores {
  loss: number;
  accuracy: number;
  /** With flip TTA: the first view's scores alone. */
  single?: { loss: number; accuracy: number };
  labels: Int32Array;
  predicted: Int32Array;
}

/** Scores the set a chunk at a time: loss, accuracy, and every sample's label and predicted class. */
async function scoreSet(trainer: Trainer, m: LoadedModel, e: EvalSet, B: number): Promise<EvalScores> {
  const { set, tta } = e;
  const classes = m.classNames.length;
  const labels = new Int32Array(set.count);
  const predicted = new Int32Array(set.count);
  const outputs = resolveModel(m.spec).outputSize;
  let lossSum = 0;
  let correct = 0;
  let done = 0;
  let only: { loss: number; accuracy: number } | undefined;
  // With flip TTA: sums over the two views' mean, and over the first view alone (src/engine/tta.ts).
  const both: ScoreSums = { loss: 0, correct: 0, count: 0 };
  const one: ScoreSums = { loss: 0, correct: 0, count: 0 };
  for await (const part of chunks(set, e.shards, e.chunkSize)) {
    const mapped = matchClasses(
      part.labels,
      e.data.classNames,
      m.classNames,
      e.data.namedClasses,
      e.dataSpec,
    );
    const badLabel = mapped.findIndex((l) => l < 0 || l >= classes);
    if (badLabel >= 0) {
      throw new UsageError(
        `${e.dataSpec}: label ${mapped[badLabel]} of sample ${done + badLabel} is not one of the model's ${classes} classes`,
      );
    }
    const td = toTrainingData(
      { ...set, images: part.images, labels: mapped, count: part.count },
      m.normalization,
    );
    if (tta === 'flip') {
      const [a, b] = await predictBothViews(trainer, { ...part, labels: mapped }, td, m.shape, B);
      const mean = meanOfViews(a, b);
      addScores(both, scoreProbabilities(mean, mapped, outputs, m.spec.loss));
      addScores(one, scoreProbabilities(a, mapped, outputs, m.spec.loss));
      classProbabilities(mean, part.count, outputs).forEach((p, i) => (predicted[done + i] = argmax(p)));
    } else {
      const r = await trainer.evaluate(td, { batchSize: B });
      only = done === 0 && part.count === set.count ? r : undefined;
      lossSum += r.loss * part.count;
      correct += r.accuracy * part.count;
      const probs = classProbabilities(await trainer.predict(td, { batchSize: B }), part.count, outputs);
      probs.forEach((p, i) => (predicted[done + i] = argmax(p)));
    }
    labels.set(mapped, done);
    trainer.forget(td);
    done += part.count;
  }
  // One chunk (the set was in memory): the evaluation's own means, not re-weighted.
  const n = Math.max(1, set.count);
  if (tta === 'flip') {
    const single = { loss: one.loss / n, accuracy: one.correct / n };
    return { loss: both.loss / n, accuracy: both.correct / n, single, labels, predicted };
  }
  const loss = only ? only.loss : lossSum / set.count;
  const accuracy = only ? only.accuracy : correct / set.count;
  return { loss, accuracy, labels, predicted };
}

function printJson(io: CliIo, m: LoadedModel, e: EvalSet, s: EvalScores, rep: ClassReport): void {
  const report = {
    model: m.file,
    data: e.dataSpec,
    split: e.split,
    samples: e.set.count,
    loss: s.loss,
    accuracy: s.accuracy,
    tta: e.tta,
    ...(s.single ? { single: s.single } : {}),
    classes: m.classNames.map((name, k) => ({
      name,
      precision: rep.precision[k],
      recall: rep.recall[k],
      support: rep.support[k],
    })),
    confusion: rep.confusion,
  };
  io.out(JSON.stringify(report, null, 2) + '\n');
}

function printText(
  io: CliIo,
  adapter: string,
  m: LoadedModel,
  e: EvalSet,
  s: EvalScores,
  rep: ClassReport,
): void {
  const { set, shards, split } = e;
  io.out(`model      ${m.file}\n`);
  io.out(
    `data       ${e.dataSpec}, ${split === 'all' ? 'all of it' : `${split} split`}, ${set.count} samples${shards ? ` (read from ${shards} in chunks of ${Math.min(e.chunkSize, set.count)})` : ''}\n`,
  );
  io.out(`adapter    ${adapter}\n`);
  io.out(`loss       ${s.loss.toFixed(4)}\naccuracy   ${pct(s.accuracy)}\n`);
  if (s.single)
    io.out(
      `tta        flip (each image and its mirror, probabilities averaged; --tta none: one view); one view: loss ${s.single.loss.toFixed(4)}  accuracy ${pct(s.single.accuracy)}\n`,
    );
  io.out('\n');
  const rows: (string | number)[][] = [['class', 'precision', 'recall', 'support']];
  m.classNames.forEach((name, k) =>
    rows.push([`${k} ${name}`, pct(rep.precision[k], 1), pct(rep.recall[k], 1), rep.support[k]]),
  );
  io.out(table(rows) + '\n');
  io.out('confusion matrix (rows: true class, columns: predicted class)\n');
  const cm: (string | number)[][] = [['true \\ pred', ...m.classNames.map((_, k) => String(k))]];
  m.classNames.forEach((name, k) => cm.push([`${k} ${name}`, ...rep.confusion[k]]));
  io.out(table(cm));
}

export async function runEval(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const m = await loadModelForUse(args.positionals[0]);
  const e = await loadEvalSet(args, m, ctx.io);
  const { gpu, owned } = await openGpu(ctx);
  try {
    const trainer = await inferenceTrainer(gpu, m);
    let scores: EvalScores;
    try {
      scores = await scoreSet(trainer, m, e, args.values['batch-size'] as number);
    } finally {
      trainer.destroy();
    }
    const rep = classReport(scores.labels, scores.predicted, m.classNames.length);
    if (args.values.json) printJson(ctx.io, m, e, scores, rep);
    else printText(ctx.io, gpu.report.name, m, e, scores, rep);
    return 0;
  } finally {
    if (owned) gpu.destroy();
  }
}
