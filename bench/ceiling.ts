// The FP32 ceiling of this adapter for a matmul (never part of the unit tests):
//   XDG_RUNTIME_DIR=/tmp npx tsx bench/ceiling.ts [--quick] [--fma-only] [--no-wide] [--wait-only] [--out=FILE]
// 1. FMA-only throughput (bench/shaders/ceiling_fma.wgsl): 1..32 independent accumulators per
//    invocation, scalar and vec4, fma() and a * b + c.
// 2. Loads mixed with FMAs (ceiling_mix.wgsl, ceiling_subgroup.wgsl): each load pattern a matmul
//    tile could use, at matmul_sg's ratio (5 vec4 loads per 128 FMAs), matmul_reg's (8 per 64)
//    and a sweep; plus matmul_sg's own main loop without edges (sg_model).
// 3. The ceiling that follows, and this engine's matmul 1024 (the tuned variant per form, timed
//    as bench/engine.ts benchMatmul does) and tfjs-wasm's in the same run, as fractions of it.
// 4. What waiting costs: the same FMA-only work awaited with onSubmittedWorkDone straight after
//    submit, and after sleeping (setTimeout) for 80% of the time it took. --wait-only runs just
//    this and merges it into the existing results file.
// Then parts 1 and 2 again in a child process with LP_NATIVE_VECTOR_WIDTH=512 (llvmpipe reads it
// at start-up): 16-wide code instead of 8-wide.
//
// Two clocks (see bench/ceiling-rig.ts). Wall: 2 dispatches in one submit, until
// onSubmittedWorkDone, best of the rounds. Per core: the same FLOPs over the CPU time the driver's
// worker threads got in that window; 2 x per-core is the 2-core figure.
// Writes bench/results/ceiling-<adapter>.json.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError } from '../src/errors.js';
import { acquireGpu } from '../src/gpu/device.js';
import { USAGE } from '../src/gpu/buffers.js';
import { encodeDispatch, view } from '../src/kernels/common.js';
import { createKernelEnv } from '../src/kernels/env.js';
import { prepareMatmul, variantName, type MatmulForm, type MatmulVariant } from '../src/kernels/matmul.js';
import { MATMUL_FORMS, chooseMatmulVariants } from '../src/engine/tune.js';
import { Rng } from '../src/rng.js';
import { MATMUL_ROUNDS } from './peers/stats.js';
import { tfjsMatmul } from './peers/tfjs.js';
import { CeilingRig, TARGET_MS, best, both, clocked, fixed, rate, type Measured } from './ceiling-rig.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const known = ['quick', 'fma-only', 'no-wide', 'kernels-only', 'wait-only'];
for (const a of argv) {
  if (!known.includes(a.slice(2)) && !a.startsWith('--out=')) {
    throw new ConfigError(
      `Unknown argument '${a}'. Use --quick, --fma-only, --no-wide, --wait-only or --out=FILE.`,
    );
  }
}
const quick = flag('quick');
const fmaOnly = flag('fma-only');
// The child run: parts 1 and 2 only.
const kernelsOnly = flag('kernels-only');

const ROUNDS = quick ? 4 : 10;

// ---- device and shaders -------------------------------------------------------------------
const gpu = await acquireGpu();
const { device } = gpu;
const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
const nativeWidth = process.env.LP_NATIVE_VECTOR_WIDTH ?? 'default';
const subgroupLanes = device.features.has('subgroups')
  ? `${info.subgroupMinSize}-${info.subgroupMaxSize}`
  : 'none';
console.log(
  `adapter: ${gpu.report.name}; subgroup lanes: ${subgroupLanes}; LP_NATIVE_VECTOR_WIDTH=${nativeWidth}`,
);
console.log('GFLOP/s: wall clock [per core: over the driver threads’ CPU time]');

const rig = new CeilingRig(gpu, ROUNDS);
const { hasSubgroups, fmaModule, mixModule } = rig;
const measure = rig.measure.bind(rig);

