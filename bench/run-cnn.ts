// The CNN part of `npm run bench` (bench/run.ts): workloads D, E and R (bench/cnn.ts) trained by
// this engine, by each TensorFlow.js backend and, when a Python with torch is here, by PyTorch
// eager on the CPU.
//
// Same weights, data and batch order for every participant; each one's first CROSS_STEPS losses
// must match ours (a check that the layouts were converted right), and each one's loss must fall.
// PyTorch's D and E draw their own data and weights from the same distributions (no cross-check);
// its R gets ours (bench/torch-graph.py), so it is cross-checked too. tfjs-cpu takes about a
// minute and a half per step of D on 2 cores, so it gets 1 warm-up step and 2 timed ones (E: 3),
// each synced on its loss; the others are timed back to back. R, the graph, runs against
// tfjs-webgpu only: tfjs-wasm has no conv weight gradient, and tfjs-cpu would take many minutes
// per step.

import type { GpuDevice } from '../src/gpu/device.js';
import type { TrainerOptions } from '../src/engine/trainer.js';
import { lossTrend, quantile } from './peers/stats.js';
import { tfjsTrainCnn } from './peers/tfjs-cnn.js';
import { tfjsTrainGraph } from './peers/tfjs-graph.js';
import type { TfjsBackend } from './peers/tfjs.js';
import { torchCnn, torchGraph, type TorchCnnResult } from './cnn-torch.js';
import {
  benchCnnEngine,
  cnnData,
  cnnInit,
  CNN_WORKLOADS,
  type CnnEngineResult,
  type CnnKey,
  type CnnWorkload,
} from './cnn.js';

const CROSS_STEPS = 3;
// Largest relative difference allowed between a peer's first losses and ours: fp32 sums in
// another order drift by ~1e-6 per step; a wrong layout is off by far more than this.
const CROSS_TOLERANCE = 1e-3;

export interface CnnBenchOptions {
  gpu: GpuDevice;
  variants: TrainerOptions['variants'];
  quick: boolean;
  backends: TfjsBackend[];
  /** Which of D, E and R to run. */
  keys: CnnKey[];
  /** The Python with torch (bench/cnn-torch.ts findTorchPython); undefined skips PyTorch. */
  torchPython?: string;
  /** Why there is no PyTorch column, when there is none. */
  torchMissing: string;
}

/** What the CNN part adds to the bench's report, table and ratios. */
export interface CnnBenchOutcome {
  report: Record<string, unknown>;
  notes: string[];
  rows: string[][];
  ratios: Record<string, number>;
  failures: number;
  torchRan: boolean;
}

interface Cell {
  ms: string;
  sps: string;
  gf: string;
}

type Workload = CnnWorkload;

/** Timed epochs of our engine per workload (R's steps take seconds on lavapipe). */
const EPOCHS: Record<CnnKey, { quick: number; full: number }> = {
  D: { quick: 1, full: 2 },
  E: { quick: 2, full: 4 },
  R: { quick: 1, full: 2 },
};

/** Largest relative difference between the first k losses of a peer and ours. */
function firstLossDiff(peer: number[], ours: number[], k: number): number {
  return Math.max(
    ...peer.slice(0, k).map((v, i) => Math.abs(v - ours[i]) / Math.max(Math.abs(ours[i]), 1e-6)),
  );
}

