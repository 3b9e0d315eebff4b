// `webgpu-trainer train`: dataset + network flags (or --config) -> a trained model file, a metrics
// log, loss/accuracy curves and checkpoints; --resume continues a checkpoint exactly; Ctrl-C
// writes a checkpoint and exits with code 130.
//
// The run itself (checkpoints, resume, metrics, divergence and device-loss stops, the test
// evaluation with TTA) is the library's TrainingRun (src/engine/run.ts), writing through a
// FileRunStore (src/io/run-files.ts). What stays here: the flags, the configuration a checkpoint
// stores (matmul variants included, so a resume runs the same kernels; configFromJson reads it
// back), the header, progress, Ctrl-C wiring and the summary.

import { DEFAULT_RRC } from '../data/augment-rrc.js';
import path from 'node:path';
import type { BatchSource } from '../engine/batch-source.js';
import { TrainingRun, type RunConfig, type RunResult } from '../engine/run.js';
import { resolveTta, type Tta } from '../engine/tta.js';
import { ShardSet } from '../data/shards.js';
import { histogramNormalization } from '../data/normalize.js';
import type { GpuDevice } from '../gpu/device.js';
import { architectureOf } from '../io/architecture.js';
import type { JsonObject } from '../io/modelfile.js';
import { loadCheckpointFile } from '../io/files.js';
import { FileRunStore } from '../io/run-files.js';
import type { ModelSpec } from '../nn/model.js';
import { convert, UsageError, type CommandSpec, type OptionValue, type ParsedArgs } from './args.js';
import {
  checkLabelSmoothingLoss,
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
  imageSetNormalization as computeNormalization,
  type Normalization as NormalizationBlock,
} from '../data/normalize.js';
import { toBatchSource, type OpenedDataset as LoadedData } from '../data/open.js';
import { checkDataSpec, loadData, parseNormalization, writeSkippedList } from './data-flags.js';
import { applyResumeOverrides, CLI_ADVICE, RESUME_OVERRIDES } from './faults.js';
import { chooseVariants, openGpu } from './adapter.js';
import { duration, pct, processInterrupt, type CliContext } from './terminal.js';
import { acquireRunLock } from './lock.js';
import { runProgress, type ProgressMode } from './progress.js';
import { applyRecipe } from './recipe.js';
import {
  applyBackbone,
  backboneRows,
  fitBackbone,
  openBackbone,
  provenance,
  type FromPlan,
} from './from-model.js';
import { checkFreezeFlags, freezeConfig, freezeRow, unfreezeLine } from './freeze-flags.js';
import { describeNet, streams, summaryTable, trainHeader } from './summary.js';

export const trainCommand: CommandSpec = {
  name: 'train',
  summary:
    'Train a network (dense or convolutional) on a dataset. Prints the adapter, parameter count and memory estimate, a progress bar per epoch, ' +
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
      name: 'from',
      type: 'string',
      arg: 'MODEL',
      defaultText: 'none',
      help: "start from a model file's network and weights (from `import` or an earlier `train`; not with --arch or --model): its head is replaced for the data's classes (kept when they are the file's), and images get its input size, channels and normalisation unless --image-size, --channels or --normalize is given",
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
    'webgpu-trainer train --data ./my-images --from resnet18.safetensors --epochs 5',
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
  /** Test-time augmentation of the final test evaluation (src/engine/tta.ts). */
  tta: Tta;
  /** --from: the model file the run starts from (src/cli/from-model.ts). */
  from?: FromPlan;
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
  const backbone = typeof v.from === 'string' ? await openBackbone(v.from, cfg, explicit) : undefined;
  checkDataSpec(cfg.data);
  io.err(`loading ${cfg.data} ...\n`);
  // --augment auto: random-resized crop and flip for a convolutional network on photos (the
  // folder decides by its size, RRC_AUTO_MIN_SIDE), nothing otherwise.
  const auto = cfg.augmentAuto === true && (cfg.arch !== 'mlp' || backbone !== undefined);
  const data = await loadData(
    cfg.data,
    { ...cfg, rrc: cfg.augment?.rrc ? true : auto ? 'auto' : false },
    cfg.limit,
    (l) => io.err(l + '\n'),
    cfg.memoryBudget ?? undefined,
  );
  if (cfg.augmentAuto) {
    if (data.train.crop) cfg.augment = { rrc: DEFAULT_RRC, flip: true };
    cfg.augmentAuto = false;
  }
  // The size an image folder chose is stored with the run, so a resume reads the same records.
  if (data.imageSize) cfg.imageSize = data.imageSize.size;
  const from = backbone && fitBackbone(backbone, cfg, data, explicit);
  const norm =
    from?.normalization ??
    (resume
      ? parseNormalization(resume.model.normalization, data.shape[2], String(v.resume))
      : data.trainShards && cfg.normalize === 'standardize'
        ? // Left on disk: one pass over the shards, the same statistics as from memory.
          histogramNormalization(
            await (await ShardSet.open(data.trainShards)).pixelHistogram(data.train.count),
          )
        : computeNormalization(data.train, cfg.normalize));
  const [h, w, c] = data.shape;
  if (!resume && cfg.model !== null) {
    const net = await readModelJson(cfg.model);
    cfg.net = net.layers;
    if (net.loss && cfg.loss === 'auto') cfg.loss = net.loss;
  }
  const spec = modelSpec(cfg, [h, w, c], data.classNames.length);
  checkLabelSmoothingLoss(cfg, spec.loss);
  // Resolved before training, so that a --tta the model cannot take fails now, not after the run.
  const tta = resolveTta(cfg.tta, cfg.augment?.flip === true, [h, w, c], spec.loss, '--tta');
  const recipe = resume
    ? undefined
    : applyRecipe(cfg, explicit, trainCount(cfg, data.train.count), [h, w, c]);
  checkFreezeFlags(cfg, explicit);
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
    from,
  };
}

