// `train --from FILE`: a run that starts from a model file's network and weights (one `import`
// wrote from torchvision weights, or an earlier `train`) instead of a fresh initialisation.
//
//   openBackbone   before the data is read: reads and checks the file, refuses --arch/--model and
//                  --resume beside it, and sets the defaults the backbone gives (image size,
//                  channels) for the options the user did not give. A PyTorch state dict (.pth or
//                  .safetensors; --arch names its architecture, else it is detected) is imported
//                  in memory first, as `import` would write it
//   fitBackbone    once the data is open: the file's network re-headed for the data's classes
//                  (src/nn/reheading.ts) into the run's configuration (cfg.net, cfg.loss, so a
//                  --resume rebuilds it without the file), and the input normalisation
//   applyBackbone  on the built trainer: the file's weights and batch-norm statistics, the new
//                  head keeping the trainer's own seeded initialisation
// The model file records where the weights came from (training.from: the file, its sha256, and
// the file's own provenance), which `info MODEL` shows.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { readFileLimited } from '../io/atomic.js';
import { DEFAULT_MAX_FILE_BYTES } from '../io/files.js';
import { CHECKPOINT_METADATA_KEY, loadModel, type JsonObject, type ModelFile } from '../io/modelfile.js';
import { parseStateDict } from '../io/state-dict.js';
import { importTorchvision, isStateDictFile } from '../io/torchvision-import.js';
import { isTorchvisionArch, TORCHVISION_ARCHS, type TorchvisionArch } from '../nn/torchvision.js';
import { decodeSafetensors } from '../io/safetensors.js';
import { specOf } from '../io/architecture.js';
import { ConfigError, ModelFormatError, ShapeError } from '../errors.js';
import type { Normalization } from '../data/normalize.js';
import type { OpenedDataset } from '../data/types.js';
import type { Trainer } from '../engine/trainer.js';
import { layerLabel } from '../nn/layers.js';
import { fineTuneLoss, reheadModel, type ReplacedHead } from '../nn/reheading.js';
import { UsageError } from './args.js';
import type { TrainConfig } from './config.js';
import { parseNormalization } from './data-flags.js';

export interface Backbone {
  file: string;
  model: ModelFile;
  sha256: string;
  /** The option names whose value came from the backbone (image-size, channels). */
  defaulted: Set<string>;
}

/** A backbone fitted to the data: what the run starts from, and the header's words for it. */
export interface FromPlan {
  backbone: Backbone;
  /** Absent when the head was kept (the data's classes are the file's). */
  replaced?: ReplacedHead;
  /** The file's normalisation, unless --normalize was given. */
  normalization?: Normalization;
}

