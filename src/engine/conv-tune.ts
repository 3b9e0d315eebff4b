// Per-adapter, per-shape choice of the conv2d algorithm (src/kernels/conv.ts): im2col + matmul
// or implicit GEMM, each with the matmul variant the matmul tuning (src/engine/tune.ts) picked
// for its equivalent product shape, and for the forward of narrow layers (directCandidate) the
// direct kernel.
//
// Which one wins depends on the driver and the shape: im2col pays a write and a read of the
// B*OH*OW x KH*KW*C column buffer but then runs the plain (vec4) matmul; implicit GEMM reads x
// in place with index arithmetic per load, and its input grad is a transposed conv that wastes
// (SH*SW - 1)/(SH*SW) of its terms on strided layers. So both are timed once per adapter, form
// and shape, and the faster is kept. Each runs with the variant the matmul tuning picked for its
// equivalent product and, where different, the one it picked for the forward form: the dense
// tuning times each form at one MLP shape, and a conv's far taller product (M = B*OH*OW) can
// prefer another (on lavapipe the CIFAR layer's input grad runs about 3x faster with the sg tiles
// than with the row tile the dense inputGrad tuning picks). The choice is cached in memory, and in
// the tuners' cache (src/engine/tune-cache.ts), keyed by adapter, driver, shaders' hash, shape and
// candidates.
// im2col is never a candidate where its column buffer exceeds one storage binding.
// WGT_CONV_ALGO=im2col|implicit skips measuring (im2col still falls back where it cannot run).
//
// Timing: `reps` repetitions of the form's dispatches in one pass, one submit, then
// onSubmittedWorkDone; the fastest of `rounds` rounds after a warm-up round.

