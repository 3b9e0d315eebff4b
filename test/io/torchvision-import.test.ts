// The torchvision import on state dicts with torchvision's exact names and shapes for every
// architecture (test/fixtures/torchvision/keys.json, written by scripts/torchvision-keys.py from
// torchvision 0.14), filled with seeded random values: every tensor lands in the model file under
// its layer, conv weights keep PyTorch's OIHW layout in the file and reach the engine as
// [F, KH, KW, C]; the errors list missing and unexpected keys and name both shapes of a mismatch;
// timm's mobilenetv2 names map to the same model. No GPU and no shared data needed.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { loadModel } from '../../src/io/modelfile.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import type { StateDict } from '../../src/io/state-dict.js';
import { detectArch, importTorchvision } from '../../src/io/torchvision-import.js';
import { resolveModel } from '../../src/nn/layers.js';
import { TORCHVISION_ARCHS, type TorchvisionArch } from '../../src/nn/torchvision.js';
import { Rng } from '../../src/rng.js';
import { REPO } from '../helpers/datasets.js';

type KeyList = [name: string, shape: number[], dtype: 'F32' | 'I64'][];
const KEYS = JSON.parse(
  readFileSync(path.join(REPO, 'test/fixtures/torchvision/keys.json'), 'utf8'),
) as Record<TorchvisionArch, KeyList>;

function stateDict(arch: TorchvisionArch, seed = 1): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = new Map();
  for (const [name, shape, dtype] of KEYS[arch]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'I64'
        ? BigInt64Array.of(7n)
        : Float32Array.from({ length: n }, () =>
            name.endsWith('running_var') ? rng.uniform(0.5, 2) : rng.uniform(-1, 1),
          );
    sd.set(name, { dtype, shape, data, sourceDtype: dtype });
  }
  return sd;
}

const bytesOf = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
const CREATED = '2026-01-01T00:00:00.000Z';

