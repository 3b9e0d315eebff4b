// model.py for graph models (src/export/torch-graph.ts): a Net whose ModuleList keeps the model
// file's names (layers.{i}.*) and whose forward runs the layers in the engine's order, against
// fixed texts written from the mapping rules; grouped convs and layernorm in both forms; features
// joined after a flatten; and the graph the export refuses.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { modelPySource, torchPlan, type ArchitectureJson } from '../../src/export/torch-model.js';
import type { LayerSpec } from '../../src/nn/layers.js';

const arch = (inputShape: number[], layers: LayerSpec[]): ArchitectureJson => ({
  inputShape,
  inputSize: inputShape.reduce((a, b) => a * b, 1),
  layers,
  loss: 'softmax-ce',
});

/** The lines of model.py from `first` up to (not including) the line that starts with `end`. */
function section(py: string, first: string, end: string): string[] {
  const lines = py.split('\n');
  const a = lines.indexOf(first);
  const b = lines.findIndex((l, k) => k > a && l.startsWith(end));
  return lines.slice(a, b);
}

// A residual block with a projection skip, then a strided conv ('same' with an odd total: F.pad)
// and a pool of the block's output joined by a concat.
const residual = arch(
  [6, 6, 2],
  [
    { type: 'conv2d', name: 'stem', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
    { type: 'conv2d', name: 'a', filters: 4, kernelSize: 3, padding: 'same' },
    { type: 'batchnorm', name: 'bn' },
    { type: 'conv2d', name: 'proj', inputs: 'stem', filters: 4, kernelSize: 1, bias: false },
    { type: 'add', name: 'sum', inputs: ['bn', 'proj'], activation: 'relu' },
    {
      type: 'conv2d',
      name: 'down',
      filters: 3,
      kernelSize: 3,
      stride: 2,
      padding: 'same',
      activation: 'leaky_relu',
      alpha: 0.2,
    },
    { type: 'avgpool2d', name: 'pool', inputs: 'sum', size: 2 },
    { type: 'concat', name: 'cat', inputs: ['down', 'pool'] },
    { type: 'globalavgpool' },
    { units: 3, activation: 'softmax' },
  ],
);

describe('model.py for a graph', () => {
  it('a Net whose ModuleList holds one entry per layer and whose forward follows the graph', () => {
    const py = modelPySource(torchPlan(residual), residual, 'g.safetensors');
    expect(py).toContain('import torch\nimport torch.nn.functional as F\nfrom torch import nn\n');
    expect(section(py, '    def __init__(self) -> None:', '    def forward')).toEqual([
      '    def __init__(self) -> None:',
      '        super().__init__()',
      '        self.layers = nn.ModuleList(',
      '            [',
      "                # layers.0 'stem' (reads input): conv2d 3x3/1 same, 4 relu  [2, 6, 6] -> [4, 6, 6]",
      '                nn.Conv2d(2, 4, kernel_size=3, stride=1, padding=1),',
      "                # layers.1 'a' (reads layers.0): conv2d 3x3/1 same, 4  [4, 6, 6] -> [4, 6, 6]",
      '                nn.Conv2d(4, 4, kernel_size=3, stride=1, padding=1),',
      "                # layers.2 'bn' (reads layers.1): batchnorm  [4, 6, 6] -> [4, 6, 6]",
      '                nn.BatchNorm2d(4, eps=0.00001, momentum=0.1),',
      "                # layers.3 'proj' (reads layers.0): conv2d 1x1/1 valid, 4  [4, 6, 6] -> [4, 6, 6]",
      '                nn.Conv2d(4, 4, kernel_size=1, stride=1, padding=0, bias=False),',
      "                # layers.4 'sum' (reads layers.2, layers.3): add 2 relu  [4, 6, 6] + [4, 6, 6] -> [4, 6, 6]",
      '                nn.Identity(),',
      "                # layers.5 'down' (reads layers.4): conv2d 3x3/2 same, 3 leaky_relu  [4, 6, 6] -> [3, 3, 3]",
      '                nn.Conv2d(4, 3, kernel_size=3, stride=2, padding=0),',
      "                # layers.6 'pool' (reads layers.4): avgpool2d 2x2/2  [4, 6, 6] -> [4, 3, 3]",
      '                nn.AvgPool2d(kernel_size=2, stride=2),',
      "                # layers.7 'cat' (reads layers.5, layers.6): concat 2 -> 7  [3, 3, 3] + [4, 3, 3] -> [7, 3, 3]",
      '                nn.Identity(),',
      '                # layers.8 (reads layers.7): globalavgpool  [7, 3, 3] -> [7]',
      '                nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),',
      '                # layers.9 (reads layers.8): dense 3 softmax  [7] -> [3]',
      '                nn.Linear(7, 3),',
      '            ]',
      '        )',
      '',
    ]);
    expect(section(py, '    def forward(self, x: torch.Tensor) -> torch.Tensor:', 'def build_model')).toEqual(
      [
        '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
        '        layers = self.layers',
        '        h0 = torch.relu(layers[0](x))',
        '        h1 = layers[1](h0)',
        '        h2 = layers[2](h1)',
        '        del h1',
        '        h3 = layers[3](h0)',
        '        del h0',
        '        h4 = torch.relu(h2 + h3)',
        '        del h2, h3',
        '        h5 = F.leaky_relu(layers[5](F.pad(h4, (0, 1, 0, 1))), 0.2)',
        '        h6 = layers[6](h4)',
        '        del h4',
        '        h7 = torch.cat((h5, h6), dim=1)',
        '        del h5, h6',
        '        h8 = layers[8](h7)',
        '        del h7',
        '        h9 = layers[9](h8)',
        '        del h8',
        '        return h9',
        '',
        '',
      ],
    );
    expect(py).toContain('def build_model() -> nn.Module:\n    return Net()\n');
  });

  it('keeps the model file names as state_dict keys, and the engine slots in list order', () => {
    const p = torchPlan(residual);
    expect(p.stateNames.every(([f, t]) => f === t)).toBe(true);
    expect(p.stateNames.map(([f]) => f)).toEqual([
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'layers.1.bias',
      'layers.2.weight',
      'layers.2.bias',
      'layers.2.running_mean',
      'layers.2.running_var',
      'layers.2.num_batches_tracked',
      'layers.3.weight',
      'layers.5.weight',
      'layers.5.bias',
      'layers.9.weight',
      'layers.9.bias',
    ]);
    const slots = p.engineSlots.map((s) => [s.name, s.offset]);
    expect(slots.map(([n]) => n)).toEqual(
      p.stateNames.map(([f]) => f).filter((n) => !/running|batches/.test(n)),
    );
    expect(slots.map(([, o]) => o)).toEqual(
      [...slots.map(([, o]) => o)].sort((a, b) => Number(a) - Number(b)),
    );
  });

  it('reads the order of flattened features through the graph: a dense after a flatten listed two layers back', () => {
    const a = arch(
      [2, 3, 4],
      [
        { type: 'flatten', name: 'f' },
        { type: 'globalavgpool', name: 'g', inputs: 'input' },
        { name: 'dg', units: 24, inputs: 'g' },
        { type: 'dropout', name: 'drop', rate: 0.5, inputs: 'f' },
        { type: 'add', name: 'sum', inputs: ['drop', 'dg'] },
        { units: 2, activation: 'softmax' },
      ],
    );
    // dg reads pooled features (no permutation); the head reads the flatten through a dropout and
    // an add whose other input is in the dense's own order: refused, since the two orders differ.
    expect(() => torchPlan(a)).toThrow(ConfigError);
    expect(() => torchPlan(a)).toThrow(/layer 4 'sum' \(add\)/);
    const ok = arch(
      [2, 3, 4],
      [
        { type: 'flatten', name: 'f' },
        { type: 'globalavgpool', name: 'g', inputs: 'input' },
        { name: 'dg', units: 5, inputs: 'g' },
        { type: 'dropout', name: 'drop', rate: 0.5, inputs: 'f' },
        { name: 'df', units: 5, inputs: 'drop' },
        { type: 'add', inputs: ['dg', 'df'] },
        { units: 2, activation: 'softmax' },
      ],
    );
    const rows = torchPlan(ok).engineSlots.map((s) => [s.name, s.engineShape, s.permute]);
    expect(rows).toEqual([
      ['layers.2.weight', [5, 4], null],
      ['layers.2.bias', [5], null],
      ['layers.4.weight', [5, 2, 3, 4], [0, 3, 1, 2]],
      ['layers.4.bias', [5], null],
      ['layers.6.weight', [2, 5], null],
      ['layers.6.bias', [2], null],
    ]);
  });

  it('features a concat joins after a flatten reorder block by block (a fifth ENGINE_SLOTS entry)', () => {
    const a = arch(
      [2, 2, 3],
      [
        { type: 'flatten', name: 'f' },
        { type: 'globalavgpool', name: 'g', inputs: 'input' },
        { type: 'concat', inputs: ['f', 'g'] },
        { type: 'batchnorm' },
        { name: 'head', units: 2, activation: 'softmax' },
      ],
    );
    const p = torchPlan(a);
    const blocks = [
      { size: 12, map: [2, 2, 3] },
      { size: 3, map: null },
    ];
    expect(p.engineSlots.map((s) => [s.name, s.engineShape, s.permute, s.blocks])).toEqual([
      ['layers.3.weight', [15], null, blocks],
      ['layers.3.bias', [15], null, blocks],
      ['layers.4.weight', [2, 15], null, blocks],
      ['layers.4.bias', [2], null, undefined],
    ]);
    const py = modelPySource(p, a, 'c.safetensors');
    expect(py).toContain('    ("layers.4.weight", 128, (2, 15), None, ((12, (2, 2, 3)), (3, None))),\n');
    expect(py).toContain('    ("layers.4.bias", 192, (2,), None),\n');
    expect(py).toContain('# A fifth entry, where a concat joined flattened maps with other features');
  });

  it('a graph over flat features: concat along dim 1, the input flattened when the first layer is dense', () => {
    const a = arch(
      [2, 2, 3],
      [
        { name: 'd1', units: 4, activation: 'gelu' },
        { name: 'd2', units: 3, inputs: 'input', activation: 'hardswish' },
        { type: 'concat', inputs: ['d1', 'd2'] },
        { type: 'layernorm', activation: 'relu6' },
        { units: 2, activation: 'softmax' },
      ],
    );
    const py = modelPySource(torchPlan(a), a, 'f.safetensors');
    expect(section(py, '    def forward(self, x: torch.Tensor) -> torch.Tensor:', 'def build_model')).toEqual(
      [
        '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
        '        layers = self.layers',
        '        x = x.permute(0, 2, 3, 1).flatten(1)  # the engine reads the image as (h, w, c) features',
        "        h0 = F.gelu(layers[0](x), approximate='tanh')",
        '        h1 = F.hardswish(layers[1](x))',
        '        h2 = torch.cat((h0, h1), dim=1)',
        '        del h0, h1',
        '        h3 = F.relu6(layers[3](h2))',
        '        del h2',
        '        h4 = layers[4](h3)',
        '        del h3',
        '        return h4',
        '',
        '',
      ],
    );
    expect(py).toContain('                nn.LayerNorm(7, eps=0.00001),\n');
    expect(py).not.toContain('class FlattenNHWC');
  });
});

describe('grouped convs and layernorm in a straight stack', () => {
  it('nn.Conv2d(groups=G) with [F, KH, KW, C/G] slots, LayerNorm2d on maps, nn.LayerNorm on features', () => {
    const a = arch(
      [5, 5, 4],
      [
        { type: 'conv2d', filters: 8, kernelSize: 3, groups: 2, padding: 'same', activation: 'relu' },
        { type: 'layernorm', epsilon: 0.001 },
        { type: 'conv2d', filters: 8, kernelSize: 3, groups: 8, bias: false },
        { type: 'flatten' },
        { type: 'layernorm' },
        { units: 2, activation: 'softmax' },
      ],
    );
    const p = torchPlan(a);
    const py = modelPySource(p, a, 's.safetensors');
    expect(p.forward).toBeNull();
    expect(py).not.toContain('import torch.nn.functional as F');
    expect(section(py, '    return nn.Sequential(', '    )')).toEqual([
      '    return nn.Sequential(',
      '        # layers.0: conv2d g2 3x3/1 same, 8 relu  [4, 5, 5] -> [8, 5, 5]',
      '        nn.Conv2d(4, 8, kernel_size=3, stride=1, padding=1, groups=2),',
      '        nn.ReLU(),',
      '        # layers.1: layernorm  [8, 5, 5] -> [8, 5, 5]',
      '        LayerNorm2d(8, eps=0.001),',
      '        # layers.2: conv2d dw 3x3/1 valid, 8  [8, 5, 5] -> [8, 3, 3]',
      '        nn.Conv2d(8, 8, kernel_size=3, stride=1, padding=0, groups=8, bias=False),',
      '        # layers.3: flatten  [8, 3, 3] -> [72]',
      '        nn.Flatten(),',
      '        # layers.4: layernorm  [72] -> [72]',
      '        nn.LayerNorm(72, eps=0.00001),',
      '        # layers.5: dense 2 softmax  [72] -> [2]',
      '        nn.Linear(72, 2),',
    ]);
    expect(py).toContain(
      [
        'class LayerNorm2d(nn.LayerNorm):',
        '    """nn.LayerNorm over the channels of NCHW maps: the engine normalises the last axis of its NHWC maps."""',
        '',
        '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
        '        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)',
      ].join('\n'),
    );
    const rows = p.engineSlots.map((s) => [s.name, s.engineShape, s.permute, s.fileShape]);
    expect(rows).toEqual([
      ['layers.0.weight', [8, 3, 3, 2], [0, 3, 1, 2], [8, 2, 3, 3]],
      ['layers.0.bias', [8], null, [8]],
      ['layers.1.weight', [8], null, [8]],
      ['layers.1.bias', [8], null, [8]],
      ['layers.2.weight', [8, 3, 3, 1], [0, 3, 1, 2], [8, 1, 3, 3]],
      ['layers.4.weight', [3, 3, 8], [2, 0, 1], [72]],
      ['layers.4.bias', [3, 3, 8], [2, 0, 1], [72]],
      ['layers.5.weight', [2, 3, 3, 8], [0, 3, 1, 2], [2, 72]],
      ['layers.5.bias', [2], null, [2]],
    ]);
    expect(p.stateNames.slice(2, 4)).toEqual([
      ['layers.1.weight', '2.weight'],
      ['layers.1.bias', '2.bias'],
    ]);
  });
});
