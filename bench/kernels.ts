// Kernel benchmarks (never part of the unit tests):
//   npx tsx bench/kernels.ts [--adapter lavapipe|swiftshader] [--quick]
// Matmul GFLOP/s for every variant and form at square sizes and at the layer shapes the MNIST MLP
// (784-128-64-10, B 128), the cat net (12288-20-7-5-1, B 209) and a wide MLP (784-1024, B 512)
// train with; what tune.ts picks; GB/s of the elementwise activation and the Adam step.
// Prints a table and writes bench/results/kernels-<adapter>.json (committed: the latest numbers).
// GPU time: N dispatches in one pass, one submit, await onSubmittedWorkDone, median of rounds.
// On a CPU driver the numbers move with whatever else runs on the machine; rerun when in doubt.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { acquireGpu } from '../src/gpu/device.js';
import { USAGE } from '../src/gpu/buffers.js';
import { prepareActivationForward } from '../src/kernels/activations.js';
import { encodeDispatch, view, type Dispatch, type KernelEnv } from '../src/kernels/common.js';
import { createKernelEnv } from '../src/kernels/env.js';
import {
  MATMUL_VARIANTS,
  SUBGROUP_VARIANTS,
  subgroupMatmulAvailable,
  variantName,
  type MatmulVariant,
} from '../src/kernels/matmul.js';
import { prepareOptimizer } from '../src/kernels/optim.js';
import {
  MATMUL_FORMS,
  chooseMatmulVariants,
  describeTuning,
  gflops,
  timeMatmul,
  variantFor,
} from '../src/engine/tune.js';
import { resolveOptimizer } from '../src/optim/optimizers.js';

const args = process.argv.slice(2);
const adapterArg = args.includes('--adapter') ? args[args.indexOf('--adapter') + 1] : 'lavapipe';
if (adapterArg !== 'lavapipe' && adapterArg !== 'swiftshader') {
  throw new Error(`--adapter must be lavapipe or swiftshader, got ${adapterArg}`);
}
const quick = args.includes('--quick');

/** FP32 peak from /proc/cpuinfo: cores x clock x SIMD lanes x 2 (an FMA is 2 flops) x FMA units. */
function cpuPeak() {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1].split(' ') ?? [];
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1] ?? cpus()[0]?.speed ?? 0);
  const cores = cpus().length;
  const lanes = flags.includes('avx512f') ? 16 : flags.includes('avx2') ? 8 : 4;
  // One FMA unit per core counted (conservative; server cores often have two at 512 bits).
  const gflopsPeak = (cores * mhz * lanes * 2) / 1000;
  return {
    model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? 'unknown',
    cores,
    mhz,
    fma: flags.includes('fma'),
    avx512: flags.includes('avx512f'),
    lanes,
    gflopsPeak,
    // lavapipe compiles for 256-bit vectors (8 f32 lanes): its own ceiling.
    gflopsPeak256: (cores * mhz * 8 * 2) / 1000,
    how: `${cores} cores x ${mhz} MHz x ${lanes} f32 lanes x 2 flops/FMA x 1 FMA unit per core`,
  };
}

/** Median ms of one dispatch list, `reps` back to back in one pass per round. */
async function timeDispatches(env: KernelEnv, ds: Dispatch[], reps: number, rounds = 3): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    const enc = env.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < reps; i++) for (const d of ds) encodeDispatch(pass, d);
    pass.end();
    const t0 = performance.now();
    env.device.queue.submit([enc.finish()]);
    await env.device.queue.onSubmittedWorkDone();
    if (r > 0) times.push((performance.now() - t0) / reps);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

function filled(env: KernelEnv, n: number) {
  const buf = env.pool.acquire(n * 4, USAGE.STORAGE | USAGE.COPY_DST, 'bench');
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37);
  env.device.queue.writeBuffer(buf, 0, data);
  return view(buf, n);
}

type Shape = [number, number, number];
interface MatmulRow {
  form: string;
  shape: string;
  layer: Shape;
  variant: string;
  gflops: number;
  ms: number;
}

const gpu = await acquireGpu({ software: adapterArg, log: () => {} });
const env = createKernelEnv(gpu);
// The subgroup variants are measured where the device can run them (8-lane subgroups).
const ALL_VARIANTS = [...MATMUL_VARIANTS, ...(subgroupMatmulAvailable(gpu.device) ? SUBGROUP_VARIANTS : [])];
const peak = cpuPeak();
console.log(`adapter: ${gpu.report.name} (${gpu.report.origin})`);
console.log(`CPU: ${peak.model}; FP32 peak ${peak.gflopsPeak.toFixed(0)} GFLOP/s (${peak.how});`);
console.log(`     at lavapipe's 256-bit vectors ${peak.gflopsPeak256.toFixed(0)} GFLOP/s`);

const t0 = performance.now();
const tuning = await chooseMatmulVariants(env, gpu.report, { cache: false });
const tuneSeconds = (performance.now() - t0) / 1000;
console.log(`tuning took ${tuneSeconds.toFixed(1)} s; ${describeTuning(tuning)}`);