describe('torchvision import', () => {
  for (const arch of TORCHVISION_ARCHS) {
    it(`${arch}: every torchvision tensor lands in its layer, and the model file loads`, () => {
      const sd = stateDict(arch);
      expect(detectArch(sd)).toBe(arch);
      const r = importTorchvision(sd, { fileName: `${arch}.pth`, imageSize: [32, 40], createdAt: CREATED });
      expect(r.arch).toBe(arch);
      expect(r.classes).toBe(1000);
      const { tensors } = decodeSafetensors(r.bytes, 'out');
      expect(Object.keys(tensors)).toHaveLength(KEYS[arch].length);
      const file = loadModel(r.bytes, 'out');
      const model = resolveModel({
        inputShape: file.architecture.inputShape,
        layers: file.architecture.layers,
        loss: 'softmax-ce',
      });
      // Every file tensor is the state dict's tensor of the same-named layer, bit for bit.
      for (const [key, t] of Object.entries(tensors)) {
        const [, i, ...param] = key.split('.');
        const source = sd.get(`${model.layers[Number(i)].name}.${param.join('.')}`);
        expect(source, key).toBeDefined();
        expect(t.shape).toEqual(source!.shape);
        expect(Buffer.compare(bytesOf(t.data), bytesOf(source!.data)), key).toBe(0);
      }
      // The first conv reaches the engine as [F, KH, KW, C]: W[f, kh, kw, c] = torch[f, c, kh, kw].
      const first = sd.get(arch === 'mobilenet_v2' ? 'features.0.0.weight' : 'conv1.weight')!;
      const [F, C, KH, KW] = first.shape;
      const W = file.weights[0].W;
      const torch = first.data as Float32Array;
      for (const [f, kh, kw, c] of [
        [0, 0, 0, 0],
        [F - 1, KH - 1, KW - 1, C - 1],
        [3, 1, 2, 1],
      ])
        expect(W[((f * KH + kh) * KW + kw) * C + c]).toBe(torch[((f * C + c) * KH + kh) * KW + kw]);
      expect(file.normalization).toEqual({
        kind: 'standardize',
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      });
      expect(file.architecture.inputShape).toEqual([32, 40, 3]);
      expect(file.classNames.slice(0, 3)).toEqual(['0', '1', '2']);
      expect(file.training).toEqual({ source: { format: 'torchvision', arch, file: `${arch}.pth` } });
      expect(file.batchesTracked).toBe(7);
    });
  }

  it('lists missing and unexpected keys as load_state_dict does, and names both shapes of a mismatch', () => {
    const sd = stateDict('resnet18');
    sd.delete('layer2.1.conv2.weight');
    sd.set('layer5.0.conv1.weight', sd.get('layer4.0.conv1.weight')!);
    const bias = sd.get('layer1.0.bn1.bias')!;
    sd.set('layer1.0.bn1.bias', { ...bias, shape: [32], data: (bias.data as Float32Array).subarray(0, 32) });
    const run = () => importTorchvision(sd, { fileName: 'r18.pth', arch: 'resnet18' });
    expect(run).toThrow(ModelFormatError);
    expect(run).toThrow(
      'r18.pth: does not load into resnet18: missing key(s): layer2.1.conv2.weight; unexpected key(s): layer5.0.conv1.weight; ' +
        'size mismatch: layer1.0.bn1.bias is F32 [32] in the file, resnet18 needs F32 [64]',
    );
  });

  it('refuses the wrong architecture with the keys it lacks, and names that are no known architecture', () => {
    expect(() => importTorchvision(stateDict('resnet34'), { fileName: 'r34.pth', arch: 'resnet18' })).toThrow(
      /does not load into resnet18: unexpected key\(s\): layer1\.2\.conv1\.weight, .* and \d+ more$/,
    );
    const odd: StateDict = new Map([['encoder.weight', stateDict('resnet18').get('fc.weight')!]]);
    expect(detectArch(odd)).toBeUndefined();
    expect(() => importTorchvision(odd, { fileName: 'odd.pth' })).toThrow(
      'odd.pth: its names are not those of a torchvision resnet18, resnet34, resnet50, mobilenet_v2 state dict',
    );
  });

  it('keeps a model without num_batches_tracked (older state dicts) at a count of 0', () => {
    const sd = stateDict('resnet18');
    for (const k of [...sd.keys()]) if (k.endsWith('num_batches_tracked')) sd.delete(k);
    expect(loadModel(importTorchvision(sd, { fileName: 'old.pth' }).bytes, 'out').batchesTracked).toBe(0);
  });

  it("reads timm's mobilenetv2_100 names as the same network", () => {
    const sd = stateDict('mobilenet_v2');
    // torchvision -> timm, written out here independently of the importer's table.
    const stageOf = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6];
    const firstOf = [1, 2, 4, 7, 11, 14, 17];
    const timm: StateDict = new Map();
    for (const [k, t] of sd) {
      let m: RegExpExecArray | null;
      let name = k;
      if ((m = /^features\.0\.0\.(.*)$/.exec(k))) name = `conv_stem.${m[1]}`;
      else if ((m = /^features\.0\.1\.(.*)$/.exec(k))) name = `bn1.${m[1]}`;
      else if ((m = /^features\.18\.0\.(.*)$/.exec(k))) name = `conv_head.${m[1]}`;
      else if ((m = /^features\.18\.1\.(.*)$/.exec(k))) name = `bn2.${m[1]}`;
      else if ((m = /^classifier\.1\.(.*)$/.exec(k))) name = `classifier.${m[1]}`;
      else if ((m = /^features\.(\d+)\.conv\.(\d(?:\.\d)?)\.(.*)$/.exec(k))) {
        const f = Number(m[1]);
        const s = stageOf[f - 1];
        const part =
          s === 0
            ? { '0.0': 'conv_dw', '0.1': 'bn1', '1': 'conv_pw', '2': 'bn2' }[m[2]]
            : { '0.0': 'conv_pw', '0.1': 'bn1', '1.0': 'conv_dw', '1.1': 'bn2', '2': 'conv_pwl', '3': 'bn3' }[
                m[2]
              ];
        name = `blocks.${s}.${f - firstOf[s]}.${part}.${m[3]}`;
      }
      timm.set(name, t);
    }
    expect(timm.has('blocks.6.0.conv_pwl.weight')).toBe(true);
    const a = importTorchvision(sd, { fileName: 'm.pth', createdAt: CREATED });
    const b = importTorchvision(timm, { fileName: 'm.pth', createdAt: CREATED });
    expect(b.timm).toBe(true);
    const ta = decodeSafetensors(a.bytes, 'a').tensors;
    const tb = decodeSafetensors(b.bytes, 'b').tensors;
    expect(Object.keys(tb).sort()).toEqual(Object.keys(ta).sort());
    for (const k of Object.keys(ta))
      expect(Buffer.compare(bytesOf(tb[k].data), bytesOf(ta[k].data)), k).toBe(0);
  });

  it('refuses images below 32 px and a class-name list of the wrong length', () => {
    const sd = stateDict('resnet18');
    expect(() => importTorchvision(sd, { fileName: 'r.pth', imageSize: [16, 64] })).toThrow(
      'resnet18 needs images of at least 32x32',
    );
    expect(() => importTorchvision(sd, { fileName: 'r.pth', classNames: ['cat', 'dog'] })).toThrow(
      "the file's classifier has 1000 outputs but 2 class names were given",
    );
  });
});
