// App wiring, on the page's main thread: controls -> requests to the training worker (worker.ts);
// worker replies and events -> charts, pictures and text. Nothing heavy runs here: data loading,
// decoding, training and prediction all happen in the worker, so the page never stalls.

import { ConfigError } from '../../src/index.js';
import { LineChart } from './charts.js';
import { WorkerClient, rebuild } from './client.js';
import { byId, clearError, downloadBytes, numberInput, setText, showError } from './dom.js';
import { DrawPad } from './drawpad.js';
import { droppedFolder } from './dropped.js';
import { applyPreset, archChanged, fillChoices, readForm, readFormOrUndefined } from './form.js';
import { missingHelp } from './gpu.js';
import { showModelInfo, showView } from './model-view.js';
import { argmax, isPresetId, PRESETS, presetFor } from './network.js';
import type { DataSummary, FolderFile, ModelSummary, WorkerEvent } from './protocol.js';
import { showBitmap } from './render.js';
import type { RunState } from './session.js';

interface App {
  gpuReady: boolean;
  data?: DataSummary;
  model?: ModelSummary;
  state: RunState;
}

const app: App = { gpuReady: false, state: 'idle' };
const worker = new WorkerClient();
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
  // Without navigator.gpu here, the worker has none either: say so without starting a device.
  const status =
    'gpu' in navigator && navigator.gpu ? await worker.call({ op: 'init' }) : { help: missingHelp() };
  if (status.adapter) {
    const a = status.adapter;
    setText(
      'gpu-status',
      `WebGPU adapter: ${a.name}${a.software ? ' (software renderer)' : ''}; training runs in a worker.`,
    );
    app.gpuReady = true;
    document.body.dataset.gpu = 'ready';
  } else {
    setText('gpu-status', 'No WebGPU: training is unavailable in this browser.');
    const box = byId('gpu-help', HTMLDivElement);
    box.textContent = status.help ?? '';
    box.hidden = false;
    document.body.dataset.gpu = 'missing';
  }
  updateButtons();
}

// ---- data ----------------------------------------------------------------------------------

function datasetSelect(): HTMLSelectElement {
  return byId('dataset', HTMLSelectElement);
}

function showDataset(d: DataSummary): void {
  app.data = d;
  if (d.id !== 'folder') datasetSelect().value = d.id;
  const features = d.shape[0] * d.shape[1] * d.shape[2];
  const cfg = readFormOrUndefined();
  if (!cfg || (cfg.arch === 'mlp' && cfg.sizes[0] !== features) || (cfg.arch !== 'mlp' && d.id === 'folder'))
    applyPreset(presetFor(d.id, d.shape[2]));
  setText('data-stats', d.stats);
  showBitmap(byId('sample-grid', HTMLCanvasElement), d.sampleGrid);
  const counts = byId('class-counts', HTMLUListElement);
  counts.replaceChildren(
    ...d.classNames.map((c, i) => {
      const li = document.createElement('li');
      li.textContent = `${c}: ${d.counts[i]}`;
      li.dataset.count = String(d.counts[i]);
      return li;
    }),
  );
  const bad = byId('bad-files', HTMLUListElement);
  bad.replaceChildren(
    ...d.bad.map((b) => {
      const li = document.createElement('li');
      li.textContent = `${b.name}: ${b.reason}`;
      return li;
    }),
  );
  byId('bad-files-box', HTMLElement).hidden = d.bad.length === 0;
  setText('bad-files-count', String(d.bad.length));
  document.body.dataset.dataset = d.id;
}

async function loading(text: string, load: () => Promise<DataSummary>): Promise<void> {
  clearError();
  setText('data-stats', text);
  try {
    showDataset(await load());
  } catch (e) {
    setText('data-stats', app.data ? app.data.stats : 'No dataset loaded.');
    throw e;
  }
  // A model loaded before its data: its test-set report, now that there is a test set.
  if (app.model && (app.state === 'idle' || app.state === 'done' || app.state === 'stopped'))
    await refreshView();
}

async function loadUrl(): Promise<void> {
  const id = datasetSelect().value;
  // Relative bases are the page's, not the worker script's.
  const base = new URL(byId('data-url', HTMLInputElement).value || './', location.href).href;
  await loading(`Loading ${datasetSelect().selectedOptions[0]?.text ?? id}…`, () =>
    worker.call({ op: 'load-url', dataset: id, base }),
  );
}

async function loadFiles(files: File[]): Promise<void> {
  await loading(`Reading ${files.length} file(s)…`, () =>
    worker.call({ op: 'load-files', dataset: datasetSelect().value, files }),
  );
}

function folderShape(): [number, number, number] {
  const [h, w, c] = byId('folder-size', HTMLSelectElement).value.split('x').map(Number);
  return [h, w, c];
}

async function loadFolder(files: FolderFile[]): Promise<void> {
  if (files.length === 0) throw new ConfigError('The folder is empty.');
  await loading(`Decoding ${files.length} file(s) in the worker…`, () =>
    worker.call({ op: 'load-folder', files, shape: folderShape() }),
  );
}

