// Pooling, CPU reference in float64, forward and backward side by side. Written from the maths.
//
// Shapes (row-major, NHWC): x is (B,H,W,C), out is (B,OH,OW,C). Windows KHxKW with stride
// (SH,SW) over the map padded by PH rows top and bottom and PW columns left and right (PyTorch's
// padding, at most half the window; absent is 0): window (oh,ow) covers rows oh·SH-PH..oh·SH-PH+KH-1
// and columns ow·SW-PW..ow·SW-PW+KW-1, OH = floor((H + 2·PH - KH)/SH) + 1. Only its cells inside
// the map take part below; the padded ones are what PyTorch makes them:
//
//   max      out = max over the window's map cells (padding is -inf: it never wins); argmax is
//            the FLAT index into x of the winner. Ties go to the first element in row-major
//            window order (kh outer, kw inner): a later element replaces the best only when
//            strictly greater.
//            dX[argmax[o]] += dOut[o]  (a pixel that wins several overlapping windows sums them)
//   avg      out = (1/(KH·KW))·Σ window, padding counting as zeros (count_include_pad=True);
//            dX[every window element in the map] += dOut/(KH·KW)
//   global   out[n,c] = (1/(H·W))·Σ_{h,w} x[n,h,w,c];  dX[n,h,w,c] = dOut[n,c]/(H·W)
// Backward OVERWRITES: it returns fresh arrays.

import { ShapeError } from '../errors.js';
import { checkDims, checkLength, type NumArray } from './check.js';

/** Pooling geometry; src/nn/layers.ts PoolGeometry objects fit this structurally. */
export interface PoolGeom {
  H: number;
  W: number;
  C: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  /** Padding on each side; absent is 0. */
  PH?: number;
  PW?: number;
  OH: number;
  OW: number;
}

/** The rows (or columns) [lo, hi) of the map that window o covers: its padded cells cut off. */
function span(o: number, S: number, P: number, K: number, n: number): [number, number] {
  const start = o * S - P;
  return [Math.max(start, 0), Math.min(start + K, n)];
}

function checkGeom(fn: string, B: number, g: PoolGeom): void {
  const { H, W, C, KH, KW, SH, SW, PH = 0, PW = 0, OH, OW } = g;
  checkDims(fn, { B, H, W, C, KH, KW, SH, SW, PH, PW, OH, OW });
  if (KH < 1 || KW < 1 || SH < 1 || SW < 1) {
    throw new ShapeError(`${fn}: window ${KH}x${KW} and stride ${SH}x${SW} must be at least 1`);
  }
  // At most half the window, so every window holds at least one cell of the map.
  if (2 * PH > KH || 2 * PW > KW) {
    throw new ShapeError(`${fn}: padding ${PH}x${PW} exceeds half the ${KH}x${KW} window`);
  }
  // Every window must lie inside the padded map.
  if (OH > 0 && OW > 0 && ((OH - 1) * SH + KH > H + 2 * PH || (OW - 1) * SW + KW > W + 2 * PW)) {
    throw new ShapeError(
      `${fn}: ${OH}x${OW} windows of ${KH}x${KW} with stride ${SH}x${SW} do not fit the ${H}x${W} input padded by ${PH}x${PW}; use OH = floor((H + 2*PH - KH) / SH) + 1`,
    );
  }
}

function checkX(fn: string, name: string, x: NumArray, B: number, g: PoolGeom): void {
  checkLength(fn, name, x, B * g.H * g.W * g.C, `(B,H,W,C)=(${B},${g.H},${g.W},${g.C})`);
}

function checkOut(fn: string, name: string, a: NumArray, B: number, g: PoolGeom): void {
  checkLength(fn, name, a, B * g.OH * g.OW * g.C, `(B,OH,OW,C)=(${B},${g.OH},${g.OW},${g.C})`);
}

/** Window maxima (B,OH,OW,C) and the flat x index of each winner. */
export function maxPool2dForward(
  x: NumArray,
  B: number,
  g: PoolGeom,
): { out: Float64Array; argmax: Int32Array } {
  const fn = 'maxPool2dForward';
  checkGeom(fn, B, g);
  checkX(fn, 'x', x, B, g);
  const { H, W, C, KH, KW, SH, SW, PH = 0, PW = 0, OH, OW } = g;
  const out = new Float64Array(B * OH * OW * C);
  const argmax = new Int32Array(B * OH * OW * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = span(oh, SH, PH, KH, H);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = span(ow, SW, PW, KW, W);
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let h = h0; h < h1; h++) {
            for (let w = w0; w < w1; w++) {
              const i = ((n * H + h) * W + w) * C + c;
              // at < 0 takes the first element even when it is -Infinity or NaN.
              if (at < 0 || x[i] > best) {
                best = x[i];
                at = i;
              }
            }
          }
          const o = ((n * OH + oh) * OW + ow) * C + c;
          out[o] = best;
          argmax[o] = at;
        }
      }
    }
  }
  return { out, argmax };
}

