// What every kernel wrapper shares: the environment it builds in, buffer views, uniform packing
// and prepared dispatches. A Dispatch holds its pipeline and bind group, made once when a plan is
// compiled; encoding it each step allocates nothing.

import { ShapeError } from '../errors.js';
import { USAGE, type BufferPool } from '../gpu/buffers.js';
import type { PipelineCache } from '../gpu/pipelines.js';
import type { DType } from '../gpu/shader-types.js';

export interface KernelEnv {
  device: GPUDevice;
  pipelines: PipelineCache;
  pool: BufferPool;
}

/** A tensor: a byte range of a GPU buffer holding `length` f32/u32 values (or f16 ones). */
export interface TensorView {
  buffer: GPUBuffer;
  /** Byte offset; must be a multiple of minStorageBufferOffsetAlignment (256). */
  offset: number;
  /** Number of elements (4 bytes each, 2 for an f16 view). */
  length: number;
  /** 'f16' for a half-precision tensor (mixed precision); absent means 4-byte elements. */
  dtype?: DType;
}

/** The same bytes seen as `length` f16 values. */
export function halfView(buffer: GPUBuffer, length: number, offset = 0): TensorView {
  return { buffer, offset, length, dtype: 'f16' };
}

/** Bytes a binding of the view covers: f16 views round up to 16 bytes (one vec4<f16> pair). */
export function viewBytes(t: TensorView): number {
  if (t.dtype !== 'f16') return Math.max(4, t.length * 4);
  return Math.min(t.buffer.size - t.offset, Math.max(16, Math.ceil((t.length * 2) / 16) * 16));
}

export interface Dispatch {
  label: string;
  /** Kernel family for profiling ('matmul', 'loss', 'optim', ...). */
  kind: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export function view(buffer: GPUBuffer, length: number, offset = 0): TensorView {
  return { buffer, offset, length };
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

/** Packs a uniform struct of u32/f32 words (each entry tagged) into a new UNIFORM buffer. */
export function uniformBuffer(env: KernelEnv, words: readonly Word[], label: string): GPUBuffer {
  const buf = env.pool.acquire(Math.max(16, words.length * 4), USAGE.UNIFORM | USAGE.COPY_DST, label);
  env.device.queue.writeBuffer(buf, 0, packWords(words));
  return buf;
}

export type Word = { u: number } | { f: number };

export function packWords(words: readonly Word[]): ArrayBuffer {
  const n = Math.max(4, Math.ceil(words.length / 4) * 4);
  const data = new ArrayBuffer(n * 4);
  const u = new Uint32Array(data);
  const f = new Float32Array(data);
  words.forEach((w, i) => {
    if ('u' in w) u[i] = w.u >>> 0;
    else f[i] = w.f;
  });
  return data;
}

export function bindGroup(
  env: KernelEnv,
  pipeline: GPUComputePipeline,
  entries: readonly (GPUBuffer | TensorView | null)[],
  label: string,
): GPUBindGroup {
  // Index = binding number; null marks a binding the entry point does not use (auto layouts
  // only contain the bindings an entry point statically uses).
  const list: GPUBindGroupEntry[] = [];
  entries.forEach((e, binding) => {
    if (e === null) return;
    list.push(
      'length' in e && 'buffer' in e
        ? { binding, resource: { buffer: e.buffer, offset: e.offset, size: viewBytes(e) } }
        : { binding, resource: { buffer: e as GPUBuffer } },
    );
  });
  return env.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries: list });
}

/** Splits a 1-D grid of `groups` workgroups into (x, y) within the per-dimension limit. */
export function grid2d(env: KernelEnv, groups: number): [number, number, number] {
  const max = env.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y, 1];
}

export function requireLength(t: TensorView, need: number, what: string): void {
  if (t.length < need) {
    throw new ShapeError(`${what}: the buffer holds ${t.length} values but the shape needs ${need}.`);
  }
}

export function requireDims(dims: Record<string, number>, op: string): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1)
      throw new ShapeError(`${op}: ${k} must be a positive integer, got ${v}.`);
  }
}
