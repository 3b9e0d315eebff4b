// `webgpu-trainer train`: dataset + network flags (or --config) -> a trained model file, a metrics
// log, loss/accuracy curves and checkpoints; --resume continues a checkpoint exactly; Ctrl-C
// writes a checkpoint and exits with code 130.
//
// Exact resume: everything random in Trainer.fit derives from trainer.rng at the start of fit.
// A checkpoint stores that state (fitStartRngState), the next step's position, the weights, the
// optimizer moments and the whole configuration (matmul variants included). Resuming rebuilds the
// trainer from the same configuration, restores those, and calls fit with `start`, which gives
// the same weights bit for bit as a run that never stopped (test/cli/resume.test.ts).

import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Trainer, type EpochLog, type StepLog } from '../engine/trainer.js';
import { sourceBytes, type BatchSource } from '../engine/batch-source.js';
import { ShardSet } from '../data/shards.js';
import { histogramNormalization } from '../data/pipeline-normalize.js';
import type { GpuDevice } from '../gpu/device.js';
import type { CheckpointInput, JsonObject, ModelInput } from '../io/modelfile.js';
import { loadCheckpointFile, saveCheckpointFile, saveModelFile } from '../io/files.js';
import { describeLayer, resolveModel } from '../nn/layers.js';
import type { ModelSpec } from '../nn/model.js';
import { convert, UsageError, type CommandSpec, type OptionValue, type ParsedArgs } from './args.js';
import {
  CONFIG_OPTION_NAMES,
  modelSpec,
  optimizerConfig,
  readConfigFile,
  readModelJsonFile as readModelJson,
  resolveTrainConfig,
  scheduleConfig,
  trainCount,
  TRAIN_CONFIG_OPTIONS,
  type TrainConfig,
} from './config.js';
import {
  checkDataSpec,
  computeNormalization,
  dataBytes,
  loadData,
  parseNormalization,
  toBatchSource,
  type LoadedData,
  type NormalizationBlock,
} from './data.js';
import { applyResumeOverrides, RESUME_OVERRIDES, RunGuard } from './faults.js';
import { chooseVariants, describePrecision, describeVariants, formatBytes, openGpu } from './gpu.js';
import { duration, pct, processInterrupt, table, type CliContext } from './io.js';
import { acquireRunLock } from './lock.js';
import { curvesSvg, MetricsLog, readMetrics, type MetricRecord } from './metrics.js';
import { architectureOf } from './model.js';
import { EpochProgress, type ProgressMode } from './progress.js';
import { evaluateWithFlip, resolveTta, type Tta } from './tta.js';
import { applyRecipe } from './recipe.js';
import { activationBytes, layerTable } from './summary.js';