const outFile = option('out') ?? join(here, 'results', `ceiling-${gpu.report.kind}.json`);
if (flag('wait-only')) {
  const previous = JSON.parse(readFileSync(outFile, 'utf8')) as Record<string, unknown>;
  previous.dawnWait = { date: new Date().toISOString(), ...(await rig.waitCost()) };
  writeFileSync(outFile, JSON.stringify(previous, null, 2) + '\n');
  console.log(`merged into ${outFile}`);
  gpu.destroy();
  process.exit(0);
}

// ---- 1. FMA-only -----------------------------------------------------------------------------
interface FmaRow extends Measured {
  form: 'scalar' | 'vec4';
  op: 'fma' | 'mul+add';
  chain: number;
  acc: number;
}
const fmaRows: FmaRow[] = [];
for (const chain of [1, 4]) {
  for (const form of ['scalar', 'vec4'] as const) {
    for (const op of ['fma', 'mul+add'] as const) {
      for (const acc of [1, 2, 4, 8, 16, 32]) {
        const m = await measure(
          fmaModule,
          form === 'scalar' ? 'fma_scalar' : 'fma_vec4',
          { ACC: acc, USE_FMA: op === 'fma' ? 1 : 0, CHAIN: chain },
          acc * chain * (form === 'vec4' ? 4 : 1) * 2,
          [0.999, 0.001],
        );
        fmaRows.push({ form, op, chain, acc, ...m });
      }
      const rows = fmaRows.filter((r) => r.form === form && r.op === op && r.chain === chain);
      console.log(
        `FMA-only ${form} ${op}, chain ${chain}: ${rows.map((r) => `${r.acc} acc ${both(r)}`).join(', ')}`,
      );
    }
  }
}
const fmaBest = best(fmaRows)!;
console.log(
  `FMA-only best: ${fixed(fmaBest.perCore)} GFLOP/s per core (${fmaBest.form} ${fmaBest.op}, chain ${fmaBest.chain}, ${fmaBest.acc} accumulators)`,
);

// ---- 2. Loads mixed with FMAs ---------------------------------------------------------------
interface MixRow extends Measured {
  pattern: string;
  /** Per iteration per invocation: loads (of the pattern's width), broadcasts, scalar FMAs. */
  loads: number;
  broadcasts: number;
  fmas: number;
  config: Record<string, number>;
}
const mixRows: MixRow[] = [];
const PATTERNS = fmaOnly
  ? []
  : [
      'vec4',
      'vec4_strided',
      'scalar',
      'scalar_strided',
      'uniform',
      'ubo_vec4',
      'ubo_uniform',
      'shared',
      'shared_same',
    ];
if (hasSubgroups && !fmaOnly) PATTERNS.push('broadcast');
// [L, ACC, REP]: matmul_sg's ratio (5 loads / 128 FMAs), matmul_reg's (8 / 64), then a sweep
// from 1 load per vec4 FMA to 1 per 16 vec4 FMAs.
const RATIOS: [number, number, number][] = [
  [5, 8, 4],
  [8, 4, 4],
  ...(quick
    ? []
    : ([
        [8, 8, 1],
        [4, 8, 1],
        [2, 8, 1],
        [1, 8, 1],
        [1, 8, 2],
        [1, 8, 4],
      ] as [number, number, number][])),
];
for (const pattern of PATTERNS) {
  for (const [L, ACC, REP] of RATIOS) {
    const fmas = 4 * ACC * REP;
    const m = await measure(mixModule, `mix_${pattern}`, { L, ACC, REP }, fmas * 2, [0.5, 0]);
    // broadcast: one load per iteration feeds the L broadcasts.
    const [loads, broadcasts] = pattern === 'broadcast' ? [1, L] : [L, 0];
    mixRows.push({ pattern, loads, broadcasts, fmas, config: { L, ACC, REP }, ...m });
  }
  const rows = mixRows.filter((r) => r.pattern === pattern);
  console.log(`${pattern} (loads/FMAs): ${rows.map((r) => `${r.config.L}/${r.fmas} ${both(r)}`).join(', ')}`);
}
if (hasSubgroups && !fmaOnly) {
  for (const entryPoint of ['sg_model', 'sg_model_fma']) {
    const rowCounts = entryPoint === 'sg_model_fma' ? [16, 8, 4, 2] : [8, 4, 2];
    for (const rows of quick ? rowCounts.slice(0, 2) : rowCounts) {
      const fmas = 16 * rows;
      const m = await measure(mixModule, entryPoint, { SG_ROWS: rows }, fmas * 2, [0.5, 0]);
      mixRows.push({
        pattern: entryPoint,
        loads: rows > 8 ? 6 : 5,
        broadcasts: rows,
        fmas,
        config: { SG_ROWS: rows },
        ...m,
      });
    }
    const rows = mixRows.filter((r) => r.pattern === entryPoint);
    console.log(
      `${entryPoint}: ${rows.map((r) => `${r.config.SG_ROWS} rows (${r.loads}/${r.fmas}) ${both(r)}`).join(', ')}`,
    );
  }
}

