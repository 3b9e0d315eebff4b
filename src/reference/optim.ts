// Optimizers, CPU reference in float64. One update step over a flat parameter array p (P)
// with gradient g (P) and state arrays (P); p and the state are MUTATED in place, g is only
// read. t is the step number, starting at 1 (Adam's bias correction depends on it).
//
//   sgd       g' = g + wd·p (coupled L2);  p -= lr·g'
//   momentum  g' = g + wd·p;  v = μ·v + g';  p -= lr·(nesterov ? g' + μ·v : v)
//             (PyTorch semantics, dampening 0; v starts at 0 so the first step gives v = g')
//   adam      g' = g + wd·p (coupled);  m = β1·m + (1-β1)·g';  v = β2·v + (1-β2)·g'²
//             m̂ = m/(1-β1^t);  v̂ = v/(1-β2^t);  p -= lr·m̂/(√v̂ + ε)
//   adamw     p ← p·(1 - lr·wd) first (decoupled decay), then adam with no coupled decay
//   clipping  total = √(Σ over ALL params of g²);  scale = min(1, maxNorm/(total + 1e-6));
//             g ← g·scale before the update (clipGradients; the network applies it)
// Defaults: wd 0, μ 0.9, nesterov false, β1 0.9, β2 0.999, ε 1e-8, no clipping.

import { ConfigError } from '../errors.js';
import { checkLength, type NumArray } from './check.js';
import { globalNorm } from './reduce.js';

export type OptimizerName = 'sgd' | 'momentum' | 'adam' | 'adamw';

export interface OptimizerConfig {
  name: OptimizerName;
  lr: number;
  /** L2 (sgd, momentum, adam: coupled into g) or decoupled (adamw) weight decay; default 0. */
  weightDecay?: number;
  /** Momentum factor μ for 'momentum'; default 0.9. */
  momentum?: number;
  /** Nesterov momentum for 'momentum'; default false. */
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the gradients to this global L2 norm before the update; unset means no clipping. */
  maxNorm?: number;
}

/** Per-parameter-array optimizer state. sgd uses neither, momentum uses v, adam(w) both. */
export interface ParamState {
  m: Float64Array;
  v: Float64Array;
}

export const OPTIMIZER_DEFAULTS = {
  weightDecay: 0,
  momentum: 0.9,
  nesterov: false,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
} as const;

/** The clip formula's guard against dividing by a zero norm; the GPU uses the same value. */
export const CLIP_EPS = 1e-6;

/** Zeroed state for a parameter array of `size` elements. */
export function createParamState(size: number): ParamState {
  return { m: new Float64Array(size), v: new Float64Array(size) };
}

/** An OptimizerConfig with every default filled in. */
export type ResolvedOptimizerConfig = Required<Omit<OptimizerConfig, 'maxNorm'>> & {
  maxNorm: number | undefined;
};

/** Validates a config and fills in the defaults. Throws ConfigError naming the bad field. */
export function resolveOptimizerConfig(config: OptimizerConfig): ResolvedOptimizerConfig {
  const names: readonly string[] = ['sgd', 'momentum', 'adam', 'adamw'];
  if (!names.includes(config.name)) {
    throw new ConfigError(`optimizer: unknown name '${config.name}'; use one of ${names.join(', ')}`);
  }
  // ?? rather than object spread, so a field present but undefined still gets its default.
  const d = OPTIMIZER_DEFAULTS;
  const r: ResolvedOptimizerConfig = {
    name: config.name,
    lr: config.lr,
    weightDecay: config.weightDecay ?? d.weightDecay,
    momentum: config.momentum ?? d.momentum,
    nesterov: config.nesterov ?? d.nesterov,
    beta1: config.beta1 ?? d.beta1,
    beta2: config.beta2 ?? d.beta2,
    eps: config.eps ?? d.eps,
    maxNorm: config.maxNorm,
  };
  const need = (ok: boolean, field: string, rule: string, v: unknown): void => {
    if (!ok) throw new ConfigError(`optimizer ${config.name}: ${field} must be ${rule}, got ${String(v)}`);
  };
  need(Number.isFinite(r.lr) && r.lr >= 0, 'lr', 'a finite number >= 0', r.lr);
  need(
    Number.isFinite(r.weightDecay) && r.weightDecay >= 0,
    'weightDecay',
    'a finite number >= 0',
    r.weightDecay,
  );
  need(Number.isFinite(r.momentum) && r.momentum >= 0 && r.momentum < 1, 'momentum', 'in [0, 1)', r.momentum);
  need(r.beta1 >= 0 && r.beta1 < 1, 'beta1', 'in [0, 1)', r.beta1);
  need(r.beta2 >= 0 && r.beta2 < 1, 'beta2', 'in [0, 1)', r.beta2);
  need(Number.isFinite(r.eps) && r.eps > 0, 'eps', 'a finite number > 0', r.eps);
  if (r.maxNorm !== undefined) {
    need(Number.isFinite(r.maxNorm) && r.maxNorm > 0, 'maxNorm', 'a finite number > 0', r.maxNorm);
  }
  return r;
}

