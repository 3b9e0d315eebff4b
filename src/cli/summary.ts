// The network as a table, layer by layer, the way Keras's model.summary() prints it: each layer's
// output shape per sample, its learned parameters and (conv and dense) its forward multiply-adds
// per sample, then the totals and the activation memory one training batch needs. `train` prints
// it in its header (trainHeader, also here), and the per-epoch table of the metrics log at the end.
//
// Activation memory counts what the engine keeps on the GPU per batch: the input rows, and for
// every layer its output Z, its activation A and the gradients of both (4 float32 tensors of the
// layer's output size; layers whose A is Z itself still count both, so it is an upper bound).
// It grows linearly with the batch size, which is why the recipe caps the batch for large images.

import type { AugmentOptions } from '../data/augment.js';
import path from 'node:path';
import { sourceBytes, type BatchSource } from '../engine/batch-source.js';
import type { MetricRecord } from '../io/run-store.js';
import type { TrainingRun } from '../engine/run.js';
import type { Tta } from '../engine/tta.js';
import type { GpuDevice } from '../gpu/device.js';
import { planFootprint } from '../engine/plan-graph.js';
import {
  describeLayer,
  resolveModel,
  type ModelSpec,
  type ResolvedLayer,
  type ResolvedModel,
} from '../nn/layers.js';
import type { TrainConfig } from './config.js';
import { dataBytes } from '../data/batches.js';
import type { OpenedDataset as LoadedData } from '../data/open.js';
import { describeSkipped } from '../data/skipped.js';
import { SKIPPED_FILE } from './data-flags.js';
import { describePrecision, describeVariants, formatBytes } from './adapter.js';
import { pct, table } from './terminal.js';

const fmtInt = (n: number) => n.toLocaleString('en-US');
/** The layers whose multiply-adds are counted (pooling and normalisation cost reads, not MACs). */
const isProduct = (type: string) => type === 'dense' || type === 'conv2d';

