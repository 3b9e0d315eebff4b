// Random-resized crop (torchvision's RandomResizedCrop) and the centre crop of evaluation, on
// records stored larger than the network's input: the decoded cache keeps each picture at
// RRC_RECORD_SCALE times the input size (as ImageNet's 256 for 224), training draws a box inside
// the record and resamples it to the input size, and evaluation takes the centre input-size window.
//
// The box, per sample: torchvision draws an area fraction s ~ U(scale) and a log-uniform aspect
// r in `ratio`, sets w = round(sqrt(s A r)), h = round(sqrt(s A / r)) and retries (10 times, then
// falls back to the centre) until the box fits. Here the (s, r) plane is a fixed RRC_GRID x
// RRC_GRID grid of cell centres evaluated once per record size, keeping the boxes that fit, and a
// sample draws one of them (draw 5), then its top-left corner uniformly (draws 6 and 7). That is
// torchvision's distribution given that a box fits, on a 4,096-point grid instead of a continuum.
// Why a table: its floats (sqrt, log, exp) are computed once on the CPU, and the GPU gather and
// this file's CPU twin read the same integers, so they agree byte for byte.
//
// Resampling: bilinear with half-pixel centres (PyTorch's align_corners=False, edges clamped), in
// fixed point: the source row of output row y is ((2y + 1) h - H) / 2H, split into an integer row
// and an 8-bit fraction; the value is ((256 - fy)((256 - fx) a + fx b) + fy((256 - fx) c + fx d)
// + 32768) >> 16. No antialiasing: a box is at most RRC_RECORD_SCALE * sqrt(4/3) (about 1.3)
// times the output per side, where plain bilinear already sees every source pixel.
// The centre crop is the box (floor((Hr - H) / 2), floor((Wr - W) / 2), H, W): the same
// arithmetic gives an exact copy there (fractions 0).

import { ConfigError } from '../errors.js';

export interface RrcOptions {
  /** Area fraction range of the record, torchvision's default [0.08, 1]. */
  scale: [number, number];
  /** Aspect (width / height) range, torchvision's default [3/4, 4/3]. */
  ratio: [number, number];
}

export const DEFAULT_RRC: RrcOptions = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] };

/** Records are stored this much larger than the input side (256 / 224). */
export const RRC_RECORD_SCALE = 8 / 7;

/**
 * Under `rrc: 'auto'` (the command line's default for convolutional presets), folders whose
 * training size has a short side of at least this many pixels use random-resized crop: photos,
 * where a crop of 8% of the picture still shows the object, not thumbnails like CIFAR's 32x32,
 * which pad-and-crop suits.
 */
export const RRC_AUTO_MIN_SIDE = 96;

/** Points per axis of the (scale, log ratio) grid of boxes. */
export const RRC_GRID = 64;

export interface Box {
  y0: number;
  x0: number;
  h: number;
  w: number;
}

export interface Size2 {
  height: number;
  width: number;
}

/** The record size that an input of `input` is cut from under random-resized crop. */
export function rrcRecordSize(input: Size2): Size2 {
  return {
    height: Math.round(input.height * RRC_RECORD_SCALE),
    width: Math.round(input.width * RRC_RECORD_SCALE),
  };
}

export function validateRrc(value: unknown): RrcOptions {
  const v = (value ?? {}) as Record<string, unknown>;
  const pair = (key: 'scale' | 'ratio', lo: number, hi: number): [number, number] => {
    const x = v[key] ?? DEFAULT_RRC[key];
    const ok =
      Array.isArray(x) &&
      x.length === 2 &&
      x.every((n) => typeof n === 'number' && n > lo && n <= hi) &&
      x[0] <= x[1];
    if (!ok) {
      throw new ConfigError(
        `augment.rrc.${key} must be two increasing numbers in (${lo}, ${hi}], got ${JSON.stringify(x)}`,
      );
    }
    return [x[0] as number, x[1] as number];
  };
  return { scale: pair('scale', 0, 1), ratio: pair('ratio', 0, 100) };
}

