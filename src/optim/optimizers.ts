// Optimizer configuration (the update rules themselves run on the GPU: shaders/optim.wgsl;
// their float64 twins are in src/reference/optim.ts).

import { ConfigError } from '../errors.js';

export type OptimizerName = 'sgd' | 'momentum' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'momentum', 'adam', 'adamw'];

export interface OptimizerConfig {
  name: OptimizerName;
  lr: number;
  /** L2 penalty added to the gradient (sgd, momentum, adam) or decoupled decay (adamw). */
  weightDecay?: number;
  /** Momentum coefficient mu (momentum). Default 0.9. */
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip gradients to this global L2 norm before the update. */
  maxNorm?: number;
}

export type ResolvedOptimizer = Required<Omit<OptimizerConfig, 'maxNorm'>> & { maxNorm?: number };

export function resolveOptimizer(c: OptimizerConfig): ResolvedOptimizer {
  if (!OPTIMIZERS.includes(c.name)) {
    throw new ConfigError(`Unknown optimizer '${String(c.name)}'; use one of ${OPTIMIZERS.join(', ')}.`);
  }
  const r: ResolvedOptimizer = {
    name: c.name,
    lr: c.lr,
    weightDecay: c.weightDecay ?? (c.name === 'adamw' ? 0.01 : 0),
    momentum: c.momentum ?? 0.9,
    nesterov: c.nesterov ?? false,
    beta1: c.beta1 ?? 0.9,
    beta2: c.beta2 ?? 0.999,
    eps: c.eps ?? 1e-8,
    maxNorm: c.maxNorm,
  };
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new ConfigError(`Optimizer ${c.name}: ${what}.`);
  };
  check(Number.isFinite(r.lr) && r.lr > 0, `learning rate must be a positive number, got ${c.lr}`);
  check(
    Number.isFinite(r.weightDecay) && r.weightDecay >= 0,
    `weightDecay must be >= 0, got ${r.weightDecay}`,
  );
  check(r.momentum >= 0 && r.momentum < 1, `momentum must be in [0, 1), got ${r.momentum}`);
  check(r.beta1 >= 0 && r.beta1 < 1 && r.beta2 >= 0 && r.beta2 < 1, 'beta1 and beta2 must be in [0, 1)');
  check(r.eps > 0, `eps must be > 0, got ${r.eps}`);
  check(r.maxNorm === undefined || r.maxNorm > 0, `maxNorm must be > 0, got ${r.maxNorm}`);
  return r;
}

/** Names of the per-parameter state buffers each rule keeps. */
export function stateSlots(name: OptimizerName): readonly ('m' | 'v')[] {
  return name === 'sgd' ? [] : name === 'momentum' ? ['m'] : ['m', 'v'];
}
