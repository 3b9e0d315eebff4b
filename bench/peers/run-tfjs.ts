// TensorFlow.js peer benchmark: square matmuls and MLP training steps on tfjs's webgpu, wasm and
// cpu backends, on seeded synthetic data with He-init weights (bench/peers/synthetic.ts).
//
//   npx tsx bench/peers/run-tfjs.ts [--backends=webgpu,wasm,cpu] [--only=matmul,A,B,C] [--json=out.json]
//
// WebGPU needs an adapter: on a machine without a GPU set XDG_RUNTIME_DIR=/tmp and
// VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json (Mesa lavapipe), or leave them unset and
// let the lavapipe fallback in tfjs.ts pick it. Step counts are small to keep the run to a few
// minutes on 2 cores: each training run's timed steps are cut to fit TRAIN_BUDGET_MS (projected
// from its last warm-up step, never below MIN_TIMED_STEPS synced + MIN_TIMED_STEPS block), and
// the counts actually run are printed. cpu runs B and C, and any backend runs the 2048 matmul,
// only when projected from its measured matmul rate to fit; skips are printed.

import { writeFileSync } from 'node:fs';

import { lossTrend, summarize } from './stats.js';
import { heInit, teacherDataset, type LayerSpec } from './synthetic.js';
import {
  MIN_TIMED_STEPS,
  tfjsMatmul,
  tfjsTrain,
  tfjsVersions,
  tfjsWebgpuAdapter,
  type TfjsBackend,
} from './tfjs.js';

interface Workload {
  id: string;
  title: string;
  inputSize: number;
  layers: LayerSpec[];
  loss: 'softmax-ce' | 'bce';
  optimizer: { type: 'sgd' | 'adam'; lr: number };
  batchSize: number;
  n: number;
  /** Inputs in [-0.5, 0.5) instead of [0, 1); see teacherDataset. */
  centered: boolean;
  warmup: number;
  steps: number;
  blockSteps: number;
}

const mlpA: LayerSpec[] = [
  { units: 128, activation: 'relu' },
  { units: 64, activation: 'relu' },
  { units: 10, activation: 'softmax' },
];
const mlpB: LayerSpec[] = [
  { units: 20, activation: 'relu' },
  { units: 7, activation: 'relu' },
  { units: 5, activation: 'relu' },
  { units: 1, activation: 'sigmoid' },
];
const mlpC: LayerSpec[] = [
  { units: 1024, activation: 'relu' },
  { units: 1024, activation: 'relu' },
  { units: 10, activation: 'softmax' },
];

const WORKLOADS: Workload[] = [
  {
    id: 'A-sgd',
    title: 'A 784-128-64-10 relu, softmax-ce, B=128, SGD 0.1',
    inputSize: 784,
    layers: mlpA,
    loss: 'softmax-ce',
    optimizer: { type: 'sgd', lr: 0.1 },
    batchSize: 128,
    n: 1024,
    centered: false,
    warmup: 3,
    steps: 30,
    blockSteps: 30,
  },
  {
    id: 'A-adam',
    title: 'A 784-128-64-10 relu, softmax-ce, B=128, Adam 1e-3',
    inputSize: 784,
    layers: mlpA,
    loss: 'softmax-ce',
    optimizer: { type: 'adam', lr: 1e-3 },
    batchSize: 128,
    n: 1024,
    centered: false,
    warmup: 3,
    steps: 30,
    blockSteps: 30,
  },
  {
    id: 'B',
    title: 'B 12288-20-7-5-1 relu+sigmoid, BCE, full batch 209, SGD 0.0075',
    inputSize: 12288,
    layers: mlpB,
    loss: 'bce',
    optimizer: { type: 'sgd', lr: 0.0075 },
    batchSize: 209,
    n: 209,
    centered: true,
    warmup: 3,
    steps: 30,
    blockSteps: 30,
  },
  {
    id: 'C',
    title: 'C 784-1024-1024-10 relu, softmax-ce, B=512, SGD 0.1',
    inputSize: 784,
    layers: mlpC,
    loss: 'softmax-ce',
    optimizer: { type: 'sgd', lr: 0.1 },
    batchSize: 512,
    n: 2048,
    centered: false,
    warmup: 1,
    steps: 15,
    blockSteps: 15,
  },
];

