// The jax-js side of `npm run bench`: the workloads (built exactly as bench/run.ts builds them for
// our engine and tfjs, so all train the same network from the same weights on the same data), and
// the child process that runs them. jax-js runs in a process of its own, one per backend: its
// webgpu backend needs a global `navigator` (which tfjs-backend-webgpu also reads), and a user
// runs one library per process. The child is bench/peers/run-jaxjs.ts; it writes its results as
// JSON to a file the parent names, and prints its progress lines as it goes.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { cnnData, cnnInit, CNN_WORKLOADS } from '../cnn.js';
import { WORKLOADS } from '../engine.js';
import { lossTrend } from './stats.js';
import { heInit, teacherDataset, type LayerSpec } from './synthetic.js';
import { jaxjsTrainCnn } from './jaxjs-cnn.js';
import { jaxjsMatmul, jaxjsTrainMlp, type JaxBackend, type JaxStepPlan, type JaxTimed } from './jaxjs.js';

export const JAXJS_KEYS = ['matmul', 'A-sgd', 'A-adam', 'B', 'D', 'E'] as const;
export type JaxjsKey = (typeof JAXJS_KEYS)[number];
export const JAXJS_BACKENDS: JaxBackend[] = ['webgpu', 'wasm'];

export interface JaxjsTrainRow {
  kind: 'train';
  /** Median ms of the timed steps, each synced on its loss; p10 and p90 beside it. */
  msPerStep: number;
  p10: number;
  p90: number;
  samplesPerSecond: number;
  warmup: number;
  steps: number;
  losses: number[];
  fell: boolean;
  firstMean: number;
  lastMean: number;
}
export interface JaxjsMatmulRow {
  kind: 'matmul';
  n: number;
  gflops: number;
  msPerOp: number;
  reps: number;
}
export interface JaxjsErrorRow {
  kind: 'error';
  error: string;
}
export type JaxjsRow = JaxjsTrainRow | JaxjsMatmulRow | JaxjsErrorRow;

export interface JaxjsReport {
  version: string;
  backend: JaxBackend;
  /** The Dawn adapter (webgpu only). */
  adapter?: string;
  /** LP_NUM_THREADS as the child saw it (inherited from the parent's environment). */
  lpNumThreads?: string;
  rows: Partial<Record<JaxjsKey, JaxjsRow>>;
}

const MATMUL_N = 1024;
const BUDGET_MS = 20_000;

/** Steps per workload and backend: the CNNs on wasm take seconds (E) to tens of seconds (D) a step. */
function plan(key: JaxjsKey, backend: JaxBackend, quick: boolean): JaxStepPlan {
  if (key === 'D')
    return backend === 'wasm'
      ? { warmup: 1, steps: 2 }
      : { warmup: 1, steps: quick ? 3 : 5, budgetMs: BUDGET_MS };
  if (key === 'E')
    return backend === 'wasm'
      ? { warmup: 1, steps: quick ? 3 : 5, budgetMs: BUDGET_MS }
      : { warmup: 2, steps: quick ? 5 : 10, budgetMs: BUDGET_MS };
  return { warmup: 3, steps: quick ? 10 : 30, budgetMs: BUDGET_MS };
}

function mlpLayers(key: 'A-sgd' | 'A-adam' | 'B'): LayerSpec[] {
  return WORKLOADS[key].spec.layers.map((l) => ({
    units: l.units,
    activation: l.activation === 'softmax' ? 'softmax' : l.activation === 'sigmoid' ? 'sigmoid' : 'relu',
  }));
}