function checkStep(fn: string, p: Float64Array, g: NumArray, t?: number): void {
  checkLength(fn, 'g', g, p.length, `(P)=(${p.length})`);
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new ConfigError(`${fn}: step t must be an integer >= 1 (steps count from 1), got ${t}`);
  }
}

export function sgdStep(p: Float64Array, g: NumArray, hp: { lr: number; weightDecay?: number }): void {
  checkStep('sgdStep', p, g);
  const wd = hp.weightDecay ?? 0;
  for (let i = 0; i < p.length; i++) p[i] -= hp.lr * (g[i] + wd * p[i]);
}

export function momentumStep(
  p: Float64Array,
  g: NumArray,
  v: Float64Array,
  hp: { lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number },
): void {
  checkStep('momentumStep', p, g);
  checkLength('momentumStep', 'v', v, p.length, `(P)=(${p.length})`);
  const wd = hp.weightDecay ?? 0;
  const mu = hp.momentum ?? OPTIMIZER_DEFAULTS.momentum;
  const nesterov = hp.nesterov ?? false;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + wd * p[i];
    v[i] = mu * v[i] + gi;
    p[i] -= hp.lr * (nesterov ? gi + mu * v[i] : v[i]);
  }
}

interface AdamHp {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Adam with coupled L2 decay (g' = g + wd·p), as torch.optim.Adam. */
export function adamStep(
  p: Float64Array,
  g: NumArray,
  m: Float64Array,
  v: Float64Array,
  t: number,
  hp: AdamHp,
): void {
  checkStep('adamStep', p, g, t);
  adamCore('adamStep', p, g, m, v, t, hp, hp.weightDecay ?? 0);
}

/** AdamW: decoupled decay p ← p·(1 - lr·wd) first, then Adam without decay, as torch.optim.AdamW. */
export function adamwStep(
  p: Float64Array,
  g: NumArray,
  m: Float64Array,
  v: Float64Array,
  t: number,
  hp: AdamHp,
): void {
  checkStep('adamwStep', p, g, t);
  const decay = 1 - hp.lr * (hp.weightDecay ?? 0);
  for (let i = 0; i < p.length; i++) p[i] *= decay;
  adamCore('adamwStep', p, g, m, v, t, hp, 0);
}

function adamCore(
  fn: string,
  p: Float64Array,
  g: NumArray,
  m: Float64Array,
  v: Float64Array,
  t: number,
  hp: AdamHp,
  wd: number,
): void {
  checkLength(fn, 'm', m, p.length, `(P)=(${p.length})`);
  checkLength(fn, 'v', v, p.length, `(P)=(${p.length})`);
  const b1 = hp.beta1 ?? OPTIMIZER_DEFAULTS.beta1;
  const b2 = hp.beta2 ?? OPTIMIZER_DEFAULTS.beta2;
  const eps = hp.eps ?? OPTIMIZER_DEFAULTS.eps;
  const c1 = 1 - Math.pow(b1, t);
  const c2 = 1 - Math.pow(b2, t);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    const mHat = m[i] / c1;
    const vHat = v[i] / c2;
    p[i] -= (hp.lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

/** One update of p by the configured optimizer (no clipping here: see clipGradients). */
export function optimizerStep(
  config: OptimizerConfig,
  p: Float64Array,
  g: NumArray,
  state: ParamState,
  t: number,
): void {
  const c = resolveOptimizerConfig(config);
  switch (c.name) {
    case 'sgd':
      sgdStep(p, g, c);
      break;
    case 'momentum':
      momentumStep(p, g, state.v, c);
      break;
    case 'adam':
      adamStep(p, g, state.m, state.v, t, c);
      break;
    case 'adamw':
      adamwStep(p, g, state.m, state.v, t, c);
      break;
  }
}

/** scale = min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + CLIP_EPS));
}

/**
 * Clip by global norm: scales EVERY array in `grads` in place by one common factor computed
 * from the norm over all of them. Returns the pre-clip norm and the factor applied.
 */
export function clipGradients(
  grads: readonly Float64Array[],
  maxNorm: number,
): { norm: number; scale: number } {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new ConfigError(`clipGradients: maxNorm must be a finite number > 0, got ${maxNorm}`);
  }
  const norm = globalNorm(grads);
  const scale = clipScale(norm, maxNorm);
  if (scale !== 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= scale;
  return { norm, scale };
}