const TRAIN_BUDGET_MS = 20_000;
const CPU_SKIP_S = 60;
const MATMUL_2048_BUDGET_S = 30;
const MATMUL_TARGET_MS = 800;

function arg(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

const backends = (arg('backends') ?? 'webgpu,wasm,cpu').split(',') as TfjsBackend[];
const only = new Set((arg('only') ?? 'matmul,A,B,C').split(','));
const jsonPath = arg('json');

/** Multiply-adds of forward + backward (3 matmuls per layer) for one step, times 2 for flops. */
function stepFlops(w: Workload): number {
  let fanIn = w.inputSize;
  let macs = 0;
  for (const l of w.layers) {
    macs += fanIn * l.units;
    fanIn = l.units;
  }
  return 6 * w.batchSize * macs;
}

const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '-');

interface MatmulRow {
  backend: TfjsBackend;
  n: number;
  reps: number;
  msPerOp: number;
  gflops: number;
}
interface TrainRow {
  workload: string;
  backend: TfjsBackend;
  backendName: string;
  steps: number;
  blockSteps: number;
  warmup: number;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  blockMsPerStep: number;
  samplesPerS: number;
  /** Mean loss of the first and last 5 steps (warmup included). */
  lossFirst5: number;
  lossLast5: number;
  lossFell: boolean;
  dataMode: string;
}

const started = performance.now();
const versions = tfjsVersions();
console.log(
  `TensorFlow.js peer benchmark; ${Object.entries(versions)
    .map(([k, v]) => `${k}@${v}`)
    .join(', ')}`,
);
console.log(`node ${process.version}, ${process.platform}/${process.arch}`);

const matmulRows: MatmulRow[] = [];
const trainRows: TrainRow[] = [];
const skipped: string[] = [];
const warnings: string[] = [];
/** Measured GFLOP/s at the largest matmul per backend, to project training times. */
const gflopsByBackend = new Map<TfjsBackend, number>();

for (const backend of backends) {
  if (only.has('matmul') || only.has('A') || only.has('B') || only.has('C')) {
    console.log(`\n== backend ${backend}`);
  }
  let prevMs = NaN;
  let prevN = 0;
  for (const n of [256, 512, 1024, 2048]) {
    if (!only.has('matmul') && n > 256) break;
    const projectedOp = Number.isFinite(prevMs) ? prevMs * (n / prevN) ** 3 : NaN;
    const reps = Number.isFinite(projectedOp)
      ? Math.max(2, Math.min(50, Math.round(MATMUL_TARGET_MS / projectedOp)))
      : 5;
    if (n === 2048) {
      const projectedS = ((reps + 1) * projectedOp) / 1000;
      if (backend === 'cpu' || projectedS > MATMUL_2048_BUDGET_S) {
        skipped.push(`matmul 2048 on ${backend} (projected ${f(projectedS)} s)`);
        continue;
      }
    } else if (
      backend === 'cpu' &&
      Number.isFinite(projectedOp) &&
      ((reps + 1) * projectedOp) / 1000 > CPU_SKIP_S
    ) {
      skipped.push(`matmul ${n} on cpu`);
      continue;
    }
    const r = await tfjsMatmul(backend, n, reps);
    prevMs = r.msPerOp;
    prevN = n;
    gflopsByBackend.set(backend, r.gflops);
    if (only.has('matmul')) {
      matmulRows.push({ backend, n, reps, ...r });
      console.log(`matmul ${n}x${n}: ${f(r.msPerOp, 2)} ms/op, ${f(r.gflops, 2)} GFLOP/s (${reps} reps)`);
    }
  }
  if (backend === 'webgpu') console.log(`adapter: ${tfjsWebgpuAdapter() ?? '?'}`);

  for (const w of WORKLOADS) {
    if (!only.has(w.id[0])) continue;
    const gflops = gflopsByBackend.get(backend) ?? NaN;
    // The shortest run budgetMs allows; small steps are overhead-bound, so the matmul rate only
    // bounds the time from below.
    const minSteps = w.warmup + 2 * MIN_TIMED_STEPS;
    const projectedS = (minSteps * stepFlops(w)) / (gflops * 1e9);
    if (backend === 'cpu' && !w.id.startsWith('A') && !(projectedS <= CPU_SKIP_S)) {
      skipped.push(`${w.id} on cpu (projected >= ${f(projectedS)} s)`);
      console.log(`${w.id}: skipped (projected >= ${f(projectedS)} s)`);
      continue;
    }
    const data = teacherDataset(
      w.n,
      w.inputSize,
      w.loss === 'bce' ? 2 : w.layers[w.layers.length - 1].units,
      1234,
      w.centered,
    );
    const weights = heInit(w.inputSize, w.layers, 42);
    const r = await tfjsTrain({
      backend,
      layers: w.layers,
      inputSize: w.inputSize,
      loss: w.loss,
      optimizer: w.optimizer,
      batchSize: w.batchSize,
      x: data.x,
      y: data.y,
      initialWeights: weights,
      steps: w.steps,
      warmup: w.warmup,
      blockSteps: w.blockSteps,
      budgetMs: TRAIN_BUDGET_MS,
    });
    const s = summarize(r.msPerStep);
    const trend = lossTrend(r.losses, 5);
    const row: TrainRow = {
      workload: w.id,
      backend,
      backendName: r.backendName,
      steps: r.steps,
      blockSteps: r.blockSteps,
      warmup: w.warmup,
      medianMs: s.median,
      p10Ms: s.p10,
      p90Ms: s.p90,
      blockMsPerStep: r.blockMsPerStep,
      samplesPerS: (w.batchSize * 1000) / s.median,
      lossFirst5: trend.firstMean,
      lossLast5: trend.lastMean,
      lossFell: trend.fell,
      dataMode: r.dataMode,
    };
    trainRows.push(row);
    console.log(
      `${w.id}: ${f(s.median, 2)} ms/step (p10 ${f(s.p10, 2)}, p90 ${f(s.p90, 2)}; block ${f(r.blockMsPerStep, 2)}), ` +
        `${f(row.samplesPerS, 0)} samples/s, loss ${f(trend.firstMean, 4)} -> ${f(trend.lastMean, 4)} ` +
        `(${w.warmup} warmup + ${r.steps} synced + ${r.blockSteps} block steps, data ${r.dataMode})`,
    );
    if (r.backendName !== backend) warnings.push(`${w.id}: ran on '${r.backendName}', asked '${backend}'`);
    if (!trend.fell) {
      const msg = `WARNING: ${w.id} on ${backend}: loss did not fall (first-5 mean ${f(trend.firstMean, 4)}, last-5 mean ${f(trend.lastMean, 4)})`;
      warnings.push(msg);
      console.log(msg);
    }
  }
}