const rows: MatmulRow[] = [];
const measure = async (form: (typeof MATMUL_FORMS)[number], name: string, layer: Shape, v: MatmulVariant) => {
  const flop = 2 * layer[0] * layer[1] * layer[2];
  const reps = Math.max(1, Math.min(8, Math.round(2e8 / flop)));
  const ms = await timeMatmul(env, form, layer, v, { reps, rounds: 3 });
  const row = { form, shape: name, layer, variant: variantName(v), gflops: gflops(form, layer, ms), ms };
  rows.push(row);
  console.log(
    `${form.padEnd(10)} ${name.padEnd(22)} ${row.variant.padEnd(20)} ${row.gflops.toFixed(2).padStart(7)} GFLOP/s ${ms.toFixed(2).padStart(9)} ms`,
  );
  return row;
};

// Square sizes: all variants up to 1024 (512 with --quick); 2048 for the chosen variant only, if
// the 1024 run suggests it finishes in a few seconds.
const sizes = quick ? [256, 512] : [256, 512, 1024];
for (const form of MATMUL_FORMS) {
  for (const n of sizes) for (const v of ALL_VARIANTS) await measure(form, `${n}^3`, [n, n, n], v);
  const r1024 = rows.find(
    (r) => r.form === form && r.shape === '1024^3' && r.variant === variantName(tuning[form]),
  );
  if (r1024 && r1024.ms * 8 < 4000) await measure(form, '2048^3', [2048, 2048, 2048], tuning[form]);
}

// Layer shapes (B, K, N) of the networks the issue targets; all variants (with --quick only the
// tuned pick) plus the tuned pick's split-K form where it has one.
const LAYERS: Record<string, Shape> = {
  'mnist 784->128 B128': [128, 784, 128],
  'mnist 128->64 B128': [128, 128, 64],
  'mnist 64->10 B128': [128, 64, 10],
  'cat 12288->20 B209': [209, 12288, 20],
  'cat 20->7 B209': [209, 20, 7],
  'wide 784->1024 B512': [512, 784, 1024],
};
const tuned: MatmulRow[] = [];
for (const [name, layer] of Object.entries(LAYERS)) {
  for (const form of MATMUL_FORMS) {
    const pick = variantFor(tuning, form, ...layer);
    for (const v of quick ? [] : ALL_VARIANTS) await measure(form, name, layer, v);
    if (quick || (pick.splitK ?? 1) > 1) await measure(form, name, layer, pick);
    const mine = rows.filter((r) => r.form === form && r.shape === name && r.variant === variantName(pick));
    tuned.push(mine[mine.length - 1]);
  }
}

// Elementwise activation (relu) over 4M values: 4 bytes read + 4 written per value.
const count = 1 << 22;
const z = filled(env, count);
const out = filled(env, count);
const act = await prepareActivationForward(env, {
  activation: 'relu',
  rows: 1024,
  cols: count / 1024,
  z,
  out,
});
const actMs = await timeDispatches(env, [act], 5);
const actGBs = (8 * count) / (actMs * 1e6);
console.log(`activation relu ${count} values: ${actGBs.toFixed(2)} GB/s (${actMs.toFixed(2)} ms)`);

// Adam over 1.86M parameters (the 784-1024-1024-10 MLP): params, m, v read and written, grads
// read. The model's buffer is 64-float aligned, so training runs the vec4 kernel; the f32 kernel
// (any length) is timed on the unpadded count beside it.
const optimizerGBs: Record<string, { params: number; ms: number; gbPerS: number }> = {};
for (const [name, P] of [
  ['vec4', 1_863_744],
  ['f32', 1_863_690],
] as const) {
  const opt = await prepareOptimizer(env, {
    opt: resolveOptimizer({ name: 'adam', lr: 1e-3 }),
    params: filled(env, P),
    grads: filled(env, P),
    m: filled(env, P),
    v: filled(env, P),
  });
  const ms = await timeDispatches(env, [opt], 5);
  optimizerGBs[name] = { params: P, ms, gbPerS: (28 * P) / (ms * 1e6) };
  console.log(
    `adam step ${P} params (${name}): ${optimizerGBs[name].gbPerS.toFixed(2)} GB/s (${ms.toFixed(2)} ms)`,
  );
}
gpu.throwIfFailed();

console.log('\ntuned picks at the layer shapes (GFLOP/s):');
for (const r of tuned)
  console.log(`  ${r.form.padEnd(10)} ${r.shape.padEnd(22)} ${r.variant.padEnd(20)} ${r.gflops.toFixed(2)}`);

const file = join(dirname(fileURLToPath(import.meta.url)), 'results', `kernels-${adapterArg}.json`);
mkdirSync(dirname(file), { recursive: true });
const result = {
  date: new Date().toISOString(),
  mode: quick ? 'quick (256, 512; tuned pick only at layer shapes)' : 'full',
  adapter: gpu.report.name,
  cpu: peak,
  loadAverageNote: 'CPU drivers share the machine: numbers move with other load; compare side by side.',
  tuning: {
    seconds: tuneSeconds,
    forward: variantName(tuning.forward),
    weightGrad: variantName(tuning.weightGrad),
    inputGrad: variantName(tuning.inputGrad),
    longK: variantName(tuning.longK),
  },
  matmul: rows,
  tunedAtLayers: tuned,
  activation: { op: 'relu', values: count, ms: actMs, gbPerS: actGBs },
  optimizer: { op: 'adam', ...optimizerGBs },
};
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${file}`);
process.exit(0);
