// The generated model.py, layer type by layer type, against small fixed expected texts written
// from the mapping rules in src/export/torch-model.ts (NCHW input, TensorFlow's 'same' padding,
// activations as separate modules, the output activation left to the loss), plus the state_dict
// names and the engine layout of the optimizer moments.

import { describe, expect, it } from 'vitest';
import {
  modelPySource,
  sequentialSource,
  torchPlan,
  type ArchitectureJson,
} from '../../src/export/torch-model.js';
import type { LayerSpec } from '../../src/nn/layers.js';

const arch = (
  inputShape: number[],
  layers: LayerSpec[],
  loss: ArchitectureJson['loss'] = 'softmax-ce',
): ArchitectureJson => ({ inputShape, inputSize: inputShape.reduce((a, b) => a * b, 1), layers, loss });

const seq = (a: ArchitectureJson): string => sequentialSource(torchPlan(a));
const body = (...lines: string[]): string =>
  ['    return nn.Sequential(', ...lines.map((l) => `        ${l}`), '    )'].join('\n');

const head = (units = 3): LayerSpec => ({ units, activation: 'softmax' });

describe('model.py per layer type', () => {
  it('dense (version 1 file, one-channel image: plain Flatten; output softmax left to the loss)', () => {
    const a = arch([4, 5, 1], [{ units: 6, activation: 'relu' }, head()]);
    expect(seq(a)).toBe(
      body(
        "# input [1, 4, 5] -> [20] in the engine's (h, w, c) order",
        'nn.Flatten(),',
        '# layers.0: dense 6 relu  [20] -> [6]',
        'nn.Linear(20, 6),',
        'nn.ReLU(),',
        '# layers.1: dense 3 softmax  [6] -> [3]',
        'nn.Linear(6, 3),',
      ),
    );
    expect(torchPlan(a).stateNames).toEqual([
      ['layers.0.weight', '1.weight'],
      ['layers.0.bias', '1.bias'],
      ['layers.1.weight', '3.weight'],
      ['layers.1.bias', '3.bias'],
    ]);
  });

  it('dense over a 3-channel image reads it in NHWC order (FlattenNHWC)', () => {
    const a = arch([2, 2, 3], [{ units: 2, activation: 'sigmoid' }], 'bce');
    expect(seq(a)).toBe(
      body(
        "# input [3, 2, 2] -> [12] in the engine's (h, w, c) order",
        'FlattenNHWC(),',
        '# layers.0: dense 2 sigmoid  [12] -> [2]',
        'nn.Linear(12, 2),',
      ),
    );
    expect(modelPySource(torchPlan(a), a, 'm.safetensors')).toContain('class FlattenNHWC(nn.Module):');
  });

  it('flat input, every hidden activation as its own module, mse keeps the output sigmoid', () => {
    const a = arch(
      [7],
      [
        { units: 5, activation: 'leaky_relu', alpha: 0.2 },
        { units: 5, activation: 'gelu' },
        { units: 4, activation: 'tanh' },
        { units: 2, activation: 'identity' },
        { units: 2, activation: 'sigmoid' },
      ],
      'mse',
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: dense 5 leaky_relu  [7] -> [5]',
        'nn.Linear(7, 5),',
        'nn.LeakyReLU(0.2),',
        '# layers.1: dense 5 gelu  [5] -> [5]',
        'nn.Linear(5, 5),',
        "nn.GELU(approximate='tanh'),",
        '# layers.2: dense 4 tanh  [5] -> [4]',
        'nn.Linear(5, 4),',
        'nn.Tanh(),',
        '# layers.3: dense 2  [4] -> [2]',
        'nn.Linear(4, 2),',
        '# layers.4: dense 2 sigmoid  [2] -> [2]',
        'nn.Linear(2, 2),',
        'nn.Sigmoid(),',
      ),
    );
  });

  it('relu6 and hardswish export as nn.ReLU6 and nn.Hardswish', () => {
    const a = arch(
      [7],
      [
        { units: 5, activation: 'relu6' },
        { units: 4, activation: 'hardswish' },
        { units: 2, activation: 'sigmoid' },
      ],
      'mse',
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: dense 5 relu6  [7] -> [5]',
        'nn.Linear(7, 5),',
        'nn.ReLU6(),',
        '# layers.1: dense 4 hardswish  [5] -> [4]',
        'nn.Linear(5, 4),',
        'nn.Hardswish(),',
        '# layers.2: dense 2 sigmoid  [4] -> [2]',
        'nn.Linear(4, 2),',
        'nn.Sigmoid(),',
      ),
    );
  });

  it("conv2d: symmetric 'same', 'valid' without bias, numeric padding", () => {
    const a = arch(
      [6, 7, 2],
      [
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'conv2d', filters: 5, kernelSize: [3, 2], padding: 'valid', bias: false },
        { type: 'conv2d', filters: 3, kernelSize: 3, stride: [1, 2], padding: 1 },
        { type: 'flatten' },
        head(),
      ],
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: conv2d 3x3/1 same, 4 relu  [2, 6, 7] -> [4, 6, 7]',
        'nn.Conv2d(2, 4, kernel_size=3, stride=1, padding=1),',
        'nn.ReLU(),',
        '# layers.1: conv2d 3x2/1 valid, 5  [4, 6, 7] -> [5, 4, 6]',
        'nn.Conv2d(4, 5, kernel_size=(3, 2), stride=1, padding=0, bias=False),',
        '# layers.2: conv2d 3x3/1x2 pad 1, 3  [5, 4, 6] -> [3, 4, 3]',
        'nn.Conv2d(5, 3, kernel_size=3, stride=(1, 2), padding=1),',
        '# layers.3: flatten  [3, 4, 3] -> [36]',
        'nn.Flatten(),',
        '# layers.4: dense 3 softmax  [36] -> [3]',
        'nn.Linear(36, 3),',
      ),
    );
    const names = torchPlan(a).stateNames.map(([f]) => f);
    expect(names).not.toContain('layers.1.bias');
  });

  it("conv2d: 'same' with an odd total pads bottom/right through ZeroPad2d", () => {
    // H = W = 6, kernel 3, stride 2: output 3, total padding (3-1)*2 + 3 - 6 = 1 -> top 0, bottom 1.
    const a = arch(
      [6, 6, 1],
      [
        { type: 'conv2d', filters: 2, kernelSize: 3, stride: 2, padding: 'same' },
        { type: 'flatten' },
        head(),
      ],
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: conv2d 3x3/2 same, 2  [1, 6, 6] -> [2, 3, 3]',
        'nn.ZeroPad2d((0, 1, 0, 1)),',
        'nn.Conv2d(1, 2, kernel_size=3, stride=2, padding=0),',
        '# layers.1: flatten  [2, 3, 3] -> [18]',
        'nn.Flatten(),',
        '# layers.2: dense 3 softmax  [18] -> [3]',
        'nn.Linear(18, 3),',
      ),
    );
    expect(torchPlan(a).stateNames[0]).toEqual(['layers.0.weight', '1.weight']);
  });

  it('maxpool2d and avgpool2d (window, stride defaulting to the window)', () => {
    const a = arch(
      [9, 8, 1],
      [
        { type: 'maxpool2d', size: 2 },
        { type: 'avgpool2d', size: [2, 3], stride: 1 },
        { type: 'flatten' },
        head(),
      ],
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: maxpool2d 2x2/2  [1, 9, 8] -> [1, 4, 4]',
        'nn.MaxPool2d(kernel_size=2, stride=2),',
        '# layers.1: avgpool2d 2x3/1  [1, 4, 4] -> [1, 3, 2]',
        'nn.AvgPool2d(kernel_size=(2, 3), stride=1),',
        '# layers.2: flatten  [1, 3, 2] -> [6]',
        'nn.Flatten(),',
        '# layers.3: dense 3 softmax  [6] -> [3]',
        'nn.Linear(6, 3),',
      ),
    );
  });

  it('globalavgpool', () => {
    const a = arch([3, 5, 4], [{ type: 'globalavgpool' }, head(2)]);
    expect(seq(a)).toBe(
      body(
        '# layers.0: globalavgpool  [4, 3, 5] -> [4]',
        'nn.AdaptiveAvgPool2d(1),',
        'nn.Flatten(),',
        '# layers.1: dense 2 softmax  [4] -> [2]',
        'nn.Linear(4, 2),',
      ),
    );
  });

  it('batchnorm on a map (2d) and on features (1d), with running statistics in the name map', () => {
    const a = arch(
      [3, 3, 2],
      [
        { type: 'batchnorm', momentum: 0.01, epsilon: 0.001, activation: 'relu' },
        { type: 'globalavgpool' },
        { type: 'batchnorm' },
        head(2),
      ],
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: batchnorm relu  [2, 3, 3] -> [2, 3, 3]',
        'nn.BatchNorm2d(2, eps=0.001, momentum=0.01),',
        'nn.ReLU(),',
        '# layers.1: globalavgpool  [2, 3, 3] -> [2]',
        'nn.AdaptiveAvgPool2d(1),',
        'nn.Flatten(),',
        '# layers.2: batchnorm  [2] -> [2]',
        'nn.BatchNorm1d(2, eps=0.00001, momentum=0.1),',
        '# layers.3: dense 2 softmax  [2] -> [2]',
        'nn.Linear(2, 2),',
      ),
    );
    expect(torchPlan(a).stateNames.slice(0, 5)).toEqual([
      ['layers.0.weight', '0.weight'],
      ['layers.0.bias', '0.bias'],
      ['layers.0.running_mean', '0.running_mean'],
      ['layers.0.running_var', '0.running_var'],
      ['layers.0.num_batches_tracked', '0.num_batches_tracked'],
    ]);
  });

  it('dropout and flatten', () => {
    const a = arch(
      [2, 3, 1],
      [{ type: 'dropout', rate: 0.25 }, { type: 'flatten' }, { type: 'dropout', rate: 0.5 }, head()],
    );
    expect(seq(a)).toBe(
      body(
        '# layers.0: dropout 0.25  [1, 2, 3] -> [1, 2, 3]',
        'nn.Dropout(p=0.25),',
        '# layers.1: flatten  [1, 2, 3] -> [6]',
        'nn.Flatten(),',
        '# layers.2: dropout 0.5  [6] -> [6]',
        'nn.Dropout(p=0.5),',
        '# layers.3: dense 3 softmax  [6] -> [3]',
        'nn.Linear(6, 3),',
      ),
    );
  });
});

