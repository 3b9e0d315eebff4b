// Per-adapter choice of matmul variants (src/kernels/matmul.ts) by a quick measurement.
//
// Which main loop is fastest depends on the driver far more than on the shape: CPU drivers
// (lavapipe, SwiftShader) run a workgroup as one thread whose SIMD lanes are the invocations, so
// barrier-free tiles win there, and where subgroups are 8 lanes (lavapipe) the 'sg' tiles that
// share loads by broadcast win by far; real GPUs want workgroup memory ('wg').
// So each form is timed once per adapter on a mid-sized shape, plus one 'long K' class (a small
// output over a long reduction, the cat net's X[209,12288] . W^T) where split-K can pay.
// Results are cached per adapter + driver + matmul.wgsl source (edits invalidate them) in the
// tuners' cache (src/engine/tune-cache.ts: a file in Node, localStorage in browsers).
// WGT_MATMUL_VARIANT (e.g. "row-8x1-tm4", or "row-8x1-tm4-split4") or `force` skips measuring.
//
// Timing is honest GPU time: `reps` dispatches in one pass, one submit, then
// onSubmittedWorkDone; the median of `rounds` such rounds (the first warm-up round is dropped).

import { ConfigError } from '../errors.js';
import type { AdapterReport } from '../gpu/device.js';
import { USAGE } from '../gpu/buffers.js';
import { encodeDispatch, view, type KernelEnv, type TensorView } from '../kernels/common.js';
import {
  DEFAULT_VARIANT,
  MATMUL_VARIANTS,
  matmulScratchLength,
  prepareMatmulSteps,
  productDims,
  subgroupMatmulAvailable,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../kernels/matmul.js';
import { SHADERS } from '../kernels/shaders.js';
import { envVariable } from '../env-vars.js';
import { readTuning, tuningKey, writeTuning } from './tune-cache.js';

export const MATMUL_FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];

export interface MatmulTuning extends Record<MatmulForm, MatmulVariant> {
  /** For a small output over a long reduction (see isLongK); may use split-K. */
  longK: MatmulVariant;
  /** How the choice was made. */
  source: 'measured' | 'cache' | 'forced';
  /** Cache key (tuningKey): adapter, driver, driver threads and shader hash. */
  key: string;
}

/** A product with few outputs and a long reduction: too little parallel work without split-K. */
export function isLongK(form: MatmulForm, B: number, K: number, N: number): boolean {
  const [M, Nc, Kc] = productDims(form, B, K, N);
  return Kc >= 2048 && M * Nc <= 16384;
}

/** The variant a tuning picks for one layer shape. */
export function variantFor(
  t: MatmulTuning,
  form: MatmulForm,
  B: number,
  K: number,
  N: number,
): MatmulVariant {
  return isLongK(form, B, K, N) ? t.longK : t[form];
}

/** Parses a variant name as printed by variantName ("row-8x1-tm4-split4"). */
export function parseVariant(name: string): MatmulVariant {
  const m = /^(reg|row|wg|sg)-(\d+)x(\d+)(?:-tm(\d+))?(?:-split(\d+))?$/.exec(name.trim());
  if (!m) {
    throw new ConfigError(
      `Unknown matmul variant '${name}'. Use a name like ${MATMUL_VARIANTS.map(variantName).join(', ')}, optionally with -split<k>.`,
    );
  }
  const v: MatmulVariant = { kind: m[1] as MatmulVariant['kind'], wgX: Number(m[2]), wgY: Number(m[3]) };
  if (m[4]) v.tm = Number(m[4]);
  if (m[5]) v.splitK = Number(m[5]);
  return v;
}

export function describeTuning(t: MatmulTuning): string {
  const parts = [...MATMUL_FORMS, 'longK' as const].map((f) => `${f} ${variantName(t[f])}`);
  return `matmul variants (${t.source}): ${parts.join(', ')}`;
}

/**
 * A tuning from what the caller fixed: a full tuning as it is, or variants per form with the
 * default for the rest (and for long reductions, the forward one).
 */
export function givenTuning(given: Partial<MatmulTuning> = {}): MatmulTuning {
  return {
    forward: DEFAULT_VARIANT,
    weightGrad: DEFAULT_VARIANT,
    inputGrad: DEFAULT_VARIANT,
    source: 'forced',
    key: 'given',
    ...given,
    longK: given.longK ?? given.forward ?? DEFAULT_VARIANT,
  };
}

// One tuning per device per process: measured (or read from the tuning cache) on first use.
const deviceTunings = new WeakMap<GPUDevice, Promise<MatmulTuning>>();

/** The adapter's tuned variants, shared by every trainer on this device. */
export function deviceTuning(
  env: KernelEnv,
  gpu: { device: GPUDevice; report: AdapterReport },
): Promise<MatmulTuning> {
  let t = deviceTunings.get(gpu.device);
  if (!t) {
    t = chooseMatmulVariants(env, gpu.report);
    deviceTunings.set(gpu.device, t);
  }
  return t;
}

export interface ChooseOptions {
  /** Use this variant for every form (a name like "row-8x1-tm4"); else WGT_MATMUL_VARIANT. */
  force?: string | MatmulVariant;
  /** Read and write the tuning cache (default true). */
  cache?: boolean;
}

// Candidates per driver family, kept short so tuning stays around 2 s on lavapipe (each one is an
// LLVM compile there). CPU drivers: barrier-free tiles; GPUs: also the shared-memory tiles.
const CPU_CANDIDATES = ['reg-8x8', 'reg-16x4', 'row-8x1-tm4'];
const GPU_CANDIDATES = ['reg-8x8', 'wg-8x8', 'wg-16x16'];
const SG_CANDIDATES = ['sg-8x1', 'sg-8x4', 'sg-8x1-tm16', 'sg-8x4-tm16'];
// Tuning shapes (layer B, K, N): the MNIST MLP's first layer, and a shortened cat-net first layer.
const FORM_SHAPE: readonly [number, number, number] = [64, 512, 128];
const LONG_K_SHAPE: readonly [number, number, number] = [209, 2048, 20];
const SPLITS = [1, 4];

