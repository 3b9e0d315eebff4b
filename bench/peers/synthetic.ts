// Seeded synthetic workloads shared by the peer (TensorFlow.js) and our own engine's benchmarks, so
// both sides train the same network from the same weights on the same data.
//
// Inputs are uniform in [0, 1) like normalised pixels. Labels come from a fixed random "teacher"
// (a linear map of the centred input), so the task is learnable and a working trainer's loss
// falls within a few dozen steps; pure random labels would only fall by memorisation.
// Weights use PyTorch's layout, W is [units, fanIn] row-major, with He-normal init
// (std = sqrt(2 / fanIn)) and zero biases.

import { Rng } from '../../src/rng.js';

export type Activation = 'relu' | 'sigmoid' | 'identity' | 'softmax';

export interface LayerSpec {
  units: number;
  activation: Activation;
}

export interface DenseWeights {
  /** [units, fanIn] row-major (PyTorch's nn.Linear layout). */
  W: Float32Array;
  /** [units] */
  b: Float32Array;
}

export interface Dataset {
  /** [n, inputSize] row-major */
  x: Float32Array;
  /** [n] class ids in [0, classes); for a binary task, 0 or 1. */
  y: Int32Array;
  n: number;
  inputSize: number;
}

export function heInit(inputSize: number, layers: readonly LayerSpec[], seed: number): DenseWeights[] {
  const rng = new Rng(seed);
  const out: DenseWeights[] = [];
  let fanIn = inputSize;
  for (const layer of layers) {
    const std = Math.sqrt(2 / fanIn);
    const W = new Float32Array(layer.units * fanIn);
    for (let i = 0; i < W.length; i++) W[i] = rng.normal() * std;
    out.push({ W, b: new Float32Array(layer.units) });
    fanIn = layer.units;
  }
  return out;
}

/**
 * n samples of inputSize features; `classes` >= 2. For classes == 2 the label is the sign of one
 * teacher projection (a binary task for BCE); otherwise the argmax of `classes` projections.
 * `centered` draws inputs from [-0.5, 0.5) instead of [0, 1): with thousands of features, the
 * common mean of [0, 1) inputs makes plain gradient descent at a fixed lr oscillate (loss spikes
 * after which two fp32 implementations part ways), so such workloads use centred inputs.
 */
export function teacherDataset(
  n: number,
  inputSize: number,
  classes: number,
  seed: number,
  centered = false,
): Dataset {
  if (!(Number.isInteger(classes) && classes >= 2))
    throw new RangeError(`classes must be an integer >= 2, got ${classes}`);
  const rng = new Rng(seed);
  const x = new Float32Array(n * inputSize);
  const mean = centered ? 0 : 0.5;
  for (let i = 0; i < x.length; i++) x[i] = rng.next() - 0.5 + mean;
  const outs = classes === 2 ? 1 : classes;
  const teacher = new Float32Array(outs * inputSize);
  for (let i = 0; i < teacher.length; i++) teacher[i] = rng.normal();
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    let best = -Infinity;
    let arg = 0;
    for (let c = 0; c < outs; c++) {
      let acc = 0;
      for (let k = 0; k < inputSize; k++) acc += (x[s * inputSize + k] - mean) * teacher[c * inputSize + k];
      if (outs === 1) {
        arg = acc > 0 ? 1 : 0;
      } else if (acc > best) {
        best = acc;
        arg = c;
      }
    }
    y[s] = arg;
  }
  return { x, y, n, inputSize };
}
