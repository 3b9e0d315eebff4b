// `npm run bench`: our engine side by side with TensorFlow.js on the same adapter and machine.
//
//   npx tsx bench/run.ts [--quick] [--only=matmul,A-sgd,A-adam,B,C,D,E,R,resident,profile,soak]
//                        [--backends=webgpu,wasm,cpu] [--soak-steps=10000]
//                        [--soak-graph-steps=2000] [--torch=off] [--jaxjs=off]
//
// Every participant trains identical models from identical initial weights on identical data
// (bench/peers/synthetic.ts; the CNNs D, E and the resnet graph R: bench/cnn.ts) with the same
// batch size and optimizer; each run checks that its loss fell. jax-js (webgpu and wasm) runs
// matmul 1024, A, B, D and E in child processes of its own right after our engine (--jaxjs=off
// skips it; bench/peers/jaxjs-bench.ts). Prints a table with ratios (and
// the per-kernel profile of one step of D, E and R) and writes bench/results/bench-<adapter>.json.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { acquireGpu } from '../src/gpu/device.js';
import { loadDataset } from '../src/data/known.js';
import { Trainer } from '../src/engine/trainer.js';
import type { TrainingData } from '../src/engine/gpu-data.js';
import { summariseProfile } from '../src/engine/profile.js';
import { createKernelEnv } from '../src/kernels/env.js';
import { chooseMatmulVariants, describeTuning } from '../src/engine/tune.js';
import { variantName, type MatmulForm } from '../src/kernels/matmul.js';
import {
  benchMatmul,
  benchTraining,
  syntheticImages,
  WORKLOADS,
  type TrainingResult,
  type TrainingWorkload,
} from './engine.js';
import { heInit, teacherDataset } from './peers/synthetic.js';
import { lossTrend } from './peers/stats.js';
import { findTorchPython } from './cnn-torch.js';
import { benchCnnEngine, cnnData, cnnInit, CNN_WORKLOADS, type CnnEngineResult } from './cnn.js';
import { benchCnns } from './run-cnn.js';
import { describeSoak, graphSoakCase, soak } from './soak.js';
import { initTfjs, tfjsMatmul, tfjsTrain, tfjsVersions, type TfjsBackend } from './peers/tfjs.js';
import { JaxjsColumns } from './peers/jaxjs-bench.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'] as const;
  }),
);
const quick = args.has('quick');
const only = args.get('only')?.split(',');
const want = (name: string) => !only || only.includes(name);
const backends = (args.get('backends') ?? 'webgpu,wasm,cpu').split(',') as TfjsBackend[];
const jaxjs = args.get('jaxjs') === 'off' ? undefined : new JaxjsColumns(quick);

const gpu = await acquireGpu();
const env = createKernelEnv(gpu);
const tuning = await chooseMatmulVariants(env, gpu.report);
const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };
const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  adapter: {
    name: gpu.report.name,
    kind: gpu.report.kind,
    origin: gpu.report.origin,
    features: gpu.report.features,
    driverThreads: gpu.report.driverThreads ?? null,
  },
  versions: {
    engine: pkg.version,
    node: process.version,
    webgpu: (require('webgpu/package.json') as { version: string }).version,
    ...tfjsVersions(),
  },
  matmulTuning: describeTuning(tuning),
};
const lpThreads = gpu.report.driverThreads;
console.log(
  `adapter: ${gpu.report.name} (${gpu.report.origin})` +
    (lpThreads
      ? `; llvmpipe worker threads: ${lpThreads.threads} (set by ${lpThreads.source === 'engine' ? 'the engine' : 'LP_NUM_THREADS'})`
      : ''),
);
console.log(`matmul variants: ${describeTuning(tuning)}`);
const table: string[][] = [];
const ratios: Record<string, number> = {};
let failures = 0;