/** Reads --from FILE and applies its defaults to `cfg` (image size, channels) where not `explicit`. */
export async function openBackbone(
  file: string,
  cfg: TrainConfig,
  explicit: ReadonlySet<string>,
): Promise<Backbone> {
  if (explicit.has('resume'))
    throw new UsageError(
      `--from cannot be combined with --resume: the checkpoint already holds the weights (drop --from)`,
    );
  const bytes = await readBytes(file);
  const stateDict = isStateDictFile(bytes);
  // --arch names a state dict's architecture; a model file brings its own network.
  const other = ['arch', 'model'].find((n) => explicit.has(n) && !(stateDict && n === 'arch'));
  if (other)
    throw new UsageError(
      `--from ${file} brings its own network; drop --${other} (the head is replaced for the data's classes)`,
    );
  const model = stateDict ? importBackbone(file, bytes, cfg, explicit) : readModelBytes(file, bytes);
  const defaulted = new Set<string>();
  const shape = model.model.architecture.inputShape;
  if (shape.length === 3) {
    if (!explicit.has('image-size')) {
      cfg.imageSize = [shape[0], shape[1]];
      defaulted.add('image-size');
    }
    if (!explicit.has('channels') && (shape[2] === 1 || shape[2] === 3)) {
      cfg.channels = shape[2];
      defaulted.add('channels');
    }
  }
  return { file, ...model, defaulted };
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFileLimited(file, DEFAULT_MAX_FILE_BYTES);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    throw new UsageError(`--from: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
}

/**
 * A torchvision state dict imported in memory (src/io/torchvision-import.ts), as `import` would
 * write it: at --image-size when given, else the architecture's usual 224x224.
 */
function importBackbone(
  file: string,
  bytes: Uint8Array,
  cfg: TrainConfig,
  explicit: ReadonlySet<string>,
): { model: ModelFile; sha256: string } {
  let arch: TorchvisionArch | undefined;
  if (explicit.has('arch')) {
    if (!isTorchvisionArch(cfg.arch))
      throw new UsageError(
        `--arch ${cfg.arch} is not a torchvision architecture; --from ${file} (a PyTorch state dict) takes --arch ${TORCHVISION_ARCHS.join('|')}, or none to detect it`,
      );
    arch = cfg.arch;
  }
  const size = explicit.has('image-size') && Array.isArray(cfg.imageSize) ? cfg.imageSize : undefined;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const r = importTorchvision(parseStateDict(bytes, file), {
    fileName: path.basename(file),
    arch,
    imageSize: size ? [size[0], size[1]] : undefined,
    sha256,
  });
  return { model: loadModel(r.bytes, file), sha256 };
}

function readModelBytes(file: string, bytes: Uint8Array): { model: ModelFile; sha256: string } {
  try {
    if (decodeSafetensors(bytes, file).metadata[CHECKPOINT_METADATA_KEY] !== undefined)
      throw new UsageError(
        `--from ${file} is a checkpoint; pass its run's model.safetensors, or continue the run with --resume ${file}`,
      );
    const model = loadModel(bytes, file);
    return { model, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (e) {
    if (!(e instanceof ModelFormatError)) throw e;
    throw new ModelFormatError(
      `${e.message}; --from takes a model file written by \`train\` or \`import\``,
      file,
    );
  }
}

/**
 * The backbone on the opened data: checks its channels, re-heads it into cfg.net and cfg.loss,
 * and picks the normalisation. Throws a one-line UsageError when the two cannot fit.
 */
export function fitBackbone(
  b: Backbone,
  cfg: TrainConfig,
  data: OpenedDataset,
  explicit: ReadonlySet<string>,
): FromPlan {
  const a = b.model.architecture;
  const [h, w, c] = data.shape;
  const fileC = a.inputShape.length === 3 ? a.inputShape[2] : undefined;
  if (fileC !== undefined && fileC !== c) {
    const fix = data.imageSize
      ? explicit.has('channels')
        ? `drop --channels ${c} (the pictures are then read with the backbone's ${fileC})`
        : `pass --channels ${fileC}`
      : `use a backbone trained on ${c}-channel images`;
    throw new UsageError(`--from ${b.file} takes ${fileC}-channel images, but ${cfg.data} has ${c}; ${fix}`);
  }
  const classes = data.classNames.length;
  const loss = fineTuneLoss(a.loss, cfg.loss, classes);
  const sameClasses =
    classes === b.model.classNames.length && data.classNames.every((n, i) => n === b.model.classNames[i]);
  let r;
  try {
    r = reheadModel(specOf(a), [h, w, c], { classes, loss, sameClasses });
  } catch (e) {
    if (!(e instanceof ConfigError) && !(e instanceof ShapeError)) throw e;
    const hint =
      explicit.has('image-size') && a.inputShape.length === 3
        ? `; try --image-size ${a.inputShape[0]}x${a.inputShape[1]} (the file's)`
        : '';
    throw new UsageError(`--from ${b.file} on ${h}x${w}x${c} inputs: ${(e as Error).message}${hint}`);
  }
  cfg.net = r.spec.layers;
  cfg.loss = loss;
  if (data.imageSize && b.defaulted.has('image-size'))
    // The header prints a 'uniform' choice's reason as it stands: "image size HxW (from the backbone)".
    data.imageSize = { ...data.imageSize, from: 'uniform', reason: 'from the backbone' };
  return {
    backbone: b,
    replaced: r.replaced,
    normalization: explicit.has('normalize')
      ? undefined
      : parseNormalization(b.model.normalization, c, b.file),
  };
}

/** Loads the file's weights and batch-norm statistics into a trainer built for plan's network. */
export async function applyBackbone(trainer: Trainer, plan: FromPlan): Promise<void> {
  const m = plan.backbone.model;
  const head = plan.replaced?.param;
  // The new head keeps the trainer's initialisation (the engine's usual one, seeded by --seed).
  const fresh = head === undefined ? undefined : await trainer.getWeights();
  trainer.setWeights(m.weights.map((w, k) => (k === head && fresh ? fresh[k] : w)));
  trainer.setRunningStats(m.runningStats, m.batchesTracked);
}

/** The model file's training.from block: the file, its hash and its own provenance. */
export function provenance(b: Backbone): JsonObject {
  const t = b.model.training;
  return {
    file: b.file,
    sha256: b.sha256,
    ...(t.source !== undefined ? { source: t.source } : {}),
    ...(t.from !== undefined ? { from: t.from } : {}),
  };
}

/** "torchvision resnet18 from resnet18.pth", or undefined without a readable source block. */
export function describeSource(source: unknown): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const s = source as Record<string, unknown>;
  const words = [s.format, s.arch].filter((x) => typeof x === 'string').join(' ');
  const file = typeof s.file === 'string' ? `from ${s.file}` : '';
  return [words, file].filter((x) => x !== '').join(' ') || undefined;
}

export function describeNormalization(n: unknown): string {
  const v = n as { kind?: string; mean?: number[]; std?: number[] };
  if (v.kind !== 'standardize' || !v.mean || !v.std) return String(v.kind);
  const list = (xs: number[]) => xs.map((x) => Number(x.toPrecision(4))).join(', ');
  return `standardize, mean ${list(v.mean)}, std ${list(v.std)}`;
}

/** The header's rows for a --from run (after the usual header). */
export function backboneRows(plan: FromPlan, cfg: TrainConfig, norm: Normalization): string {
  const b = plan.backbone;
  const source = describeSource(b.model.training.source);
  const r = plan.replaced;
  const names = b.model.classNames;
  const rows = [
    ['backbone', `${b.file} (sha256 ${b.sha256.slice(0, 12)}${source ? `; ${source}` : ''})`],
    [
      'head',
      r
        ? `${layerLabel(cfg.net ?? [], r.layer)} replaced: ${r.fromUnits} -> ${r.toUnits} outputs for the data's classes, initialised afresh (seed ${cfg.seed})`
        : `kept: the data's classes are the file's (${names.join(', ')}); the run continues its training`,
    ],
    [
      'normalize',
      `${describeNormalization(norm)} (${plan.normalization ? 'from the backbone' : '--normalize'})`,
    ],
  ];
  return rows.map(([k, v]) => `${k.padEnd(11)}${v}`).join('\n') + '\n';
}
