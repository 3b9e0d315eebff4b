// `export --torch`: a model or checkpoint file -> a small Python project (model.py, train.py,
// run.json, README.md and a copy of the file as start.safetensors) that continues the run under
// PyTorch DistributedDataParallel and writes the result back in this engine's format.
//
// The Python files that do not depend on the model (train.py, the README's text) live in
// templates/ beside this module and are read at run time: from src/export/templates under tsx and
// vitest, and from the package's src/export/templates when running the build in dist/src/export
// (the package ships src/, so no copy step is needed).

import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ModelFormatError } from '../errors.js';
import { findLocalDataset, KNOWN_DATASETS } from '../data/known.js';
import { isJsonObject, parseJsonStrict, type JsonObject } from '../io/json.js';
import { decodeSafetensors } from '../io/safetensors.js';
import { runJson, type RunJson } from './run-config.js';
import { modelPySource, torchPlan, type ArchitectureJson, type TorchPlan } from './torch-model.js';
import {
  torchvisionMatch,
  torchvisionModelPy,
  torchvisionPlan,
  type TorchvisionMatch,
} from './torchvision-export.js';

export const START_FILE = 'start.safetensors';

/** A template's text; throws ConfigError naming the places searched when it is missing. */
export function templateText(name: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const places = [
    path.join(here, 'templates', name),
    path.resolve(here, '../../../src/export/templates', name),
  ];
  for (const p of places) if (existsSync(p)) return readFileSync(p, 'utf8');
  throw new ConfigError(
    `The export template ${name} is missing (looked in ${places.join(' and ')}); reinstall webgpu-trainer.`,
  );
}

export interface ExportSource {
  header: JsonObject;
  state: JsonObject | null;
  architecture: ArchitectureJson;
}

/** Reads the metadata of a model or checkpoint file (any format version whose layers the engine knows). */
export function readExportSource(bytes: Uint8Array, file: string): ExportSource {
  const { metadata } = decodeSafetensors(bytes, file);
  const fail = (m: string): never => {
    throw new ModelFormatError(`${file}: ${m}`, file);
  };
  const parse = (key: string): JsonObject | null => {
    const text = metadata[key];
    if (text === undefined) return null;
    const v = parseJsonStrict(text);
    if (!isJsonObject(v)) return fail(`metadata "${key}" is not a JSON object`);
    return v;
  };
  const header = parse('webgpu_trainer');
  if (!header) return fail('no "webgpu_trainer" metadata: not a webgpu-trainer model or checkpoint');
  const state = header.format === 'webgpu-trainer/checkpoint' ? parse('webgpu_trainer_checkpoint') : null;
  if (header.format === 'webgpu-trainer/checkpoint' && !state)
    fail('a checkpoint without its checkpoint state');
  if (!isJsonObject(header.architecture)) fail('no architecture in the metadata');
  return { header, state, architecture: header.architecture as unknown as ArchitectureJson };
}

/** The folder train.py should read by default: the run's own folder, or a local copy of a known dataset. */
export function localDataPath(source: string | null, fileDir: string): string | null {
  if (source === null) return null;
  if ((KNOWN_DATASETS as readonly string[]).includes(source)) return findLocalDataset(source) ?? null;
  for (const p of [path.resolve(source), path.resolve(fileDir, source)]) if (existsSync(p)) return p;
  return null;
}

export interface ExportResult {
  outDir: string;
  files: string[];
  plan: TorchPlan;
  run: RunJson;
  /** Whether model.py builds a torchvision class (and which), and why or why not. */
  torchvision: TorchvisionMatch;
}