// ---- 3. The matmul ceiling -------------------------------------------------------------------
// A matmul tile whose accumulators fit the 32 vector registers (8 vec4 per lane) needs about
// 5 vec4 loads per lane per 128 FMAs (matmul_sg's ratio), and the R part of them must differ
// per lane. Its ceiling is the fastest measured way to feed FMAs at that ratio with per-lane vec4
// loads, or matmul_sg's own loop. (The scalar patterns load a quarter of the floats; the uniform,
// shared_same and broadcast rows give every lane the same values, which a matmul cannot do for
// both operands; sg_model_fma with 16 rows is a bigger tile, reported beside it.)
const VEC4_PATTERNS = ['vec4', 'vec4_strided'];
const atSgRatio = mixRows.filter(
  (r) =>
    (VEC4_PATTERNS.includes(r.pattern) && r.config.L === 5 && r.fmas === 128) ||
    (r.pattern.startsWith('sg_model') && r.config.SG_ROWS === 8),
);
const ceiling = best(atSgRatio);
if (ceiling) {
  console.log(
    `matmul ceiling (5 loads / 128 FMAs): ${fixed(ceiling.perCore)} GFLOP/s per core (${ceiling.pattern}), ${fixed(2 * ceiling.perCore)} on 2 cores; FMA-only ${fixed(2 * fmaBest.perCore)} on 2 cores`,
  );
}

const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  adapter: gpu.report.name,
  subgroupLanes,
  nativeVectorWidth: nativeWidth,
  timing: {
    ...rig.timing,
    gflops: 'wall clock, best round',
    perCore: 'FLOPs over the CPU time of the driver worker threads, best round',
  },
  fmaOnly: fmaRows,
  fmaBest,
  loadMix: mixRows,
  matmulCeiling: ceiling ?? null,
};

// ---- our matmul 1024 and tfjs-wasm's ---------------------------------------------------------
/** As bench/engine.ts benchMatmul, with the worker threads' CPU time kept too. */
async function ourMatmul(
  form: MatmulForm,
  n: number,
  variant: MatmulVariant,
): Promise<Measured & { mainCpuPerWorkerCpu: number }> {
  const env = createKernelEnv(gpu);
  const rng = new Rng(1);
  const buf = (len: number) => {
    const b = env.pool.acquire(len * 4, USAGE.STORAGE | USAGE.COPY_DST, 'ceiling matmul');
    device.queue.writeBuffer(
      b,
      0,
      Float32Array.from({ length: len }, () => rng.uniform(-1, 1)),
    );
    return view(b, len);
  };
  const dummies = { read: buf(4).buffer, write: buf(4).buffer };
  const [lhs, rhs, o] = [buf(n * n), buf(n * n), buf(n * n)];
  const extra = form === 'forward' ? { bias: buf(n), outA: buf(n * n), activation: 'relu' as const } : {};
  const d = await prepareMatmul(env, {
    form,
    lhs,
    rhs,
    B: n,
    K: n,
    N: n,
    out: o,
    dummies,
    variant,
    ...extra,
  });
  const run = (reps: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < reps; i++) encodeDispatch(pass, d);
    pass.end();
    return clocked(async () => {
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    });
  };
  const first = await run(1);
  const reps = Math.max(1, Math.round((4 * TARGET_MS) / Math.max(first.workers, 1)));
  let wall = Infinity;
  let cpu = Infinity;
  // The main thread's CPU time while it waits, against the workers': what Dawn's polling costs.
  let main = 0;
  let workers = 0;
  for (let r = 0; r < (quick ? 3 : 6); r++) {
    const t = await run(reps);
    wall = Math.min(wall, t.wall);
    cpu = Math.min(cpu, t.workers);
    main += t.main;
    workers += t.workers;
  }
  gpu.throwIfFailed();
  env.pool.trim();
  const flops = 2 * n ** 3 * reps;
  return { gflops: rate(flops, wall), perCore: rate(flops, cpu), mainCpuPerWorkerCpu: main / workers };
}

