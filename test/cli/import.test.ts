// `import` and `train --from STATE_DICT` on the shared torchvision reference models: the model file
// an import writes loads, predicts with per-class probabilities and records its provenance; a
// truncated file is one line and writes nothing; a .pth goes straight into `train --from` with a
// frozen backbone (the head alone changes). Without ../shared the group prints one skip line.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/modelfile.js';
import { needData } from '../helpers/datasets.js';
import { makeImageFolder, runCli } from './helpers.js';

const dir = needData('torchvision', 'import and train --from on the torchvision reference models', [
  'resnet18.pth',
  'mobilenet_v2.pth',
]);

describe.skipIf(dir === undefined)('import and train --from a PyTorch state dict', () => {
  let root: string;
  const shared = (f: string) => path.join(dir as string, f);

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-import-'));
    await makeImageFolder(path.join(root, 'folder'), { perClass: 6, seed: 3 });
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('imports mobilenet_v2.pth; the model predicts every class probability and says where it came from', async () => {
    const out = path.join(root, 'mnv2.safetensors');
    const r = await runCli(['import', shared('mobilenet_v2.pth'), '--image-size', '48x40', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('(torchvision mobilenet_v2, detected; sha256 ');
    expect(r.out).toContain('48x40x3 input, ImageNet normalisation, 10 classes');
    const m = loadModel(await readFile(out), out);
    expect(m.architecture.inputShape).toEqual([48, 40, 3]);
    expect(m.training.source).toMatchObject({
      format: 'torchvision',
      arch: 'mobilenet_v2',
      file: 'mobilenet_v2.pth',
    });
    const img = path.join(root, 'folder/test/ring/img-000.png');
    const p = await runCli(['predict', out, img, '--json']);
    expect(p.code).toBe(0);
    const rows = JSON.parse(p.out) as { probabilities: number[] }[];
    expect(rows[0].probabilities).toHaveLength(10);
    expect(rows[0].probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('refuses a truncated file in one line and writes nothing', async () => {
    const cut = path.join(root, 'cut.pth');
    await writeFile(cut, (await readFile(shared('resnet18.pth'))).subarray(0, 3_000_000));
    const out = path.join(root, 'cut.safetensors');
    const r = await runCli(['import', cut, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('cut.pth');
    expect(existsSync(out)).toBe(false);
    const bad = await runCli(['import', shared('resnet18.pth'), '--arch', 'resnet50', '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/does not load into resnet50: missing key\(s\): layer1\.0\.conv3\.weight/);
    expect(existsSync(out)).toBe(false);
  });

  it('trains the head of resnet18.pth on a folder with the backbone frozen', async () => {
    const out = path.join(root, 'run');
    const r = await runCli([
      ...[
        'train',
        '--data',
        path.join(root, 'folder'),
        '--from',
        shared('resnet18.pth'),
        '--arch',
        'resnet18',
      ],
      ...[
        '--image-size',
        '32x32',
        '--freeze',
        'backbone',
        '--epochs',
        '2',
        '--batch-size',
        '9',
        '--lr',
        '0.01',
      ],
      ...['--validation', 'none', '--progress', 'none', '--seed', '2', '--out', out],
    ]);
    expect(r.err).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /backbone +.*resnet18\.pth \(sha256 [0-9a-f]{12}; torchvision resnet18 from resnet18\.pth\)/,
    );
    expect(r.out).toMatch(/frozen +\d+ of \d+ layers \(backbone\)/);
    const m = loadModel(await readFile(path.join(out, 'model.safetensors')), 'model');
    expect(m.classNames).toEqual(['ring', 'stripes', 'tl-block']);
    expect(m.training.from).toMatchObject({ source: { format: 'torchvision', arch: 'resnet18' } });
    // The backbone's weights are the file's: the first conv after training is the imported one.
    const imported = path.join(root, 'r18.safetensors');
    expect(
      (await runCli(['import', shared('resnet18.pth'), '--image-size', '32x32', '--out', imported])).code,
    ).toBe(0);
    const start = loadModel(await readFile(imported), 'imported');
    const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
    expect(same(m.weights[0].W, start.weights[0].W)).toBe(true);
    expect(same(m.runningStats[0].mean, start.runningStats[0].mean)).toBe(true);
    const head = m.weights.length - 1;
    expect(m.weights[head].W.length).toBe(3 * 512);
    // Back to PyTorch as torchvision's own class, 3 classes.
    const x = await runCli([
      'export',
      '--torch',
      path.join(out, 'model.safetensors'),
      '--out',
      path.join(root, 'py'),
    ]);
    expect(x.code).toBe(0);
    expect(x.out).toContain('module     torchvision.models.resnet18(num_classes=3)');
    const py = await readFile(path.join(root, 'py/model.py'), 'utf8');
    expect(py).toContain('torchvision.models.resnet18(num_classes=NUM_CLASSES)');
    expect(py).toMatch(/^NUM_CLASSES = 3$/m);
  });
});
