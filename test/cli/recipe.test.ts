// The recipe for convolutional runs (src/cli/recipe.ts): its choices for the datasets this
// project trains on, that every option given by a flag or a --config file wins, and that the MLP
// keeps its fixed defaults; and the cnn preset's shape per data kind (src/cli/arch.ts). No GPU.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import {
  readConfigFile,
  resolveTrainConfig,
  scheduleConfig,
  type TrainConfig,
} from '../../src/cli/config.js';
import { applyRecipe, chooseRecipe } from '../../src/cli/recipe.js';
import { cnnLayers } from '../../src/cli/arch.js';
import { trainCommand } from '../../src/cli/train.js';

function configOf(argv: string[]): { cfg: TrainConfig; given: Set<string> } {
  const a = parseArgs(trainCommand, argv);
  return { cfg: resolveTrainConfig(a.values), given: a.given };
}

describe('chooseRecipe', () => {
  it('MNIST-sized data (54,000 of 28x28x1): 12 epochs, batch 128, lr 2e-3, warm-up 5% of the run', () => {
    const r = chooseRecipe({ samples: 54000, shape: [28, 28, 1] });
    // 422 steps an epoch; 5% of 12 * 422 = 253 steps, under one epoch.
    expect(r).toEqual({ epochs: 12, batchSize: 128, lr: 0.002, schedule: 'cosine', warmup: 253 });
  });

  it('cat vs non-cat (209 of 64x64x3): 30 epochs of batch 32 at 1e-3, warm-up capped at one epoch', () => {
    const r = chooseRecipe({ samples: 209, shape: [64, 64, 3] });
    // 7 steps an epoch; 5% of 210 steps is 11, more than the 7 of one epoch.
    expect(r).toEqual({ epochs: 30, batchSize: 32, lr: 0.001, schedule: 'cosine', warmup: 7 });
  });

  it('epochs: about 600,000 samples seen, clamped to 12..30', () => {
    const epochs = (samples: number): number => chooseRecipe({ samples, shape: [32, 32, 3] }).epochs;
    // CIFAR-10 with 10% held out: 36,000 -> 16; 20,000 -> 30; 50,000 and more -> 12.
    expect([36000, 20000, 19999, 40000, 50000, 54000, 1_000_000].map(epochs)).toEqual([
      16, 30, 30, 15, 12, 12, 12,
    ]);
  });

  it('mid-sized sets take batch 64 for 30 epochs; large images cap the batch at 32', () => {
    const mid = chooseRecipe({ samples: 5000, shape: [32, 32, 3] });
    expect([mid.epochs, mid.batchSize, mid.lr]).toEqual([30, 64, 0.0014]);
    const big = chooseRecipe({ samples: 36000, shape: [96, 96, 3] });
    expect([big.epochs, big.batchSize, big.lr]).toEqual([16, 32, 0.001]);
    // 36,000 samples of 64x64 are not "large images": the cap starts above 64x64.
    expect(chooseRecipe({ samples: 36000, shape: [64, 64, 3] }).batchSize).toBe(128);
  });

  it('never asks for a batch larger than the data', () => {
    const r = chooseRecipe({ samples: 10, shape: [8, 8, 3] });
    expect(r.batchSize).toBe(10);
    expect(r.warmup).toBe(1);
  });
});

describe('the cnn preset per data kind', () => {
  const types = (shape: [number, number, number]) => cnnLayers(shape).map((l) => l.type ?? 'dense');
  it('images of 32 px or less flatten the last map; larger photos average it', () => {
    expect(types([32, 32, 3]).slice(-2)).toEqual(['flatten', 'dropout']);
    expect(types([12, 12, 3]).slice(-2)).toEqual(['flatten', 'dropout']);
    expect(types([28, 28, 1]).slice(-2)).toEqual(['flatten', 'dropout']);
    expect(types([64, 64, 3]).slice(-2)).toEqual(['globalavgpool', 'dropout']);
  });
  it('CIFAR-sized: three blocks of one conv (32, 64, 128 filters)', () => {
    const convs = cnnLayers([32, 32, 3]).filter((l) => l.type === 'conv2d');
    expect(convs.map((l) => (l as { filters: number }).filters)).toEqual([32, 64, 128]);
  });
});