export const trainCommand: CommandSpec = {
  name: 'train',
  summary:
    'Train a dense network on a dataset. Prints the adapter, parameter count and memory estimate, a progress bar per epoch, ' +
    'validation after each epoch and a summary; writes the model, a metrics log (JSON lines), loss/accuracy curves (SVG) ' +
    'and checkpoints into --out. Ctrl-C writes a checkpoint; --resume continues it exactly.',
  usage: 'webgpu-trainer train [options]',
  options: [
    ...TRAIN_CONFIG_OPTIONS,
    {
      name: 'config',
      type: 'string',
      arg: 'FILE',
      defaultText: 'none',
      help: 'JSON file of the options above, e.g. {"layers": [512, 256], "lr": 0.001}; flags override it',
    },
    {
      name: 'out',
      type: 'string',
      arg: 'DIR',
      defaultText: 'runs/<dataset>',
      help: 'folder for the model, metrics, curves and checkpoint',
    },
    {
      name: 'resume',
      type: 'string',
      arg: 'CHECKPOINT',
      defaultText: 'none',
      help: 'continue from a checkpoint; its configuration is used (only --data, --out, display options, --lr, --max-norm and --tta may be given)',
    },
    {
      name: 'checkpoint-every',
      type: 'int',
      arg: 'EPOCHS',
      min: 0,
      default: 1,
      help: 'write <out>/checkpoint.safetensors every N epochs (0: only on Ctrl-C)',
    },
    {
      name: 'log-every',
      type: 'int',
      arg: 'STEPS',
      min: 1,
      default: 10,
      help: 'read loss/accuracy back (progress, metrics log) every N steps',
    },
    {
      name: 'progress',
      type: 'choice',
      choices: ['auto', 'bar', 'lines', 'none'],
      default: 'auto',
      help: 'progress display: auto = a live bar on a terminal, else a line per tenth of an epoch',
    },
  ],
  examples: [
    'webgpu-trainer train                                  # Fashion-MNIST, 784-256-128-10 MLP, Adam',
    'webgpu-trainer train --data mnist --layers 512,256 --epochs 10',
    'webgpu-trainer train --data catvnoncat --layers 20,7,5 --normalize scale --init numpy-lecun-normal --seed 1 --optimizer sgd --lr 0.0075 --schedule constant --batch-size 209 --epochs 2500 --validation none --checkpoint-every 0',
    'webgpu-trainer train --data ./my-images --image-size 64x64 --out runs/mine',
    'webgpu-trainer train --resume runs/mnist/checkpoint.safetensors',
  ],
};

const DISPLAY_OPTIONS = new Set(['out', 'checkpoint-every', 'log-every', 'progress', 'data']);

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Re-validates a configuration read back from a checkpoint, through the same option rules. */
export function configFromJson(raw: unknown, file: string): TrainConfig {
  if (typeof raw !== 'object' || raw === null)
    throw new UsageError(`${file}: no training configuration in the checkpoint`);
  const obj = raw as Record<string, unknown>;
  const values: Record<string, OptionValue | undefined> = {};
  for (const spec of TRAIN_CONFIG_OPTIONS) {
    const v = obj[camel(spec.name)];
    // Stored as JSON structures, restored after the flags below.
    if (spec.name === 'augment' && typeof v === 'object') continue;
    if (v === undefined || v === null) {
      values[spec.name] = spec.default;
      continue;
    }
    const raw =
      spec.name === 'image-size' && Array.isArray(v)
        ? v.join('x')
        : Array.isArray(v)
          ? v.join(',')
          : String(v as string | number);
    try {
      values[spec.name] = convert(spec, raw);
    } catch (e) {
      throw new UsageError(`${file}: stored configuration: ${(e as Error).message}`);
    }
  }
  const cfg = resolveTrainConfig(values);
  if (obj.variants && typeof obj.variants === 'object')
    cfg.variants = obj.variants as TrainConfig['variants'];
  if (obj.augment && typeof obj.augment === 'object') cfg.augment = obj.augment as TrainConfig['augment'];
  if (Array.isArray(obj.net)) cfg.net = obj.net as TrainConfig['net'];
  return cfg;
}

interface Prepared {
  cfg: TrainConfig;
  data: LoadedData;
  norm: NormalizationBlock;
  train: BatchSource;
  test?: BatchSource;
  spec: ModelSpec;
  outDir: string;
  resume?: Awaited<ReturnType<typeof loadCheckpointFile>>;
  /** The header line of a recipe chosen from the data's size (src/cli/recipe.ts), if any. */
  recipe?: string;
  /** Test-time augmentation of the final test evaluation (src/cli/tta.ts). */
  tta: Tta;
}

