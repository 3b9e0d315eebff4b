// What every self-test check shares: seeded inputs, GPU buffers (outputs NaN-poisoned so an
// element no invocation writes fails), one submit per case, readback, and the comparison with the
// float64 reference that becomes one row of the report.
//
// A comparison passes when every element has |a - e| <= atol + rtol*|e| and the relative L2
// error ||a - e|| / ||e|| <= l2, the same rule as the unit tests (test/helpers/allclose.ts).

import { USAGE } from '../gpu/buffers.js';
import { readBuffer } from '../gpu/readback.js';
import { packHalf, unpackHalf } from '../gpu/half.js';
import {
  encodeDispatch,
  halfView,
  view,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from '../kernels/common.js';
import type { Rng } from '../rng.js';
import type { Tol } from './tolerances.js';

export interface CheckResult {
  /** Kernel family and entry, e.g. 'matmul forward + relu'. */
  kernel: string;
  variant: string;
  shape: string;
  /** Largest |gpu - reference| (Infinity when an element is NaN or missing). */
  maxError: number;
  relL2: number;
  tolerance: Tol;
  pass: boolean;
  /** The first mismatches, with their indices, when it failed. */
  detail?: string;
}

export interface SelftestOptions {
  /**
   * Tests only: adds 1 to the first GPU output element of every check whose kernel name starts
   * with this string, so the report must show a failure. Nothing shipped sets it (the selftest
   * command reads no environment for it); test/cli/selftest.test.ts passes it directly.
   */
  injectFault?: string;
}

/** The context each family's checks run in: buffers on one device and the result list. */
export class Harness {
  readonly results: CheckResult[] = [];
  private readonly owned: GPUBuffer[] = [];

  constructor(
    readonly env: KernelEnv,
    private readonly options: SelftestOptions = {},
  ) {}

  upload(data: ArrayLike<number>, kind: 'f32' | 'u32' = 'f32'): TensorView {
    const arr = kind === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
    const buf = this.env.pool.acquire(
      Math.max(16, arr.byteLength),
      USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC,
      'selftest',
    );
    this.owned.push(buf);
    this.env.device.queue.writeBuffer(buf, 0, arr);
    return view(buf, arr.length);
  }

  /** An output buffer full of NaN: an element the kernel forgets to write cannot pass. */
  poisoned(length: number): TensorView {
    return this.upload(new Float32Array(length).fill(NaN));
  }

  /** An f16 tensor of `data` rounded to half precision (mixed-precision checks). */
  uploadHalf(data: ArrayLike<number>): TensorView {
    const bits = packHalf(data);
    const padded = new Uint16Array(Math.max(8, Math.ceil(bits.length / 8) * 8));
    padded.set(bits);
    const buf = this.env.pool.acquire(
      padded.byteLength,
      USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC,
      'selftest',
    );
    this.owned.push(buf);
    this.env.device.queue.writeBuffer(buf, 0, padded);
    return halfView(buf, data.length);
  }

  /** Reads a view back as numbers, whether it holds f32 or f16 values. */
  async download(t: TensorView): Promise<Float32Array> {
    if (t.dtype === 'f16') {
      const bytes = await readBuffer(
        this.env.device,
        this.env.pool,
        t.buffer,
        Math.ceil(t.length / 2) * 4,
        t.offset,
      );
      return unpackHalf(new Uint16Array(bytes, 0, t.length));
    }
    return new Float32Array(
      await readBuffer(this.env.device, this.env.pool, t.buffer, t.length * 4, t.offset),
    );
  }

  run(dispatches: readonly Dispatch[]): void {
    const enc = this.env.device.createCommandEncoder({ label: 'selftest' });
    const pass = enc.beginComputePass({ label: 'selftest' });
    for (const d of dispatches) encodeDispatch(pass, d);
    pass.end();
    this.env.device.queue.submit([enc.finish()]);
  }

  /** Returns every buffer of the finished case to the pool. */
  free(): void {
    for (const b of this.owned.splice(0)) this.env.pool.release(b);
  }

  /** Compares one GPU output with its reference and records the row. */
  compare(
    row: { kernel: string; variant?: string; shape: string },
    actual: Float32Array,
    expected: ArrayLike<number>,
    tol: Tol,
  ): void {
    const got = Float32Array.from(actual);
    const fault = this.options.injectFault;
    if (fault !== undefined && row.kernel.startsWith(fault) && got.length > 0) got[0] += 1;
    this.results.push({
      ...row,
      variant: row.variant ?? '-',
      ...allclose(got, expected, tol),
      tolerance: tol,
    });
  }
}

const SHOW = 3;

export function allclose(
  a: ArrayLike<number>,
  e: ArrayLike<number>,
  tol: Tol,
): { maxError: number; relL2: number; pass: boolean; detail?: string } {
  if (a.length !== e.length) {
    return {
      maxError: Infinity,
      relL2: Infinity,
      pass: false,
      detail: `length ${a.length}, expected ${e.length}`,
    };
  }
  let maxError = 0;
  let errSq = 0;
  let refSq = 0;
  let bad = 0;
  const lines: string[] = [];
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    // !(d <= bound): NaN on either side is a mismatch.
    if (!(d <= tol.atol + tol.rtol * Math.abs(e[i]))) {
      bad++;
      if (lines.length < SHOW) lines.push(`[${i}] got ${a[i]}, expected ${e[i]}`);
    }
    maxError = Math.max(maxError, Number.isNaN(d) ? Infinity : d);
    errSq += Number.isNaN(d) ? Infinity : d * d;
    refSq += e[i] * e[i];
  }
  const relL2 = refSq > 0 ? Math.sqrt(errSq / refSq) : Math.sqrt(errSq);
  const pass = bad === 0 && relL2 <= tol.l2;
  if (pass) return { maxError, relL2, pass };
  const head = bad > 0 ? `${bad}/${e.length} outside tolerance: ${lines.join('; ')}` : '';
  return { maxError, relL2, pass, detail: head || `relative L2 ${relL2.toExponential(2)} > ${tol.l2}` };
}

/** n values uniform in [lo, hi], never closer to 0 than 1e-3 (no exact zeros, no relu ties). */
export function randF32(rng: Rng, n: number, lo = -2, hi = 2): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    do v = Math.fround(rng.uniform(lo, hi));
    while (Math.abs(v) < 1e-3);
    a[i] = v;
  }
  return a;
}

/** A seed from a case's numbers: every shape its own, reproducible stream. */
export function seedOf(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) h = (Math.imul(h ^ p, 0x9e3779b1) + 0x7f4a7c15) | 0;
  return h >>> 0;
}