console.log(
  '\n== Summary (training: synced ms/step median [p10, p90]; block = back-to-back steps, one sync)',
);
for (const w of WORKLOADS) {
  const rows = trainRows.filter((r) => r.workload === w.id);
  if (rows.length === 0) continue;
  console.log(`${w.title}  [warmup ${w.warmup}; synced + block steps per row]`);
  for (const r of rows) {
    console.log(
      `  ${r.backend.padEnd(7)} ${`${r.steps}+${r.blockSteps}`.padStart(5)} ${f(r.medianMs, 2).padStart(9)} ms [${f(r.p10Ms, 2)}, ${f(r.p90Ms, 2)}]` +
        `  block ${f(r.blockMsPerStep, 2).padStart(9)} ms  ${f(r.samplesPerS, 0).padStart(7)} samples/s` +
        `  loss ${f(r.lossFirst5, 4)} -> ${f(r.lossLast5, 4)}${r.lossFell ? '' : '  NOT FALLING'}`,
    );
  }
}
if (matmulRows.length > 0) {
  console.log('matmul n×n fp32 (ms/op, GFLOP/s):');
  for (const r of matmulRows)
    console.log(
      `  ${r.backend.padEnd(7)} n=${String(r.n).padEnd(5)} ${f(r.msPerOp, 2).padStart(9)} ms  ${f(r.gflops, 2).padStart(7)} GFLOP/s`,
    );
}
for (const s of skipped) console.log(`skipped: ${s}`);
for (const w of warnings) console.log(w);
const totalS = (performance.now() - started) / 1000;
console.log(`total ${f(totalS)} s`);

if (jsonPath !== undefined) {
  const report = {
    versions,
    adapter: tfjsWebgpuAdapter(),
    node: process.version,
    matmul: matmulRows,
    train: trainRows,
    skipped,
    warnings,
    totalS,
  };
  writeFileSync(jsonPath, JSON.stringify(report, null, 2));
  console.log(`wrote ${jsonPath}`);
}
if (warnings.length > 0) process.exitCode = 1;
