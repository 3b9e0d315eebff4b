// App wiring: page controls -> data, network, session; session events -> charts and pictures.

import {
  ConfigError,
  DeviceLostError,
  type GpuDevice,
  type ImageSet,
  type OptimizerName,
  type Weights,
} from '../../src/index.js';
import { LineChart } from './charts.js';
import {
  DATASETS,
  describe,
  isDatasetId,
  loadFromFiles,
  loadFromUrl,
  trimmed,
  type LoadedDataset,
} from './data.js';
import { byId, clearError, downloadBytes, numberInput, setText, showError } from './dom.js';
import { DrawPad } from './drawpad.js';
import { evaluateTest } from './evaluate.js';
import { getGpu } from './gpu.js';
import { modelBytes, parseModel } from './modelfile.js';
import { argmax, classProbs, parseSizes, PRESETS, toSpec, type NetConfig } from './network.js';
import { drawSampleGrid, drawWeights, renderConfusion, renderPredictionGrid } from './render.js';
import { Session, type RunState } from './session.js';
import { imageToRgb } from './upload.js';

interface App {
  gpu?: GpuDevice;
  gpuHelp?: string;
  data?: LoadedDataset;
  session?: Session;
  /** What the current model is, for the model-info line. */
  origin?: string;
}

const app: App = {};
const lossChart = new LineChart(byId('loss-chart', HTMLCanvasElement), 'Loss', [
  { label: 'train', color: '#1a73e8' },
  { label: 'validation', color: '#e8710a', dashed: true },
]);
const accChart = new LineChart(
  byId('acc-chart', HTMLCanvasElement),
  'Accuracy',
  [
    { label: 'train', color: '#1a73e8' },
    { label: 'validation', color: '#e8710a', dashed: true },
  ],
  [0, 1],
);
const pad = new DrawPad(byId('drawpad', HTMLCanvasElement), (px) => void predictDrawing(px));

/** Runs an event handler, reporting any failure in the page. */
function guard(context: string, fn: () => Promise<void>): () => void {
  return () => {
    fn().catch((e: unknown) => showError(context, e));
  };
}

// ---- GPU -----------------------------------------------------------------------------------

async function initGpu(): Promise<void> {
  const { gpu, help } = await getGpu();
  app.gpu = gpu;
  app.gpuHelp = help;
  if (gpu) {
    const r = gpu.report;
    setText('gpu-status', `WebGPU adapter: ${r.name}${r.software ? ' (software renderer)' : ''}.`);
    document.body.dataset.gpu = 'ready';
  } else {
    setText('gpu-status', 'No WebGPU: training is unavailable in this browser.');
    const box = byId('gpu-help', HTMLDivElement);
    box.textContent = help ?? '';
    box.hidden = false;
    document.body.dataset.gpu = 'missing';
  }
  updateButtons();
}