if (!kernelsOnly && !fmaOnly && ceiling) {
  const env = createKernelEnv(gpu);
  const tuning = await chooseMatmulVariants(env, gpu.report);
  const n = 1024;
  const frac = (m: Measured) => ({
    ofFmaPeak: m.perCore / fmaBest.perCore,
    ofMatmulCeiling: m.perCore / ceiling.perCore,
  });
  const matmul: Record<
    string,
    Measured & { variant: string; threads: number; mainCpuPerWorkerCpu?: number }
  > = {};
  for (const form of MATMUL_FORMS as readonly MatmulForm[]) {
    matmul[`ours ${form}`] = {
      variant: variantName(tuning[form]),
      threads: 2,
      ...(await ourMatmul(form, n, tuning[form])),
    };
  }
  // tfjs-wasm is single-threaded on the main thread: its CPU time is the main thread's. One call
  // warms up (backend start, compile); the second is timed: 1 warm-up op + MATMUL_ROUNDS x reps.
  const reps = 2;
  await tfjsMatmul('wasm', n, 1);
  const t = await clocked(async () => {
    const r = await tfjsMatmul('wasm', n, reps);
    matmul['tfjs-wasm'] = { variant: 'tfjs-backend-wasm SIMD', threads: 1, gflops: r.gflops, perCore: 0 };
  });
  matmul['tfjs-wasm'].perCore = rate(2 * n ** 3 * (1 + MATMUL_ROUNDS * reps), t.main);
  result.matmul1024 = Object.fromEntries(Object.entries(matmul).map(([k, m]) => [k, { ...m, ...frac(m) }]));
  for (const [name, m] of Object.entries(matmul)) {
    const f = frac(m);
    console.log(
      `matmul ${n} ${name} (${m.variant}, ${m.threads} thread${m.threads > 1 ? 's' : ''}): ${both(m)} = ${fixed(100 * f.ofFmaPeak)}% of the FMA peak per core, ${fixed(100 * f.ofMatmulCeiling)}% of the matmul ceiling` +
        (m.mainCpuPerWorkerCpu === undefined
          ? ''
          : `; main thread CPU while waiting: ${fixed(m.mainCpuPerWorkerCpu, 2)} x the workers'`),
    );
  }
}

if (!kernelsOnly && !flag('no-wide')) {
  // llvmpipe reads LP_NATIVE_VECTOR_WIDTH once at start-up, so the 16-wide run is a new process.
  const childOut = join(tmpdir(), `ceiling-wide-${process.pid}.json`);
  console.log('\nLP_NATIVE_VECTOR_WIDTH=512:');
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1],
      '--kernels-only',
      `--out=${childOut}`,
      ...(quick ? ['--quick'] : []),
      ...(fmaOnly ? ['--fma-only'] : []),
    ],
    { env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: '512' }, stdio: 'inherit' },
  );
  if (child.status !== 0) {
    throw new Error(
      `The LP_NATIVE_VECTOR_WIDTH=512 run failed (exit ${child.status}); rerun with --no-wide.`,
    );
  }
  result.nativeWidth512 = JSON.parse(readFileSync(childOut, 'utf8')) as unknown;
}

if (!kernelsOnly) result.dawnWait = { date: new Date().toISOString(), ...(await rig.waitCost()) };

mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${outFile}`);
gpu.destroy();
