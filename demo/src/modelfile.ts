// Model files in the browser: the same safetensors bytes the CLI writes (saveModel), and loading
// any such file (loadModel validates every tensor against the architecture it declares).

import { ModelFormatError, loadModel, saveModel, type Weights } from '../../src/index.js';
import type { ModelMeta, Normalization } from './session.js';

type ModelInput = Parameters<typeof saveModel>[0];
export type Training = ModelInput['training'];

export function modelBytes(meta: ModelMeta, weights: Weights[], training: Training): Uint8Array {
  return saveModel({
    architecture: {
      inputShape: [...meta.inputShape],
      inputSize: meta.spec.inputSize,
      layers: meta.spec.layers.map((l) => (l.alpha === undefined ? { ...l } : { ...l, alpha: l.alpha })),
      loss: meta.spec.loss,
    },
    normalization: { ...meta.normalization },
    classNames: meta.classNames,
    training,
    weights: weights.map((w) => ({ W: w.W, b: w.b })),
  });
}

export interface LoadedModel {
  meta: ModelMeta;
  weights: Weights[];
  training: Training;
}

export function parseModel(bytes: Uint8Array, fileName: string): LoadedModel {
  const m = loadModel(bytes, fileName);
  const a = m.architecture;
  const layers = a.layers.map((l) => {
    if ((l.type !== undefined && l.type !== 'dense') || !('units' in l))
      throw new ModelFormatError(
        `${fileName}: a ${l.type ?? 'non-dense'} layer; the demo loads dense networks (use the CLI's eval and predict for this model).`,
        fileName,
      );
    return {
      units: l.units,
      activation: l.activation ?? 'identity',
      ...(l.alpha === undefined ? {} : { alpha: l.alpha }),
    };
  });
  const shape: [number, number, number] =
    a.inputShape.length === 3 ? [a.inputShape[0], a.inputShape[1], a.inputShape[2]] : [1, a.inputSize, 1];
  const outputs = layers[layers.length - 1].units;
  const classes = outputs === 1 ? 2 : outputs;
  const classNames =
    m.classNames.length === classes ? m.classNames : Array.from({ length: classes }, (_, i) => String(i));
  return {
    meta: {
      spec: { inputSize: a.inputSize, layers, loss: a.loss },
      inputShape: shape,
      normalization: normalizationOf(m.normalization, shape[2], fileName),
      classNames,
    },
    weights: m.weights,
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