/** Chooses (measuring once per adapter, then from the cache) a variant per form and for long K. */
export async function chooseMatmulVariants(
  env: KernelEnv,
  report: AdapterReport,
  opts: ChooseOptions = {},
): Promise<MatmulTuning> {
  const key = tuningKey(report, 'matmul', [SHADERS.matmul, SHADERS.matmul_sg]);
  const forced = opts.force ?? envVariable('WGT_MATMUL_VARIANT');
  if (forced) {
    const v = typeof forced === 'string' ? parseVariant(forced) : forced;
    return { forward: v, weightGrad: v, inputGrad: v, longK: v, source: 'forced', key };
  }
  const useCache = opts.cache ?? true;
  const cached = useCache ? await readTuning(key) : undefined;
  if (cached) {
    try {
      return {
        forward: parseVariant(cached.forward),
        weightGrad: parseVariant(cached.weightGrad),
        inputGrad: parseVariant(cached.inputGrad),
        longK: parseVariant(cached.longK),
        source: 'cache',
        key,
      };
    } catch {
      // An entry from an older naming scheme (or hand-edited): measure again and overwrite it.
    }
  }
  const cpu = report.software || report.kind !== 'hardware';
  // 8-lane subgroups on a CPU driver are SIMD lanes: broadcasts are register shuffles there.
  const sg = cpu && subgroupMatmulAvailable(env.device) ? SG_CANDIDATES : [];
  const names = [...(cpu ? CPU_CANDIDATES : GPU_CANDIDATES), ...sg];
  const best = async (form: MatmulForm, shape: readonly [number, number, number], vs: MatmulVariant[]) => {
    let pick = vs[0];
    let pickMs = Infinity;
    for (const v of vs) {
      // The fastest round, not the median: on a shared CPU the minimum is what the kernel costs.
      const ms = await timeMatmul(env, form, shape, v, { reps: 1, rounds: 3, stat: 'min' });
      if (ms < pickMs) [pick, pickMs] = [v, ms];
    }
    return pick;
  };
  const chosen = {} as Record<MatmulForm, MatmulVariant>;
  for (const form of MATMUL_FORMS) chosen[form] = await best(form, FORM_SHAPE, names.map(parseVariant));
  const longK = await best(
    'forward',
    LONG_K_SHAPE,
    SPLITS.map((splitK) => ({ ...chosen.forward, splitK })),
  );
  const t: MatmulTuning = { ...chosen, longK, source: 'measured', key };
  if (useCache) {
    await writeTuning(key, {
      forward: variantName(t.forward),
      weightGrad: variantName(t.weightGrad),
      inputGrad: variantName(t.inputGrad),
      longK: variantName(t.longK),
      measured: new Date().toISOString(),
    });
  }
  return t;
}

export interface TimingOptions {
  reps?: number;
  rounds?: number;
  /** Which round to report (default the median). */
  stat?: 'median' | 'min';
}

/** Median ms per matmul of `form` on layer shape (B, K, N) with `variant`; inputs are random. */
export async function timeMatmul(
  env: KernelEnv,
  form: MatmulForm,
  [B, K, N]: readonly [number, number, number],
  variant: MatmulVariant,
  opts: TimingOptions = {},
): Promise<number> {
  const reps = opts.reps ?? 3;
  const rounds = opts.rounds ?? 3;
  const [M, Nc, Kc] = productDims(form, B, K, N);
  const made: GPUBuffer[] = [];
  const tensor = (n: number, fill: boolean): TensorView => {
    const buf = env.pool.acquire(Math.max(1, n) * 4, USAGE.STORAGE | USAGE.COPY_DST, 'tune');
    made.push(buf);
    if (fill) {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 2;
      env.device.queue.writeBuffer(buf, 0, data);
    }
    return view(buf, Math.max(1, n));
  };
  try {
    const lhs = tensor(M * Kc, true);
    const rhs = tensor(Kc * Nc, true);
    const steps = await prepareMatmulSteps(env, {
      form,
      lhs,
      rhs,
      B,
      K,
      N,
      out: tensor(M * Nc, false),
      bias: tensor(N, true),
      outA: tensor(M * Nc, false),
      aux: tensor(M * Nc, true),
      activation: form === 'weightGrad' ? 'identity' : 'relu',
      variant,
      scratch: tensor(matmulScratchLength(form, B, K, N, variant), false),
      dummies: { read: tensor(4, true).buffer, write: tensor(4, false).buffer },
    });
    const times: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      const enc = env.device.createCommandEncoder({ label: 'tune' });
      const pass = enc.beginComputePass();
      for (let i = 0; i < reps; i++) for (const d of steps) encodeDispatch(pass, d);
      pass.end();
      const t0 = performance.now();
      env.device.queue.submit([enc.finish()]);
      await env.device.queue.onSubmittedWorkDone();
      if (r > 0) times.push((performance.now() - t0) / reps);
    }
    times.sort((a, b) => a - b);
    return opts.stat === 'min' ? times[0] : times[Math.floor(times.length / 2)];
  } finally {
    for (const b of made) env.pool.release(b);
  }
}

export function gflops(form: MatmulForm, shape: readonly [number, number, number], ms: number): number {
  const [B, K, N] = shape;
  return (2 * B * K * N) / (ms * 1e6);
}
