// The fine-tuning page (finetune.html), main thread: wiring and rendering only. The worker
// (finetune/worker.ts) reads and imports the backbone, decodes the pictures, trains the head and
// classifies; the page sends it File objects and draws what comes back.

import { LineChart } from '../charts.js';
import { RpcClient } from '../client.js';
import { byId, clearError, downloadBytes, numberInput, setText, showError } from '../dom.js';
import { droppedFolder } from '../dropped.js';
import { ClassBoard, Webcam } from './classes.js';
import type { FtEvent, FtReplies, FtRequest, TuneConfig } from './protocol.js';

const worker = new RpcClient<FtRequest, FtReplies, FtEvent>(
  new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'fine-tune' }),
);
const webcam = new Webcam(byId('webcam', HTMLVideoElement));
const board = new ClassBoard(byId('classes', HTMLDivElement), webcam);
const chart = new LineChart(byId('ft-loss', HTMLCanvasElement), 'training loss', [
  { label: 'loss', color: '#3a7bd5' },
]);
const status = byId('train-status', HTMLParagraphElement);
const progress = byId('ft-progress', HTMLProgressElement);

/** Runs a page action, showing its error (named) in the alert area. */
function act(context: string, fn: () => Promise<void>): void {
  clearError();
  fn().catch((e: unknown) => showError(context, e));
}

async function init(): Promise<void> {
  const s = await worker.call({ op: 'init' });
  if (s.adapter) {
    setText('gpu-status', `WebGPU adapter: ${s.adapter.name}${s.adapter.software ? ' (software)' : ''}`);
    document.body.dataset.gpu = 'ready';
  } else {
    setText('gpu-status', 'No WebGPU device.');
    const help = byId('gpu-help', HTMLDivElement);
    help.textContent = s.help ?? '';
    help.hidden = false;
    document.body.dataset.gpu = 'none';
  }
}

async function loadBackbone(file: File): Promise<void> {
  const out = byId('backbone-status', HTMLParagraphElement);
  out.dataset.state = 'loading';
  out.textContent = `Reading ${file.name}…`;
  try {
    const b = await worker.call({ op: 'load-backbone', file });
    out.textContent =
      `${b.fileName}: ${b.source}; ${b.layers} layers, ${b.parameters.toLocaleString('en')} parameters, ` +
      `${b.classes} classes in the file (the head is replaced by one for your classes); inputs: ${b.normalization}.`;
    out.dataset.state = 'loaded';
  } catch (e) {
    out.textContent = 'No backbone.';
    out.dataset.state = 'none';
    throw e;
  }
}

async function checkReference(file: File): Promise<void> {
  const out = byId('parity', HTMLParagraphElement);
  out.textContent = `Running the backbone on ${file.name}…`;
  const r = await worker.call({ op: 'check-reference', file });
  const ok = r.maxDiff <= 1e-4 * r.range;
  out.textContent =
    `${r.rows} pictures of ${r.shape[0]}×${r.shape[1]}: largest log-probability difference (centred per row) ` +
    `${r.maxDiff.toExponential(2)}, against a logit range of ${r.range.toFixed(2)}: ${ok ? 'matches' : 'DOES NOT match'} PyTorch.`;
  out.dataset.maxDiff = String(r.maxDiff);
  out.dataset.range = String(r.range);
}

function tuneConfig(): TuneConfig {
  return {
    side: Number(byId('ft-side', HTMLSelectElement).value),
    steps: Math.round(numberInput('ft-steps', 30, 1, 10_000)),
    batchSize: Math.round(numberInput('ft-batch', 16, 1, 256)),
    lr: numberInput('ft-lr', 1e-3, 0, 1),
    seed: 1,
  };
}

async function train(): Promise<void> {
  const cfg = tuneConfig();
  const trainBtn = byId('train', HTMLButtonElement);
  const stopBtn = byId('stop', HTMLButtonElement);
  chart.clear();
  progress.value = 0;
  progress.max = cfg.steps;
  status.dataset.state = 'running';
  trainBtn.disabled = true;
  stopBtn.disabled = false;
  try {
    const r = await worker.call({ op: 'train', classes: board.list(), cfg });
    const bad = r.bad.length > 0 ? ` Skipped ${r.bad.map((b) => `${b.name} (${b.reason})`).join(', ')}.` : '';
    status.textContent =
      `Fine-tuned: ${r.classNames.map((n, i) => `${n} ${r.counts[i]}`).join(', ')} pictures; ` +
      `${r.trainable.toLocaleString('en')} parameters trained, ${r.frozen.toLocaleString('en')} frozen.${bad} ` +
      status.dataset.last;
    status.dataset.state = 'done';
    byId('download', HTMLButtonElement).disabled = false;
  } catch (e) {
    status.dataset.state = 'failed';
    throw e;
  } finally {
    trainBtn.disabled = false;
    stopBtn.disabled = true;
  }
}