// ---- matmul -------------------------------------------------------------------------------
if (want('matmul')) {
  const sizes = quick ? [256, 1024] : [256, 512, 1024, 2048];
  const mm: Record<string, Record<number, number>> = {};
  for (const n of sizes) {
    // Our three forms (forward is X.W^T, the grads are the transposed forms) against tf.matMul.
    for (const form of ['forward', 'weightGrad', 'inputGrad'] as MatmulForm[]) {
      const r = await benchMatmul(gpu, form, n, n, n, tuning[form], 0.5);
      (mm[`ours ${form} (${variantName(tuning[form])})`] ??= {})[n] = r.gflops;
    }
    if (n === 1024 && jaxjs) {
      const ours = Math.max(...Object.values(mm).map((v) => v[1024] ?? 0));
      jaxjs.matmul('matmul 1024 GFLOP/s', ours);
    }
    for (const b of backends.filter((b) => b !== 'cpu' || n <= 512)) {
      if (n >= 2048 && b === 'webgpu' && gpu.report.software) continue; // minutes per product
      await initTfjs(b);
      const r = await tfjsMatmul(b, n, n >= 1024 ? 2 : 5);
      (mm[`tfjs-${b}`] ??= {})[n] = r.gflops;
    }
    console.log(
      `matmul ${n}: ${Object.entries(mm)
        .map(([k, v]) => `${k} ${v[n]?.toFixed(2) ?? '-'}`)
        .join(', ')}`,
    );
  }
  report.matmulGflops = mm;
  const ours1024 = Math.max(
    ...Object.entries(mm)
      .filter(([k]) => k.startsWith('ours'))
      .map(([, v]) => v[1024] ?? 0),
  );
  for (const b of backends) {
    const peer = mm[`tfjs-${b}`]?.[1024];
    if (peer) ratios[`matmul 1024 vs tfjs-${b}`] = ours1024 / peer;
  }
  table.push([
    'matmul 1024 GFLOP/s',
    ours1024.toFixed(2),
    ...backends.map((b) => mm[`tfjs-${b}`]?.[1024]?.toFixed(2) ?? '-'),
  ]);
}

// ---- training -----------------------------------------------------------------------------
interface Row {
  ours: TrainingResult;
  peers: Partial<Record<TfjsBackend, { samplesPerSecond: number; msPerStep: number; fell: boolean }>>;
}
const training: Record<string, Row> = {};
for (const key of ['A-sgd', 'A-adam', 'B', 'C']) {
  if (!want(key)) continue;
  const w: TrainingWorkload = WORKLOADS[key];
  const classes = w.spec.loss === 'bce' ? 2 : w.spec.layers[w.spec.layers.length - 1].units;
  const steps = key === 'B' ? (quick ? 10 : 30) : quick ? 20 : 40;
  const count = key === 'B' ? 209 : w.batchSize * steps;
  const ds = teacherDataset(count, w.spec.inputSize, classes, 7, key === 'B');
  const weights = heInit(
    w.spec.inputSize,
    w.spec.layers.map((l) => ({
      units: l.units,
      activation: l.activation === 'softmax' ? 'softmax' : l.activation === 'sigmoid' ? 'sigmoid' : 'relu',
    })),
    3,
  );
  const data: TrainingData = { kind: 'float', x: ds.x, labels: ds.y, count };
  // B is full-batch: one step per epoch, so time more epochs.
  const ours = await benchTraining(gpu, w, {
    data,
    weights,
    epochs: key === 'B' ? steps : 2,
    variants: tuning,
  });
  const row: Row = { ours, peers: {} };
  const fell = ours.lastLoss < ours.firstLoss;
  if (!fell) failures++;
  console.log(
    `${w.name}: ours ${ours.samplesPerSecond.toFixed(0)} samples/s, ${ours.msPerStep.median.toFixed(2)} ms/step, loss ${ours.firstLoss.toFixed(3)} -> ${ours.lastLoss.toFixed(3)}${fell ? '' : '  LOSS DID NOT FALL'}`,
  );
  if (jaxjs && key !== 'C')
    jaxjs.mlp(key as 'A-sgd' | 'A-adam' | 'B', `${key} samples/s`, ours.msPerStep.median);
  for (const b of backends) {
    if (b === 'cpu' && (key === 'B' || key === 'C')) continue; // minutes per step
    await initTfjs(b);
    const r = await tfjsTrain({
      backend: b,
      layers: w.spec.layers.map((l) => ({
        units: l.units,
        activation: l.activation === 'softmax' ? 'softmax' : l.activation === 'sigmoid' ? 'sigmoid' : 'relu',
      })),
      inputSize: w.spec.inputSize,
      loss: w.spec.loss === 'bce' ? 'bce' : 'softmax-ce',
      optimizer: { type: w.optimizer.name === 'adam' ? 'adam' : 'sgd', lr: w.optimizer.lr },
      batchSize: w.batchSize,
      x: ds.x,
      y: ds.y,
      initialWeights: weights,
      steps: quick ? 5 : 10,
      blockSteps: quick ? 5 : 20,
      warmup: 3,
      budgetMs: quick ? 15_000 : 40_000,
    });
    const trend = lossTrend(r.losses);
    if (!trend.fell) failures++;
    const ms = r.blockMsPerStep;
    row.peers[b] = { samplesPerSecond: (w.batchSize * 1000) / ms, msPerStep: ms, fell: trend.fell };
    ratios[`${key} vs tfjs-${b}`] = ours.samplesPerSecond / row.peers[b]!.samplesPerSecond;
    console.log(
      `  tfjs-${b}: ${row.peers[b]!.samplesPerSecond.toFixed(0)} samples/s, ${ms.toFixed(2)} ms/step${trend.fell ? '' : '  LOSS DID NOT FALL'}`,
    );
  }
  training[key] = row;
  table.push([
    `${key} samples/s`,
    ours.samplesPerSecond.toFixed(0),
    ...backends.map((b) => row.peers[b]?.samplesPerSecond.toFixed(0) ?? '-'),
  ]);
}
report.training = training;

