// Image preprocessing shared by training (image folders) and prediction: channel conversion,
// optional centre crop, then resize to [h, w]. Pure functions on bytes; no DOM, no Node.
//   channels 1: ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B; channels 3: RGB, gray expanded.
//   Alpha is dropped, not composited: training images should not depend on a background colour.
//   Resize is separable: each axis uses area averaging when it shrinks (every source pixel counts,
//   so no aliasing) and bilinear with half-pixel centres when it grows. Equal size is a copy.
import type { PreprocessOptions, RawImage } from './decode.js';

// The options live beside the decoder interface that takes them (decode.ts).
export type { PreprocessOptions, ResizeMode } from './decode.js';

/** Returns HWC uint8 pixels of size[0] x size[1] x channels. */
export function preprocessImage(img: RawImage, opts: PreprocessOptions): Uint8Array {
  const [outH, outW] = opts.size;
  if (!(Number.isInteger(outH) && Number.isInteger(outW) && outH > 0 && outW > 0)) {
    throw new RangeError(`preprocess size must be two positive integers, got [${opts.size.join(', ')}]`);
  }
  const ch = opts.channels ?? 3;
  let src = convertChannels(img, ch);
  let { width, height } = img;
  if ((opts.mode ?? 'resize') === 'center-crop') {
    const c = centerCrop(src, width, height, ch, outW / outH);
    src = c.data;
    width = c.width;
    height = c.height;
  }
  if (width === outW && height === outH) return src;
  return resize(src, width, height, ch, outW, outH);
}

function convertChannels(img: RawImage, ch: 1 | 3): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * ch);
  const s = img.data;
  const k = img.channels;
  const gray = k <= 2;
  for (let i = 0; i < n; i++) {
    const p = i * k;
    if (ch === 1) {
      out[i] = gray ? s[p] : Math.round(0.299 * s[p] + 0.587 * s[p + 1] + 0.114 * s[p + 2]);
    } else if (gray) {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = s[p];
    } else {
      out[3 * i] = s[p];
      out[3 * i + 1] = s[p + 1];
      out[3 * i + 2] = s[p + 2];
    }
  }
  return out;
}

/** Largest centred window with the target aspect ratio (w/h). */
function centerCrop(src: Uint8Array, w: number, h: number, ch: number, aspect: number) {
  let cw = w;
  let ch2 = h;
  if (w / h > aspect) cw = Math.max(1, Math.round(h * aspect));
  else ch2 = Math.max(1, Math.round(w / aspect));
  if (cw === w && ch2 === h) return { data: src, width: w, height: h };
  const x0 = Math.floor((w - cw) / 2);
  const y0 = Math.floor((h - ch2) / 2);
  const out = new Uint8Array(cw * ch2 * ch);
  for (let y = 0; y < ch2; y++) {
    const from = ((y0 + y) * w + x0) * ch;
    out.set(src.subarray(from, from + cw * ch), y * cw * ch);
  }
  return { data: out, width: cw, height: ch2 };
}

/** Per output index: source indices and weights (summing to 1). */
interface Taps {
  idx: Int32Array[];
  wt: Float64Array[];
}

function axisTaps(inN: number, outN: number): Taps {
  const idx: Int32Array[] = [];
  const wt: Float64Array[] = [];
  const scale = inN / outN;
  for (let o = 0; o < outN; o++) {
    if (outN < inN) {
      // Area: output pixel o covers source interval [o*scale, (o+1)*scale).
      const a = o * scale;
      const b = a + scale;
      const i0 = Math.floor(a);
      const i1 = Math.min(inN, Math.ceil(b));
      const is: number[] = [];
      const ws: number[] = [];
      for (let i = i0; i < i1; i++) {
        const cover = Math.min(b, i + 1) - Math.max(a, i);
        if (cover > 0) {
          is.push(i);
          ws.push(cover / scale);
        }
      }
      idx.push(Int32Array.from(is));
      wt.push(Float64Array.from(ws));
    } else {
      const x = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inN - 1);
      const i0 = Math.floor(x);
      const i1 = Math.min(i0 + 1, inN - 1);
      const f = x - i0;
      idx.push(Int32Array.from([i0, i1]));
      wt.push(Float64Array.from([1 - f, f]));
    }
  }
  return { idx, wt };
}

function resize(src: Uint8Array, w: number, h: number, ch: number, outW: number, outH: number): Uint8Array {
  const tx = axisTaps(w, outW);
  const ty = axisTaps(h, outH);
  // Horizontal pass into float so the two passes round only once.
  const mid = new Float64Array(h * outW * ch);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      const is = tx.idx[x];
      const ws = tx.wt[x];
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let t = 0; t < is.length; t++) acc += ws[t] * src[(y * w + is[t]) * ch + c];
        mid[(y * outW + x) * ch + c] = acc;
      }
    }
  }
  const out = new Uint8Array(outH * outW * ch);
  for (let y = 0; y < outH; y++) {
    const is = ty.idx[y];
    const ws = ty.wt[y];
    for (let x = 0; x < outW * ch; x++) {
      let acc = 0;
      for (let t = 0; t < is.length; t++) acc += ws[t] * mid[is[t] * outW * ch + x];
      out[y * outW * ch + x] = Math.min(255, Math.max(0, Math.round(acc)));
    }
  }
  return out;
}
