// The fine-tuning page's worker: owns the GPU device, the backbone and the fine-tuning run, so
// reading and importing a backbone file, decoding pictures and training never block the page.
// finetune/main.ts sends FtRequests (protocol.ts) and renders the replies and step events.

import { ConfigError, type GpuDevice } from '../../../src/index.js';
import { getGpu } from '../gpu.js';
import { checkReference, readBackbone, type Backbone } from './backbone.js';
import type { ErrorInfo, FtEvent, FtReplies, FtRequest } from './protocol.js';
import { FineTune } from './tuner.js';

interface State {
  gpu?: GpuDevice;
  gpuHelp?: string;
  backbone?: Backbone;
  tune?: FineTune;
  training: boolean;
}

const st: State = { training: false };

type Outgoing =
  FtEvent | { event: 'reply'; id: number; value: unknown } | { event: 'fail'; id: number; error: ErrorInfo };

function post(ev: Outgoing, transfer: Transferable[] = []): void {
  self.postMessage(ev, { transfer });
}

function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

async function needGpu(): Promise<GpuDevice> {
  if (!st.gpu || st.gpu.lostError) {
    const { gpu, help } = await getGpu();
    st.gpu = gpu;
    st.gpuHelp = help;
  }
  if (!st.gpu) throw new ConfigError(st.gpuHelp ?? 'WebGPU is not ready yet.');
  return st.gpu;
}

function needBackbone(): Backbone {
  if (!st.backbone) throw new ConfigError('Choose a backbone file first (step 1).');
  return st.backbone;
}

function needTune(): FineTune {
  if (!st.tune) throw new ConfigError('Fine-tune first (step 3).');
  return st.tune;
}

function idle(what: string): void {
  if (st.training)
    throw new ConfigError(`Wait for the fine-tuning to finish (or stop it) before you ${what}.`);
}

type Result = { value: unknown; transfer?: Transferable[] } | undefined;

async function train(req: Extract<FtRequest, { op: 'train' }>): Promise<FtReplies['train']> {
  idle('train again');
  const gpu = await needGpu();
  const b = needBackbone();
  st.tune?.destroy();
  st.tune = undefined;
  st.training = true;
  try {
    const tune = await FineTune.create(gpu, b, req.classes, req.cfg);
    st.tune = tune;
    return await tune.train(
      req.classes,
      (text) => post({ event: 'progress', text }),
      (s) => post({ event: 'step', ...s, steps: req.cfg.steps }),
    );
  } finally {
    st.training = false;
  }
}

async function handle(req: FtRequest): Promise<Result> {
  switch (req.op) {
    case 'init': {
      const { gpu, help } = await getGpu();
      st.gpu = gpu;
      st.gpuHelp = help;
      return {
        value: gpu ? { adapter: { name: gpu.report.name, software: gpu.report.software } } : { help },
      };
    }
    case 'load-backbone': {
      idle('change the backbone');
      post({ event: 'progress', text: `Reading ${req.file.name} (${(req.file.size / 1e6).toFixed(1)} MB)` });
      const bytes = new Uint8Array(await req.file.arrayBuffer());
      st.backbone = readBackbone(bytes, req.file.name);
      st.tune?.destroy();
      st.tune = undefined;
      return { value: st.backbone.summary };
    }
    case 'check-reference': {
      idle('check the backbone');
      const bytes = new Uint8Array(await req.file.arrayBuffer());
      return { value: await checkReference(await needGpu(), needBackbone(), bytes, req.file.name) };
    }
    case 'train':
      return { value: await train(req) };
    case 'stop':
      st.tune?.stop();
      return undefined;
    case 'classify': {
      idle('classify');
      const tune = needTune();
      return { value: { probs: await tune.classify(req.file), classNames: tune.classNames } };
    }
    case 'save': {
      idle('download');
      const saved = await needTune().save();
      return { value: saved, transfer: [saved.bytes.buffer] };
    }
  }
}

self.addEventListener('message', (e: MessageEvent<FtRequest & { id: number }>) => {
  const { id, ...req } = e.data;
  handle(req as FtRequest).then(
    (r) => post({ event: 'reply', id, value: r?.value }, r?.transfer ?? []),
    (err: unknown) => post({ event: 'fail', id, error: errorInfo(err) }),
  );
});
