// Small seeded models and checkpoints shared by the io tests.

import type { CheckpointInput, ModelInput } from '../../src/io/modelfile.js';
import { Rng } from '../../src/rng.js';

export function randomF32(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-2, 2);
  return a;
}

/** A 3-layer image classifier with odd sizes: [3,5,1] -> 7 -> 4 -> 3. */
export function makeModel(seed = 1): ModelInput {
  const rng = new Rng(seed);
  const units = [7, 4, 3];
  let fanIn = 15;
  const weights = units.map((u) => {
    const w = { W: randomF32(rng, u * fanIn), b: randomF32(rng, u) };
    fanIn = u;
    return w;
  });
  return {
    architecture: {
      inputShape: [3, 5, 1],
      inputSize: 15,
      layers: [
        { units: 7, activation: 'leaky_relu', alpha: 0.01 },
        { units: 4, activation: 'tanh' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    normalization: { kind: 'standardize', mean: [0.5], std: [0.25] },
    classNames: ['cat', 'dog', 'ému'],
    training: { optimizer: 'adam', lr: 0.001, batchSize: 32, epochs: 3, seed, dataset: 'toy' },
    weights,
    runningStats: [],
    batchesTracked: 0,
    createdAt: '2024-01-02T03:04:05.000Z',
  };
}

export function makeCheckpoint(seed = 1): CheckpointInput {
  const model = makeModel(seed);
  const rng = new Rng(seed + 100);
  const params = model.weights.reduce((n, w) => n + w.W.length + w.b.length, 0);
  return {
    model,
    state: {
      step: 120,
      epoch: 2,
      batchInEpoch: 17,
      rngState: rng.state(),
      dataPosition: { order: 'shuffled', seed: 9, cursor: 544 },
      optimizer: { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      schedule: { kind: 'cosine', warmup: 10, total: 1000 },
    },
    optimizerState: {
      t: 120,
      tensors: { m: randomF32(rng, params), v: randomF32(rng, params).map(Math.abs) },
    },
  };
}

/** Reads the JSON header of safetensors bytes (for tests that edit it). */
export function readHeader(bytes: Uint8Array): Record<string, unknown> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
}

/** Rebuilds a file from a header string and the data buffer of `bytes`, fixing the length field. */
export function withHeader(bytes: Uint8Array, headerText: string, declaredLength?: bigint): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const data = bytes.subarray(8 + n);
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
