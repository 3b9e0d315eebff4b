// `train --label-smoothing EPS`: the run trains, the header shows it, the run's stored
// configuration keeps it (so --resume restores it), and a bad value or a loss other than
// softmax-ce is a usage error before any training.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configFromJson } from '../../src/cli/train.js';
import { loadModelFile } from '../../src/io/files.js';
import { CLASSES, makeImageFolder, runCli } from './helpers.js';

describe('train --label-smoothing', () => {
  let root: string;
  let data: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-smooth-'));
    data = path.join(root, 'shapes');
    await makeImageFolder(data, { perClass: 8, seed: 28 });
  });
  const train = (dataDir: string, out: string, extra: string[]) =>
    runCli([
      'train',
      '--data',
      dataDir,
      '--image-size',
      '8x8',
      '--layers',
      '16',
      '--epochs',
      '2',
      '--batch-size',
      '8',
      '--progress',
      'none',
      '--out',
      out,
      ...extra,
    ]);

  it('trains, shows it in the header and stores it in the run configuration', async () => {
    const out = path.join(root, 'run');
    const r = await train(data, out, ['--label-smoothing', '0.1']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^loss +softmax-ce with label smoothing 0\.1 /m);
    const model = await loadModelFile(path.join(out, 'model.safetensors'));
    const config = (model.training as { config: Record<string, unknown> }).config;
    expect(config.labelSmoothing).toBe(0.1);
    // --resume rebuilds the configuration from this block.
    expect(configFromJson(config, 'model.safetensors').labelSmoothing).toBe(0.1);
  }, 120_000);

  it('without the flag the header has no loss line and the stored value is 0', async () => {
    const out = path.join(root, 'plain');
    const r = await train(data, out, []);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/label smoothing/);
    const model = await loadModelFile(path.join(out, 'model.safetensors'));
    expect((model.training as { config: Record<string, unknown> }).config.labelSmoothing).toBe(0);
  }, 120_000);

  it('rejects a value outside [0, 1)', async () => {
    for (const bad of ['1', '1.5', '-0.1']) {
      const r = await train(data, path.join(root, 'bad'), ['--label-smoothing', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.err).toMatch(/--label-smoothing/);
    }
  });

  it('rejects a bce or mse model', async () => {
    // Two classes: the auto loss is bce with one sigmoid output.
    const two = path.join(root, 'two');
    await makeImageFolder(two, { perClass: 4, seed: 3 });
    for (const split of ['train', 'test']) await rm(path.join(two, split, CLASSES[2]), { recursive: true });
    const bce = await train(two, path.join(root, 'bce'), ['--label-smoothing', '0.1']);
    expect(bce.code).toBe(2);
    expect(bce.err).toMatch(/--label-smoothing 0\.1 needs the softmax-ce loss, and this run's loss is bce/);
    const mse = await train(data, path.join(root, 'mse'), ['--label-smoothing', '0.1', '--loss', 'mse']);
    expect(mse.code).toBe(2);
    expect(mse.err).toMatch(/this run's loss is mse/);
  });
});