worker.on((ev) => {
  if (ev.event === 'progress') status.textContent = ev.text;
  else {
    progress.value = ev.step;
    chart.add('loss', ev.step, ev.loss);
    chart.draw();
    status.dataset.last = `Last step ${ev.step}: loss ${ev.loss.toFixed(3)}, batch accuracy ${(100 * ev.accuracy).toFixed(0)}%.`;
    status.dataset.step = String(ev.step);
    if (ev.step === 1) status.dataset.firstLoss = String(ev.loss);
    status.dataset.lastLoss = String(ev.loss);
    status.textContent = `Step ${ev.step} of ${ev.steps}: loss ${ev.loss.toFixed(3)}, ${ev.samplesPerSecond.toFixed(1)} pictures/s`;
  }
});

async function classify(file: Blob, name: string): Promise<void> {
  const { probs, classNames } = await worker.call({ op: 'classify', file });
  const img = byId('try-picture', HTMLImageElement);
  const old = img.src;
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  if (old) URL.revokeObjectURL(old);
  const top = probs.indexOf(Math.max(...probs));
  const list = byId('try-probs', HTMLOListElement);
  list.replaceChildren(
    ...probs.map((p, i) => {
      const li = document.createElement('li');
      li.dataset.prob = String(p);
      li.className = i === top ? 'top' : '';
      li.textContent = `${classNames[i]}: ${(100 * p).toFixed(1)}%`;
      const bar = document.createElement('span');
      bar.className = 'prob-bar';
      bar.style.width = `${Math.round(120 * p)}px`;
      li.append(bar);
      return li;
    }),
  );
  list.dataset.state = 'classified';
  list.dataset.file = name;
}

let live = false;
function setLive(on: boolean): void {
  live = on;
  byId('try-webcam', HTMLButtonElement).textContent = on ? 'Stop the webcam' : 'Classify the webcam live';
}

/** Classifies webcam frames until stopped (or until one fails: the error is shown, the loop ends). */
async function classifyLive(): Promise<void> {
  try {
    while (live) {
      await classify(await webcam.frame(), 'webcam');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    setLive(false);
  }
}

async function download(): Promise<void> {
  const { bytes, fileName } = await worker.call({ op: 'save' });
  downloadBytes(bytes, fileName);
  setText('download-status', `${fileName} (${(bytes.length / 1e6).toFixed(1)} MB)`);
}

function onFile(id: string, fn: (f: File) => Promise<void>, context: string): void {
  byId(id, HTMLInputElement).addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) act(context, () => fn(f));
  });
}

function wire(): void {
  onFile('backbone-file', loadBackbone, 'Backbone');
  onFile('reference-file', checkReference, 'Reference check');
  onFile('try-file', (f) => classify(f, f.name), 'Classify');
  byId('add-class', HTMLButtonElement).addEventListener('click', () =>
    board.add(`class ${board.list().length + 1}`),
  );
  byId('folder-files', HTMLInputElement).addEventListener('change', (e) => {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    board.fromFolder(files.map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  });
  const section = byId('classes', HTMLDivElement).closest('section')!;
  section.addEventListener('dragover', (e) => e.preventDefault());
  section.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer)
      act('Folder', async () => void board.fromFolder((await droppedFolder(e.dataTransfer!)) ?? []));
  });
  const drop = byId('try-drop', HTMLDivElement);
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer?.files[0];
    if (f) act('Classify', () => classify(f, f.name));
  });
  byId('train', HTMLButtonElement).addEventListener('click', () => act('Fine-tuning', train));
  byId('stop', HTMLButtonElement).addEventListener('click', () => void worker.call({ op: 'stop' }));
  byId('download', HTMLButtonElement).addEventListener('click', () => act('Download', download));
  const liveBtn = byId('try-webcam', HTMLButtonElement);
  liveBtn.hidden = !webcam.available;
  liveBtn.addEventListener('click', () => {
    setLive(!live);
    if (live) act('Webcam', classifyLive);
  });
}

board.add('class 1');
board.add('class 2');
wire();
act('WebGPU', init);