async function trainMlp(key: 'A-sgd' | 'A-adam' | 'B', p: JaxStepPlan, quick: boolean): Promise<JaxTimed> {
  // As bench/run.ts builds them: seed 7 data (B centred), heInit seed 3.
  const w = WORKLOADS[key];
  const layers = mlpLayers(key);
  const classes = w.spec.loss === 'bce' ? 2 : layers[layers.length - 1].units;
  const steps = key === 'B' ? (quick ? 10 : 30) : quick ? 20 : 40;
  const count = key === 'B' ? 209 : w.batchSize * steps;
  const ds = teacherDataset(count, w.spec.inputSize, classes, 7, key === 'B');
  const lr = w.optimizer.lr;
  return jaxjsTrainMlp({
    layers,
    inputSize: w.spec.inputSize,
    loss: w.spec.loss === 'bce' ? 'bce' : 'softmax-ce',
    optimizer: w.optimizer.name === 'adam' ? { type: 'adam', lr } : { type: 'sgd', lr },
    batchSize: w.batchSize,
    x: ds.x,
    y: ds.y,
    initialWeights: heInit(w.spec.inputSize, layers, 3),
    plan: p,
  });
}

async function trainCnn(key: 'D' | 'E', p: JaxStepPlan): Promise<JaxTimed> {
  const w = CNN_WORKLOADS[key];
  const ds = cnnData(w);
  return jaxjsTrainCnn({
    spec: w.spec,
    optimizer: { lr: w.optimizer.lr, momentum: w.optimizer.momentum ?? 0.9 },
    batchSize: w.batchSize,
    x: ds.x,
    y: ds.y,
    initialWeights: cnnInit(w.spec, 3),
    plan: p,
  });
}

/** Runs one workload on the backend initJaxjs started; an exception becomes an error row. */
export async function runJaxjsWorkload(
  key: JaxjsKey,
  backend: JaxBackend,
  quick: boolean,
): Promise<JaxjsRow> {
  try {
    if (key === 'matmul') return { kind: 'matmul', n: MATMUL_N, ...(await jaxjsMatmul(MATMUL_N)) };
    const p = plan(key, backend, quick);
    const r = key === 'D' || key === 'E' ? await trainCnn(key, p) : await trainMlp(key, p, quick);
    const B = key === 'D' || key === 'E' ? CNN_WORKLOADS[key].batchSize : WORKLOADS[key].batchSize;
    const trend = lossTrend(r.losses, Math.min(5, Math.floor(r.losses.length / 2)));
    return {
      kind: 'train',
      msPerStep: r.summary.median,
      p10: r.summary.p10,
      p90: r.summary.p90,
      samplesPerSecond: (B * 1000) / r.summary.median,
      warmup: r.warmup,
      steps: r.steps,
      losses: r.losses,
      ...trend,
    };
  } catch (e) {
    return { kind: 'error', error: (e as Error).message };
  }
}

/** One line for a row, as the child prints it and the parent quotes it. */
export function describeJaxjsRow(key: JaxjsKey, backend: JaxBackend, r: JaxjsRow): string {
  const who = `jax-js-${backend} ${key}`;
  if (r.kind === 'error') return `${who}: cannot run: ${r.error}`;
  if (r.kind === 'matmul')
    return `${who} ${r.n}: ${r.gflops.toFixed(2)} GFLOP/s (${r.msPerOp.toFixed(1)} ms/product with readback, best of 3 windows of ${r.reps})`;
  return (
    `${who}: ${r.msPerStep.toFixed(2)} ms/step (p10 ${r.p10.toFixed(2)}, p90 ${r.p90.toFixed(2)}), ` +
    `${r.samplesPerSecond.toFixed(0)} samples/s, loss ${r.firstMean.toFixed(3)} -> ${r.lastMean.toFixed(3)} ` +
    `(${r.warmup} warm-up + ${r.steps} timed steps, each synced on its loss)${r.fell ? '' : '  LOSS DID NOT FALL'}`
  );
}

/**
 * Runs `keys` on one backend in a child process (bench/peers/run-jaxjs.ts) and returns its
 * report; throws if the child fails to start or writes no report.
 */