/** Bytes of activations (and their gradients) one batch of B samples keeps on the GPU, as the plan lays them out. */
export function activationBytes(spec: ModelSpec, B: number): number {
  const f = planFootprint(resolveModel(spec));
  return B * (f.activations + f.gradients) * 4;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The table's lines (no trailing newline): header row, one row per layer, totals, memory. */
export function layerTable(spec: ModelSpec, B: number): string[] {
  const m = resolveModel(spec);
  const params = new Map<number, number>();
  for (const p of m.params) params.set(p.layer, p.W.length + p.b.length);
  const rows = [
    ['input', m.inputShape.join('x'), '', ''],
    ...m.layers.map((l) => [
      describeLayer(l) + wiring(m, l),
      l.outShape.join('x'),
      fmtInt(params.get(l.index) ?? 0),
      isProduct(l.type) ? fmtInt(l.macs) : '',
    ]),
  ];
  const head = ['layer', 'output', 'params', 'MACs'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    [r[0].padEnd(width[0]), r[1].padEnd(width[1]), r[2].padStart(width[2]), r[3].padStart(width[3])]
      .join('  ')
      .trimEnd();
  const macs = m.layers.reduce((s, l) => s + (isProduct(l.type) ? l.macs : 0), 0);
  return [
    line(head),
    ...rows.map(line),
    `total ${fmtInt(m.paramCount)} parameters (${formatMiB(m.paramCount * 4)}), ${fmtInt(macs)} multiply-adds per sample forward`,
    activationLine(m, B),
  ];
}

/** In a graph: " (name) <- its inputs", the inputs only when they are not just the previous layer. */
function wiring(m: ResolvedModel, l: ResolvedLayer): string {
  if (!m.isGraph) return '';
  const nameOf = (p: number) => (p < 0 ? 'input' : (m.layers[p].name ?? `#${p}`));
  const plain = l.inputs.length === 1 && l.inputs[0] === l.index - 1;
  return `${l.name ? ` '${l.name}'` : ''}${plain ? '' : ` <- ${l.inputs.map(nameOf).join(', ')}`}`;
}

function activationLine(m: ResolvedModel, B: number): string {
  const f = planFootprint(m);
  const total = B * (f.activations + f.gradients) * 4;
  const grads = `${f.gradientBuffers} gradient buffers of the largest layer, reused once read`;
  return `activations ${formatMiB(total)} per batch of ${B} (input, Z and A of every layer, ${grads}; float32)`;
}

/** The network in one line: sizes and activations of a dense stack, else layer by layer. */
export function describeNet(spec: ModelSpec): string {
  const m = resolveModel(spec);
  if (m.layers.every((l) => l.type === 'dense')) {
    const sizes = [m.inputSize, ...m.layers.map((l) => l.outSize)].join('-');
    const acts = m.layers.map((l) => l.activation);
    return `${sizes} (${acts.slice(0, -1).join(', ') || 'no hidden layers'}; ${acts[acts.length - 1]} output, loss ${spec.loss})`;
  }
  return `${m.inputShape.join('x')} -> ${m.layers.map(describeLayer).join(' -> ')} (loss ${spec.loss})`;
}

/** Whether training data goes to the GPU a batch at a time (over the budget or one binding). */
export function streams(d: BatchSource, budget: number | null, bindingLimit: number): boolean {
  if (d.kind === 'stream') return true;
  const bytes = dataBytes(d);
  return bytes > bindingLimit || (budget !== null && bytes > budget);
}

/** The header's note on how the training data reaches the GPU. */
function feedText(d: BatchSource, budget: number | null, bindingLimit: number, shardSet = false): string {
  if (d.kind === 'stream') {
    return `; ${formatBytes(sourceBytes(d))} streamed from ${shardSet ? 'the shard set' : 'shards (the decoded cache)'}, budget ${formatBytes(budget ?? 0)}`;
  }
  if (!streams(d, budget, bindingLimit)) return '';
  const why =
    budget !== null && dataBytes(d) > budget
      ? `budget ${formatBytes(budget)}`
      : `over the ${formatBytes(bindingLimit)} GPU binding limit`;
  return `; ${formatBytes(dataBytes(d))} streamed from memory a batch at a time (${why})`;
}

/** What `train` prints before its first step. */
export interface HeaderInput {
  gpu: GpuDevice;
  cfg: TrainConfig;
  data: LoadedData;
  train: BatchSource;
  test?: BatchSource;
  spec: ModelSpec;
  recipe?: string;
  tta: Tta;
  outDir: string;
  resumeFile?: string;
}

function dataLine(h: HeaderInput, run: TrainingRun): string {
  const { cfg, data, test } = h;
  const [height, width, channels] = data.shape;
  const valText =
    typeof cfg.validation === 'number'
      ? `${h.train.count - run.trainCount} held out (${cfg.validation})`
      : cfg.validation === 'test'
        ? `test split (${test!.count})`
        : 'none';
  const feed = feedText(
    h.train,
    cfg.memoryBudget,
    h.gpu.device.limits.maxStorageBufferBindingSize,
    data.shardSet,
  );
  return (
    `${cfg.data}${data.shardSet ? ' (shard set)' : ''}: ${run.trainCount} train, validation ${valText}, ` +
    `${test ? `${test.count} test` : 'no test split'}; ${height}x${width}x${channels}, ` +
    `${data.classNames.length} classes${feed}${test?.kind === 'stream' ? '; test streamed from shards' : ''}`
  );
}

/**
 * The image-folder rows: the size the pictures were resized to and why, and the files skipped
 * (absent for other data, and for a folder with no bad file).
 */
export function imageFolderRows(h: Pick<HeaderInput, 'data' | 'outDir' | 'resumeFile'>): string[][] {
  const chosen = h.data.imageSize;
  if (!chosen) return [];
  const [height, width] = chosen.size;
  const why = h.resumeFile
    ? 'stored with the checkpoint'
    : chosen.from === 'given'
      ? '--image-size'
      : chosen.from === 'uniform'
        ? chosen.reason
        : `${chosen.reason}; --image-size to change`;
  const rows = [['image size', `${height}x${width} (${why})`]];
  const crop = h.data.train.crop;
  if (crop) {
    rows.push([
      'records',
      `${h.data.train.height}x${h.data.train.width}, the centre of each picture at 8/7 the image size: training takes random-resized crops of it (--augment rrc), evaluation its centre ${crop.height}x${crop.width}`,
    ]);
  }
  const skipped = h.data.skipped ?? [];
  if (skipped.length > 0) {
    const total = h.data.imageFiles ?? skipped.length;
    rows.push([
      'skipped',
      `${describeSkipped(skipped, total)}; list in ${path.join(h.outDir, SKIPPED_FILE)}`,
    ]);
  }
  return rows;
}

/** --augment's options in its own words, e.g. "rrc (area 0.08-1, aspect 0.75-1.33), flip". */
export function describeAugment(a: AugmentOptions): string {
  const parts: string[] = [];
  if (a.rrc) {
    const f = (x: number) => String(Math.round(x * 100) / 100);
    parts.push(
      `rrc (area ${f(a.rrc.scale[0])}-${f(a.rrc.scale[1])}, aspect ${f(a.rrc.ratio[0])}-${f(a.rrc.ratio[1])})`,
    );
  }
  if (a.crop) parts.push(`crop (pad ${a.crop.padding}${a.crop.mode === 'reflect' ? ', reflect' : ''})`);
  if (a.flip) parts.push('flip');
  if (a.brightness || a.contrast)
    parts.push(`jitter (brightness ${a.brightness ?? 0}, contrast ${a.contrast ?? 0})`);
  return parts.join(', ') || 'none';
}

/** The header: adapter, data, network and layer table, memory, optimizer, kernels, output. */
export function trainHeader(h: HeaderInput, run: TrainingRun): string {
  const { cfg, spec, test } = h;
  const trainer = run.trainer;
  const B = run.batchSize;
  const valData = cfg.validation === 'test' ? test : undefined;
  const memory =
    trainer.gpuBytes +
    (h.train.kind === 'stream' ? 0 : dataBytes(h.train)) +
    (valData ? dataBytes(valData) : 0) +
    activationBytes(spec, B);
  const tta =
    'flip: the test split is scored on the mean of each image and its mirror (--tta none: one view)';
  const rows: string[][] = [
    ['adapter', `${h.gpu.report.name} [${h.gpu.report.origin}]`],
    ['data', dataLine(h, run)],
    ...imageFolderRows(h),
    ...(cfg.augment ? [['augment', describeAugment(cfg.augment)]] : []),
    ['network', describeNet(spec)],
    // The layer table follows the one-line network, indented under it.
    ['layers', layerTable(spec, B).join(`\n${' '.repeat(11)}`)],
    ['parameters', trainer.parameterCount.toLocaleString('en-US')],
    [
      'GPU memory',
      `~${formatBytes(memory)} (estimate: weights, gradients, optimizer state, dataset, activations)`,
    ],
    [
      'optimizer',
      `${cfg.optimizer} lr ${cfg.lr}, ${cfg.schedule} schedule, batch ${B}, ${cfg.epochs} epochs, seed ${cfg.seed}`,
    ],
    ...(h.recipe ? [['recipe', h.recipe]] : []),
    ...((cfg.labelSmoothing ?? 0) > 0
      ? [
          [
            'loss',
            `${spec.loss} with label smoothing ${cfg.labelSmoothing} (the training loss is the smoothed one; validation and test report plain cross-entropy)`,
          ],
        ]
      : []),
    ['kernels', describeVariants(cfg.variants ?? {})],
    ['precision', describePrecision(cfg.precision ?? 'f32', trainer.precision)],
    ...(test && h.tta === 'flip' ? [['tta', tta]] : []),
    ['output', h.outDir],
  ];
  const start = run.start;
  if (start)
    rows.push([
      'resuming',
      `${h.resumeFile} at epoch ${start.epoch + 1}, step ${start.batch + 1}/${run.stepsPerEpoch}`,
    ]);
  return rows.map(([k, val]) => `${k.padEnd(11)}${val}`).join('\n') + '\n';
}

/** Per-epoch summary from the metrics log (the latest record of each epoch, resumes included). */
export function summaryTable(records: MetricRecord[]): string {
  const byEpoch = new Map<number, MetricRecord>();
  for (const r of records) if (r.type === 'epoch' && !r.partial) byEpoch.set(r.epoch as number, r);
  const rows: (string | number)[][] = [
    ['epoch', 'loss', 'accuracy', 'val loss', 'val accuracy', 'time', 'samples/s'],
  ];
  const f = (x: unknown, d: number) => (typeof x === 'number' ? x.toFixed(d) : '-');
  const pc = (x: unknown) => (typeof x === 'number' ? pct(x) : '-');
  for (const [e, r] of [...byEpoch.entries()].sort((a, b) => a[0] - b[0])) {
    rows.push([
      e + 1 + (r.resumedAt ? '*' : ''),
      f(r.loss, 4),
      pc(r.accuracy),
      f(r.valLoss, 4),
      pc(r.valAccuracy),
      `${f(r.seconds, 1)} s`,
      f(r.samplesPerSecond, 0),
    ]);
  }
  const note = [...byEpoch.values()].some((r) => r.resumedAt)
    ? '* resumed mid-epoch: loss/accuracy over the steps after the checkpoint\n'
    : '';
  return table(rows) + note;
}