// ---- training ------------------------------------------------------------------------------

function updateButtons(): void {
  const state = app.state;
  const busy = state === 'running' || state === 'paused' || state === 'lost';
  byId('train', HTMLButtonElement).disabled = busy || !app.gpuReady;
  byId('continue', HTMLButtonElement).disabled = busy || !app.gpuReady || !app.model;
  byId('pause', HTMLButtonElement).disabled = state !== 'running';
  byId('resume', HTMLButtonElement).disabled = state !== 'paused';
  byId('stop', HTMLButtonElement).disabled = !busy;
  byId('restart', HTMLButtonElement).hidden = state !== 'lost';
  byId('save-model', HTMLButtonElement).disabled = !app.model || state === 'running' || state === 'lost';
  byId('simulate-loss', HTMLButtonElement).disabled = state !== 'running';
  document.body.dataset.trainState = state;
}

const STATE_TEXT: Record<RunState, string> = {
  idle: 'Not training.',
  running: 'Training (in a worker; the page stays responsive)…',
  paused: 'Paused. Resume continues with the same batches.',
  stopped: 'Stopped.',
  done: 'Finished.',
  lost: 'The GPU device was lost during training. Restart continues from the last epoch read back.',
  failed: 'Training failed (see the message above).',
};

/** A new network from the form ('train'), or the current model trained further ('continue'). */
async function startTraining(op: 'train' | 'continue'): Promise<void> {
  clearError();
  if (!app.data) throw new ConfigError('Load a dataset first (section 1).');
  const cfg = readForm();
  lossChart.clear();
  accChart.clear();
  app.model = await worker.call({
    op,
    cfg,
    trainLimit: numberInput('train-limit', 0, 0, 1e9),
    testLimit: numberInput('test-limit', 0, 0, 1e9),
  });
  showModelInfo(app.model);
}

let lastDraw = 0;

function onWorkerEvent(ev: WorkerEvent): void {
  switch (ev.event) {
    case 'progress':
      setText('data-stats', ev.text);
      return;
    case 'step':
      setText('m-step', String(ev.step));
      setText('m-rate', `${Math.round(ev.rate).toLocaleString('en')}`);
      setText('m-loss', ev.loss.toFixed(4));
      lossChart.add('train', ev.step, ev.loss);
      accChart.add('train', ev.step, ev.accuracy);
      // At most four redraws a second keeps the page's thread nearly idle while training.
      if (performance.now() - lastDraw > 250) {
        lossChart.draw();
        accChart.draw();
        lastDraw = performance.now();
      }
      return;
    case 'epoch':
      if (ev.valLoss !== undefined) lossChart.add('validation', ev.step, ev.valLoss);
      if (ev.valAccuracy !== undefined) accChart.add('validation', ev.step, ev.valAccuracy);
      lossChart.draw();
      accChart.draw();
      setText(
        'm-epoch',
        `${ev.epoch + 1}: ${ev.seconds.toFixed(2)} s, ${Math.round(ev.samplesPerSecond).toLocaleString('en')} samples/s`,
      );
      showView(ev.view, app.data, app.model);
      void predictDrawing(pad.pixels());
      return;
    case 'state':
      app.state = ev.state;
      setText('train-status', STATE_TEXT[ev.state]);
      setText('m-step', String(ev.step));
      lossChart.draw();
      accChart.draw();
      if ((ev.state === 'lost' || ev.state === 'failed') && ev.error)
        showError('Training', rebuild(ev.error));
      updateButtons();
      return;
    default:
      return;
  }
}

async function refreshView(): Promise<void> {
  showView(
    await worker.call({ op: 'view', testLimit: numberInput('test-limit', 0, 0, 1e9) }),
    app.data,
    app.model,
  );
  await predictDrawing(pad.pixels());
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
  if (!px || !app.model || app.state === 'lost') {
    list.replaceChildren();
    list.dataset.state = px ? 'no-model' : 'blank';
    return;
  }
  drawBusy = true;
  list.dataset.state = 'busy';
  try {
    const probs = await worker.call({ op: 'predict', pixels: px });
    if (!probs) {
      list.replaceChildren();
      list.dataset.state = 'no-model';
    } else {
      const names = app.model.classNames;
      const top = argmax(probs);
      list.replaceChildren(
        ...probs.map((p, i) => {
          const li = document.createElement('li');
          li.textContent = `${names[i]}: ${(100 * p).toFixed(1)}%`;
          li.dataset.prob = String(p);
          if (i === top) li.className = 'top';
          return li;
        }),
      );
      list.dataset.top = String(top);
    }
  } catch (e) {
    showError('Prediction', e);
  } finally {
    drawBusy = false;
  }
  if (drawPending) {
    const next = drawPending.px;
    drawPending = undefined;
    await predictDrawing(next);
  } else if (list.dataset.state === 'busy') {
    // 'predicted' only once the latest drawing has been answered (tests wait for this).
    list.dataset.state = 'predicted';
  }
}

