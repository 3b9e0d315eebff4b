// PyTorch eager on the CPU as the native reference for the CNN rows of `npm run bench`, when a
// Python with torch is on this machine (Debian's python3-torch; never needed by npm test): runs
// scripts/torch-cnn-bench.py for D or E (its own draws of the same distributions), or
// bench/torch-graph.py for a graph model such as R (the engine's own weights and data, written to
// a temporary folder), and returns its result.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Weights } from '../src/engine/trainer.js';
import { resolveModel } from '../src/nn/layers.js';
import { cnnStepFlops, type CnnWorkload, type ImageSet } from './cnn.js';

export interface TorchCnnResult {
  msPerStep: number;
  bestMsPerStep: number;
  samplesPerSecond: number;
  gflops: number;
  losses: number[];
  fell: boolean;
}

const SCRIPT = fileURLToPath(new URL('../scripts/torch-cnn-bench.py', import.meta.url));
const GRAPH_SCRIPT = fileURLToPath(new URL('./torch-graph.py', import.meta.url));

/** The first of $PYTHON, /usr/bin/python3, python3 that imports torch; undefined if none does. */
export function findTorchPython(): string | undefined {
  const candidates = [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  return candidates.find(
    (py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0,
  );
}

/** Times one workload (D or E) with PyTorch on `threads` CPU threads; throws with its stderr on failure. */
export function torchCnn(python: string, key: 'D' | 'E', threads = 2): TorchCnnResult & { device: string } {
  const r = spawnSync(python, [SCRIPT, '--only', key, '--threads', String(threads), '--json', '-'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(`${python} ${SCRIPT} --only ${key} failed (status ${r.status}): ${r.stderr.slice(-500)}`);
  }
  const out = JSON.parse(r.stdout) as { device: string; results: Record<string, TorchCnnResult> };
  return { device: `PyTorch eager, ${out.device}`, ...out.results[key] };
}

/**
 * Times a graph workload with PyTorch from the engine's own weights and data (so its first
 * losses compare with ours step for step); `steps` per window, `rounds` windows.
 */
export function torchGraph(
  python: string,
  w: CnnWorkload,
  input: { data: ImageSet; weights: Weights[] },
  opts: { threads?: number; steps: number; rounds: number },
): TorchCnnResult & { device: string } {
  const model = resolveModel(w.spec);
  const dir = mkdtempSync(join(tmpdir(), 'wgt-torch-graph-'));
  try {
    const layers = model.order.map((i) => {
      const l = model.layers[i];
      const bias = l.param !== undefined && l.param.b.length > 0;
      const { index, type, inputs, outShape, inSize, outSize, activation, conv, pool, epsilon, momentum } = l;
      return {
        index,
        type,
        inputs,
        outShape,
        inSize,
        outSize,
        activation,
        conv,
        pool,
        epsilon,
        momentum,
        bias,
      };
    });
    const cfg = {
      layers,
      inputShape: model.inputShape,
      batch: w.batchSize,
      lr: w.optimizer.lr,
      momentum: w.optimizer.momentum ?? 0.9,
      threads: opts.threads ?? 2,
      steps: opts.steps,
      rounds: opts.rounds,
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(cfg));
    const flat = input.weights.flatMap((t) => [t.W, t.b]);
    writeFileSync(
      join(dir, 'weights.bin'),
      Buffer.concat(flat.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))),
    );
    const { x, y } = input.data;
    writeFileSync(join(dir, 'x.bin'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    writeFileSync(join(dir, 'y.bin'), Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    const r = spawnSync(python, [GRAPH_SCRIPT, dir], { encoding: 'utf8', timeout: 900_000 });
    if (r.status !== 0 && r.status !== 1)
      throw new Error(`${python} ${GRAPH_SCRIPT} failed (status ${r.status}): ${r.stderr.slice(-500)}`);
    const out = JSON.parse(r.stdout) as TorchCnnResult & { device: string; torch: string };
    const flops = cnnStepFlops(w.spec, w.batchSize);
    return {
      ...out,
      device: `PyTorch ${out.torch} eager, ${out.device}`,
      gflops: flops / (out.msPerStep * 1e6),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
