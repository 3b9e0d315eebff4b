// Running a saved model: loading it for use, a trainer holding its weights, and the predicted
// class and per-class probabilities from the network's outputs.

import type { GpuDevice } from '../gpu/device.js';
import { Trainer } from '../engine/trainer.js';
import { resolveModel } from '../nn/layers.js';
import type { ModelSpec } from '../nn/model.js';
import { specOf } from '../io/architecture.js';
import type { ModelFile } from '../io/modelfile.js';
import { loadModelFile } from '../io/files.js';
import type { Normalization as NormalizationBlock } from '../data/normalize.js';
import { parseNormalization } from './data-flags.js';

export interface LoadedModel {
  file: string;
  model: ModelFile;
  spec: ModelSpec;
  /** [h, w, c]; a 1-D input shape reads as [1, features, 1]. */
  shape: [number, number, number];
  normalization: NormalizationBlock;
  classNames: string[];
}

export async function loadModelForUse(file: string): Promise<LoadedModel> {
  const model = await loadModelFile(file);
  const a = model.architecture;
  const shape: [number, number, number] =
    a.inputShape.length === 3 ? [a.inputShape[0], a.inputShape[1], a.inputShape[2]] : [1, a.inputShape[0], 1];
  const spec = specOf(a);
  const outputs = resolveModel(spec).outputSize;
  const classes = outputs === 1 ? 2 : outputs;
  const classNames =
    model.classNames.length === classes
      ? model.classNames
      : Array.from({ length: classes }, (_, i) => String(i));
  return {
    file,
    model,
    spec,
    shape,
    normalization: parseNormalization(model.normalization, shape[2], file),
    classNames,
  };
}

/** A trainer holding the model's weights, for evaluation and prediction only. */
export async function inferenceTrainer(gpu: GpuDevice, m: LoadedModel): Promise<Trainer> {
  // Plain SGD keeps no optimizer state, so nothing beyond the weights is allocated.
  const t = await Trainer.create(gpu, m.spec, { optimizer: { name: 'sgd', lr: 1 } });
  t.setWeights(m.model.weights);
  t.setRunningStats(m.model.runningStats, m.model.batchesTracked);
  return t;
}

/** Per-class probabilities of each sample from the network's outputs [count, outputs]. */
export function classProbabilities(out: Float32Array, count: number, outputs: number): Float32Array[] {
  const rows: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    if (outputs === 1) {
      const p = out[i];
      rows.push(Float32Array.of(1 - p, p));
    } else {
      const r = out.slice(i * outputs, (i + 1) * outputs);
      // mse models end in per-class sigmoids; rescale so the numbers read as a distribution.
      let s = 0;
      for (const v of r) s += v;
      if (s > 0 && Math.abs(s - 1) > 1e-3) for (let k = 0; k < r.length; k++) r[k] /= s;
      rows.push(r);
    }
  }
  return rows;
}

export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < p.length; k++) if (p[k] > p[best]) best = k;
  return best;
}
