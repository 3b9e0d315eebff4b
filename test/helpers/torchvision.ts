// The torchvision reference models of ../shared/data/torchvision (see its README) as the parity
// tests use them: the imported engine model, PyTorch's outputs, and the batch in the engine's
// NHWC layout. mobilenet_v2's shared train-mode outputs were computed with its dropout active (a
// mask from PyTorch's random stream), so its train-mode comparison uses the same pass with the
// dropout off, recomputed by scripts/torchvision-train-reference.py into test/fixtures.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { specOf } from '../../src/io/architecture.js';
import { loadModel, type ModelFile } from '../../src/io/modelfile.js';
import { decodeSafetensors, type Tensor } from '../../src/io/safetensors.js';
import { parseStateDict } from '../../src/io/state-dict.js';
import { importTorchvision } from '../../src/io/torchvision-import.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import type { TorchvisionArch } from '../../src/nn/torchvision.js';
import { REPO } from './datasets.js';

export const PARITY_MODELS: TorchvisionArch[] = ['resnet18', 'mobilenet_v2'];
export const ROWS = 8;
export const SIDE = 64;

export interface Reference {
  /** [8, 64, 64, 3] NHWC. */
  x: Float32Array;
  labels: Int32Array;
  logitsEval: Float32Array;
  logitsTrain: Float32Array;
  lossTrain: number;
  /** torch parameter name -> d loss_train / d param, PyTorch's layout. */
  grads: Map<string, Tensor>;
}

function tensors(file: string): Record<string, Tensor> {
  return decodeSafetensors(new Uint8Array(readFileSync(file)), path.basename(file), { copy: true }).tensors;
}

export function readReference(dir: string, arch: TorchvisionArch): Reference {
  const t = tensors(path.join(dir, `${arch}-reference.safetensors`));
  const train =
    arch === 'mobilenet_v2'
      ? tensors(path.join(REPO, 'test/fixtures/torchvision/mobilenet_v2-train-nodropout.safetensors'))
      : t;
  const nchw = t.x.data as Float32Array;
  const [N, C, H, W] = t.x.shape;
  const x = new Float32Array(nchw.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) x[((n * H + h) * W + w) * C + c] = nchw[((n * C + c) * H + h) * W + w];
  const grads = new Map<string, Tensor>();
  for (const [k, v] of Object.entries(train)) if (k.startsWith('grad.')) grads.set(k.slice(5), v);
  return {
    x,
    labels: Int32Array.from(t.labels.data as BigInt64Array, Number),
    logitsEval: t.logits_eval.data as Float32Array,
    logitsTrain: train.logits_train.data as Float32Array,
    lossTrain: (train.loss_train.data as Float32Array)[0],
    grads,
  };
}

/** The engine model file imported from `file` (in ../shared/data/torchvision or bytes given). */
export function importedModel(
  bytes: Uint8Array,
  name: string,
  arch: TorchvisionArch,
): { file: ModelFile; spec: ModelSpec } {
  const r = importTorchvision(parseStateDict(bytes, name), { fileName: name, arch, imageSize: [SIDE, SIDE] });
  const file = loadModel(r.bytes, `${name} (imported)`);
  return { file, spec: specOf(file.architecture) };
}

/** The spec with its dropout layers at rate 0 (the same weights; train mode without dropout). */
export function withoutDropout(spec: ModelSpec): ModelSpec {
  return { ...spec, layers: spec.layers.map((l) => (l.type === 'dropout' ? { ...l, rate: 0 } : l)) };
}

/** Engine conv [F, KH, KW, Cg] -> PyTorch [F, Cg, KH, KW]; other tensors are the same in both. */
export function torchLayout(W: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const out = new Float64Array(W.length);
  if (shape.length !== 4) {
    for (let i = 0; i < W.length; i++) out[i] = W[i];
    return out;
  }
  const [F, Cg, KH, KW] = shape;
  for (let f = 0; f < F; f++)
    for (let kh = 0; kh < KH; kh++)
      for (let kw = 0; kw < KW; kw++)
        for (let c = 0; c < Cg; c++)
          out[((f * Cg + c) * KH + kh) * KW + kw] = W[((f * KH + kh) * KW + kw) * Cg + c];
  return out;
}

/** Largest |a - b| over the rows after centring each row (softmax is shift-invariant). */
export function centredDiff(a: ArrayLike<number>, b: ArrayLike<number>, cols: number): number {
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

export function range(a: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i]);
    hi = Math.max(hi, a[i]);
  }
  return hi - lo;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