/** Runs D, E and/or R for every participant, printing one line per participant as it goes. */
export async function benchCnns(opts: CnnBenchOptions): Promise<CnnBenchOutcome> {
  const out: CnnBenchOutcome = { report: {}, notes: [], rows: [], ratios: {}, failures: 0, torchRan: false };
  if (!opts.torchPython && opts.keys.length > 0) out.notes.push(`PyTorch CPU column: ${opts.torchMissing}`);
  for (const key of opts.keys) {
    const w = CNN_WORKLOADS[key];
    const ds = cnnData(w);
    const weights = cnnInit(w.spec, 3);
    const ours = await benchCnnEngine(opts.gpu, w, {
      data: ds,
      weights,
      epochs: opts.quick ? EPOCHS[key].quick : EPOCHS[key].full,
      checkSteps: CROSS_STEPS,
      variants: opts.variants,
      profile: opts.gpu.device.features.has('timestamp-query'),
    });
    if (!ours.fell) out.failures++;
    console.log(
      `${w.name} (${(ours.flopsPerStep / 1e9).toFixed(3)} GFLOP/step)\n` +
        `  ours: ${ours.msPerStep.toFixed(1)} ms/step (epochs ${ours.epochMsPerStep.map((v) => v.toFixed(1)).join(', ')}), ` +
        `${ours.samplesPerSecond.toFixed(0)} samples/s, ${ours.gflops.toFixed(2)} GFLOP/s, ${ours.timedSteps} timed steps, ` +
        `loss ${ours.losses[0].toFixed(3)} -> ${ours.losses[ours.losses.length - 1].toFixed(3)}${ours.fell ? '' : '  LOSS DID NOT FALL'}`,
    );
    const peers: Record<string, unknown> = {};
    const cells: Record<string, Cell> = {};
    if (opts.torchPython) {
      const t = torchPeer(opts.torchPython, w, { ds, weights }, ours);
      out.torchRan = true;
      if (!t.fell || t.agree === false) out.failures++;
      peers['torch-cpu'] = t;
      cells['torch-cpu'] = {
        ms: t.msPerStep.toFixed(1),
        sps: t.samplesPerSecond.toFixed(1),
        gf: t.gflops.toFixed(2),
      };
      out.ratios[`${key} vs torch-cpu`] = t.msPerStep / ours.msPerStep;
      console.log(
        `  torch-cpu (${t.device}): ${t.msPerStep.toFixed(1)} ms/step (best window ${t.bestMsPerStep.toFixed(1)}), ` +
          `${t.samplesPerSecond.toFixed(1)} samples/s, ${t.gflops.toFixed(2)} GFLOP/s; ours is ${(t.msPerStep / ours.msPerStep).toFixed(2)}x; ` +
          `loss ${t.losses[0].toFixed(3)} -> ${t.losses[t.losses.length - 1].toFixed(3)}${t.fell ? '' : '  LOSS DID NOT FALL'} ` +
          (t.firstLossesMaxRelDiff === undefined
            ? `(its own draws of the same distributions)`
            : `(our weights and data; first ${CROSS_STEPS} losses within ${t.firstLossesMaxRelDiff.toExponential(1)} of ours` +
              `${t.agree ? ')' : `)  MISMATCH (over ${CROSS_TOLERANCE})`}`),
      );
    }
    for (const b of opts.backends) {
      if (key === 'R' && b !== 'webgpu') {
        out.notes.push(
          `tfjs-${b} R: not run (${b === 'wasm' ? 'no Conv2DBackpropFilter kernel' : 'minutes per step'})`,
        );
        continue;
      }
      const peer = await tfjsCnnPeer(opts, key, b, w, ours, { ds, weights });
      peers[b] = peer.report;
      cells[b] = peer.cell;
      out.failures += peer.failures;
      if (peer.ratio !== undefined) out.ratios[`${key} vs tfjs-${b}`] = peer.ratio;
      if (peer.note) out.notes.push(peer.note);
    }
    out.report[key] = { workload: w.name, flopsPerStep: ours.flopsPerStep, ours, peers };
    const cols = [...opts.backends, 'torch-cpu'];
    const row = (label: string, value: string, pick: (c: Cell) => string) => [
      `${key} ${label}`,
      value,
      ...cols.map((b) => (cells[b] ? pick(cells[b]) : '-')),
    ];
    out.rows.push(row('ms/step', ours.msPerStep.toFixed(1), (c) => c.ms));
    out.rows.push(row('samples/s', ours.samplesPerSecond.toFixed(1), (c) => c.sps));
    out.rows.push(row('GFLOP/s', ours.gflops.toFixed(2), (c) => c.gf));
  }
  return out;
}

/**
 * Steps per tfjs backend: tfjs-cpu and tfjs-wasm are slow enough that a few synced steps must do,
 * and so is tfjs-webgpu on R (over ten seconds a step on lavapipe).
 */
function tfjsPlan(b: TfjsBackend, key: CnnKey, quick: boolean) {
  if (b === 'cpu') return { warmup: 1, steps: key === 'D' ? 2 : 3, blockSteps: 0 };
  if (b === 'wasm') return { warmup: 1, steps: 2, blockSteps: 0 };
  if (key === 'R') return { warmup: 1, steps: 2, blockSteps: quick ? 0 : 2 };
  if (key === 'D') return { warmup: 1, steps: quick ? 2 : 3, blockSteps: quick ? 2 : 3 };
  return { warmup: 2, steps: quick ? 3 : 5, blockSteps: quick ? 3 : 5 };
}

