// 2-D convolution (cross-correlation, as PyTorch and TensorFlow compute it), CPU reference in
// float64, forward and backward side by side. Written from the maths, not from any WGSL.
//
// Shapes (row-major, NHWC): x is (B,H,W,C), w is (F,KH,KW,C/G), bias is (F), Z is (B,OH,OW,F).
// Geometry: stride (SH,SW), padding padTop/padLeft before the first row/column; the padding
// past the last row/column is whatever OH/OW imply (padBottom/padRight are not read).
// Groups G (PyTorch's groups; 1 when absent) split the channels and the filters into G equal
// parts: filter f belongs to group g = floor(f / (F/G)) and sees only the input channels
// g·(C/G) + c for c < C/G, its weight row holding those C/G channels. G = C = F is a depthwise
// conv; F = 2C with G = C gives each channel two filters (a channel multiplier).
//
//   forward   Z[n,oh,ow,f] = bias[f] + Σ_{kh,kw,c<C/G} x[n, ih, iw, g·C/G + c]·w[f,kh,kw,c]
//             with ih = oh·SH - padTop + kh, iw = ow·SW - padLeft + kw; x outside the map is 0.
//   backward  dW[f,kh,kw,c] = Σ_{n,oh,ow} dZ[n,oh,ow,f]·x[n,ih,iw,g·C/G + c]   (in-range terms only)
//             dX[n,ih,iw,g·C/G + c] = Σ over the filters f of group g, (kh,kw) and the (oh,ow)
//                             that reach (ih,iw): dZ[n,oh,ow,f]·w[f,kh,kw,c]
//             db[f]         = Σ_{n,oh,ow} dZ[n,oh,ow,f]
// Backward OVERWRITES: it returns fresh arrays. Both passes loop over the same output-centred
// index set, so a term skipped as padding in the forward pass is skipped in the backward too.

import { ShapeError } from '../errors.js';
import { checkDims, checkLength, type NumArray } from './check.js';

/** Convolution geometry; src/nn/layers.ts ConvGeometry objects fit this structurally. */
export interface ConvGeom {
  H: number;
  W: number;
  C: number;
  F: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  padTop: number;
  padLeft: number;
  OH: number;
  OW: number;
  /** Groups; absent means 1. Must divide C and F. */
  G?: number;
}

export interface Conv2dGrads {
  /** (B,H,W,C) */
  dX: Float64Array;
  /** (F,KH,KW,C/G) */
  dW: Float64Array;
  /** (F), or length 0 for a convolution without bias. */
  db: Float64Array;
}

/** Channels per group (C/G) and filters per group (F/G); checks that G divides both. */
function checkGeom(fn: string, B: number, g: ConvGeom): [Cg: number, Fg: number] {
  const { H, W, C, F, KH, KW, SH, SW, padTop, padLeft, OH, OW } = g;
  const G = g.G ?? 1;
  checkDims(fn, { B, H, W, C, F, KH, KW, SH, SW, padTop, padLeft, OH, OW, G });
  if (KH < 1 || KW < 1 || SH < 1 || SW < 1) {
    throw new ShapeError(`${fn}: kernel ${KH}x${KW} and stride ${SH}x${SW} must be at least 1`);
  }
  if (G < 1 || C % G !== 0 || F % G !== 0) {
    throw new ShapeError(`${fn}: groups ${G} must be at least 1 and divide C = ${C} and F = ${F}`);
  }
  // The last window must start inside the padded map; a larger OH/OW would read only padding
  // past what any padding rule produces (layers.ts guarantees this for resolved models).
  if ((OH - 1) * SH - padTop >= H || (OW - 1) * SW - padLeft >= W) {
    throw new ShapeError(
      `${fn}: output ${OH}x${OW} with stride ${SH}x${SW} and padding ${padTop}/${padLeft} starts windows past the ${H}x${W} input; compute OH/OW with resolveModel`,
    );
  }
  return [C / G, F / G];
}

/** Z (B,OH,OW,F) = conv(x (B,H,W,C), w (F,KH,KW,C/G)) + bias (F). Pass bias = null for no bias. */
export function conv2dForward(
  x: NumArray,
  w: NumArray,
  bias: NumArray | null,
  B: number,
  g: ConvGeom,
): Float64Array {
  const fn = 'conv2dForward';
  const [Cg, Fg] = checkGeom(fn, B, g);
  const { H, W, C, F, KH, KW, SH, SW, padTop, padLeft, OH, OW } = g;
  checkLength(fn, 'x', x, B * H * W * C, `(B,H,W,C)=(${B},${H},${W},${C})`);
  checkLength(fn, 'w', w, F * KH * KW * Cg, `(F,KH,KW,C/G)=(${F},${KH},${KW},${Cg})`);
  if (bias !== null) checkLength(fn, 'bias', bias, F, `(F)=(${F})`);
  const Z = new Float64Array(B * OH * OW * F);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const zo = ((n * OH + oh) * OW + ow) * F;
        for (let f = 0; f < F; f++) {
          const c0 = Math.floor(f / Fg) * Cg;
          let s = bias === null ? 0 : bias[f];
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * SH - padTop + kh;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * SW - padLeft + kw;
              if (iw < 0 || iw >= W) continue;
              const xo = ((n * H + ih) * W + iw) * C + c0;
              const wo = ((f * KH + kh) * KW + kw) * Cg;
              for (let c = 0; c < Cg; c++) s += x[xo + c] * w[wo + c];
            }
          }
          Z[zo + f] = s;
        }
      }
    }
  }
  return Z;
}

/** dX, dW and db of conv2dForward for the upstream gradient dZ (B,OH,OW,F). */
export function conv2dBackward(
  x: NumArray,
  w: NumArray,
  dZ: NumArray,
  B: number,
  g: ConvGeom,
  hasBias: boolean,
): Conv2dGrads {
  const fn = 'conv2dBackward';
  const [Cg, Fg] = checkGeom(fn, B, g);
  const { H, W, C, F, KH, KW, SH, SW, padTop, padLeft, OH, OW } = g;
  checkLength(fn, 'x', x, B * H * W * C, `(B,H,W,C)=(${B},${H},${W},${C})`);
  checkLength(fn, 'w', w, F * KH * KW * Cg, `(F,KH,KW,C/G)=(${F},${KH},${KW},${Cg})`);
  checkLength(fn, 'dZ', dZ, B * OH * OW * F, `(B,OH,OW,F)=(${B},${OH},${OW},${F})`);
  const dX = new Float64Array(B * H * W * C);
  const dW = new Float64Array(F * KH * KW * Cg);
  const db = new Float64Array(hasBias ? F : 0);
  for (let n = 0; n < B; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const zo = ((n * OH + oh) * OW + ow) * F;
        for (let f = 0; f < F; f++) {
          const d = dZ[zo + f];
          const c0 = Math.floor(f / Fg) * Cg;
          if (hasBias) db[f] += d;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * SH - padTop + kh;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * SW - padLeft + kw;
              if (iw < 0 || iw >= W) continue;
              const xo = ((n * H + ih) * W + iw) * C + c0;
              const wo = ((f * KH + kh) * KW + kw) * Cg;
              for (let c = 0; c < Cg; c++) {
                dW[wo + c] += d * x[xo + c];
                dX[xo + c] += d * w[wo + c];
              }
            }
          }
        }
      }
    }
  }
  return { dX, dW, db };
}