import { ConfigError } from '../errors.js';
import type { AdapterReport } from '../gpu/device.js';
import { USAGE } from '../gpu/buffers.js';
import { encodeDispatch, view, type KernelEnv, type TensorView } from '../kernels/common.js';
import {
  convGemmShape,
  convScratchLength,
  im2colFits,
  prepareConvForward,
  prepareConvInputGrad,
  prepareConvWeightGrad,
  implicitInputGradUsable,
  directCandidate,
  type ConvAlgo,
} from '../kernels/conv.js';
import {
  DEFAULT_VARIANT,
  productDims,
  subgroupMatmulAvailable,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../kernels/matmul.js';
import { SHADERS } from '../kernels/shaders.js';
import { parseVariant, variantFor, type MatmulTuning } from './tune.js';
import { readTuning, tuningKey, writeTuning } from './tune-cache.js';
import { envVariable } from '../env-vars.js';
import type { ConvGeometry } from '../nn/layers.js';

export const CONV_ALGOS: readonly ConvAlgo['kind'][] = ['im2col', 'implicit'];

/**
 * A fixed choice for tests and for adapters not worth measuring: im2col (the plain matmul does
 * the work) where its buffer fits, else implicit; the default register-tiled variant, or sg-8x1
 * where 8-lane subgroups exist. Deterministic for a device and shape.
 */
export function defaultConvAlgo(device: GPUDevice, B: number, g: ConvGeometry): ConvAlgo {
  const variant = subgroupMatmulAvailable(device) ? { kind: 'sg' as const, wgX: 8, wgY: 1 } : DEFAULT_VARIANT;
  return { kind: im2colFits(device, B, g) ? 'im2col' : 'implicit', variant };
}

/** The candidate of one kind: the matmul variant tuned for its equivalent product shape. */
export function convCandidate(
  kind: ConvAlgo['kind'],
  form: MatmulForm,
  B: number,
  g: ConvGeometry,
  tuning: MatmulTuning,
): ConvAlgo {
  const [b, k, n] = convGemmShape(form, B, g, kind);
  // The implicit input grad is the transposed conv: its product has the matmul inputGrad's form.
  return { kind, variant: variantFor(tuning, form, b, k, n) };
}

/** What chooseConvAlgo times: per runnable kind, the form's tuned variant and the forward one (implicit sg: also the other row count). */
export function convCandidates(
  device: GPUDevice,
  form: MatmulForm,
  B: number,
  g: ConvGeometry,
  tuning: MatmulTuning,
): ConvAlgo[] {
  const out: ConvAlgo[] = [];
  for (const kind of CONV_ALGOS) {
    if (kind === 'im2col' && !im2colFits(device, B, g)) continue;
    if (
      kind === 'implicit' &&
      form === 'inputGrad' &&
      !implicitInputGradUsable(device) &&
      im2colFits(device, B, g)
    )
      continue;
    const own = convCandidate(kind, form, B, g, tuning);
    const variants = [own.variant, tuning.forward];
    // The sg kernel's 8- and 16-row tiles trade loads for registers differently at conv shapes
    // (short K, few filters) than at the matmul tuner's shapes: implicit tries both.
    if (kind === 'implicit' && own.variant.kind === 'sg') {
      variants.push({ ...own.variant, tm: (own.variant.tm ?? 8) === 8 ? 16 : 8 });
      variants.push(...narrowCandidates(form, B, g, own.variant));
    }
    const seen = new Set<string>();
    for (const variant of variants) {
      if (seen.has(variantName(variant))) continue;
      seen.add(variantName(variant));
      out.push({ kind, variant });
    }
  }
  if (form === 'forward' && directCandidate(g)) out.push({ kind: 'direct', variant: DEFAULT_VARIANT });
  return out;
}

/**
 * One-subgroup workgroups (sg-8x1, 8 and 16 rows) for products of few rows, and split-K on top
 * where even those make fewer than MIN_WORKGROUPS workgroups. A CPU driver runs each workgroup
 * on one thread, so a first layer's weight grad (M = F = 6 or 32 rows, N = KH*KW*C <= 32 columns,
 * a reduction over all B*OH*OW pixels) is ONE workgroup with the tuned sg-8x4: one core works,
 * the other idles, and subgroups past M still run the whole loop. On lavapipe the narrow tiles
 * run LeNet's and the CIFAR net's first weight grads 2-3.5x faster (bench/conv.ts measures them).
 * Split-K is not offered more widely: it is slower wherever the grid already has MIN_WORKGROUPS
 * workgroups (the partials are a second pass over memory).
 */
function narrowCandidates(form: MatmulForm, B: number, g: ConvGeometry, v: MatmulVariant): MatmulVariant[] {
  if (v.wgY === 1) return [];
  const [b, k, n] = convGemmShape(form, B, g, 'implicit');
  const [M, Nc, Kc] = productDims(form, b, k, n);
  const out: MatmulVariant[] = [];
  for (const tm of [8, 16]) {
    const one = { kind: 'sg' as const, wgX: 8, wgY: 1, tm };
    out.push(one);
    const workgroups = Math.ceil(M / tm) * Math.ceil(Nc / 32);
    if (workgroups >= MIN_WORKGROUPS) continue;
    for (const splitK of [2, 4]) if (Kc / splitK >= 256) out.push({ ...one, splitK });
  }
  return out;
}

const MIN_WORKGROUPS = 4;

export interface ConvChooseOptions {
  /** Read and write the tuners' cache (default true); the in-memory cache is always used. */
  cache?: boolean;
  /** 'im2col' or 'implicit' instead of measuring; else WGT_CONV_ALGO. */
  force?: ConvAlgo['kind'];
}

const memory = new Map<string, Promise<ConvAlgo>>();

function shapeKey(g: ConvGeometry, B: number, form: MatmulForm): string {
  const pads = `${g.padTop},${g.padLeft},${g.padBottom},${g.padRight}`;
  return `${form} B${B} ${g.H}x${g.W}x${g.C}->${g.F} k${g.KH}x${g.KW} s${g.SH}x${g.SW} p${pads}`;
}

/** The faster ConvAlgo for (geometry, batch, form) on this adapter, measured once and cached. */
export function chooseConvAlgo(
  env: KernelEnv,
  report: AdapterReport,
  g: ConvGeometry,
  B: number,
  form: MatmulForm,
  tuning: MatmulTuning,
  opts: ConvChooseOptions = {},
): Promise<ConvAlgo> {
  const forced = opts.force ?? envVariable('WGT_CONV_ALGO');
  if (forced) {
    if (forced !== 'im2col' && forced !== 'implicit') {
      throw new ConfigError(`Unknown conv algorithm '${forced}'; use im2col or implicit.`);
    }
    const swift =
      form === 'inputGrad' && !implicitInputGradUsable(env.device) && im2colFits(env.device, B, g);
    const kind =
      forced === 'im2col' && !im2colFits(env.device, B, g) ? 'implicit' : swift ? 'im2col' : forced;
    return Promise.resolve(convCandidate(kind, form, B, g, tuning));
  }
  const names = convCandidates(env.device, form, B, g, tuning).map(
    (a) => `${a.kind} ${variantName(a.variant)}`,
  );
  const shaders = [SHADERS.conv, SHADERS.matmul, SHADERS.matmul_sg];
  const key = tuningKey(report, 'conv', shaders, `${shapeKey(g, B, form)} | ${names.join(',')}`);
  let p = memory.get(key);
  if (!p) {
    p = measureOrRead(env, key, g, B, form, tuning, opts.cache ?? true);
    memory.set(key, p);
    p.catch(() => memory.delete(key));
  }
  return p;
}

async function measureOrRead(
  env: KernelEnv,
  key: string,
  g: ConvGeometry,
  B: number,
  form: MatmulForm,
  tuning: MatmulTuning,
  useCache: boolean,
): Promise<ConvAlgo> {
  const cached = useCache ? await readTuning(key) : undefined;
  if (cached && (cached.kind === 'im2col' || cached.kind === 'implicit' || cached.kind === 'direct')) {
    try {
      return { kind: cached.kind, variant: parseVariant(cached.variant) };
    } catch {
      // An entry from an older naming scheme: measure again.
    }
  }
  const timed: { algo: ConvAlgo; ms: number }[] = [];
  for (const algo of convCandidates(env.device, form, B, g, tuning)) {
    timed.push({ algo, ms: await timeConv(env, form, B, g, algo, { reps: 1, rounds: 3 }) });
  }
  // A run-off between the two fastest, timed in turn: on a shared CPU one candidate's rounds can
  // all fall in a quiet (or a busy) spell, and with 5-8 candidates a lucky slow one would often
  // win by a third or more. Each keeps its fastest round over both timings.
  timed.sort((a, b) => a.ms - b.ms);
  const final = timed.slice(0, 2);
  for (let r = 0; r < 2 && final.length === 2; r++) {
    for (const t of final)
      t.ms = Math.min(t.ms, await timeConv(env, form, B, g, t.algo, { reps: 1, rounds: 2 }));
  }
  final.sort((a, b) => a.ms - b.ms);
  const { algo: pick, ms: bestMs } = final[0];
  if (useCache)
    await writeTuning(key, { kind: pick.kind, variant: variantName(pick.variant), ms: bestMs.toFixed(3) });
  return pick;
}

export interface ConvTimingOptions {
  reps?: number;
  rounds?: number;
}

/** Fastest-round ms of one conv form (all its dispatches) at this shape; inputs are random. */
export async function timeConv(
  env: KernelEnv,
  form: MatmulForm,
  B: number,
  g: ConvGeometry,
  algo: ConvAlgo,
  opts: ConvTimingOptions = {},
): Promise<number> {
  const reps = opts.reps ?? 1;
  const rounds = opts.rounds ?? 3;
  const made: GPUBuffer[] = [];
  const tensor = (n: number, fill: boolean): TensorView => {
    const buf = env.pool.acquire(Math.max(1, n) * 4, USAGE.STORAGE | USAGE.COPY_DST, 'conv-tune');
    made.push(buf);
    if (fill) {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 2;
      env.device.queue.writeBuffer(buf, 0, data);
    }
    return view(buf, Math.max(1, n));
  };
  try {
    const xLen = B * g.H * g.W * g.C;
    const zLen = B * g.OH * g.OW * g.F;
    const wLen = g.F * g.KH * g.KW * g.C;
    const scratchLen = convScratchLength(form, B, g, algo);
    const scratch = scratchLen > 0 ? tensor(scratchLen, false) : undefined;
    const dummies = { read: tensor(4, true).buffer, write: tensor(4, false).buffer };
    const steps =
      form === 'forward'
        ? await prepareConvForward(env, {
            B,
            g,
            x: tensor(xLen, true),
            w: tensor(wLen, true),
            bias: tensor(g.F, true),
            z: tensor(zLen, false),
            a: tensor(zLen, false),
            activation: 'relu',
            algo,
            scratch,
            dummies,
          })
        : form === 'weightGrad'
          ? await prepareConvWeightGrad(env, {
              B,
              g,
              x: tensor(xLen, true),
              dZ: tensor(zLen, true),
              dW: tensor(wLen, false),
              db: tensor(g.F, false),
              algo,
              scratch,
              dummies,
            })
          : await prepareConvInputGrad(env, {
              B,
              g,
              dZ: tensor(zLen, true),
              w: tensor(wLen, true),
              dX: tensor(xLen, false),
              activation: 'relu',
              aux: tensor(xLen, true),
              algo,
              scratch,
              dummies,
            });
    const times: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      const enc = env.device.createCommandEncoder({ label: 'conv-tune' });
      const pass = enc.beginComputePass();
      for (let i = 0; i < reps; i++) for (const d of steps) encodeDispatch(pass, d);
      pass.end();
      const t0 = performance.now();
      env.device.queue.submit([enc.finish()]);
      await env.device.queue.onSubmittedWorkDone();
      if (r > 0) times.push((performance.now() - t0) / reps);
    }
    return Math.min(...times);
  } finally {
    for (const b of made) env.pool.release(b);
  }
}

/** Multiply-adds of one form (2 FLOP each): B*OH*OW*F*KH*KW*C for all three. */
export function convFlops(B: number, g: ConvGeometry): number {
  return 2 * B * g.OH * g.OW * g.F * g.KH * g.KW * g.C;
}