// ---- CNN workloads D, E and R (bench/run-cnn.ts) -------------------------------------------
// PyTorch eager on the CPU, the native reference, when a Python with torch is here (--torch=off skips it).
// One workload at a time, so jax-js runs D and E right after the other participants did.
const cnnKeys = (['D', 'E', 'R'] as const).filter(want);
const torchPython = cnnKeys.length > 0 && args.get('torch') !== 'off' ? findTorchPython() : undefined;
const cnnReport: Record<string, unknown> = {};
const cnnNotes: string[] = [];
let torchRan = false;
for (const key of cnnKeys) {
  const cnn = await benchCnns({
    gpu,
    variants: tuning,
    quick,
    backends,
    keys: [key],
    torchPython,
    torchMissing:
      args.get('torch') === 'off'
        ? 'skipped (--torch=off)'
        : 'no Python with torch found (install python3-torch, or set PYTHON)',
  });
  Object.assign(cnnReport, cnn.report);
  for (const note of cnn.notes) if (!cnnNotes.includes(note)) cnnNotes.push(note);
  torchRan ||= cnn.torchRan;
  table.push(...cnn.rows);
  Object.assign(ratios, cnn.ratios);
  failures += cnn.failures;
  if (jaxjs && key !== 'R') jaxjs.cnn(key, (cnn.report[key] as { ours: CnnEngineResult }).ours);
}
if (Object.keys(cnnReport).length > 0) report.cnn = cnnReport;

// ---- GPU-resident uint8 data vs uploading float batches (the data library's claim) ---------
if (want('resident')) {
  const w = WORKLOADS['A-sgd'];
  const count = w.batchSize * (quick ? 40 : 100);
  // Real MNIST when it can be found (../shared/data, WGT_DATA_DIR, the cache), else synthetic.
  const mnist = await loadDataset('mnist').catch(() => undefined);
  const images = mnist
    ? mnist.train.images.slice(0, count * 784)
    : new Uint8Array(count * 784).map((_, i) => (i * 2654435761) >>> 24);
  const labels = mnist
    ? mnist.train.labels.slice(0, count)
    : Int32Array.from({ length: count }, (_, i) => i % 10);
  report.residencyData = mnist ? `MNIST (first ${count} training images)` : 'synthetic';
  const u8: TrainingData = { kind: 'uint8', images, labels, count, channels: 1, mul: [1 / 255], add: [0] };
  const f32: TrainingData = { kind: 'float', x: Float32Array.from(images, (v) => v / 255), labels, count };
  const resident = await benchTraining(gpu, w, { data: u8, epochs: 2, variants: tuning, residency: 'gpu' });
  const upload = await benchTraining(gpu, w, { data: f32, epochs: 2, variants: tuning, residency: 'upload' });
  report.residency = { resident: resident.samplesPerSecond, upload: upload.samplesPerSecond };
  ratios['resident uint8 vs float upload'] = resident.samplesPerSecond / upload.samplesPerSecond;
  console.log(
    `resident uint8 ${resident.samplesPerSecond.toFixed(0)} vs upload ${upload.samplesPerSecond.toFixed(0)} samples/s`,
  );
}