export async function runTrain(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  const v = args.values;
  const p = await prepare(args, ctx);
  const progressMode: ProgressMode =
    v.progress === 'auto' ? (io.errIsTTY ? 'bar' : 'lines') : (v.progress as ProgressMode);

  // One run per output folder (src/cli/lock.ts); a lock left by a dead run is taken over.
  const lock = await acquireRunLock(p.outDir, { note: (line) => io.err(`${line}\n`) });
  try {
    const { gpu, owned } = await openGpu(ctx);
    try {
      return await trainOn(gpu, p, {
        progressMode,
        checkpointEvery: v['checkpoint-every'] as number,
        logEvery: v['log-every'] as number,
        resumeFile: typeof v.resume === 'string' ? v.resume : undefined,
        ctx,
      });
    } finally {
      if (owned) gpu.destroy();
    }
  } finally {
    await lock.release();
  }
}

interface TrainOptions {
  progressMode: ProgressMode;
  checkpointEvery: number;
  logEvery: number;
  resumeFile?: string;
  ctx: CliContext;
}

/** The library run's configuration from the CLI's. */
function runConfig(cfg: TrainConfig, train: BatchSource, logEvery: number): RunConfig {
  const nTrain = trainCount(cfg, train.count);
  const stepsPerEpoch = Math.ceil(nTrain / Math.min(cfg.batchSize, nTrain));
  return {
    epochs: cfg.epochs,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    init: cfg.init === 'auto' ? undefined : cfg.init,
    optimizer: optimizerConfig(cfg),
    schedule: scheduleConfig(cfg, stepsPerEpoch),
    variants: cfg.variants,
    precision: cfg.precision ?? 'f32',
    labelSmoothing: cfg.labelSmoothing ?? 0,
    ...freezeConfig(cfg),
    validationSplit: typeof cfg.validation === 'number' ? cfg.validation : undefined,
    // Training batches only.
    augment: cfg.augment ?? undefined,
    shuffle: cfg.batchSize < train.count,
    // Over the budget: the images stay in host memory and stream to the GPU a batch at a time.
    residency: streams(train, cfg.memoryBudget, Infinity) ? 'upload' : undefined,
    logEvery,
  };
}

async function createRun(gpu: GpuDevice, p: Prepared, o: TrainOptions): Promise<TrainingRun> {
  const { cfg, spec } = p;
  // Fixed before the run and stored in its configuration, so a resume runs the same kernels.
  if (!cfg.variants) cfg.variants = (await chooseVariants(gpu)).variants;
  const shape = p.data.shape;
  const run = await TrainingRun.create(gpu, {
    spec,
    data: { train: p.train, test: p.test, validation: cfg.validation === 'test' ? p.test : undefined },
    config: runConfig(cfg, p.train, o.logEvery),
    meta: {
      inputShape: shape,
      normalization: p.norm,
      classNames: p.data.classNames,
      training: {
        config: JSON.parse(JSON.stringify(cfg)) as JsonObject,
        dataset: {
          source: cfg.data,
          train: trainCount(cfg, p.train.count),
          test: p.test?.count ?? 0,
          shape: [...shape],
        },
        ...fromBlock(p),
      },
    },
    store: new FileRunStore(p.outDir),
    resume: p.resume,
    resumedFrom: o.resumeFile,
    checkpointEvery: o.checkpointEvery,
    tta: p.tta,
    advice: CLI_ADVICE,
    caption: `${cfg.data}, ${describeNet(spec)}`,
  });
  if (p.from) await applyBackbone(run.trainer, p.from);
  return run;
}

