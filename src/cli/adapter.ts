// The adapter set-up shared by the commands: the device, and the per-adapter matmul variant choice
// (src/engine/tune.ts measures each form once per adapter and caches the result).

import { acquireGpu, type GpuDevice } from '../gpu/device.js';
import { createKernelEnv } from '../kernels/env.js';
import { variantName, type MatmulForm, type MatmulVariant } from '../kernels/matmul.js';
import { chooseMatmulVariants } from '../engine/tune.js';
import type { CliContext } from './terminal.js';

export const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];

export interface VariantChoice {
  variants: Record<MatmulForm, MatmulVariant>;
  /** Extra per-shape choices the tuner reports (e.g. longK), shown by `info`. */
  extra: Record<string, MatmulVariant>;
  /** How the tuner chose: 'measured', 'cache' or 'forced'. */
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

/** The tuner's matmul variant per form for this adapter (measured once, then cached). */
export async function chooseVariants(gpu: GpuDevice): Promise<VariantChoice> {
  const t = await chooseMatmulVariants(createKernelEnv(gpu), gpu.report);
  return {
    variants: { forward: t.forward, weightGrad: t.weightGrad, inputGrad: t.inputGrad },
    extra: { longK: t.longK },
    source: t.source,
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