describe('applyRecipe', () => {
  it('--arch cnn with no other flags takes the whole recipe and says so', () => {
    const { cfg, given } = configOf(['--arch', 'cnn', '--augment', 'crop,flip']);
    const line = applyRecipe(cfg, given, 54000, [28, 28, 1]);
    expect([cfg.epochs, cfg.batchSize, cfg.lr, cfg.schedule, cfg.warmup]).toEqual([
      12,
      128,
      0.002,
      'cosine',
      253,
    ]);
    expect(line).toBe(
      '12 epochs, batch 128, lr 0.002 cosine, 253 warm-up steps, chosen for 54,000 samples of 28x28x1; ' +
        'override with --epochs, --batch-size, --lr, --schedule, --warmup',
    );
    // The schedule the engine gets carries the warm-up.
    expect(scheduleConfig(cfg, 422)).toEqual({ kind: 'cosine', warmupSteps: 253 });
  });

  it('flags win, one by one, and the header names those kept', () => {
    const { cfg, given } = configOf(['--arch', 'lenet', '--epochs', '3', '--lr', '0.01']);
    const line = applyRecipe(cfg, given, 209, [64, 64, 3]);
    // The warm-up is 5% of the 3 epochs given (21 steps), not of the recipe's 30.
    expect([cfg.epochs, cfg.lr, cfg.batchSize, cfg.warmup]).toEqual([3, 0.01, 32, 1]);
    expect(line).toMatch(
      /^3 epochs, batch 32, lr 0\.01 cosine, 1 warm-up step, chosen for 209 samples of 64x64x3; kept your --epochs, --lr;/,
    );
  });

  it('the warm-up and lr follow a given --epochs or --batch-size', () => {
    const one = configOf(['--arch', 'lenet', '--epochs', '1']);
    const line = applyRecipe(one.cfg, one.given, 54000, [28, 28, 1]);
    // 422 steps; 5% of one epoch is 21 (the recipe's 12 epochs would have given 253).
    expect([one.cfg.epochs, one.cfg.batchSize, one.cfg.warmup]).toEqual([1, 128, 21]);
    expect(line).toMatch(/^1 epoch, batch 128, lr 0\.002 cosine, 21 warm-up steps, /);
    const small = configOf(['--arch', 'cnn', '--batch-size', '16']);
    applyRecipe(small.cfg, small.given, 209, [64, 64, 3]);
    // 14 steps an epoch; 5% of 30 epochs is 21, capped at one epoch; lr 1e-3 * sqrt(16 / 32).
    expect([small.cfg.epochs, small.cfg.batchSize, small.cfg.warmup, small.cfg.lr]).toEqual([
      30, 16, 14, 0.00071,
    ]);
  });

  it('a step or constant schedule given by flag gets no warm-up from the recipe', () => {
    const { cfg, given } = configOf(['--arch', 'cnn', '--schedule', 'step']);
    applyRecipe(cfg, given, 54000, [28, 28, 1]);
    expect([cfg.schedule, cfg.warmup, cfg.epochs]).toEqual(['step', 0, 12]);
  });

  it('every recipe option given: nothing changes and no header line', () => {
    const argv = ['--arch', 'cnn', '--epochs', '2', '--batch-size', '16', '--lr', '0.05'];
    const { cfg, given } = configOf([...argv, '--schedule', 'cosine', '--warmup', '0']);
    const before = JSON.stringify(cfg);
    expect(applyRecipe(cfg, given, 54000, [28, 28, 1])).toBeUndefined();
    expect(JSON.stringify(cfg)).toBe(before);
  });

  it('the MLP keeps its fixed defaults (5 epochs, batch 128, lr 1e-3, no warm-up)', () => {
    const { cfg, given } = configOf(['--data', 'mnist']);
    expect(applyRecipe(cfg, given, 54000, [28, 28, 1])).toBeUndefined();
    expect([cfg.epochs, cfg.batchSize, cfg.lr, cfg.warmup]).toEqual([5, 128, 0.001, 0]);
  });

  it('a --model stack gets the recipe; options from a --config file count as given', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-recipe-'));
    const file = path.join(dir, 'run.json');
    await writeFile(file, JSON.stringify({ epochs: 4, batchSize: 8 }));
    const fromFile = await readConfigFile(file);
    const { cfg, given } = configOf(['--model', 'net.json', '--config', file]);
    Object.assign(cfg, { epochs: fromFile.epochs, batchSize: fromFile['batch-size'] });
    const explicit = new Set([...given, ...Object.keys(fromFile)]);
    applyRecipe(cfg, explicit, 5000, [32, 32, 3]);
    // lr from the file's batch of 8: 1e-3 * sqrt(8 / 32).
    expect([cfg.epochs, cfg.batchSize, cfg.lr]).toEqual([4, 8, 0.0005]);
  });
});