/** Box sizes packed (h << 16) | w, in grid order: the table both twins draw from (see the header). */
export function rrcTable(record: Size2, rrc: RrcOptions): Uint32Array {
  const { height: H, width: W } = record;
  if (H > 0xffff || W > 0xffff) throw new ConfigError(`rrc: records of ${H}x${W} are too large`);
  const area = H * W;
  const [s0, s1] = rrc.scale;
  const [l0, l1] = [Math.log(rrc.ratio[0]), Math.log(rrc.ratio[1])];
  const out: number[] = [];
  for (let i = 0; i < RRC_GRID; i++) {
    const s = s0 + ((s1 - s0) * (i + 0.5)) / RRC_GRID;
    for (let j = 0; j < RRC_GRID; j++) {
      const r = Math.exp(l0 + ((l1 - l0) * (j + 0.5)) / RRC_GRID);
      const w = Math.round(Math.sqrt(area * s * r));
      const h = Math.round(Math.sqrt((area * s) / r));
      if (w >= 1 && w <= W && h >= 1 && h <= H) out.push(((h << 16) | w) >>> 0);
    }
  }
  if (out.length === 0) {
    // torchvision's fallback: the whole record, cut to the nearest allowed aspect.
    let w = W;
    let h = H;
    if (W / H < rrc.ratio[0]) h = Math.max(1, Math.round(W / rrc.ratio[0]));
    else if (W / H > rrc.ratio[1]) w = Math.max(1, Math.round(H * rrc.ratio[1]));
    out.push(((h << 16) | w) >>> 0);
  }
  return Uint32Array.from(out);
}

/** The box of table entry `entry` with its corner from draws u6 and u7 (u32 hashes). */
export function rrcBox(table: Uint32Array, entry: number, u6: number, u7: number, record: Size2): Box {
  const packed = table[entry];
  const h = packed >>> 16;
  const w = packed & 0xffff;
  return { y0: u6 % (record.height - h + 1), x0: u7 % (record.width - w + 1), h, w };
}

/** Evaluation's window: the centre `out`-sized box of the record. */
export function centreBox(record: Size2, out: Size2): Box {
  return {
    y0: Math.floor((record.height - out.height) / 2),
    x0: Math.floor((record.width - out.width) / 2),
    h: out.height,
    w: out.width,
  };
}

/** Per output index along one axis: the first source index and the 8-bit fraction toward the next. */
function axis(outN: number, box0: number, boxN: number): { i0: Int32Array; i1: Int32Array; f: Int32Array } {
  const i0 = new Int32Array(outN);
  const i1 = new Int32Array(outN);
  const f = new Int32Array(outN);
  for (let o = 0; o < outN; o++) {
    const num = Math.max(0, (2 * o + 1) * boxN - outN);
    const i = Math.floor(num / (2 * outN));
    f[o] = Math.floor((256 * (num - i * 2 * outN)) / (2 * outN));
    i0[o] = box0 + Math.min(i, boxN - 1);
    i1[o] = box0 + Math.min(i + 1, boxN - 1);
  }
  return { i0, i1, f };
}

/**
 * Writes the box of `src` (a record of `record` x C) resampled to `out` into `dst`, mirrored
 * left-right when `flip` (the output's column x reads the box's column for W-1-x).
 */
export function resampleBox(
  src: Uint8Array,
  dst: Uint8Array,
  record: Size2,
  out: Size2,
  C: number,
  box: Box,
  flip: boolean,
): void {
  const ys = axis(out.height, box.y0, box.h);
  const xs = axis(out.width, box.x0, box.w);
  const Wr = record.width;
  for (let y = 0; y < out.height; y++) {
    const fy = ys.f[y];
    const r0 = ys.i0[y] * Wr;
    const r1 = ys.i1[y] * Wr;
    for (let x = 0; x < out.width; x++) {
      const sx = flip ? out.width - 1 - x : x;
      const fx = xs.f[sx];
      const c0 = xs.i0[sx];
      const c1 = xs.i1[sx];
      const d = (y * out.width + x) * C;
      for (let c = 0; c < C; c++) {
        const top = (256 - fx) * src[(r0 + c0) * C + c] + fx * src[(r0 + c1) * C + c];
        const bot = (256 - fx) * src[(r1 + c0) * C + c] + fx * src[(r1 + c1) * C + c];
        dst[d + c] = ((256 - fy) * top + fy * bot + 32768) >>> 16;
      }
    }
  }
}

/** The centre `out` window of each of `count` records (exact copies: evaluation's crop). */
export function centreCropImages(
  images: Uint8Array,
  count: number,
  record: Size2,
  out: Size2,
  C: number,
): Uint8Array {
  const R = record.height * record.width * C;
  const O = out.height * out.width * C;
  const dst = new Uint8Array(count * O);
  const box = centreBox(record, out);
  for (let i = 0; i < count; i++) {
    resampleBox(
      images.subarray(i * R, (i + 1) * R),
      dst.subarray(i * O, (i + 1) * O),
      record,
      out,
      C,
      box,
      false,
    );
  }
  return dst;
}