describe('engine layout of the optimizer moments', () => {
  it('conv weights and a dense after flatten permute (0, 3, 1, 2); slots follow the 64-float padding', () => {
    const a = arch(
      [4, 4, 3],
      [
        { type: 'conv2d', filters: 5, kernelSize: 3, padding: 'same' },
        { type: 'batchnorm' },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.1 },
        { units: 2, activation: 'softmax' },
      ],
    );
    const p = torchPlan(a);
    const rows = p.engineSlots.map((s) => [s.name, s.offset, s.engineShape, s.permute, s.fileShape]);
    // conv W 5*3*3*3 = 135 -> 192 floats; b 5 -> 64; bn 5 + 5 -> 64 + 64; dense W 2*80 = 160 -> 192.
    expect(rows).toEqual([
      ['layers.0.weight', 0, [5, 3, 3, 3], [0, 3, 1, 2], [5, 3, 3, 3]],
      ['layers.0.bias', 192, [5], null, [5]],
      ['layers.1.weight', 256, [5], null, [5]],
      ['layers.1.bias', 320, [5], null, [5]],
      ['layers.4.weight', 384, [2, 4, 4, 5], [0, 3, 1, 2], [2, 80]],
      ['layers.4.bias', 576, [2], null, [2]],
    ]);
    expect(p.engineParamSize).toBe(640);
    const py = modelPySource(p, a, 'ckpt.safetensors');
    expect(py).toContain('ENGINE_PARAM_SIZE = 640\n');
    expect(py).toContain('    ("layers.4.weight", 384, (2, 4, 4, 5), (0, 3, 1, 2)),\n');
    expect(py).toContain('    "layers.1.running_var": "1.running_var",\n');
  });

  it('a batchnorm between flatten and dense has its vectors in NCHW order too (permute (2, 0, 1))', () => {
    const a = arch(
      [2, 3, 4],
      [{ type: 'flatten' }, { type: 'batchnorm' }, { type: 'dropout', rate: 0.5 }, head()],
    );
    const rows = torchPlan(a).engineSlots.map((s) => [
      s.name,
      s.offset,
      s.engineShape,
      s.permute,
      s.fileShape,
    ]);
    expect(rows).toEqual([
      ['layers.1.weight', 0, [2, 3, 4], [2, 0, 1], [24]],
      ['layers.1.bias', 64, [2, 3, 4], [2, 0, 1], [24]],
      ['layers.3.weight', 128, [3, 2, 3, 4], [0, 3, 1, 2], [3, 24]],
      ['layers.3.bias', 256, [3], null, [3]],
    ]);
  });

  it('a dense after globalavgpool or a flat input needs no permutation', () => {
    const a = arch([2, 2, 3], [{ type: 'globalavgpool' }, { type: 'batchnorm' }, head(2)]);
    expect(torchPlan(a).engineSlots.map((s) => s.permute)).toEqual([null, null, null, null]);
  });
});