/** One tfjs backend on one CNN workload, checked against our first losses. */
async function tfjsCnnPeer(
  opts: CnnBenchOptions,
  key: CnnKey,
  b: TfjsBackend,
  w: Workload,
  ours: CnnEngineResult,
  input: { ds: ReturnType<typeof cnnData>; weights: ReturnType<typeof cnnInit> },
): Promise<{ report: unknown; cell: Cell; failures: number; ratio?: number; note?: string }> {
  const plan = tfjsPlan(b, key, opts.quick);
  let r: Awaited<ReturnType<typeof tfjsTrainCnn>>;
  const train = key === 'R' ? tfjsTrainGraph : tfjsTrainCnn;
  try {
    r = await train({
      backend: b,
      spec: w.spec,
      optimizer: { lr: w.optimizer.lr, momentum: w.optimizer.momentum ?? 0.9 },
      batchSize: w.batchSize,
      x: input.ds.x,
      y: input.ds.y,
      initialWeights: input.weights,
      ...plan,
    });
  } catch (e) {
    // tfjs-wasm 4.22 runs the forward pass but has no Conv2DBackpropFilter kernel.
    const msg = (e as Error).message;
    const kernel = /Kernel '(\w+)' not registered/.exec(msg)?.[1];
    const why = kernel ? `no ${kernel} kernel` : msg.slice(0, 80);
    console.log(`  tfjs-${b}: cannot train ${key}: ${msg}`);
    return {
      report: { error: msg },
      cell: { ms: `cannot train: ${why}`, sps: 'cannot train', gf: 'cannot train' },
      failures: 0,
    };
  }
  const trend = lossTrend(r.losses, 2);
  const ms = Number.isFinite(r.blockMsPerStep) ? r.blockMsPerStep : quantile(r.msPerStep, 0.5);
  const k = Math.min(CROSS_STEPS, r.losses.length);
  const diff = firstLossDiff(r.losses, ours.firstLosses, k);
  const agree = diff <= CROSS_TOLERANCE;
  const timing =
    r.msPerStep.length > 0 && Number.isFinite(r.blockMsPerStep)
      ? `${plan.warmup} warm-up + ${plan.steps} synced + ${plan.blockSteps} back-to-back steps (timed: back to back)`
      : `${plan.warmup} warm-up + ${plan.steps} timed steps, each synced (median)`;
  const ratio = ms / ours.msPerStep;
  const sps = (w.batchSize * 1000) / ms;
  const gflops = ours.flopsPerStep / (ms * 1e6);
  console.log(
    `  tfjs-${b}: ${ms.toFixed(1)} ms/step, ${sps.toFixed(1)} samples/s, ` +
      `${gflops.toFixed(3)} GFLOP/s; ours is ${ratio.toFixed(2)}x; ${timing}; ` +
      `loss ${trend.firstMean.toFixed(3)} -> ${trend.lastMean.toFixed(3)}${trend.fell ? '' : '  LOSS DID NOT FALL'}; ` +
      `first ${k} losses within ${diff.toExponential(1)} of ours${agree ? '' : `  MISMATCH (over ${CROSS_TOLERANCE})`}`,
  );
  return {
    report: {
      msPerStep: ms,
      syncedMsPerStep: r.msPerStep,
      blockMsPerStep: r.blockMsPerStep,
      samplesPerSecond: sps,
      gflops,
      losses: r.losses,
      fell: trend.fell,
      firstLossesMaxRelDiff: diff,
      plan,
    },
    cell: { ms: ms.toFixed(1), sps: sps.toFixed(1), gf: gflops.toFixed(3) },
    failures: (trend.fell ? 0 : 1) + (agree ? 0 : 1),
    ratio,
    note: b === 'cpu' ? `tfjs-cpu ${key}: ${timing} (too slow for more)` : undefined,
  };
}

/** PyTorch on one workload: D and E from its own draws, R from our weights and data (cross-checked). */
function torchPeer(
  python: string,
  w: Workload,
  input: { ds: ReturnType<typeof cnnData>; weights: ReturnType<typeof cnnInit> },
  ours: CnnEngineResult,
): TorchCnnResult & { device: string; firstLossesMaxRelDiff?: number; agree?: boolean } {
  if (w.key !== 'R') return torchCnn(python, w.key);
  const t = torchGraph(python, w, { data: input.ds, weights: input.weights }, { steps: 4, rounds: 3 });
  const diff = firstLossDiff(t.losses, ours.firstLosses, CROSS_STEPS);
  return { ...t, firstLossesMaxRelDiff: diff, agree: diff <= CROSS_TOLERANCE };
}
