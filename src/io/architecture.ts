// Between the engine's ModelSpec and a model file's architecture block (src/io/modelfile.ts).

import { resolveModel } from '../nn/layers.js';
import type { ModelSpec } from '../nn/model.js';
import type { Architecture } from './modelfile.js';

/** A dense-only spec keeps [h, w, c] as its recorded input shape (its input is flat). */
export function architectureOf(spec: ModelSpec, shape: readonly [number, number, number]): Architecture {
  const m = resolveModel(spec);
  return {
    inputShape: m.inputShape.length === 3 ? m.inputShape : [...shape],
    inputSize: m.inputSize,
    layers: JSON.parse(JSON.stringify(spec.layers)) as Architecture['layers'],
    loss: spec.loss,
  };
}

/** Dense-only architectures take a flat input of inputSize; the others their image shape. */
export function specOf(a: Architecture): ModelSpec {
  const layers = JSON.parse(JSON.stringify(a.layers)) as ModelSpec['layers'];
  const dense = layers.every((l) => l.type === undefined || l.type === 'dense');
  return dense
    ? { inputSize: a.inputSize, layers, loss: a.loss }
    : { inputShape: a.inputShape, layers, loss: a.loss };
}