describe('model.py as a whole', () => {
  it('is the fixed text for a one-layer classifier', () => {
    const a = arch([3], [{ units: 2, activation: 'softmax' }]);
    expect(modelPySource(torchPlan(a), a, 'model.safetensors')).toBe(
      [
        "# Generated by `webgpu-trainer export --torch` from model.safetensors: the engine's network as",
        '# PyTorch modules. Input: float features [N, F], normalised as in run.json.',
        '# Output: logits (the final softmax is in the loss and in probabilities()).',
        '',
        'import torch',
        'from torch import nn',
        '',
        'INPUT_SHAPE = (3,)  # per sample, as the model takes it',
        'LOSS = "softmax-ce"',
        '',
        '',
        'def build_model() -> nn.Sequential:',
        '    return nn.Sequential(',
        '        # layers.0: dense 2 softmax  [3] -> [2]',
        '        nn.Linear(3, 2),',
        '    )',
        '',
        '',
        'def loss_function() -> nn.Module:',
        '    return nn.CrossEntropyLoss()',
        '',
        '',
        'def probabilities(output: torch.Tensor) -> torch.Tensor:',
        '    return torch.softmax(output, dim=1)',
        '',
        '',
        "# Model file tensor name -> build_model()'s state_dict name.",
        'STATE_NAMES = {',
        '    "layers.0.weight": "0.weight",',
        '    "layers.0.bias": "0.bias",',
        '}',
        '',
        "# The engine's flat parameter layout, which a checkpoint's optimizer moments (optim.m, optim.v)",
        '# follow: (file name, offset, shape in the engine, permutation to the file layout or None).',
        'ENGINE_PARAM_SIZE = 128',
        'ENGINE_SLOTS = [',
        '    ("layers.0.weight", 0, (2, 3), None),',
        '    ("layers.0.bias", 64, (2,), None),',
        ']',
        '',
      ].join('\n'),
    );
  });
});