export function spawnJaxjs(backend: JaxBackend, keys: JaxjsKey[], quick: boolean): JaxjsReport {
  const dir = mkdtempSync(join(tmpdir(), 'wgt-jaxjs-'));
  const out = join(dir, 'report.json');
  const script = fileURLToPath(new URL('./run-jaxjs.ts', import.meta.url));
  try {
    // execArgv carries tsx's loader from the parent (npm run bench runs under tsx).
    const r = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        script,
        `--backends=${backend}`,
        `--only=${keys.join(',')}`,
        `--json=${out}`,
        ...(quick ? ['--quick'] : []),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 },
    );
    if (r.error) throw r.error;
    try {
      return JSON.parse(readFileSync(out, 'utf8')) as JaxjsReport;
    } catch {
      throw new Error(
        `the jax-js ${backend} child (${script}) wrote no report (exit ${r.status}, ${r.signal ?? 'no signal'})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Largest relative difference allowed between jax-js's first CNN losses and ours (as for tfjs in
// bench/run-cnn.ts): fp32 sums in another order drift by ~1e-6 per step; a wrong layout is far off.
const CROSS_STEPS = 3;
const CROSS_TOLERANCE = 1e-3;

type PerBackend = Partial<Record<JaxBackend, JaxjsRow>>;

/**
 * jax-js as a participant of bench/run.ts: runs each workload in its child processes right after
 * our engine ran it, and keeps its table cells (by row label), ratios (peer time over ours, so
 * above 1 means ours is faster, as for tfjs) and report entries.
 */
export class JaxjsColumns {
  readonly header = JAXJS_BACKENDS.map((b) => `jax-js-${b}`);
  readonly cells = new Map<string, string[]>();
  readonly ratios: Record<string, number> = {};
  readonly report: Record<string, PerBackend> = {};
  failures = 0;
  version?: string;
  /** Ours beside jax-js's, per workload: ms/step (GFLOP/s for matmul). */
  private readonly ours = new Map<JaxjsKey, number>();
  lpNumThreads?: string;

  constructor(private readonly quick: boolean) {}

  private run(key: JaxjsKey): PerBackend {
    const out: PerBackend = {};
    for (const b of JAXJS_BACKENDS) {
      let row: JaxjsRow;
      try {
        const r = spawnJaxjs(b, [key], this.quick);
        this.version = r.version;
        if (b === 'webgpu') this.lpNumThreads = r.lpNumThreads;
        row = r.rows[key] ?? { kind: 'error', error: `the child reported no ${key} row` };
      } catch (e) {
        row = { kind: 'error', error: (e as Error).message };
        console.log(`  ${describeJaxjsRow(key, b, row)}`);
      }
      if (row.kind === 'error' || (row.kind === 'train' && !row.fell)) this.failures++;
      out[b] = row;
    }
    this.report[key] = out;
    return out;
  }

  private cellsOf(rows: PerBackend, pick: (r: JaxjsRow) => string): string[] {
    return JAXJS_BACKENDS.map((b) => {
      const r = rows[b];
      return r === undefined ? '-' : r.kind === 'error' ? 'cannot run' : pick(r);
    });
  }

  /** Matmul 1024 with readback; `ours` is our best 1024 GFLOP/s. */
  matmul(label: string, ours: number): void {
    this.ours.set('matmul', ours);
    const rows = this.run('matmul');
    this.cells.set(
      label,
      this.cellsOf(rows, (r) => (r.kind === 'matmul' ? r.gflops.toFixed(2) : '-')),
    );
    for (const b of JAXJS_BACKENDS) {
      const r = rows[b];
      if (r?.kind === 'matmul') this.ratios[`matmul 1024 vs jax-js-${b}`] = ours / r.gflops;
    }
  }

  /** A-sgd, A-adam or B; `oursMs` is our median ms/step. */
  mlp(key: 'A-sgd' | 'A-adam' | 'B', label: string, oursMs: number): void {
    this.ours.set(key, oursMs);
    const rows = this.run(key);
    this.cells.set(
      label,
      this.cellsOf(rows, (r) => (r.kind === 'train' ? r.samplesPerSecond.toFixed(0) : '-')),
    );
    for (const b of JAXJS_BACKENDS) {
      const r = rows[b];
      if (r?.kind === 'train') this.ratios[`${key} vs jax-js-${b}`] = r.msPerStep / oursMs;
    }
  }

  /** D or E, cross-checked against our first losses; `ours` is our engine's result. */
  cnn(key: 'D' | 'E', ours: { msPerStep: number; flopsPerStep: number; firstLosses: number[] }): void {
    this.ours.set(key, ours.msPerStep);
    const rows = this.run(key);
    const B = CNN_WORKLOADS[key].batchSize;
    const train = (f: (r: JaxjsTrainRow) => string) => (r: JaxjsRow) => (r.kind === 'train' ? f(r) : '-');
    this.cells.set(
      `${key} ms/step`,
      this.cellsOf(
        rows,
        train((r) => r.msPerStep.toFixed(1)),
      ),
    );
    this.cells.set(
      `${key} samples/s`,
      this.cellsOf(
        rows,
        train((r) => ((B * 1000) / r.msPerStep).toFixed(1)),
      ),
    );
    this.cells.set(
      `${key} GFLOP/s`,
      this.cellsOf(
        rows,
        train((r) => (ours.flopsPerStep / (r.msPerStep * 1e6)).toFixed(3)),
      ),
    );
    for (const b of JAXJS_BACKENDS) {
      const r = rows[b];
      if (r?.kind !== 'train') continue;
      this.ratios[`${key} vs jax-js-${b}`] = r.msPerStep / ours.msPerStep;
      const k = Math.min(CROSS_STEPS, r.losses.length, ours.firstLosses.length);
      const diff = Math.max(
        ...r.losses
          .slice(0, k)
          .map((v, i) => Math.abs(v - ours.firstLosses[i]) / Math.max(Math.abs(ours.firstLosses[i]), 1e-6)),
      );
      const agree = diff <= CROSS_TOLERANCE;
      if (!agree) this.failures++;
      console.log(
        `  jax-js-${b} ${key}: first ${k} losses within ${diff.toExponential(1)} of ours` +
          `${agree ? '' : `  MISMATCH (over ${CROSS_TOLERANCE})`}; ours is ${(r.msPerStep / ours.msPerStep).toFixed(2)}x`,
      );
    }
  }

  /** Ours and jax-js side by side in ms/step (matmul: GFLOP/s), with jax-js's p10-p90. */
  summary(): string[] {
    const lines = [
      'ours vs jax-js, same run (ms/step: ours median; jax-js median [p10, p90] of synced steps):',
    ];
    for (const [key, ours] of this.ours) {
      const unit = key === 'matmul' ? 'GFLOP/s' : 'ms/step';
      const cells = JAXJS_BACKENDS.map((b) => {
        const r = this.report[key]?.[b];
        const v =
          r === undefined
            ? '-'
            : r.kind === 'error'
              ? 'cannot run'
              : r.kind === 'matmul'
                ? r.gflops.toFixed(2)
                : `${r.msPerStep.toFixed(2)} [${r.p10.toFixed(2)}, ${r.p90.toFixed(2)}]`;
        const ratio = this.ratios[`${key === 'matmul' ? 'matmul 1024' : key} vs jax-js-${b}`];
        return `jax-js-${b} ${v}${ratio === undefined ? '' : ` (ours ${ratio.toFixed(2)}x)`}`;
      });
      lines.push(`  ${key.padEnd(7)} ${unit}: ours ${ours.toFixed(2)} | ${cells.join(' | ')}`);
    }
    return lines;
  }

  /** The jax-js cells of a table row, by its label. */
  line(label: string): string[] {
    return this.cells.get(label) ?? this.header.map(() => '-');
  }
}