async function prepare(args: ParsedArgs, ctx: CliContext): Promise<Prepared> {
  const io = ctx.io;
  const v = args.values;
  let cfg: TrainConfig;
  let resume: Prepared['resume'];
  // Options set by a flag or the --config file: a recipe never overrides them.
  const explicit = new Set(args.given);
  if (typeof v.resume === 'string') {
    const bad = [...args.given].filter(
      (n) => CONFIG_OPTION_NAMES.has(n) && !DISPLAY_OPTIONS.has(n) && !RESUME_OVERRIDES.has(n),
    );
    if (bad.length > 0 || args.given.has('config')) {
      const name = bad[0] ?? 'config';
      throw new UsageError(
        `--${name} cannot be combined with --resume: the checkpoint fixes the configuration (start a new run to change it)`,
      );
    }
    resume = await loadCheckpointFile(v.resume);
    cfg = configFromJson((resume.model.training as { config?: unknown }).config, v.resume);
    applyResumeOverrides(cfg, args);
    if (args.given.has('data')) cfg.data = String(v.data);
  } else {
    const fromFile = typeof v.config === 'string' ? await readConfigFile(v.config) : {};
    const merged: Record<string, OptionValue | undefined> = { ...v };
    for (const [k, val] of Object.entries(fromFile)) {
      explicit.add(k);
      if (!args.given.has(k)) merged[k] = val;
    }
    cfg = resolveTrainConfig(merged);
  }
  checkDataSpec(cfg.data);
  io.err(`loading ${cfg.data} ...\n`);
  const data = await loadData(
    cfg.data,
    cfg,
    cfg.limit,
    (l) => io.err(l + '\n'),
    cfg.memoryBudget ?? undefined,
  );
  const norm = resume
    ? parseNormalization(resume.model.normalization, data.shape[2], String(v.resume))
    : data.trainShards && cfg.normalize === 'standardize'
      ? // Left on disk: one pass over the shards, the same statistics as from memory.
        histogramNormalization(await (await ShardSet.open(data.trainShards)).pixelHistogram(data.train.count))
      : computeNormalization(data.train, cfg.normalize);
  const [h, w, c] = data.shape;
  if (!resume && cfg.model !== null) {
    const net = await readModelJson(cfg.model);
    cfg.net = net.layers;
    if (net.loss && cfg.loss === 'auto') cfg.loss = net.loss;
  }
  const spec = modelSpec(cfg, [h, w, c], data.classNames.length);
  // Resolved before training, so that a --tta the model cannot take fails now, not after the run.
  const tta = resolveTta(cfg.tta, cfg.augment?.flip === true, [h, w, c], spec.loss);
  const recipe = resume
    ? undefined
    : applyRecipe(cfg, explicit, trainCount(cfg, data.train.count), [h, w, c]);
  if (resume) {
    const a = resume.model.architecture;
    const mine = architectureOf(spec, [h, w, c]);
    const same =
      a.inputSize === mine.inputSize &&
      a.loss === mine.loss &&
      JSON.stringify(a.layers) === JSON.stringify(mine.layers);
    if (!same) {
      throw new UsageError(
        `${String(v.resume)}: the checkpoint's network does not fit ${cfg.data} (${h}x${w}x${c}, ${data.classNames.length} classes); pass the same --data it was trained on`,
      );
    }
  }
  if (cfg.validation === 'test' && !data.test) {
    throw new UsageError(`--validation test: ${cfg.data} has no test split; use a fraction such as 0.1`);
  }
  const outDir =
    typeof v.out === 'string'
      ? v.out
      : typeof v.resume === 'string'
        ? path.dirname(v.resume)
        : path.join('runs', path.basename(path.resolve(cfg.data)));
  return {
    cfg,
    data,
    norm,
    train: await toBatchSource(data.train, data.trainShards, norm),
    test: data.test ? await toBatchSource(data.test, data.testShards, norm) : undefined,
    spec,
    outDir,
    resume,
    recipe,
    tta,
  };
}

