// Buffer pool: every GPU buffer the engine makes goes through here, so the live count and bytes
// are known (the no-growth benchmark prints them) and released buffers are reused by size and
// usage instead of being re-created. Sizes are padded to 16 bytes: vec4 loads and copyBufferToBuffer
// both want 4-byte multiples, and 16 keeps every tensor vec4-addressable.

import { GpuOutOfMemoryError } from '../errors.js';

// GPUBufferUsage is a global only after Dawn's globals are installed (Node) or in browsers; the
// numeric values are fixed by the WebGPU spec, so modules use these without depending on globals.
export const USAGE = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export function padTo(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private liveBytes = 0;
  private peak = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Number of buffers handed out and not yet released. */
  get liveCount(): number {
    return this.live.size;
  }
  get bytesInUse(): number {
    return this.liveBytes;
  }
  get peakBytes(): number {
    return this.peak;
  }

  acquire(bytes: number, usage: number, label: string): GPUBuffer {
    const size = Math.max(16, padTo(bytes, 16));
    const maxSize = this.device.limits.maxBufferSize;
    if (size > maxSize) {
      throw new GpuOutOfMemoryError(
        `Buffer '${label}' needs ${size} bytes but this adapter allows at most ${maxSize} per buffer. ` +
          'Use a smaller batch size or model.',
      );
    }
    const key = `${size}:${usage}`;
    const reuse = this.free.get(key)?.pop();
    const buf = reuse ?? this.device.createBuffer({ size, usage, label });
    if (reuse) buf.label = label;
    this.live.add(buf);
    this.liveBytes += size;
    this.peak = Math.max(this.peak, this.liveBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.liveBytes -= buf.size;
    const key = `${buf.size}:${buf.usage}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buf);
  }

  /** Destroys cached free buffers (live ones stay with their owners). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }
}

/** queue.writeBuffer for any typed array (TypeScript's ArrayBufferLike typing aside). */
export function writeArray(queue: GPUQueue, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
}
