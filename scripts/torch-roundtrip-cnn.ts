// For `bash scripts/torch-roundtrip.sh cnn` while `webgpu-trainer train` has no CNN option: trains
// a small MNIST CNN (conv, batch norm, max pool, strided conv without bias, dropout, flatten,
// dense) with the engine's API and writes OUT/model.safetensors and OUT/checkpoint.safetensors
// with the same metadata `train` writes (training.config, checkpoint state, Adam moments).
//
// Usage: npx tsx scripts/torch-roundtrip-cnn.ts OUT [LIMIT] [EPOCHS]
//        npx tsx scripts/torch-roundtrip-cnn.ts --eval MODEL     (test accuracy as JSON)

import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { parseNormalization } from '../src/cli/data-flags.js';
import { toTrainingData } from '../src/data/batches.js';
import { imageSetNormalization as computeNormalization } from '../src/data/normalize.js';
import { loadDataset } from '../src/data/known.js';
import { Trainer } from '../src/engine/trainer.js';
import { acquireGpu } from '../src/gpu/device.js';
import { loadModelFile, saveCheckpointFile, saveModelFile } from '../src/io/files.js';
import type { JsonObject, ModelInput } from '../src/io/modelfile.js';
import type { ModelSpec } from '../src/nn/layers.js';

const [out, limitArg, epochsArg] = process.argv.slice(2);
if (!out)
  throw new Error(
    'usage: npx tsx scripts/torch-roundtrip-cnn.ts OUT [LIMIT] [EPOCHS]  |  npx tsx scripts/torch-roundtrip-cnn.ts --eval MODEL',
  );
if (out === '--eval') {
  // The engine's test accuracy of a CNN model file, as {"accuracy": x} (what `eval --json` prints;
  // the CLI's eval cannot take CNN files yet).
  const m = await loadModelFile(limitArg);
  const ds = await loadDataset('mnist');
  const gpu = await acquireGpu();
  const a = m.architecture;
  const t = await Trainer.create(
    gpu,
    { inputShape: a.inputShape, layers: a.layers, loss: a.loss },
    { optimizer: { name: 'sgd', lr: 1 } },
  );
  t.setWeights(m.weights);
  t.setRunningStats(m.runningStats, m.batchesTracked);
  const norm = parseNormalization(m.normalization, 1, limitArg);
  const r = await t.evaluate(toTrainingData(ds.test!, norm), { batchSize: 256 });
  console.log(JSON.stringify({ model: limitArg, loss: r.loss, accuracy: r.accuracy, samples: r.count }));
  t.destroy();
  gpu.destroy();
  process.exit(0);
}
const limit = Number(limitArg ?? 12000);
const epochs = Number(epochsArg ?? 2);
const batchSize = 64;

const spec: ModelSpec = {
  inputShape: [28, 28, 1],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
    { type: 'batchnorm' },
    { type: 'maxpool2d', size: 2 },
    {
      type: 'conv2d',
      filters: 16,
      kernelSize: 3,
      stride: 2,
      padding: 'same',
      bias: false,
      activation: 'relu',
    },
    { type: 'dropout', rate: 0.1 },
    { type: 'flatten' },
    { type: 'batchnorm' },
    { units: 10, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};
// The configuration `train` would record for this run (export reads optimizer, schedule, batch).
const config = {
  data: 'mnist',
  limit,
  normalize: 'standardize',
  optimizer: 'adam',
  lr: 2e-3,
  weightDecay: null,
  maxNorm: null,
  schedule: 'cosine',
  warmup: 0,
  batchSize,
  epochs,
  seed: 1,
  validation: 'none',
};

const ds = await loadDataset('mnist');
const take = <T extends { count: number; images: Uint8Array; labels: Int32Array | Uint8Array }>(
  s: T,
  n: number,
) =>
  n >= s.count
    ? s
    : { ...s, count: n, images: s.images.subarray(0, n * 784), labels: s.labels.subarray(0, n) };
const trainSet = take(ds.train, limit);
const norm = computeNormalization(trainSet, 'standardize');
const gpu = await acquireGpu();
const trainer = await Trainer.create(gpu, spec, {
  seed: 1,
  optimizer: { name: 'adam', lr: config.lr },
  schedule: { kind: 'cosine' },
});
const train = toTrainingData(trainSet, norm);
const test = toTrainingData(ds.test!, norm);
await trainer.fit(train, {
  epochs,
  batchSize,
  onEpoch: (e) =>
    console.log(
      `epoch ${e.epoch + 1}/${epochs}  loss ${e.loss.toFixed(4)}  acc ${(100 * e.accuracy).toFixed(2)}%`,
    ),
});
const t = await trainer.evaluate(test, { batchSize: 256 });
console.log(`test loss ${t.loss.toFixed(4)} accuracy ${(100 * t.accuracy).toFixed(2)}%`);

const stepsPerEpoch = Math.ceil(trainSet.count / batchSize);
const model: ModelInput = {
  architecture: { inputShape: [28, 28, 1], inputSize: 784, layers: spec.layers, loss: 'softmax-ce' },
  normalization: norm,
  classNames: ds.classNames,
  training: {
    config: config as unknown as JsonObject,
    steps: trainer.step,
    epochs,
    test: { loss: t.loss, accuracy: t.accuracy, samples: t.count },
  },
  weights: await trainer.getWeights(),
  runningStats: await trainer.getRunningStats(),
  batchesTracked: trainer.batchesTracked,
};
await mkdir(out, { recursive: true });
await saveModelFile(path.join(out, 'model.safetensors'), model);
await saveCheckpointFile(path.join(out, 'checkpoint.safetensors'), {
  model,
  state: {
    step: trainer.step,
    epoch: epochs,
    batchInEpoch: 0,
    rngState: trainer.fitStartRngState!,
    dataPosition: { epoch: epochs, batch: 0, batchSize, stepsPerEpoch, trainSamples: trainSet.count },
    optimizer: { name: 'adam', lr: config.lr },
    schedule: { kind: 'cosine' },
  },
  optimizerState: await trainer.getOptimizerState(),
});
trainer.destroy();
gpu.destroy();
console.log(`wrote ${out}/model.safetensors and checkpoint.safetensors`);
process.exit(0);
