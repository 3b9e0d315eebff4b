// The training worker: owns the GPU device, the loaded dataset and the network, so fetching,
// decompressing, decoding and training never block the page. main.ts sends Requests (see
// protocol.ts) and renders what comes back: replies, and step/epoch/state events while training.

import { ConfigError, DeviceLostError, resolveModel, type GpuDevice, type Weights } from '../../src/index.js';
import { loadFromFiles, loadFromUrl, isDatasetId, summarize, trimmed, type LoadedDataset } from './data.js';
import { evaluateTest } from './evaluate.js';
import { decodeResized, loadFolder } from './folder.js';
import { getGpu } from './gpu.js';
import { firstLayerOf, layerLines } from './layer-info.js';
import { modelBytes, parseModel } from './modelfile.js';
import { drawWeights } from './render.js';
import { classProbs, outputCount, toSpec, type NetConfig } from './network.js';
import type {
  DataSummary,
  Envelope,
  ErrorInfo,
  FirstLayer,
  ModelSummary,
  ModelView,
  Replies,
  Request,
  WorkerEvent,
} from './protocol.js';
import { Session, type ModelMeta } from './session.js';

interface State {
  gpu?: GpuDevice;
  gpuHelp?: string;
  data?: LoadedDataset;
  session?: Session;
  origin: string;
  testLimit: number;
}

const st: State = { origin: '', testLimit: 0 };