async function classifyUpload(file: File): Promise<void> {
  clearError();
  const out = byId('upload-result', HTMLParagraphElement);
  if (!app.model) {
    out.textContent = 'Train or load a model first, then pick a photo.';
    return;
  }
  const { probs, classNames } = await worker.call({ op: 'classify', file });
  const top = argmax(probs);
  if (classNames.length === 2 && classNames[1] === 'cat') {
    const cat = probs[1];
    out.textContent = `${file.name}: ${cat >= 0.5 ? 'cat' : 'not a cat'} (probability of cat ${(100 * cat).toFixed(1)}%).`;
    out.dataset.prob = String(cat);
  } else {
    out.textContent = `${file.name}: ${classNames[top]} (probability ${(100 * probs[top]).toFixed(1)}%).`;
    out.dataset.prob = String(probs[top]);
  }
  out.dataset.top = classNames[top];
  const host = byId('upload-probs', HTMLOListElement);
  host.replaceChildren(
    ...probs.map((p, i) => {
      const li = document.createElement('li');
      li.textContent = `${classNames[i]}: ${(100 * p).toFixed(1)}%`;
      return li;
    }),
  );
}

// ---- model files ---------------------------------------------------------------------------

async function saveModelFile(): Promise<void> {
  const { bytes, fileName } = await worker.call({ op: 'save' });
  downloadBytes(bytes, fileName);
}

async function loadModelFile(file: File): Promise<void> {
  clearError();
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (app.state === 'running') throw new ConfigError('Stop training before loading a model.');
  const cfg = readFormOrUndefined() ?? PRESETS.mnist;
  app.model = await worker.call({ op: 'load-model', bytes, name: file.name, cfg }, [bytes.buffer]);
  app.state = 'idle';
  offerModelSize(app.model.inputShape);
  showModelInfo(app.model);
  updateButtons();
  await refreshView();
}

/** Image folders load at the loaded model's input size, so that it can be tested and trained on them. */
function offerModelSize([h, w, c]: readonly number[]): void {
  if (h < 2 || w < 2 || (c !== 1 && c !== 3)) return;
  const select = byId('folder-size', HTMLSelectElement);
  const value = `${h}x${w}x${c}`;
  if (![...select.options].some((o) => o.value === value))
    select.add(new Option(`${h}x${w} ${c === 1 ? 'grey' : 'colour'} (the loaded model's input)`, value));
  select.value = value;
}

// ---- events --------------------------------------------------------------------------------

function on(id: string, event: string, context: string, fn: () => Promise<void>): void {
  byId(id, HTMLElement).addEventListener(event, guard(context, fn));
}

worker.on(onWorkerEvent);
on('load-url', 'click', 'Loading the dataset', loadUrl);
on('data-files', 'change', 'Reading the dataset files', async () => {
  const input = byId('data-files', HTMLInputElement);
  const files = [...(input.files ?? [])];
  input.value = '';
  await loadFiles(files);
});
on('folder-input', 'change', 'Reading the image folder', async () => {
  const input = byId('folder-input', HTMLInputElement);
  const files = [...(input.files ?? [])].map((file) => ({
    file,
    path: file.webkitRelativePath || file.name,
  }));
  input.value = '';
  await loadFolder(files);
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
  const dt = e.dataTransfer;
  if (!dt) return;
  // Items must be read before the handler returns; the files are walked afterwards.
  const plain = [...dt.files];
  const folder = droppedFolder(dt);
  guard('Reading the dropped files', async () => {
    const files = await folder;
    await (files ? loadFolder(files) : loadFiles(plain));
  })();
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    byId('data-files', HTMLInputElement).click();
  }
});
byId('preset', HTMLSelectElement).addEventListener('change', (e) => {
  const v = (e.target as HTMLSelectElement).value;
  if (isPresetId(v)) applyPreset(v);
});
byId('arch', HTMLSelectElement).addEventListener('change', archChanged);
datasetSelect().addEventListener('change', () => {
  const v = datasetSelect().value;
  if (isPresetId(v)) applyPreset(v);
});
on('train', 'click', 'Training', () => startTraining('train'));
on('continue', 'click', 'Training the model further', () => startTraining('continue'));
on('pause', 'click', 'Pausing', async () => worker.call({ op: 'pause' }));
on('resume', 'click', 'Resuming', async () => {
  clearError();
  await worker.call({ op: 'resume' });
});
on('stop', 'click', 'Stopping', async () => worker.call({ op: 'stop' }));
on('restart', 'click', 'Restarting after the lost device', async () => {
  clearError();
  await worker.call({ op: 'restart' });
});
on('simulate-loss', 'click', 'Simulating a lost device', async () => worker.call({ op: 'simulate-loss' }));
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
fillChoices();
applyPreset('mnist');
updateButtons();
guard('Starting WebGPU', initGpu)();