/** Whether training data goes to the GPU a batch at a time (over the budget or one binding). */
function streams(d: BatchSource, budget: number | null, bindingLimit: number): boolean {
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

function describeNet(spec: ModelSpec): string {
  const m = resolveModel(spec);
  if (m.layers.every((l) => l.type === 'dense')) {
    const sizes = [m.inputSize, ...m.layers.map((l) => l.outSize)].join('-');
    const acts = m.layers.map((l) => l.activation);
    return `${sizes} (${acts.slice(0, -1).join(', ') || 'no hidden layers'}; ${acts[acts.length - 1]} output, loss ${spec.loss})`;
  }
  return `${m.inputShape.join('x')} -> ${m.layers.map(describeLayer).join(' -> ')} (loss ${spec.loss})`;
}

export async function runTrain(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  const v = args.values;
  const p = await prepare(args, ctx);
  const { data, outDir } = p;
  const progressMode: ProgressMode =
    v.progress === 'auto' ? (io.errIsTTY ? 'bar' : 'lines') : (v.progress as ProgressMode);

  // One run per output folder (src/cli/lock.ts); a lock left by a dead run is taken over.
  const lock = await acquireRunLock(outDir, { note: (line) => io.err(`${line}\n`) });
  try {
    const { gpu, owned } = await openGpu(ctx);
    try {
      return await trainOn(gpu, p, {
        progressMode,
        checkpointEvery: v['checkpoint-every'] as number,
        logEvery: v['log-every'] as number,
        resumeFile: typeof v.resume === 'string' ? v.resume : undefined,
        ctx,
        data,
        outDir,
      });
    } finally {
      if (owned) gpu.destroy();
    }
  } finally {
    await lock.release();
  }
}

interface RunOptions {
  progressMode: ProgressMode;
  checkpointEvery: number;
  logEvery: number;
  resumeFile?: string;
  ctx: CliContext;
  data: LoadedData;
  outDir: string;
}

async function trainOn(gpu: GpuDevice, p: Prepared, o: RunOptions): Promise<number> {
  const io = o.ctx.io;
  const { cfg, spec, outDir } = p;
  const t0 = performance.now();
  if (!cfg.variants) {
    const choice = await chooseVariants(gpu);
    cfg.variants = choice.variants;
  }
  const count = p.train.count;
  const nTrain = trainCount(cfg, count);
  const B = Math.min(cfg.batchSize, nTrain);
  const stepsPerEpoch = Math.ceil(nTrain / B);
  const schedule = scheduleConfig(cfg, stepsPerEpoch);
  const optimizer = optimizerConfig(cfg);
  const trainer = await Trainer.create(gpu, spec, {
    seed: cfg.seed,
    init: cfg.init === 'auto' ? undefined : cfg.init,
    optimizer,
    schedule,
    variants: cfg.variants,
    precision: cfg.precision ?? 'f32',
  });
  // Divergence and device loss: nothing non-finite is saved, and the error names the checkpoint
  // that is intact and the command that continues from it (src/cli/faults.ts).
  const guard = new RunGuard({ gpu, lr: cfg.lr, maxNorm: cfg.maxNorm, resumedFrom: o.resumeFile });

  let start: { epoch: number; batch: number } | undefined;
  if (p.resume) {
    const r = p.resume;
    trainer.setWeights(r.model.weights);
    trainer.setRunningStats(r.model.runningStats, r.model.batchesTracked);
    trainer.setOptimizerState(r.optimizerState);
    trainer.rng.restore(r.state.rngState);
    if (r.state.lossScale) trainer.setLossScaleState(r.state.lossScale);
    start = { epoch: r.state.epoch, batch: r.state.batchInEpoch };
    if (start.epoch >= cfg.epochs) {
      io.err(`${o.resumeFile}: the run already finished all ${cfg.epochs} epochs; nothing to resume\n`);
      return 0;
    }
  }

  const [h, w, c] = o.data.shape;
  const valData = cfg.validation === 'test' ? p.test : undefined;
  const memory =
    trainer.gpuBytes +
    (p.train.kind === 'stream' ? 0 : dataBytes(p.train)) +
    (valData ? dataBytes(valData) : 0) +
    activationBytes(spec, B);
  const valText =
    typeof cfg.validation === 'number'
      ? `${count - nTrain} held out (${cfg.validation})`
      : cfg.validation === 'test'
        ? `test split (${p.test!.count})`
        : 'none';
  const header = [
    ['adapter', `${gpu.report.name} [${gpu.report.origin}]`],
    [
      'data',
      `${cfg.data}${o.data.shardSet ? ' (shard set)' : ''}: ${nTrain} train, validation ${valText}, ${p.test ? `${p.test.count} test` : 'no test split'}; ${h}x${w}x${c}, ${o.data.classNames.length} classes${feedText(p.train, cfg.memoryBudget, gpu.device.limits.maxStorageBufferBindingSize, o.data.shardSet)}${p.test?.kind === 'stream' ? '; test streamed from shards' : ''}`,
    ],
    ['network', describeNet(spec)],
    ['parameters', trainer.parameterCount.toLocaleString('en-US')],
    [
      'GPU memory',
      `~${formatBytes(memory)} (estimate: weights, gradients, optimizer state, dataset, activations)`,
    ],
    [
      'optimizer',
      `${cfg.optimizer} lr ${cfg.lr}, ${cfg.schedule} schedule, batch ${B}, ${cfg.epochs} epochs, seed ${cfg.seed}`,
    ],
    ...(p.recipe ? [['recipe', p.recipe]] : []),
    ['kernels', describeVariants(cfg.variants)],
    ['precision', describePrecision(cfg.precision ?? 'f32', trainer.precision)],
    ...(p.test && p.tta === 'flip'
      ? [
          [
            'tta',
            'flip: the test split is scored on the mean of each image and its mirror (--tta none: one view)',
          ],
        ]
      : []),
    ['output', outDir],
  ];
  if (start)
    header.push([
      'resuming',
      `${o.resumeFile} at epoch ${start.epoch + 1}, step ${start.batch + 1}/${stepsPerEpoch}`,
    ]);
  // The layer table follows the one-line network, indented under it.
  const at = header.findIndex(([k]) => k === 'parameters');
  header.splice(at, 0, ['layers', layerTable(spec, B).join(`\n${' '.repeat(11)}`)]);
  io.out(header.map(([k, val]) => `${k.padEnd(11)}${val}`).join('\n') + '\n');

  await mkdir(outDir, { recursive: true });
  const files = {
    model: path.join(outDir, 'model.safetensors'),
    checkpoint: path.join(outDir, 'checkpoint.safetensors'),
    metrics: path.join(outDir, 'metrics.jsonl'),
    curves: path.join(outDir, 'curves.svg'),
  };
  if (!start) await rm(files.metrics, { force: true });
  const log = new MetricsLog(files.metrics);
  log.write({
    type: 'run',
    time: new Date().toISOString(),
    adapter: gpu.report.name,
    parameters: trainer.parameterCount,
    config: cfg as unknown as Record<string, unknown>,
    ...(start ? { resumedFrom: { ...start, file: o.resumeFile } } : {}),
  });

  const trainingBlock = (extra: JsonObject = {}): JsonObject => ({
    config: JSON.parse(JSON.stringify(cfg)) as JsonObject,
    dataset: { source: cfg.data, train: nTrain, test: p.test?.count ?? 0, shape: [h, w, c] },
    adapter: gpu.report.name,
    ...extra,
  });
  const modelInput = async (extra?: JsonObject): Promise<ModelInput> => ({
    architecture: architectureOf(spec, [h, w, c]),
    normalization: p.norm,
    classNames: o.data.classNames,
    training: trainingBlock(extra),
    weights: guard.finite(await trainer.getWeights(), trainer.step, 'weights'),
    runningStats: await trainer.getRunningStats(),
    batchesTracked: trainer.batchesTracked,
  });
  const saveCheckpoint = async (): Promise<void> => {
    const pos = trainer.position;
    const amp = await trainer.lossScaleState();
    const ckpt: CheckpointInput = {
      model: await modelInput({ steps: trainer.step }),
      state: {
        step: trainer.step,
        epoch: pos.epoch,
        batchInEpoch: pos.batch,
        rngState: trainer.fitStartRngState!,
        dataPosition: {
          epoch: pos.epoch,
          batch: pos.batch,
          batchSize: B,
          stepsPerEpoch,
          trainSamples: nTrain,
        },
        optimizer: JSON.parse(JSON.stringify(optimizer)) as JsonObject,
        schedule: JSON.parse(JSON.stringify(schedule)) as JsonObject,
        ...(amp ? { lossScale: amp } : {}),
      },
      optimizerState: guard.finite(await trainer.getOptimizerState(), trainer.step, 'optimizer state'),
    };
    await saveCheckpointFile(files.checkpoint, ckpt);
    guard.saved(files.checkpoint, pos, stepsPerEpoch);
  };

  let stop = false;
  const onInterrupt = o.ctx.onInterrupt ?? processInterrupt;
  const unsubscribe = onInterrupt(() => {
    if (stop) {
      io.err('\nsecond Ctrl-C: exiting without a checkpoint\n');
      process.exit(130);
    }
    stop = true;
    io.err('\nCtrl-C: stopping after this step and writing a checkpoint (Ctrl-C again to quit at once)\n');
  });

  let bar: EpochProgress | undefined;
  let barEpoch = -1;
  // Steps are reported after their loss is read back, so the epoch's clock starts when the
  // previous epoch (or the run) handed over, not at its first report.
  let epochStart = performance.now();
  const epochLabel = (e: number) => `epoch ${e + 1}/${cfg.epochs}`;
  const onStep = (s: StepLog): void => {
    if (s.epoch !== barEpoch) {
      bar?.end();
      barEpoch = s.epoch;
      const first = start && s.epoch === start.epoch ? start.batch : 0;
      bar = new EpochProgress(io, o.progressMode, epochLabel(s.epoch), stepsPerEpoch, first, epochStart);
    }
    bar!.update(s.batch, s.loss, s.accuracy, s.samples);
    log.write({
      type: 'step',
      step: s.step,
      epoch: s.epoch,
      batch: s.batch,
      x: s.epoch + (s.batch + 1) / stepsPerEpoch,
      loss: s.loss,
      accuracy: s.accuracy,
      samples: s.samples,
      lr: s.lr,
      time: (performance.now() - t0) / 1000,
    });
  };
  const onEpoch = async (e: EpochLog): Promise<void> => {
    bar?.end();
    barEpoch = -1;
    const pos = trainer.position;
    const complete = pos.batch === 0 && pos.epoch === e.epoch + 1;
    const resumedAt = start && e.epoch === start.epoch && start.batch > 0 ? start.batch : undefined;
    const x = complete ? e.epoch + 1 : e.epoch + pos.batch / stepsPerEpoch;
    log.write({
      type: 'epoch',
      ...e,
      x,
      ...(complete ? {} : { partial: true }),
      ...(resumedAt ? { resumedAt } : {}),
    });
    const val =
      e.valLoss !== undefined ? `  val_loss ${e.valLoss.toFixed(4)}  val_acc ${pct(e.valAccuracy ?? 0)}` : '';
    const note = complete ? '' : `  (stopped at step ${pos.batch}/${stepsPerEpoch})`;
    // Mixed precision: the loss scale, and steps skipped for overflowing gradients so far.
    const amp = await trainer.lossScaleState();
    if (amp) log.write({ type: 'loss-scale', epoch: e.epoch, ...amp });
    const ampText = amp ? `  loss scale 2^${Math.log2(amp.scale)}, ${amp.skipped} skipped` : '';
    io.err(
      `${epochLabel(e.epoch)}  loss ${e.loss.toFixed(4)}  acc ${pct(e.accuracy)}${val}  ` +
        `${e.seconds.toFixed(1)} s  ${Math.round(e.samplesPerSecond)} samples/s${ampText}${note}\n`,
    );
    if (complete && o.checkpointEvery > 0 && (e.epoch + 1) % o.checkpointEvery === 0 && !stop)
      await saveCheckpoint();
    epochStart = performance.now();
  };

  let history;
  try {
    history = await trainer.fit(p.train, {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      // A batch that covers the whole training set gains nothing from shuffling (only the
      // summation order would change), and leaving it in place lets the engine skip the gather.
      shuffle: cfg.batchSize < p.train.count,
      validationSplit: typeof cfg.validation === 'number' ? cfg.validation : undefined,
      validationData: valData,
      logEvery: o.logEvery,
      onStep: guard.onStep(onStep),
      onEpoch,
      shouldStop: () => stop,
      start,
      // Training batches only; a spread so this compiles before FitOptions gains the field.
      ...(cfg.augment ? { augment: cfg.augment } : {}),
      // Over the budget: the images stay in host memory and stream to the GPU a batch at a time.
      ...(streams(p.train, cfg.memoryBudget, Infinity) ? { residency: 'upload' as const } : {}),
    });
  } catch (e) {
    throw guard.explain(e);
  } finally {
    unsubscribe();
  }

  if (history.stopped) {
    await saveCheckpoint();
    await log.flush();
    await writeFile(files.curves, curvesSvg(await readMetrics(files.metrics), `${cfg.data} (interrupted)`));
    const pos = trainer.position;
    io.err(
      `checkpoint written: ${files.checkpoint} (epoch ${pos.epoch + 1}, step ${pos.batch}/${stepsPerEpoch})\n` +
        `continue with: webgpu-trainer train --resume ${files.checkpoint}\n`,
    );
    return 130;
  }

  let test: { loss: number; accuracy: number; count: number } | undefined;
  let single: { loss: number; accuracy: number } | undefined;
  if (p.test && p.tta === 'flip') {
    const r = await evaluateWithFlip(trainer, p.test, {
      shape: [h, w, c],
      outputs: resolveModel(spec).outputSize,
      loss: spec.loss,
      batchSize: 256,
    });
    test = { loss: r.loss, accuracy: r.accuracy, count: r.count };
    single = r.single;
    log.write({ type: 'test', ...test, tta: 'flip', single });
  } else if (p.test) {
    test = await trainer.evaluate(p.test, { batchSize: 256 });
    log.write({ type: 'test', ...test, tta: 'none' });
  }
  const wall = (performance.now() - t0) / 1000;
  await saveModelFile(
    files.model,
    await modelInput({
      steps: trainer.step,
      epochs: cfg.epochs,
      ...(test
        ? {
            test: {
              loss: test.loss,
              accuracy: test.accuracy,
              samples: test.count,
              tta: p.tta,
              ...(single ? { single: { loss: single.loss, accuracy: single.accuracy } } : {}),
            },
          }
        : {}),
    }),
  );
  await log.flush();
  const records = await readMetrics(files.metrics);
  const caption = `${cfg.data}, ${describeNet(spec)}${test ? `, test accuracy ${pct(test.accuracy)}` : ''}`;
  await writeFile(files.curves, curvesSvg(records, caption));
  io.out('\n' + summaryTable(records));
  if (test)
    io.out(
      `test       loss ${test.loss.toFixed(4)}  accuracy ${pct(test.accuracy)}  (${test.count} samples)\n` +
        (single
          ? `           flip TTA (each image and its mirror); one view: loss ${single.loss.toFixed(4)}  accuracy ${pct(single.accuracy)}\n`
          : ''),
    );
  io.out(`time       ${duration(wall)} (${wall.toFixed(1)} s, this run)\n`);
  io.out(
    `files      ${files.model}\n           ${files.curves}\n           ${files.metrics}\n           ${files.checkpoint}\n`,
  );
  io.out(
    `next       webgpu-trainer eval ${files.model}   |   webgpu-trainer predict ${files.model} <image.png>\n`,
  );
  trainer.destroy();
  return 0;
}

/** Per-epoch summary from the metrics log (the latest record of each epoch, resumes included). */
function summaryTable(records: MetricRecord[]): string {
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