// ---- mixed precision: the same workloads in f32 and in f16 on this adapter -----------------
// (Ask for it with --only=f16; in the full run too.) Same data and initial weights; the loss must
// fall in both. On a CPU adapter f16 storage is converted on every load, so expect no gain there;
// bench/gpu/engine-bench.ts measures the same on a real GPU.
if (want('f16')) {
  if (!gpu.device.features.has('shader-f16')) {
    console.log(`f16: skipped, ${gpu.report.name} has no shader-f16`);
    report.f16 = { skipped: 'no shader-f16' };
  } else {
    const rows: Record<string, { f32: number; f16: number; fell: boolean }> = {};
    for (const key of ['A-adam', 'C']) {
      const w = WORKLOADS[key];
      const big = { ...w, count: w.batchSize * (quick ? 20 : 60) };
      const classes = 10;
      const data = syntheticImages(big.count, w.spec.inputSize, classes);
      const ms: Record<string, number> = {};
      let fell = true;
      // Alternating, twice each, best of two: the first run of a process pays warm-ups (and a
      // busy machine drifts), which must not count against whichever precision runs first.
      for (const precision of ['f32', 'f16', 'f32', 'f16'] as const) {
        const r = await benchTraining(gpu, big, { data, epochs: 2, variants: tuning, precision });
        ms[precision] = Math.min(ms[precision] ?? Infinity, r.msPerStep.median);
        fell &&= r.lastLoss < r.firstLoss;
      }
      rows[key] = { f32: ms.f32, f16: ms.f16, fell };
    }
    for (const key of ['D', 'E'] as const) {
      const w = { ...CNN_WORKLOADS[key], batches: quick ? 2 : CNN_WORKLOADS[key].batches };
      const ds = cnnData(w);
      const weights = cnnInit(w.spec, 3);
      const ms: Record<string, number> = {};
      let fell = true;
      for (const precision of ['f32', 'f16', 'f32', 'f16'] as const) {
        const r = await benchCnnEngine(gpu, w, {
          data: ds,
          weights,
          epochs: 1,
          checkSteps: 2,
          variants: tuning,
          precision,
        });
        ms[precision] = Math.min(ms[precision] ?? Infinity, r.msPerStep);
        fell &&= r.fell;
      }
      rows[key] = { f32: ms.f32, f16: ms.f16, fell };
    }
    for (const [key, r] of Object.entries(rows)) {
      if (!r.fell) failures++;
      ratios[`${key} f16 vs f32`] = r.f32 / r.f16;
      console.log(
        `f16 ${key}: ${r.f16.toFixed(2)} ms/step vs f32 ${r.f32.toFixed(2)} ms/step: ${(r.f32 / r.f16).toFixed(2)}x${r.fell ? '' : '  LOSS DID NOT FALL'}`,
      );
    }
    report.f16 = rows;
  }
}

// ---- profile: time of every kernel in one step ---------------------------------------------
if (want('profile') && gpu.device.features.has('timestamp-query')) {
  const profiles: Record<string, unknown> = {};
  for (const key of ['A-sgd', 'B']) {
    const w = WORKLOADS[key];
    const classes = w.spec.loss === 'bce' ? 2 : 10;
    // A sees new rows every step (so its gather is timed); B's full batch never changes.
    const count = key === 'B' ? w.batchSize : 4 * w.batchSize;
    const ds = teacherDataset(count, w.spec.inputSize, classes, 7, key === 'B');
    const t = await Trainer.create(gpu, w.spec, { seed: 1, optimizer: w.optimizer, variants: tuning });
    const data: TrainingData = { kind: 'float', x: ds.x, labels: ds.y, count };
    await t.profileStep(data, w.batchSize);
    const times = await t.profileStep(data, w.batchSize);
    profiles[key] = summariseProfile(times);
    console.log(
      `profile ${key}: ${summariseProfile(times)
        .map((p) => `${p.kind} ${p.ms.toFixed(2)} ms`)
        .join(', ')}`,
    );
    t.destroy();
  }
  report.profile = profiles;
}

// ---- soak: no growth over many steps (bench/soak.ts), a dense stack and a graph -------------
if (want('soak') && (args.has('soak') || only?.includes('soak'))) {
  const w = WORKLOADS['A-sgd'];
  const ds = teacherDataset(w.batchSize * 50, 784, 10, 7);
  const cases = [
    {
      model: w.name,
      spec: w.spec,
      optimizer: w.optimizer,
      batchSize: w.batchSize,
      data: { kind: 'float', x: ds.x, labels: ds.y, count: ds.n } satisfies TrainingData,
      steps: Number(args.get('soak-steps') ?? 10_000),
    },
    graphSoakCase(Number(args.get('soak-graph-steps') ?? 2_000)),
  ];
  const results = [];
  for (const c of cases) {
    const r = await soak(gpu, c, tuning);
    console.log(describeSoak(r));
    if (r.grew) failures++;
    results.push(r);
  }
  report.soak = results;
}

