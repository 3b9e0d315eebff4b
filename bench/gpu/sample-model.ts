// Writes a small model file with our safetensors writer, for the PyTorch load check on the GPU box.
import { writeFileSync } from 'node:fs';
import { saveModel } from '../../src/io/modelfile.js';
import { Rng } from '../../src/rng.js';

const rng = new Rng(1);
const sizes = [784, 32, 10];
const weights = sizes.slice(1).map((units, i) => ({
  W: Float32Array.from({ length: units * sizes[i] }, () => rng.normal() * 0.05),
  b: Float32Array.from({ length: units }, () => rng.normal() * 0.01),
}));
const bytes = saveModel({
  architecture: {
    inputShape: [28, 28, 1],
    inputSize: 784,
    layers: [
      { units: 32, activation: 'relu' },
      { units: 10, activation: 'softmax' },
    ],
    loss: 'softmax-ce',
  },
  normalization: { kind: 'scale' },
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  training: { note: 'sample for the PyTorch interop check' },
  weights,
});
writeFileSync(process.argv[2] ?? 'sample-model.safetensors', bytes);
