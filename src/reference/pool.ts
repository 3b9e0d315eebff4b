// Pooling, CPU reference in float64, forward and backward side by side. Written from the maths.
//
// Shapes (row-major, NHWC): x is (B,H,W,C), out is (B,OH,OW,C). Windows KHxKW with stride
// (SH,SW) and no padding: window (oh,ow) covers rows oh·SH..oh·SH+KH-1, columns ow·SW..ow·SW+KW-1.
//
//   max      out = max over the window; argmax is the FLAT index into x of the winner. Ties go
//            to the first element in row-major window order (kh outer, kw inner): a later
//            element replaces the best only when strictly greater.
//            dX[argmax[o]] += dOut[o]  (a pixel that wins several overlapping windows sums them)
//   avg      out = (1/(KH·KW))·Σ window;  dX[every window element] += dOut/(KH·KW)
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
  OH: number;
  OW: number;
}

function checkGeom(fn: string, B: number, g: PoolGeom): void {
  const { H, W, C, KH, KW, SH, SW, OH, OW } = g;
  checkDims(fn, { B, H, W, C, KH, KW, SH, SW, OH, OW });
  if (KH < 1 || KW < 1 || SH < 1 || SW < 1) {
    throw new ShapeError(`${fn}: window ${KH}x${KW} and stride ${SH}x${SW} must be at least 1`);
  }
  // Pools never pad, so every window must lie inside the map.
  if (OH > 0 && OW > 0 && ((OH - 1) * SH + KH > H || (OW - 1) * SW + KW > W)) {
    throw new ShapeError(
      `${fn}: ${OH}x${OW} windows of ${KH}x${KW} with stride ${SH}x${SW} do not fit the ${H}x${W} input; use OH = floor((H - KH) / SH) + 1`,
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
  const { H, W, C, KH, KW, SH, SW, OH, OW } = g;
  const out = new Float64Array(B * OH * OW * C);
  const argmax = new Int32Array(B * OH * OW * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) {
              const i = ((n * H + oh * SH + kh) * W + ow * SW + kw) * C + c;
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
  const { H, W, C, KH, KW, SH, SW, OH, OW } = g;
  const inv = 1 / (KH * KW);
  const out = new Float64Array(B * OH * OW * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) s += x[((n * H + oh * SH + kh) * W + ow * SW + kw) * C + c];
          }
          out[((n * OH + oh) * OW + ow) * C + c] = s * inv;
        }
      }
    }
  }
  return out;
}

/** dX (B,H,W,C): each window's dOut spread evenly over its KH·KW elements, summed over windows. */
export function avgPool2dBackward(dOut: NumArray, B: number, g: PoolGeom): Float64Array {
  const fn = 'avgPool2dBackward';
  checkGeom(fn, B, g);
  checkOut(fn, 'dOut', dOut, B, g);
  const { H, W, C, KH, KW, SH, SW, OH, OW } = g;
  const inv = 1 / (KH * KW);
  const dX = new Float64Array(B * H * W * C);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          const d = dOut[((n * OH + oh) * OW + ow) * C + c] * inv;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) dX[((n * H + oh * SH + kh) * W + ow * SW + kw) * C + c] += d;
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
