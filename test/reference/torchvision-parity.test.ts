// The float64 reference runs the imported torchvision models as PyTorch does: eval-mode logits and
// train-mode logits (batch statistics over the eight images) within 1e-4 and 1e-3 of the logit
// range. The GPU engine's own check is test/io/torchvision-parity.test.ts (which sees train mode
// through the loss and gradients); this one shows the reference, written apart from the engine,
// agrees with PyTorch too, so the two are independent witnesses of the import.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../src/nn/layers.js';
import { seqForward } from '../../src/reference/sequential.js';
import { needData } from '../helpers/datasets.js';
import {
  importedModel,
  maxDiff,
  PARITY_MODELS,
  range,
  readReference,
  ROWS,
  withoutDropout,
} from '../helpers/torchvision.js';

const dir = needData(
  'torchvision',
  'float64 reference on the torchvision models',
  PARITY_MODELS.flatMap((a) => [`${a}.pth`, `${a}-reference.safetensors`]),
);

describe.skipIf(dir === undefined)('float64 reference on imported torchvision models', () => {
  for (const arch of PARITY_MODELS) {
    it(`${arch}: eval-mode and train-mode logits`, () => {
      const ref = readReference(dir as string, arch);
      const bytes = new Uint8Array(readFileSync(path.join(dir as string, `${arch}.pth`)));
      const { file, spec } = importedModel(bytes, `${arch}.pth`, arch);
      const model = resolveModel(withoutDropout(spec));
      const params = file.weights.map((w) => ({ W: Float64Array.from(w.W), b: Float64Array.from(w.b) }));
      const state = file.runningStats.map((s) => ({
        mean: Float64Array.from(s.mean),
        variance: Float64Array.from(s.variance),
      }));
      const evalLogits = seqForward(model, params, state, ref.x, ROWS, {
        training: false,
        seed: 0,
        step: 0,
      }).logits;
      const trainLogits = seqForward(model, params, state, ref.x, ROWS, {
        training: true,
        seed: 0,
        step: 0,
      }).logits;
      const e = maxDiff(evalLogits, ref.logitsEval);
      const t = maxDiff(trainLogits, ref.logitsTrain);
      console.log(
        `${arch} float64 reference: eval logits ${e.toExponential(2)}, train logits ${t.toExponential(2)} off PyTorch's`,
      );
      expect(e).toBeLessThan(1e-4 * range(ref.logitsEval));
      expect(t).toBeLessThan(1e-3 * range(ref.logitsTrain));
    });
  }
});
