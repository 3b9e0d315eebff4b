// Model files in the browser: the same safetensors bytes the CLI writes (saveModel), dense nets
// and CNNs alike, with batch-norm running statistics; and loading any such file (loadModel
// validates every tensor against the architecture it declares).

import {
  ModelFormatError,
  loadModel,
  resolveModel,
  saveModel,
  type ModelSpec,
  type Weights,
} from '../../src/index.js';
import type { BatchNormState, ModelMeta, Normalization } from './session.js';

type ModelInput = Parameters<typeof saveModel>[0];
export type Training = ModelInput['training'];

export function modelBytes(
  meta: ModelMeta,
  weights: Weights[],
  batchNorm: BatchNormState,
  training: Training,
): Uint8Array {
  const m = resolveModel(meta.spec);
  return saveModel({
    architecture: {
      // A dense net keeps the image shape it was trained on (the CLI resizes photos to it).
      inputShape: m.inputShape.length === 3 ? [...m.inputShape] : [...meta.inputShape],
      inputSize: m.inputSize,
      layers: JSON.parse(JSON.stringify(meta.spec.layers)) as ModelSpec['layers'],
      loss: meta.spec.loss,
    },
    normalization: { ...meta.normalization },
    classNames: meta.classNames,
    training,
    weights: weights.map((w) => ({ W: w.W, b: w.b })),
    runningStats: batchNorm.stats,
    batchesTracked: batchNorm.batchesTracked,
  });
}

export interface LoadedModel {
  meta: ModelMeta;
  weights: Weights[];
  batchNorm: BatchNormState;
  training: Training;
}

export function parseModel(bytes: Uint8Array, fileName: string): LoadedModel {
  const m = loadModel(bytes, fileName);
  const a = m.architecture;
  const layers = JSON.parse(JSON.stringify(a.layers)) as ModelSpec['layers'];
  // Dense-only files take a flat input; the others their image shape (as the CLI's specOf).
  const dense = layers.every((l) => l.type === undefined || l.type === 'dense');
  const spec: ModelSpec = dense
    ? { inputSize: a.inputSize, layers, loss: a.loss }
    : { inputShape: [...a.inputShape], layers, loss: a.loss };
  const shape: [number, number, number] =
    a.inputShape.length === 3 ? [a.inputShape[0], a.inputShape[1], a.inputShape[2]] : [1, a.inputSize, 1];
  const outputs = resolveModel(spec).outputSize;
  const classes = outputs === 1 ? 2 : outputs;
  const classNames =
    m.classNames.length === classes ? m.classNames : Array.from({ length: classes }, (_, i) => String(i));
  return {
    meta: {
      spec,
      inputShape: shape,
      normalization: normalizationOf(m.normalization, shape[2], fileName),
      classNames,
    },
    weights: m.weights,
    batchNorm: { stats: m.runningStats, batchesTracked: m.batchesTracked },
    training: m.training,
  };
}

function normalizationOf(raw: Record<string, unknown>, channels: number, file: string): Normalization {
  if (raw.kind === undefined || raw.kind === 'scale') return { kind: 'scale' };
  const nums = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x))
      ? (v as number[])
      : undefined;
  const mean = nums(raw.mean);
  const std = nums(raw.std);
  if (raw.kind === 'standardize' && mean && std && std.every((s) => s > 0)) {
    if ((mean.length === 1 || mean.length === channels) && mean.length === std.length)
      return { kind: 'standardize', mean, std };
  }
  throw new ModelFormatError(
    `${file}: normalization ${JSON.stringify(raw)} is not understood; expected {kind:'scale'} or {kind:'standardize', mean, std} with one entry per channel.`,
    file,
  );
}