/** dX (B,H,W,C): dOut routed to each window's winner, summed where windows share a winner. */
export function maxPool2dBackward(dOut: NumArray, argmax: NumArray, B: number, g: PoolGeom): Float64Array {
  const fn = 'maxPool2dBackward';
  checkGeom(fn, B, g);
  checkOut(fn, 'dOut', dOut, B, g);
  checkOut(fn, 'argmax', argmax, B, g);
  const n = B * g.H * g.W * g.C;
  const dX = new Float64Array(n);
  for (let o = 0; o < dOut.length; o++) {
    const i = argmax[o];
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new ShapeError(
        `${fn}: argmax[${o}] = ${i} is not an index into x (0..${n - 1}); pass maxPool2dForward's argmax`,
      );
    }
    dX[i] += dOut[o];
  }
  return dX;
}

/** Window means (B,OH,OW,C). */
export function avgPool2dForward(x: NumArray, B: number, g: PoolGeom): Float64Array {
  const fn = 'avgPool2dForward';
  checkGeom(fn, B, g);
  checkX(fn, 'x', x, B, g);
  const { H, W, C, KH, KW, SH, SW, PH = 0, PW = 0, OH, OW } = g;
  const inv = 1 / (KH * KW);
  const out = new Float64Array(B * OH * OW * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = span(oh, SH, PH, KH, H);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = span(ow, SW, PW, KW, W);
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let h = h0; h < h1; h++) {
            for (let w = w0; w < w1; w++) s += x[((n * H + h) * W + w) * C + c];
          }
          out[((n * OH + oh) * OW + ow) * C + c] = s * inv;
        }
      }
    }
  }
  return out;
}

/** dX (B,H,W,C): each window's dOut/(KH·KW) on each of its map elements, summed over windows. */
export function avgPool2dBackward(dOut: NumArray, B: number, g: PoolGeom): Float64Array {
  const fn = 'avgPool2dBackward';
  checkGeom(fn, B, g);
  checkOut(fn, 'dOut', dOut, B, g);
  const { H, W, C, KH, KW, SH, SW, PH = 0, PW = 0, OH, OW } = g;
  const inv = 1 / (KH * KW);
  const dX = new Float64Array(B * H * W * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = span(oh, SH, PH, KH, H);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = span(ow, SW, PW, KW, W);
        for (let c = 0; c < C; c++) {
          const d = dOut[((n * OH + oh) * OW + ow) * C + c] * inv;
          for (let h = h0; h < h1; h++) {
            for (let w = w0; w < w1; w++) dX[((n * H + h) * W + w) * C + c] += d;
          }
        }
      }
    }
  }
  return dX;
}

/** Mean over H and W: x (B,H,W,C) -> (B,C). */
export function globalAvgPoolForward(x: NumArray, B: number, H: number, W: number, C: number): Float64Array {
  const fn = 'globalAvgPoolForward';
  checkDims(fn, { B, H, W, C });
  checkLength(fn, 'x', x, B * H * W * C, `(B,H,W,C)=(${B},${H},${W},${C})`);
  if (H * W === 0) throw new ShapeError(`${fn}: the map ${H}x${W} is empty; there is nothing to average`);
  const out = new Float64Array(B * C);
  const inv = 1 / (H * W);
  for (let n = 0; n < B; n++) {
    for (let p = 0; p < H * W; p++) {
      const xo = (n * H * W + p) * C;
      for (let c = 0; c < C; c++) out[n * C + c] += x[xo + c];
    }
    for (let c = 0; c < C; c++) out[n * C + c] *= inv;
  }
  return out;
}

/** dX (B,H,W,C) = dOut (B,C) / (H·W) at every position. */
export function globalAvgPoolBackward(
  dOut: NumArray,
  B: number,
  H: number,
  W: number,
  C: number,
): Float64Array {
  const fn = 'globalAvgPoolBackward';
  checkDims(fn, { B, H, W, C });
  checkLength(fn, 'dOut', dOut, B * C, `(B,C)=(${B},${C})`);
  if (H * W === 0) throw new ShapeError(`${fn}: the map ${H}x${W} is empty; there is nothing to average`);
  const inv = 1 / (H * W);
  const dX = new Float64Array(B * H * W * C);
  for (let n = 0; n < B; n++) {
    for (let p = 0; p < H * W; p++) {
      const xo = (n * H * W + p) * C;
      for (let c = 0; c < C; c++) dX[xo + c] = dOut[n * C + c] * inv;
    }
  }
  return dX;
}
