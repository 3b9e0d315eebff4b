// GPU set-up shared by the commands: the adapter, and the per-adapter matmul variant choice.
//
// The choice comes from src/engine/tune.ts (chooseMatmulVariants measures each form once per
// adapter and caches the result). It is loaded dynamically and used only when that module exports
// it, so the commands keep working with the engine's default variant while tuning is unavailable.

import { acquireGpu, type GpuDevice } from '../gpu/device.js';
import { createKernelEnv } from '../kernels/env.js';
import { DEFAULT_VARIANT, variantName, type MatmulForm, type MatmulVariant } from '../kernels/matmul.js';
import type { CliContext } from './io.js';

export const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];

export interface VariantChoice {
  variants: Record<MatmulForm, MatmulVariant>;
  /** Extra per-shape choices the tuner reports (e.g. longK), shown by `info`. */
  extra: Record<string, MatmulVariant>;
  /** 'measured', 'cache', 'forced', or 'default' when no tuner is available. */
  source: string;
}

/** The device for a command: the context's (tests), else a new one; `software` forces that driver. */
export async function openGpu(
  ctx: CliContext,
  opts: { software?: 'lavapipe' | 'swiftshader' } = {},
): Promise<{ gpu: GpuDevice; owned: boolean }> {
  if (ctx.gpu && !opts.software) return { gpu: await ctx.gpu(), owned: false };
  const gpu = await acquireGpu({ log: (m) => ctx.io.err(`${m}\n`), software: opts.software });
  return { gpu, owned: true };
}

type Chooser = (env: unknown, report: unknown) => unknown;

function isVariant(v: unknown): v is MatmulVariant {
  const o = v as MatmulVariant | undefined;
  return typeof o === 'object' && o !== null && typeof o.kind === 'string' && typeof o.wgX === 'number';
}

export async function chooseVariants(gpu: GpuDevice): Promise<VariantChoice> {
  const fallback: VariantChoice = {
    variants: { forward: DEFAULT_VARIANT, weightGrad: DEFAULT_VARIANT, inputGrad: DEFAULT_VARIANT },
    extra: {},
    source: 'default',
  };
  let choose: Chooser | undefined;
  try {
    const mod = (await import('../engine/tune.js')) as Record<string, unknown>;
    if (typeof mod.chooseMatmulVariants === 'function') choose = mod.chooseMatmulVariants as Chooser;
  } catch {
    return fallback;
  }
  if (!choose) return fallback;
  const t = (await choose(createKernelEnv(gpu), gpu.report)) as Record<string, unknown>;
  if (!FORMS.every((f) => isVariant(t[f]))) return fallback;
  const extra: Record<string, MatmulVariant> = {};
  for (const [k, v] of Object.entries(t)) if (!FORMS.includes(k as MatmulForm) && isVariant(v)) extra[k] = v;
  return {
    variants: {
      forward: t.forward as MatmulVariant,
      weightGrad: t.weightGrad as MatmulVariant,
      inputGrad: t.inputGrad as MatmulVariant,
    },
    extra,
    source: typeof t.source === 'string' ? t.source : 'tuned',
  };
}

export function describeVariants(v: Record<string, MatmulVariant>): string {
  return Object.entries(v)
    .map(([form, variant]) => `${form} ${variantName(variant)}`)
    .join(', ');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The header's precision line: what ran, and why when 'auto' chose. */
export function describePrecision(asked: string, ran: 'f32' | 'f16'): string {
  const what =
    ran === 'f16'
      ? 'f16 mixed precision (f16 weight copies, hidden activations and their gradients; f32 accumulation, master weights and batch-norm statistics; dynamic loss scaling)'
      : 'f32';
  return asked === 'auto'
    ? `${what} (auto: ${ran === 'f16' ? 'measured faster' : 'f32 measured faster or no shader-f16'})`
    : what;
}