/** training.from: the --from file's provenance (a resume carries it over from its checkpoint). */
function fromBlock(p: Prepared): JsonObject {
  const from = p.from ? provenance(p.from.backbone) : p.resume?.model.training.from;
  return from === undefined ? {} : { from };
}

async function trainOn(gpu: GpuDevice, p: Prepared, o: TrainOptions): Promise<number> {
  const io = o.ctx.io;
  const t0 = performance.now();
  const run = await createRun(gpu, p, o);
  try {
    if (run.finished) {
      io.err(`${o.resumeFile}: the run already finished all ${p.cfg.epochs} epochs; nothing to resume\n`);
      return 0;
    }
    await writeSkippedList(p.outDir, p.data.skipped ?? []);
    io.out(trainHeader({ gpu, ...p, resumeFile: o.resumeFile }, run));
    io.out(freezeRow(p.cfg, run.trainer.freezeSummary, run.trainer.freeze));
    if (p.from) io.out(backboneRows(p.from, p.cfg, p.norm));
    const result = await trainUntilDone(run, p, o);
    const store = run.store as FileRunStore;
    const files = store.files;
    if (result.stopped) {
      const pos = result.position;
      io.err(
        `checkpoint written: ${files.checkpoint} (epoch ${pos.epoch + 1}, step ${pos.batch}/${run.stepsPerEpoch})\n` +
          `continue with: webgpu-trainer train --resume ${files.checkpoint}\n`,
      );
      return 130;
    }
    io.out('\n' + summaryTable(await store.metrics()));
    const test = result.test;
    if (test)
      io.out(
        `test       loss ${test.loss.toFixed(4)}  accuracy ${pct(test.accuracy)}  (${test.count} samples)\n` +
          (test.single
            ? `           flip TTA (each image and its mirror); one view: loss ${test.single.loss.toFixed(4)}  accuracy ${pct(test.single.accuracy)}\n`
            : ''),
      );
    const wall = (performance.now() - t0) / 1000;
    io.out(`time       ${duration(wall)} (${wall.toFixed(1)} s, this run)\n`);
    io.out(
      `files      ${files.model}\n           ${files.curves}\n           ${files.metrics}\n           ${files.checkpoint}\n`,
    );
    io.out(
      `next       webgpu-trainer eval ${files.model}   |   webgpu-trainer predict ${files.model} <image.png>\n`,
    );
    return 0;
  } finally {
    run.trainer.destroy();
  }
}

/** Trains with the progress display; the first Ctrl-C asks the run to stop and checkpoint. */
async function trainUntilDone(run: TrainingRun, p: Prepared, o: TrainOptions): Promise<RunResult> {
  const io = o.ctx.io;
  const stop = new AbortController();
  const onInterrupt = o.ctx.onInterrupt ?? processInterrupt;
  const unsubscribe = onInterrupt(() => {
    if (stop.signal.aborted) {
      io.err('\nsecond Ctrl-C: exiting without a checkpoint\n');
      process.exit(130);
    }
    stop.abort();
    io.err('\nCtrl-C: stopping after this step and writing a checkpoint (Ctrl-C again to quit at once)\n');
  });
  try {
    const progress = runProgress(io, o.progressMode, {
      epochs: p.cfg.epochs,
      stepsPerEpoch: run.stepsPerEpoch,
      start: run.start,
    });
    return await run.train({
      signal: stop.signal,
      onStep: progress.onStep,
      onEpoch: async (e, info) => {
        await progress.onEpoch(e, info);
        if (info.unfrozen) io.err(unfreezeLine(e.epoch + 1, run.trainer.lrFactor));
      },
      afterStep: o.ctx.runHooks?.afterStep,
    });
  } finally {
    unsubscribe();
  }
}
