// A graph model file as the CLI writes it, for the browser demo's graph test: a tiny folder of
// synthetic 3-class pictures (train/ and test/), a `--model graph.json` with a residual add and a
// concat, trained for one epoch at 12x12, and a new picture to classify.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { Rng } from '../../src/rng.js';
import { makeImageFolder, runCli, synthImage, writePng } from '../cli/helpers.js';

/**
 * A residual add (sum = r + x) and a concat (sum, x), with x read by three layers, so the plan
 * sums its gradients. One conv only, on the input: a conv's input gradient (the implicit-GEMM
 * dX pipeline) takes minutes to compile on Chromium's SwiftShader on a loaded machine, and the
 * graph paths this test is about need none. The CLI appends the output layer.
 */
export const GRAPH_LAYERS = [
  { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
  { type: 'batchnorm', activation: 'relu', name: 'x' },
  { type: 'batchnorm', name: 'r' },
  { type: 'add', inputs: ['r', 'x'], activation: 'relu', name: 'sum' },
  { type: 'concat', inputs: ['sum', 'x'], name: 'cat' },
  { type: 'globalavgpool' },
];

export interface GraphModelFile {
  /** The temporary folder holding everything below (the caller removes it). */
  root: string;
  /** The image folder: 8 training and 4 test pictures per class. */
  data: string;
  /** A new 30x20 picture of the third class. */
  photo: string;
  model: string;
}

export async function graphModelFile(): Promise<GraphModelFile> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-graph-'));
  const data = path.join(root, 'shapes');
  await makeImageFolder(data, { perClass: 8, seed: 4 });
  const photo = path.join(root, 'new.png');
  await writePng(photo, 30, 20, synthImage(2, 30, 20, new Rng(7)));
  const net = path.join(root, 'graph.json');
  fs.writeFileSync(net, JSON.stringify({ layers: GRAPH_LAYERS }));
  const run = await runCli([
    ...['train', '--data', data, '--model', net, '--image-size', '12x12', '--epochs', '1'],
    ...['--batch-size', '8', '--validation', 'none', '--progress', 'none', '--out', root],
  ]);
  expect(run.code, run.err).toBe(0);
  return { root, data, photo, model: path.join(root, 'model.safetensors') };
}