/** The device, or a fresh one when the last was lost (a lost device cannot be used again). */
async function needGpu(): Promise<GpuDevice> {
  if (app.gpu && isLost(app.gpu)) {
    const { gpu, help } = await getGpu();
    app.gpu = gpu;
    app.gpuHelp = help;
  }
  if (!app.gpu) throw new ConfigError(app.gpuHelp ?? 'WebGPU is not ready yet.');
  return app.gpu;
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

function datasetSelect(): HTMLSelectElement {
  return byId('dataset', HTMLSelectElement);
}

function showDataset(d: LoadedDataset): void {
  app.data = d;
  datasetSelect().value = d.info.id;
  const sizes = parseSizesOrUndefined();
  if (!sizes || sizes[0] !== d.train.height * d.train.width * d.train.channels) applyPreset(d.info.id);
  setText('data-stats', describe(d));
  drawSampleGrid(byId('sample-grid', HTMLCanvasElement), d.train, 64);
  document.body.dataset.dataset = d.info.id;
}

async function loadUrl(): Promise<void> {
  clearError();
  const id = datasetSelect().value;
  if (!isDatasetId(id)) throw new ConfigError(`Unknown dataset ${id}.`);
  setText('data-stats', `Loading ${DATASETS[id].title}…`);
  try {
    showDataset(await loadFromUrl(id, byId('data-url', HTMLInputElement).value));
  } catch (e) {
    setText('data-stats', app.data ? describe(app.data) : 'No dataset loaded.');
    throw e;
  }
}

async function loadFiles(files: File[]): Promise<void> {
  clearError();
  const id = datasetSelect().value;
  if (!isDatasetId(id)) throw new ConfigError(`Unknown dataset ${id}.`);
  setText('data-stats', `Reading ${files.length} file(s)…`);
  try {
    showDataset(await loadFromFiles(id, files));
  } catch (e) {
    setText('data-stats', app.data ? describe(app.data) : 'No dataset loaded.');
    throw e;
  }
}

function limited(set: ImageSet, id: string): ImageSet {
  const n = numberInput(id, 0, 0, set.count);
  return n > 0 ? trimmed(set, n) : set;
}

// ---- network form --------------------------------------------------------------------------

function applyPreset(id: keyof typeof PRESETS): void {
  const p = PRESETS[id];
  byId('preset', HTMLSelectElement).value = id;
  byId('sizes', HTMLInputElement).value = p.sizes.join(', ');
  byId('hidden', HTMLSelectElement).value = p.hidden;
  byId('loss', HTMLSelectElement).value = p.loss;
  byId('optimizer', HTMLSelectElement).value = p.optimizer;
  byId('lr', HTMLInputElement).value = String(p.lr);
  byId('batch', HTMLInputElement).value = String(p.batchSize);
  byId('epochs', HTMLInputElement).value = String(p.epochs);
  byId('max-steps', HTMLInputElement).value = String(p.maxSteps);
  byId('val-split', HTMLInputElement).value = String(p.validationSplit);
}

function parseSizesOrUndefined(): number[] | undefined {
  try {
    return parseSizes(byId('sizes', HTMLInputElement).value);
  } catch {
    return undefined;
  }
}

function readForm(): NetConfig {
  const lr = Number(byId('lr', HTMLInputElement).value);
  if (!(lr > 0)) throw new ConfigError('The learning rate must be a positive number, e.g. 0.001.');
  return {
    sizes: parseSizes(byId('sizes', HTMLInputElement).value),
    hidden: byId('hidden', HTMLSelectElement).value as NetConfig['hidden'],
    loss: byId('loss', HTMLSelectElement).value as NetConfig['loss'],
    optimizer: byId('optimizer', HTMLSelectElement).value as OptimizerName,
    lr,
    batchSize: Math.round(numberInput('batch', 64, 1, 65536)),
    epochs: Math.round(numberInput('epochs', 1, 1, 100000)),
    maxSteps: Math.round(numberInput('max-steps', 0, 0, 1e9)),
    seed: Math.round(numberInput('seed', 1, 0, 2 ** 31)),
    validationSplit: numberInput('val-split', 0, 0, 0.5),
  };
}

// ---- training ------------------------------------------------------------------------------

function updateButtons(): void {
  const state: RunState = app.session?.state ?? 'idle';
  const busy = state === 'running' || state === 'paused' || state === 'lost';
  byId('train', HTMLButtonElement).disabled = busy || !app.gpu;
  byId('pause', HTMLButtonElement).disabled = state !== 'running';
  byId('resume', HTMLButtonElement).disabled = state !== 'paused';
  byId('stop', HTMLButtonElement).disabled = !busy;
  byId('restart', HTMLButtonElement).hidden = state !== 'lost';
  byId('save-model', HTMLButtonElement).disabled = !app.session || state === 'running' || state === 'lost';
  byId('simulate-loss', HTMLButtonElement).disabled = state !== 'running';
  document.body.dataset.trainState = state;
}

const STATE_TEXT: Record<RunState, string> = {
  idle: 'Not training.',
  running: 'Training…',
  paused: 'Paused. Resume continues with the same batches.',
  stopped: 'Stopped.',
  done: 'Finished.',
  lost: 'The GPU device was lost during training. Restart continues from the last epoch read back.',
  failed: 'Training failed (see the message above).',
};

async function startTraining(): Promise<void> {
  clearError();
  const gpu = await needGpu();
  const d = app.data;
  if (!d) throw new ConfigError('Load a dataset first (section 1).');
  const cfg = readForm();
  const train = limited(d.train, 'train-limit');
  const features = train.height * train.width * train.channels;
  const spec = toSpec(cfg, features, d.info.classNames.length);
  app.session?.destroy();
  const session = await Session.create(
    gpu,
    {
      spec,
      inputShape: [train.height, train.width, train.channels],
      normalization: { kind: 'scale' },
      classNames: d.info.classNames,
    },
    cfg,
  );
  app.session = session;
  app.origin = `trained here on ${d.info.title}`;
  lossChart.clear();
  accChart.clear();
  let lastDraw = 0;
  const data = session.data(train.images, train.labels, train.count);
  await session.train(data, {
    onStep(log, rate) {
      setText('m-step', String(log.step));
      setText('m-rate', `${Math.round(rate).toLocaleString('en')}`);
      setText('m-loss', log.loss.toFixed(4));
      lossChart.add('train', log.step, log.loss);
      accChart.add('train', log.step, log.accuracy);
      if (performance.now() - lastDraw > 100) {
        lossChart.draw();
        accChart.draw();
        lastDraw = performance.now();
      }
    },
    async onEpoch(log, weights) {
      const step = session.trainer.step;
      if (log.valLoss !== undefined) lossChart.add('validation', step, log.valLoss);
      if (log.valAccuracy !== undefined) accChart.add('validation', step, log.valAccuracy);
      lossChart.draw();
      accChart.draw();
      setText(
        'm-epoch',
        `${log.epoch + 1}: ${log.seconds.toFixed(2)} s, ${Math.round(log.samplesPerSecond).toLocaleString('en')} samples/s`,
      );
      await showModel(session, weights);
    },
    onState(state, error) {
      setText('train-status', STATE_TEXT[state]);
      setText('m-step', String(session.trainer.step));
      if (state === 'lost' || state === 'failed') showError('Training', error);
      updateButtons();
    },
  });
  modelInfo();
}

/** Test-set pictures and first-layer weights for the current model. */
async function showModel(session: Session, weights?: Weights[]): Promise<void> {
  const w = weights ?? (await session.weights());
  const [h, wd, c] = session.meta.inputShape;
  drawWeights(byId('weights', HTMLCanvasElement), w[0].W, session.meta.spec.layers[0].units, {
    height: h,
    width: wd,
    channels: c,
  });
  const d = app.data;
  if (d && d.test.height * d.test.width * d.test.channels === session.meta.spec.inputSize) {
    const test = limited(d.test, 'test-limit');
    const report = await evaluateTest(session, test);
    const acc = byId('m-test-acc', HTMLElement);
    acc.textContent = `${(100 * report.accuracy).toFixed(1)}% of ${report.count}`;
    acc.dataset.value = String(report.accuracy);
    renderPredictionGrid(byId('pred-grid', HTMLDivElement), test, report.items, session.meta.classNames);
    renderConfusion(byId('confusion', HTMLTableElement), report.confusion, session.meta.classNames);
  }
  await predictDrawing(pad.pixels());
}

function modelInfo(): void {
  const s = app.session;
  if (!s) return;
  const sizes = [s.meta.spec.inputSize, ...s.meta.spec.layers.map((l) => l.units)];
  const acts = s.meta.spec.layers.map((l) => l.activation).join(', ');
  setText(
    'model-info',
    `Model ${app.origin ?? ''}: layers [${sizes.join(', ')}] (${acts}), loss ${s.meta.spec.loss}, ` +
      `${s.trainer.parameterCount.toLocaleString('en')} parameters, classes: ${s.meta.classNames.join(', ')}.`,
  );
}

// ---- trying it out -------------------------------------------------------------------------

let drawBusy = false;
let drawPending: { px: Uint8Array | undefined } | undefined;

async function predictDrawing(px: Uint8Array | undefined): Promise<void> {
  const list = byId('draw-probs', HTMLOListElement);
  if (drawBusy) {
    drawPending = { px };
    list.dataset.state = 'busy';
    return;
  }
  const s = app.session;
  if (!px || !s || s.meta.spec.inputSize !== px.length || s.state === 'lost') {
    list.replaceChildren();
    list.dataset.state = px ? 'no-model' : 'blank';
    return;
  }
  drawBusy = true;
  list.dataset.state = 'busy';
  try {
    const out = await s.trainer.predict(s.floatInput(px));
    const probs = classProbs(out, 0, out.length);
    const top = argmax(probs);
    list.replaceChildren(
      ...probs.map((p, i) => {
        const li = document.createElement('li');
        li.textContent = `${s.meta.classNames[i]}: ${(100 * p).toFixed(1)}%`;
        li.dataset.prob = String(p);
        if (i === top) li.className = 'top';
        return li;
      }),
    );
    list.dataset.top = String(top);
  } catch (e) {
    showError('Prediction', e);
  } finally {
    drawBusy = false;
  }
  if (drawPending) {
    const next = drawPending.px;
    drawPending = undefined;
    await predictDrawing(next);
  } else {
    // 'predicted' only once the latest drawing has been answered (tests wait for this).
    list.dataset.state = 'predicted';
  }
}

async function classifyUpload(file: File): Promise<void> {
  clearError();
  const out = byId('upload-result', HTMLParagraphElement);
  const s = app.session;
  if (!s || s.meta.spec.inputSize !== 64 * 64 * 3 || s.meta.classNames.length !== 2) {
    out.textContent = 'This needs a cat vs non-cat model: train one on that dataset, or load one.';
    return;
  }
  const rgb = await imageToRgb(file);
  const y = await s.trainer.predict(s.floatInput(rgb));
  const probs = classProbs(y, 0, y.length);
  const cat = probs[1];
  out.textContent = `${file.name}: ${cat >= 0.5 ? 'cat' : 'not a cat'} (probability of cat ${(100 * cat).toFixed(1)}%).`;
  out.dataset.prob = String(cat);
}

// ---- model files ---------------------------------------------------------------------------

async function saveModelFile(): Promise<void> {
  const s = app.session;
  if (!s) throw new ConfigError('Train or load a model first.');
  const bytes = modelBytes(s.meta, await s.weights(), {
    optimizer: s.cfg.optimizer,
    lr: s.cfg.lr,
    batchSize: s.cfg.batchSize,
    epochs: s.cfg.epochs,
    seed: s.cfg.seed,
    steps: s.trainer.step,
    dataset: app.data?.info.id ?? 'unknown',
    tool: 'webgpu-trainer demo',
  });
  downloadBytes(bytes, `${app.data?.info.id ?? 'model'}.safetensors`);
}

async function loadModelFile(file: File): Promise<void> {
  clearError();
  const loaded = parseModel(new Uint8Array(await file.arrayBuffer()), file.name);
  const gpu = await needGpu();
  if (app.session?.state === 'running') throw new ConfigError('Stop training before loading a model.');
  const cfg: NetConfig = { ...readFormOrPreset(), sizes: [loaded.meta.spec.inputSize] };
  app.session?.destroy();
  app.session = await Session.create(gpu, loaded.meta, cfg, loaded.weights);
  app.origin = `loaded from ${file.name}`;
  modelInfo();
  updateButtons();
  await showModel(app.session);
}

function readFormOrPreset(): NetConfig {
  try {
    return readForm();
  } catch {
    return PRESETS.mnist;
  }
}

// ---- events --------------------------------------------------------------------------------

function on(id: string, event: string, context: string, fn: () => Promise<void>): void {
  byId(id, HTMLElement).addEventListener(event, guard(context, fn));
}

on('load-url', 'click', 'Loading the dataset', loadUrl);
on('data-files', 'change', 'Reading the dataset files', async () => {
  const input = byId('data-files', HTMLInputElement);
  await loadFiles([...(input.files ?? [])]);
  input.value = '';
});
const drop = byId('drop-zone', HTMLDivElement);
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  guard('Reading the dropped files', () => loadFiles([...(e.dataTransfer?.files ?? [])]))();
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    byId('data-files', HTMLInputElement).click();
  }
});
byId('preset', HTMLSelectElement).addEventListener('change', (e) => {
  const v = (e.target as HTMLSelectElement).value;
  if (isDatasetId(v)) applyPreset(v);
});
datasetSelect().addEventListener('change', () => {
  const v = datasetSelect().value;
  if (isDatasetId(v)) applyPreset(v);
});
on('train', 'click', 'Training', startTraining);
byId('pause', HTMLButtonElement).addEventListener('click', () => app.session?.pause());
on('resume', 'click', 'Resuming', async () => {
  clearError();
  await app.session?.resume();
});
byId('stop', HTMLButtonElement).addEventListener('click', () => {
  app.session?.stop();
  updateButtons();
});
on('restart', 'click', 'Restarting after the lost device', async () => {
  clearError();
  await app.session?.restart(await needGpu());
});
on('simulate-loss', 'click', 'Simulating a lost device', async () => {
  // Destroying the device is what a driver reset looks like to the page: every later call fails.
  app.session?.gpu.destroy();
  await Promise.resolve();
});
on('clear-pad', 'click', 'Clearing the drawing', async () => pad.clear());
on('upload-image', 'change', 'Classifying the photo', async () => {
  const input = byId('upload-image', HTMLInputElement);
  const file = input.files?.[0];
  if (file) await classifyUpload(file);
});
on('save-model', 'click', 'Saving the model', saveModelFile);
on('load-model', 'change', 'Loading the model file', async () => {
  const input = byId('load-model', HTMLInputElement);
  const file = input.files?.[0];
  input.value = '';
  if (file) await loadModelFile(file);
});
window.addEventListener('unhandledrejection', (e) => showError('Unexpected error', e.reason));
window.addEventListener('error', (e) => showError('Unexpected error', e.error ?? e.message));

const params = new URLSearchParams(location.search);
const base = params.get('data');
if (base) byId('data-url', HTMLInputElement).value = base;
applyPreset('mnist');
updateButtons();
guard('Starting WebGPU', initGpu)();
