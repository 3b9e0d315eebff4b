// Imported torchvision models compute what PyTorch computes, on the GPU: the shared reference
// models (resnet18, mobilenet_v2; ../shared/data/torchvision) imported from .pth and from
// .safetensors (resnet18's safetensors is written here from its .pth), then run on PyTorch's eight
// 64x64 images. Eval mode: the log-probabilities agree with PyTorch's logits up to each row's
// shift, within 1e-4 of the logit range. Train mode (batch statistics): the training forward's
// logits within 1e-3 of the range; then one SGD step with lr 1 from the imported weights: its loss
// agrees with PyTorch's within 1e-3 relative, and each listed parameter's change (its gradient)
// within 1e-3 of that gradient's largest magnitude.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import { encodeSafetensors, type Tensor } from '../../src/io/safetensors.js';
import { parseStateDict } from '../../src/io/state-dict.js';
import { resolveModel } from '../../src/nn/layers.js';
import { needData } from '../helpers/datasets.js';
import { testGpu } from '../helpers/gpu.js';
import {
  centredDiff,
  importedModel,
  maxAbs,
  maxDiff,
  PARITY_MODELS,
  range,
  readReference,
  ROWS,
  torchLayout,
  withoutDropout,
} from '../helpers/torchvision.js';

const FILES = ['resnet18.pth', 'mobilenet_v2.pth', 'mobilenet_v2.safetensors'].concat(
  PARITY_MODELS.map((a) => `${a}-reference.safetensors`),
);
const dir = needData('torchvision', 'torchvision import parity with PyTorch', FILES);

/** The file's bytes in a format: resnet18 has no shared safetensors, so it is written from the .pth. */
function fileBytes(arch: string, format: 'pth' | 'safetensors'): Uint8Array {
  const shared = path.join(dir as string, `${arch}.${format}`);
  if (format === 'pth' || arch !== 'resnet18') return new Uint8Array(readFileSync(shared));
  const sd = parseStateDict(
    new Uint8Array(readFileSync(path.join(dir as string, 'resnet18.pth'))),
    'resnet18.pth',
  );
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of sd) tensors[k] = { dtype: t.dtype, shape: t.shape, data: t.data } as Tensor;
  return encodeSafetensors(tensors);
}

describe.skipIf(dir === undefined)('torchvision import: parity with PyTorch on the GPU', () => {
  for (const arch of PARITY_MODELS) {
    for (const format of ['pth', 'safetensors'] as const) {
      it(`${arch} from .${format}: eval-mode logits`, async () => {
        const { gpu } = await testGpu();
        const ref = readReference(dir as string, arch);
        const { file, spec } = importedModel(fileBytes(arch, format), `${arch}.${format}`, arch);
        const trainer = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 1 } });
        try {
          trainer.setWeights(file.weights);
          trainer.setRunningStats(file.runningStats, file.batchesTracked);
          const probs = await trainer.predict(ref.x, { batchSize: ROWS });
          const logp = Float64Array.from(probs, Math.log);
          const diff = centredDiff(logp, ref.logitsEval, 10);
          console.log(
            `${arch}.${format} eval: max logit difference ${diff.toExponential(2)}, range ${range(ref.logitsEval).toFixed(2)}`,
          );
          expect(diff).toBeLessThan(1e-4 * range(ref.logitsEval));
        } finally {
          trainer.destroy();
        }
      });
    }

    it(`${arch}: train-mode loss and gradients (one SGD step, lr 1)`, async () => {
      const { gpu } = await testGpu();
      const ref = readReference(dir as string, arch);
      const imported = importedModel(fileBytes(arch, 'pth'), `${arch}.pth`, arch);
      const spec = withoutDropout(imported.spec);
      const model = resolveModel(spec);
      const trainer = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 1 } });
      try {
        trainer.setWeights(imported.file.weights);
        trainer.setRunningStats(imported.file.runningStats, imported.file.batchesTracked);
        // Train-mode logits: the training forward pass (batch statistics), as model.train() gives.
        const probs = await trainer.predict(ref.x, { batchSize: ROWS, mode: 'train' });
        const logitDiff = centredDiff(Float64Array.from(probs, Math.log), ref.logitsTrain, 10);
        console.log(`${arch} train logits: max difference ${logitDiff.toExponential(2)}`);
        expect(logitDiff).toBeLessThan(1e-3 * range(ref.logitsTrain));
        const losses: number[] = [];
        await trainer.fit(
          { kind: 'float', x: ref.x, labels: ref.labels, count: ROWS },
          {
            epochs: 1,
            batchSize: ROWS,
            shuffle: false,
            logEvery: 1,
            onStep: (s) => void losses.push(s.loss),
          },
        );
        expect(losses).toHaveLength(1);
        console.log(`${arch} train: loss ${losses[0]} vs PyTorch ${ref.lossTrain}`);
        expect(Math.abs(losses[0] - ref.lossTrain)).toBeLessThan(1e-3 * ref.lossTrain);
        const after = await trainer.getWeights();
        for (const [name, want] of ref.grads) {
          const module = name.slice(0, name.lastIndexOf('.'));
          const k = model.params.findIndex((p) => spec.layers[p.layer].name === module);
          expect(k, name).toBeGreaterThanOrEqual(0);
          const field = name.endsWith('.bias') ? 'b' : 'W';
          const before = imported.file.weights[k][field];
          const step = after[k][field].map((v, i) => before[i] - v);
          const got = torchLayout(step, want.shape);
          const diff = maxDiff(got, want.data as Float32Array);
          console.log(
            `${arch} grad ${name}: max difference ${diff.toExponential(2)}, largest ${maxAbs(want.data as Float32Array).toFixed(4)}`,
          );
          expect(diff, name).toBeLessThan(1e-3 * maxAbs(want.data as Float32Array));
        }
      } finally {
        trainer.destroy();
      }
    });
  }
});
