// Graph models from the command line: --arch resnet and mobilenet build residual graphs for the
// data's shape; a --model JSON graph (named layers, inputs, add, concat) trains, lands in the model
// file with its wiring, loads back for eval and predict, and resumes exactly; a bad graph is a
// one-line usage error before any GPU work.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/io/files.js';
import { interruptAndResume, makeImageFolder, runCli } from './helpers.js';

let root: string;
let data: string;
const TRAIN = (out: string, extra: string[]) => [
  ...['train', '--data', data, '--image-size', '12x12', '--lr', '0.01', '--batch-size', '16'],
  ...['--validation', 'test', '--seed', '3', '--log-every', '1', '--out', out, ...extra],
];

const GRAPH = {
  layers: [
    { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu', name: 'x' },
    { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', name: 'r' },
    { type: 'add', inputs: ['r', 'x'], activation: 'relu', name: 'sum' },
    { type: 'conv2d', filters: 2, kernelSize: 1, activation: 'tanh', inputs: 'x', name: 'side' },
    { type: 'concat', inputs: ['sum', 'side'] },
    { type: 'maxpool2d', size: 2 },
    { type: 'dropout', rate: 0.1 },
    { type: 'globalavgpool' },
  ],
};

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-graph-'));
  data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 20, seed: 2 });
});

describe('graph models on the command line', () => {
  it('--model graph.json trains; the file keeps the wiring and serves eval and predict', async () => {
    const net = path.join(root, 'graph.json');
    await writeFile(net, JSON.stringify(GRAPH));
    const out = path.join(root, 'graph-run');
    const r = await runCli(TRAIN(out, ['--model', net, '--epochs', '6', '--progress', 'none']));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/-> add 2 relu -> conv2d 1x1\/1 valid, 2 tanh -> concat 2 -> 8 -> maxpool2d/);
    const m = await loadModelFile(path.join(out, 'model.safetensors'));
    expect(m.architecture.layers[4]).toEqual({
      type: 'add',
      inputs: ['r', 'x'],
      activation: 'relu',
      name: 'sum',
    });
    const acc = Number(/^test +loss \S+ +accuracy ([\d.]+)%/m.exec(r.out)?.[1]);
    expect(acc).toBeGreaterThan(50);
    const e = await runCli(['eval', path.join(out, 'model.safetensors'), '--data', data]);
    expect(e.code, e.err).toBe(0);
    expect(Number(/^accuracy +([\d.]+)%/m.exec(e.out)?.[1])).toBeCloseTo(acc, 6);
    const p = await runCli([
      'predict',
      path.join(out, 'model.safetensors'),
      path.join(data, 'test'),
      '--json',
    ]);
    expect(p.code, p.err).toBe(0);
    expect((JSON.parse(p.out) as unknown[]).length).toBeGreaterThan(0);
  });

  it('--arch resnet and mobilenet build graphs for the image shape', async () => {
    for (const arch of ['resnet', 'mobilenet']) {
      const out = path.join(root, `arch-${arch}`);
      const r = await runCli(
        TRAIN(out, ['--arch', arch, '--epochs', '1', '--limit', '32', '--progress', 'none']),
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(arch === 'resnet' ? /-> add 2 relu ->/ : /conv2d dw 3x3\/1 same, \d+ ->/);
    }
  });

  it('a graph run interrupted and resumed ends with the same weights', async () => {
    const net = path.join(root, 'graph-resume.json');
    await writeFile(net, JSON.stringify(GRAPH));
    const args = (out: string) => TRAIN(out, ['--model', net, '--epochs', '3']);
    const { whole: a, part: b } = await interruptAndResume(
      args,
      path.join(root, 'whole'),
      path.join(root, 'part'),
    );
    expect(b.weights).toHaveLength(a.weights.length);
    a.weights.forEach((w, k) => {
      expect(Array.from(b.weights[k].W), `param ${k} W`).toEqual(Array.from(w.W));
      expect(Array.from(b.weights[k].b), `param ${k} b`).toEqual(Array.from(w.b));
    });
  });

  it('a bad graph is a one-line usage error naming the layers', async () => {
    const net = path.join(root, 'bad.json');
    const bad = structuredClone(GRAPH);
    (bad.layers[4] as { inputs: string[] }).inputs = ['r', 'nope'];
    await writeFile(net, JSON.stringify(bad));
    const r = await runCli(TRAIN(path.join(root, 'bad'), ['--model', net]));
    expect(r.code).toBe(2);
    // Loading progress may come first; the error is one line, with no stack trace.
    const lines = r.err.trim().split('\n');
    expect(lines.at(-1)).toMatch(/--model .*layer 4 'sum' \(add\): input 'nope' names no layer/);
    expect(r.err).not.toMatch(/^\s+at /m);
    // A graph the model file cannot hold in PyTorch's layout fails before training, not after.
    const mixed = path.join(root, 'mixed.json');
    await writeFile(
      mixed,
      JSON.stringify({
        layers: [
          { type: 'flatten', name: 'f' },
          { type: 'conv2d', inputs: 'input', filters: 432, kernelSize: 1 },
          { type: 'globalavgpool', name: 'g' },
          { type: 'add', name: 'sum', inputs: ['f', 'g'] },
        ],
      }),
    );
    const m = await runCli(TRAIN(path.join(root, 'mixed'), ['--model', mixed]));
    expect(m.code).toBe(2);
    expect(m.err.trim().split('\n').at(-1)).toMatch(
      /layer 3 'sum' \(add\): it adds flat features in different orders/,
    );
    expect(m.err).not.toMatch(/epoch 1/);
  });
});