function post(ev: WorkerEvent, transfer: Transferable[] = []): void {
  self.postMessage(ev, { transfer });
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

// ---- GPU -----------------------------------------------------------------------------------

async function needGpu(): Promise<GpuDevice> {
  if (!st.gpu || isLost(st.gpu)) {
    const { gpu, help } = await getGpu();
    st.gpu = gpu;
    st.gpuHelp = help;
  }
  if (!st.gpu) throw new ConfigError(st.gpuHelp ?? 'WebGPU is not ready yet.');
  return st.gpu;
}

function isLost(gpu: GpuDevice): boolean {
  if (gpu.lostError) return true;
  try {
    gpu.throwIfFailed();
    return false;
  } catch (e) {
    if (e instanceof DeviceLostError) return true;
    throw e;
  }
}

// ---- data ----------------------------------------------------------------------------------

function dataReply(d: LoadedDataset): { value: DataSummary; transfer: Transferable[] } {
  st.data = d;
  const value = summarize(d);
  return { value, transfer: [value.sampleGrid, value.testImages.buffer] };
}

function dataset(id: string): Parameters<typeof loadFromUrl>[0] {
  if (!isDatasetId(id)) throw new ConfigError(`Unknown dataset ${id}.`);
  return id;
}

// ---- the network ---------------------------------------------------------------------------

function needSession(): Session {
  if (!st.session) throw new ConfigError('Train or load a model first.');
  return st.session;
}

function modelSummary(s: Session): ModelSummary {
  return {
    layers: s.meta.spec.layers,
    inputShape: s.meta.inputShape,
    loss: s.meta.spec.loss,
    parameterCount: s.trainer.parameterCount,
    classNames: s.meta.classNames,
    origin: st.origin,
    lines: layerLines(resolveModel(s.meta.spec)),
  };
}

/** The weighted layer on the input as pictures: dense rows as input images, conv filters [KH, KW, C]. */
function firstLayer(s: Session, weights: Weights[]): FirstLayer | undefined {
  const f = firstLayerOf(resolveModel(s.meta.spec), s.meta.inputShape);
  if (!f) return undefined;
  const { param, ...shown } = f;
  const canvas = new OffscreenCanvas(400, 400);
  drawWeights(canvas, weights[param].W, f.units, f.shape);
  return { ...shown, picture: canvas.transferToImageBitmap() };
}

/** First-layer weights and, when the loaded data fits the model, the test-set report. */
async function modelView(
  s: Session,
  given?: Weights[],
): Promise<{ view: ModelView; transfer: Transferable[] }> {
  const weights = given ?? (await s.weights());
  const view: ModelView = { firstLayer: firstLayer(s, weights) };
  const d = st.data;
  const inputSize = resolveModel(s.meta.spec).inputSize;
  if (
    d &&
    d.test.height * d.test.width * d.test.channels === inputSize &&
    d.info.classNames.length === s.meta.classNames.length
  ) {
    const test = st.testLimit > 0 ? trimmed(d.test, st.testLimit) : d.test;
    view.report = await evaluateTest(s, test);
  }
  const transfer: Transferable[] = [];
  if (view.firstLayer) transfer.push(view.firstLayer.picture);
  if (view.report) transfer.push(view.report.confusion.buffer);
  return { view, transfer };
}

/** The loaded data and the training images to use, once no run is in progress. */
function trainingData(
  trainLimit: number,
  testLimit: number,
): { d: LoadedDataset; trainSet: LoadedDataset['train'] } {
  const d = st.data;
  if (!d) throw new ConfigError('Load a dataset first (section 1).');
  const state = st.session?.state;
  if (state === 'running' || state === 'paused' || state === 'lost')
    throw new ConfigError('Stop the current run before starting another.');
  st.testLimit = testLimit;
  return { d, trainSet: trainLimit > 0 ? trimmed(d.train, trainLimit) : d.train };
}

async function train(cfg: NetConfig, trainLimit: number, testLimit: number): Promise<ModelSummary> {
  const gpu = await needGpu();
  const { d, trainSet } = trainingData(trainLimit, testLimit);
  const shape: [number, number, number] = [trainSet.height, trainSet.width, trainSet.channels];
  const spec = toSpec(cfg, shape, d.info.classNames.length);
  st.session?.destroy();
  st.session = undefined;
  const session = await Session.forTraining(
    gpu,
    { spec, inputShape: shape, normalization: { kind: 'scale' }, classNames: d.info.classNames },
    cfg,
    trainSet,
  );
  st.session = session;
  st.origin = `trained here on ${d.info.title}`;
  return startRun(session);
}

/** Throws unless the data's images and classes are what the model takes. */
function checkFits(meta: ModelMeta, d: LoadedDataset): void {
  const [h, w, c] = meta.inputShape;
  const t = d.train;
  if (t.height * t.width * t.channels !== h * w * c || t.channels !== c) {
    throw new ConfigError(
      `The model takes ${h}x${w}x${c} images but ${d.info.title} has ${t.height}x${t.width}x${t.channels}; load data of the model's size (an image folder is resized to the size chosen beside it).`,
    );
  }
  if (d.info.classNames.length !== meta.classNames.length) {
    throw new ConfigError(
      `The model has ${meta.classNames.length} classes (${meta.classNames.join(', ')}) but ${d.info.title} has ${d.info.classNames.length}; load data with the model's classes.`,
    );
  }
}

/**
 * Trains the current model (loaded from a file, or trained here) further on the loaded data,
 * from its weights and batch-norm statistics, with the form's optimizer, batch size and epochs.
 * A model file holds no optimizer state, so the optimizer starts afresh.
 */
async function continueTraining(
  cfg: NetConfig,
  trainLimit: number,
  testLimit: number,
): Promise<ModelSummary> {
  const gpu = await needGpu();
  const old = needSession();
  const { d, trainSet } = trainingData(trainLimit, testLimit);
  checkFits(old.meta, d);
  const start = await old.between(async () => ({
    weights: await old.weights(),
    batchNorm: await old.batchNorm(),
  }));
  const session = await Session.forTraining(gpu, old.meta, cfg, trainSet, start);
  old.destroy();
  st.session = session;
  st.origin = `${st.origin.replace(/, then trained further here.*$/, '')}, then trained further here on ${d.info.title}`;
  return startRun(session);
}

/** Starts the session's run; its progress comes back as events. */
function startRun(session: Session): ModelSummary {
  void session.train({
    onStep(log, rate) {
      post({ event: 'step', step: log.step, loss: log.loss, accuracy: log.accuracy, rate });
    },
    async onEpoch(log, weights) {
      const { view, transfer } = await modelView(session, weights);
      post(
        {
          event: 'epoch',
          step: session.trainer.step,
          epoch: log.epoch,
          valLoss: log.valLoss,
          valAccuracy: log.valAccuracy,
          seconds: log.seconds,
          samplesPerSecond: log.samplesPerSecond,
          view,
        },
        transfer,
      );
    },
    onState(state, error) {
      post({
        event: 'state',
        state,
        step: session.trainer.step,
        ...(error === undefined ? {} : { error: errorInfo(error) }),
      });
    },
  });
  return modelSummary(session);
}

async function predict(px: Uint8Array): Promise<number[] | undefined> {
  const s = st.session;
  if (!s || s.state === 'lost' || resolveModel(s.meta.spec).inputSize !== px.length) return undefined;
  return s.between(async () => {
    const out = await s.trainer.predict(s.floatInput(px));
    return classProbs(out, 0, outputCount(s.meta.spec));
  });
}

async function classify(file: File): Promise<Replies['classify']> {
  const s = needSession();
  const shape = s.meta.inputShape;
  const px = new Uint8Array(shape[0] * shape[1] * shape[2]);
  if (shape[2] !== 1 && shape[2] !== 3)
    throw new ConfigError(`This model takes ${shape[2]}-channel input; photos give 1 (grey) or 3 (RGB).`);
  try {
    await decodeResized(file, shape, px);
  } catch {
    throw new ConfigError(
      `${file.name} is not an image this browser can decode; use a PNG, JPEG, GIF or WebP picture.`,
    );
  }
  const probs = await predict(px);
  if (!probs) throw new ConfigError('The model cannot run now (its GPU device was lost: restart it).');
  return { probs, classNames: s.meta.classNames };
}

async function save(): Promise<Replies['save']> {
  const s = needSession();
  return s.between(async () => {
    const dataset = st.data?.info.id ?? 'unknown';
    const bytes = modelBytes(s.meta, await s.weights(), await s.batchNorm(), {
      optimizer: s.cfg.optimizer,
      lr: s.cfg.lr,
      batchSize: s.cfg.batchSize,
      epochs: s.cfg.epochs,
      seed: s.cfg.seed,
      steps: s.trainer.step,
      dataset,
      tool: 'webgpu-trainer demo',
      // What the CLI's eval reads to find the data when no --data is given.
      ...(dataset === 'folder' ? {} : { config: { data: dataset } }),
    });
    const kind = resolveModel(s.meta.spec).isGraph ? 'graph' : s.meta.spec.inputShape ? 'cnn' : 'mlp';
    return { bytes, fileName: `${dataset}-${kind}.safetensors` };
  });
}

async function loadModelFile(bytes: Uint8Array, name: string, cfg: NetConfig): Promise<ModelSummary> {
  const loaded = parseModel(bytes, name);
  const gpu = await needGpu();
  if (st.session?.state === 'running') throw new ConfigError('Stop training before loading a model.');
  st.session?.destroy();
  st.session = undefined;
  st.session = await Session.create(gpu, loaded.meta, cfg, loaded.weights, loaded.batchNorm);
  st.origin = `loaded from ${name}`;
  return modelSummary(st.session);
}

// ---- dispatch ------------------------------------------------------------------------------

type Handled = { value: unknown; transfer?: Transferable[] } | void;

async function handle(req: Request): Promise<Handled> {
  switch (req.op) {
    case 'init': {
      const { gpu, help } = await getGpu();
      st.gpu = gpu;
      st.gpuHelp = help;
      const value: Replies['init'] = gpu
        ? { adapter: { name: gpu.report.name, software: gpu.report.software } }
        : { help };
      return { value };
    }
    case 'load-url':
      return dataReply(await loadFromUrl(dataset(req.dataset), req.base));
    case 'load-files':
      return dataReply(await loadFromFiles(dataset(req.dataset), req.files));
    case 'load-folder':
      return dataReply(await loadFolder(req.files, req.shape, (text) => post({ event: 'progress', text })));
    case 'train':
      return { value: await train(req.cfg, req.trainLimit, req.testLimit) };
    case 'continue':
      return { value: await continueTraining(req.cfg, req.trainLimit, req.testLimit) };
    case 'pause':
      st.session?.pause();
      return;
    case 'resume':
      void st.session?.resume();
      return;
    case 'stop':
      st.session?.stop();
      return;
    case 'restart': {
      const s = needSession();
      const gpu = await needGpu();
      void s.restart(gpu);
      return;
    }
    case 'simulate-loss':
      // Destroying the device is what a driver reset looks like: every later call fails.
      st.session?.gpu.destroy();
      return;
    case 'view': {
      st.testLimit = req.testLimit;
      const s = needSession();
      return s.between(() => modelView(s)).then(({ view, transfer }) => ({ value: view, transfer }));
    }
    case 'predict':
      return { value: await predict(req.pixels) };
    case 'classify':
      return { value: await classify(req.file) };
    case 'save': {
      const value = await save();
      return { value, transfer: [value.bytes.buffer] };
    }
    case 'load-model':
      return { value: await loadModelFile(req.bytes, req.name, req.cfg) };
  }
}

self.addEventListener('message', (e: MessageEvent<Envelope>) => {
  const { id, ...req } = e.data;
  handle(req as Request).then(
    (r) => post({ event: 'reply', id, value: r ? r.value : undefined }, r?.transfer ?? []),
    (err: unknown) => post({ event: 'fail', id, error: errorInfo(err) }),
  );
});
