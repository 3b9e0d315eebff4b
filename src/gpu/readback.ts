// Asynchronous readback. The copy into a MAP_READ staging buffer is encoded by the caller inside
// its own command encoder (so a logging step still costs one submit); `map()` then resolves once
// the GPU has finished, without blocking the CPU from recording further steps.

import { USAGE, type BufferPool } from './buffers.js';

export class StagingBuffer {
  readonly buffer: GPUBuffer;
  private pending: Promise<void> | null = null;
  private reserved = false;

  constructor(
    private readonly pool: BufferPool,
    readonly bytes: number,
    label: string,
  ) {
    this.buffer = pool.acquire(bytes, USAGE.MAP_READ | USAGE.COPY_DST, label);
  }

  /** Whether a read is in flight or reserved (then the buffer must not be copied into). */
  get busy(): boolean {
    return this.pending !== null || this.reserved;
  }

  /** Holds the buffer for a read that starts later (paced waits, src/engine/step-waiter.ts). */
  reserve(): void {
    this.reserved = true;
  }

  encodeCopy(encoder: GPUCommandEncoder, src: GPUBuffer, srcOffset = 0, bytes = this.bytes): void {
    encoder.copyBufferToBuffer(src, srcOffset, this.buffer, 0, bytes);
  }

  /** Call after the submit that holds the copy; resolves with a copy of the bytes. */
  async read(bytes = this.bytes): Promise<ArrayBuffer> {
    const p = this.buffer.mapAsync(0x0001 /* GPUMapMode.READ */, 0, bytes);
    this.pending = p;
    try {
      await p;
      const out = this.buffer.getMappedRange(0, bytes).slice(0);
      this.buffer.unmap();
      return out;
    } finally {
      this.pending = null;
      this.reserved = false;
    }
  }

  release(): void {
    this.pool.release(this.buffer);
  }
}

/** One-off read of a whole buffer (tests, weight export): own encoder and submit. */
export async function readBuffer(
  device: GPUDevice,
  pool: BufferPool,
  src: GPUBuffer,
  bytes: number,
  offset = 0,
) {
  const staging = new StagingBuffer(pool, bytes, 'readback');
  try {
    const enc = device.createCommandEncoder({ label: 'readback' });
    staging.encodeCopy(enc, src, offset, bytes);
    device.queue.submit([enc.finish()]);
    return await staging.read(bytes);
  } finally {
    staging.release();
  }
}