// ---- report -------------------------------------------------------------------------------
if (jaxjs) {
  Object.assign(ratios, jaxjs.ratios);
  failures += jaxjs.failures;
  report.jaxjs = jaxjs.report;
  if (jaxjs.version) (report.versions as Record<string, string>)['@jax-js/jax'] = jaxjs.version;
}
report.ratios = ratios;
const base = ['', 'ours', ...backends.map((b) => `tfjs-${b}`), ...(torchRan ? ['torch-cpu'] : [])];
const header = [...base, ...(jaxjs?.header ?? [])];
const rows = table.map((r) => [...base.map((_, i) => r[i] ?? '-'), ...(jaxjs?.line(r[0]) ?? [])]);
const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i].length)));
const line = (r: string[]) => header.map((_, i) => r[i].padStart(widths[i])).join('  ');
console.log(`\n${line(header)}\n${rows.map(line).join('\n')}\n`);
for (const [k, v] of Object.entries(ratios)) console.log(`ratio ${k}: ${v.toFixed(2)}x`);
for (const note of cnnNotes) console.log(note);
if (jaxjs) console.log(jaxjs.summary().join('\n'));
if (jaxjs)
  console.log(
    `jax-js ${jaxjs.version ?? '?'}: its own child process per backend and workload; ms/step is the median of steps ` +
      `each synced on its loss; webgpu saw LP_NUM_THREADS ${jaxjs.lpNumThreads ?? 'unset'} (this process's), wasm runs one thread`,
  );
for (const [key, r] of Object.entries(cnnReport) as [string, { ours: CnnEngineResult }][]) {
  const p = r.ours.profile;
  if (!p) continue;
  // One pass per dispatch, so the total is above a real step's time; the ranking is what counts.
  console.log(
    `profile ${key} (one step, timestamp queries, ${r.ours.profileTotalMs!.toFixed(1)} ms over all kernels):\n` +
      p.map((k) => `  ${k.kind.padEnd(24)} ${k.ms.toFixed(2).padStart(9)} ms  x${k.count}`).join('\n') +
      `\n  slowest dispatches: ${(r.ours.slowest ?? []).map((d) => `${d.label} ${d.ms.toFixed(1)} ms`).join(', ')}`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const suffix = `${quick ? '-quick' : ''}${only ? `-${only.join('-')}` : ''}`;
if (report.cnn && only && !quick) {
  // A partial run's CNN rows also go into the adapter's main file, next to what it already holds
  // (A, B, C from the last full run, the CNN workloads this run left out), so the main file always
  // has the latest of each; every workload's entry carries the date it was measured.
  const main = new URL(`./results/bench-${gpu.report.kind}.json`, import.meta.url);
  const prev = existsSync(main) ? (JSON.parse(readFileSync(main, 'utf8')) as Record<string, unknown>) : {};
  const prevCnn = (prev.cnn ?? {}) as Record<string, unknown>;
  const META = ['date', 'adapter', 'versions'];
  const dated = (rows: Record<string, unknown>, when: unknown) =>
    Object.fromEntries(
      Object.entries(rows)
        .filter(([k]) => !META.includes(k))
        .map(([k, v]) => [k, { date: when, ...(v as object) }]),
    );
  prev.cnn = {
    date: report.date,
    adapter: report.adapter,
    versions: report.versions,
    ...dated(prevCnn, prevCnn.date),
    ...dated(cnnReport, report.date),
  };
  writeFileSync(main, JSON.stringify(prev, null, 2));
  console.log(`merged the CNN rows into ${main.pathname}`);
}
// A partial run (--only) gets its own file so it never overwrites the full table's.
const file = new URL(`./results/bench-${gpu.report.kind}${suffix}.json`, import.meta.url);
writeFileSync(file, JSON.stringify(report, null, 2));
console.log(`wrote ${file.pathname}`);
if (failures > 0) {
  console.error(`${failures} check(s) failed (a loss that did not fall, or buffer growth)`);
  process.exit(1);
}
process.exit(0);
