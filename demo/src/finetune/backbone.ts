// The backbone of the fine-tuning page (runs in its worker): a file the user picked, either a
// PyTorch state dict (.pth, or .safetensors without this engine's metadata) of a torchvision
// architecture, imported in memory as the CLI's `import` writes it (src/io/torchvision-import.ts),
// or an engine model file. Both end as a ModelFile; the head is replaced later (tuner.ts).
//
// checkReference runs the backbone, unchanged, on a PyTorch reference batch (a safetensors file
// with x, NCHW float32, and logits_eval) at the batch's own image size and compares the
// log-softmax centred per row, the same measure as test/io/torchvision-parity.test.ts.

import { decodeSafetensors, ModelFormatError, Trainer, type GpuDevice } from '../../../src/index.js';
import { specOf } from '../../../src/io/architecture.js';
import { loadModel, type ModelFile } from '../../../src/io/modelfile.js';
import { parseStateDict } from '../../../src/io/state-dict.js';
import { importTorchvision, isStateDictFile } from '../../../src/io/torchvision-import.js';
import { resolveModel } from '../../../src/nn/layers.js';
import type { BackboneSummary, ParityReport } from './protocol.js';

export interface Backbone {
  fileName: string;
  model: ModelFile;
  summary: BackboneSummary;
}

/** Side the state dict is imported at; the network runs at any size, the tuner picks its own. */
const IMPORT_SIDE = 224;

export function readBackbone(bytes: Uint8Array, fileName: string): Backbone {
  let model: ModelFile;
  let source: string;
  if (isStateDictFile(bytes)) {
    const r = importTorchvision(parseStateDict(bytes, fileName), {
      fileName,
      imageSize: [IMPORT_SIDE, IMPORT_SIDE],
    });
    model = loadModel(r.bytes, `${fileName} (imported)`);
    source = `${r.timm ? 'timm' : 'torchvision'} ${r.arch}, imported from the state dict`;
  } else {
    model = loadModel(bytes, fileName);
    source = 'engine model file';
  }
  const a = model.architecture;
  if (a.inputShape.length !== 3 || a.inputShape[2] !== 3)
    throw new ModelFormatError(
      `${fileName}: the network takes ${a.inputShape.join('x')} inputs; a backbone for pictures takes height x width x 3 (colour)`,
      fileName,
    );
  const m = resolveModel(specOf(a));
  const n = model.normalization as { kind?: string; mean?: number[]; std?: number[] };
  return {
    fileName,
    model,
    summary: {
      fileName,
      source,
      layers: m.layers.length,
      parameters: m.paramCount,
      classes: m.outputSize,
      normalization:
        n.kind === 'standardize'
          ? `standardize (mean ${n.mean?.join(', ')}; std ${n.std?.join(', ')})`
          : 'scale to [0, 1]',
    },
  };
}

/** NCHW -> the engine's NHWC. */
function toNhwc(nchw: Float32Array, [N, C, H, W]: readonly number[]): Float32Array {
  const x = new Float32Array(nchw.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) x[((n * H + h) * W + w) * C + c] = nchw[((n * C + c) * H + h) * W + w];
  return x;
}

/** Largest |a - b| over rows after centring each row. */
function centredDiff(a: ArrayLike<number>, b: ArrayLike<number>, cols: number): number {
  let worst = 0;
  for (let r = 0; r < a.length / cols; r++) {
    let ma = 0;
    let mb = 0;
    for (let c = 0; c < cols; c++) {
      ma += a[r * cols + c] / cols;
      mb += b[r * cols + c] / cols;
    }
    for (let c = 0; c < cols; c++)
      worst = Math.max(worst, Math.abs(a[r * cols + c] - ma - (b[r * cols + c] - mb)));
  }
  return worst;
}

export async function checkReference(
  gpu: GpuDevice,
  b: Backbone,
  bytes: Uint8Array,
  fileName: string,
): Promise<ParityReport> {
  const { tensors } = decodeSafetensors(bytes, fileName, { copy: true });
  const x = tensors.x;
  const logits = tensors.logits_eval;
  if (
    !x ||
    x.dtype !== 'F32' ||
    x.shape.length !== 4 ||
    x.shape[1] !== 3 ||
    !logits ||
    logits.dtype !== 'F32'
  )
    throw new ModelFormatError(
      `${fileName}: a reference file holds x (float32, N x 3 x H x W) and logits_eval (float32, N x classes)`,
      fileName,
    );
  const [N, , H, W] = x.shape;
  const spec = { ...specOf(b.model.architecture), inputShape: [H, W, 3] };
  const classes = resolveModel(spec).outputSize;
  if (logits.shape.join('x') !== `${N}x${classes}`)
    throw new ModelFormatError(
      `${fileName}: logits_eval is ${logits.shape.join('x')}, but the backbone gives ${N}x${classes} for x`,
      fileName,
    );
  const trainer = await Trainer.create(gpu, spec, {
    seed: 1,
    optimizer: { name: 'sgd', lr: 1 }, // never steps: predict only
    conv: 'implicit',
    freeze: 'backbone',
  });
  try {
    trainer.setWeights(b.model.weights);
    trainer.setRunningStats(b.model.runningStats, b.model.batchesTracked);
    const probs = await trainer.predict(toNhwc(x.data as Float32Array, x.shape), { batchSize: N });
    const ref = logits.data as Float32Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of ref) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    return {
      rows: N,
      classes,
      shape: [H, W, 3],
      maxDiff: centredDiff(Float64Array.from(probs, Math.log), ref, classes),
      range: hi - lo,
    };
  } finally {
    trainer.destroy();
  }
}