/** The README's words for the module model.py builds, and its paragraph on which case applies. */
function networkText(plan: TorchPlan, tv: TorchvisionMatch | null): { module: string; network: string } {
  if (tv?.target) {
    const { arch, classes } = tv.target;
    const first = plan.stateNames.find(([f]) => f.endsWith('.weight'));
    return {
      module: `torchvision's own \`${arch}\` class (\`torchvision.models.${arch}(num_classes=${classes})\`)`,
      network: [
        `The network is torchvision's \`${arch}\`, checked layer by layer (only the head's size is`,
        `free: ${classes} outputs here), so \`model.py\` builds \`torchvision.models.${arch}(num_classes=${classes})\``,
        "and `STATE_NAMES` renames the file's",
        `\`layers.{i}.*\` tensors to torchvision's names${first ? ` (\`${first[0]}\` -> \`${first[1]}\`)` : ''}: a state`,
        "dict that torchvision's `load_state_dict` takes with `strict=True`. In Python,",
        '`import model; net = model.load("start.safetensors")` gives the torchvision model with these',
        'weights (a fine-tuned model goes to PyTorch unchanged), and `torch.save(net.state_dict(), ...)`',
        'writes a file any torchvision code loads and `webgpu-trainer import` reads back. `train.py`',
        "maps the same names back when it writes the engine's files. Needs torchvision.",
      ].join('\n'),
    };
  }
  const module = plan.forward
    ? "an `nn.Module` (`Net`: the graph's layers in a `ModuleList`, run in the engine's order)"
    : 'a `torch.nn.Sequential`';
  const why = tv ? ` (not torchvision's class: ${tv.reason})` : '';
  return {
    module,
    network: `\`model.py\` defines the network with plain \`torch.nn\` modules${why}; its \`state_dict\` names are the model file's own (\`layers.{i}.*\`).`,
  };
}

export function readmeText(
  run: RunJson,
  plan: TorchPlan,
  sourceFile: string,
  outDir: string,
  tv: TorchvisionMatch | null = null,
): string {
  const dataArg = run.data.path ? '' : ' --data /path/to/data';
  const layers = plan.resolved.layers.length;
  const notes = run.notes.length ? run.notes.map((n) => `- ${n}`).join('\n') : '- none';
  const o = run.optimizer;
  const network = networkText(plan, tv);
  const schedule =
    run.schedule.kind === 'constant'
      ? 'constant'
      : run.schedule.kind === 'step'
        ? `step (x${run.schedule.gamma} every ${run.schedule.stepEpochs} epochs)`
        : `cosine${run.schedule.warmupSteps ? ` after ${run.schedule.warmupSteps} warm-up steps` : ''}`;
  const vars: Record<string, string> = {
    SOURCE: sourceFile,
    OUT: outDir,
    DATA_ARG: dataArg,
    DATA: run.data.path ?? `(not found here; the run used ${run.data.source ?? 'an unknown dataset'})`,
    LAYERS: String(layers),
    MODULE: network.module,
    NETWORK: network.network,
    LOSS: run.loss,
    OPTIMIZER: `${o.name} lr ${o.lr}${o.weightDecay ? `, weight decay ${o.weightDecay}` : ''}${o.maxNorm ? `, clip ${o.maxNorm}` : ''}`,
    SCHEDULE: schedule,
    BATCH: String(run.batchSize),
    START_KIND: run.startKind,
    NOTES: notes,
  };
  return templateText('README.md').replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => vars[k] ?? m);
}

export async function exportTorch(file: string, outDir: string): Promise<ExportResult> {
  const bytes = new Uint8Array(await readFile(file));
  const src = readExportSource(bytes, file);
  const match = torchvisionMatch(src.header, src.architecture);
  const generic = torchPlan(src.architecture);
  const plan = match.target ? torchvisionPlan(generic) : generic;
  const training = isJsonObject(src.header.training) ? src.header.training : {};
  const config = isJsonObject(training.config) ? training.config : {};
  const run = runJson({
    header: src.header,
    state: src.state,
    start: START_FILE,
    dataPath: localDataPath(typeof config.data === 'string' ? config.data : null, path.dirname(file)),
  });
  await mkdir(outDir, { recursive: true });
  const write = async (name: string, text: string) => writeFile(path.join(outDir, name), text);
  const name = path.basename(file);
  await write(
    'model.py',
    match.target
      ? torchvisionModelPy(plan, src.architecture, match.target, name)
      : modelPySource(plan, src.architecture, name),
  );
  await write('train.py', templateText('train.py'));
  await write('run.json', JSON.stringify(run, null, 2) + '\n');
  await write('README.md', readmeText(run, plan, name, outDir, match));
  await copyFile(file, path.join(outDir, START_FILE));
  const files = ['model.py', 'train.py', 'run.json', 'README.md', START_FILE];
  return { outDir, files, plan, run, torchvision: match };
}
