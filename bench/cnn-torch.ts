// PyTorch eager on the CPU as the native reference for the CNN rows of `npm run bench`, when a
// Python with torch is on this machine (Debian's python3-torch; never needed by npm test): runs
// scripts/torch-cnn-bench.py for one workload and returns its result, or why it did not run.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TorchCnnResult {
  msPerStep: number;
  bestMsPerStep: number;
  samplesPerSecond: number;
  gflops: number;
  losses: number[];
  fell: boolean;
}

const SCRIPT = fileURLToPath(new URL('../scripts/torch-cnn-bench.py', import.meta.url));

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
