// Pictures of data and of the network: sample grids, first-layer weights, the test-image grid
// with right/wrong marks, and the confusion matrix (an HTML table, so screen readers read it).
// The sample grid and the weights are drawn in the worker on an OffscreenCanvas and reach the
// page as one ImageBitmap each (showBitmap), so the page's thread only copies a picture.

import type { ImageSet } from '../../src/index.js';
import type { GridItem } from './protocol.js';

/** Writes image `index` of `set` (uint8 NHWC, 1 or 3 channels) into an RGBA ImageData. */
export function toImageData(set: ImageSet, index: number): ImageData {
  const { height: h, width: w, channels: c } = set;
  const img = new ImageData(w, h);
  const base = index * h * w * c;
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = set.images[base + p * c + (c === 3 ? k : 0)];
    img.data[4 * p + 3] = 255;
  }
  return img;
}

/** Draws the first `count` images of `set` in a grid, scaled to fill the canvas. */
export function drawSampleGrid(
  canvas: HTMLCanvasElement | OffscreenCanvas,
  set: ImageSet,
  count: number,
): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const cell = Math.floor(Math.min(canvas.width / cols, canvas.height / rows));
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const tile = new OffscreenCanvas(set.width, set.height);
  const tctx = tile.getContext('2d')!;
  for (let i = 0; i < Math.min(count, set.count); i++) {
    tctx.putImageData(toImageData(set, i), 0, 0);
    ctx.drawImage(tile, (i % cols) * cell + 1, Math.floor(i / cols) * cell + 1, cell - 2, cell - 2);
  }
}

/**
 * The first layer's weights as images: a dense unit's row W[u, :] reshaped to the input image, or
 * a conv filter W[f] ([KH, KW, C], the engine's layout), scaled symmetrically so 0 is mid-grey
 * (RGB inputs show as colour). At most `max` units are drawn.
 */
export function drawWeights(
  canvas: HTMLCanvasElement | OffscreenCanvas,
  W: Float32Array,
  units: number,
  shape: { height: number; width: number; channels: number },
  max = 64,
): void {
  const { height: h, width: w, channels: c } = shape;
  const n = Math.min(units, max);
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const cell = Math.floor(Math.min(canvas.width / cols, canvas.height / rows));
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const tile = new OffscreenCanvas(w, h);
  const tctx = tile.getContext('2d')!;
  const F = h * w * c;
  for (let u = 0; u < n; u++) {
    let peak = 1e-12;
    for (let i = 0; i < F; i++) peak = Math.max(peak, Math.abs(W[u * F + i]));
    const img = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < 3; k++) {
        const v = W[u * F + p * c + (c === 3 ? k : 0)] / peak;
        img.data[4 * p + k] = Math.round(127.5 + 127.5 * v);
      }
      img.data[4 * p + 3] = 255;
    }
    tctx.putImageData(img, 0, 0);
    ctx.drawImage(tile, (u % cols) * cell + 1, Math.floor(u / cols) * cell + 1, cell - 2, cell - 2);
  }
}

/** Test images with the predicted class and its probability, marked right or wrong. */
export function renderPredictionGrid(
  host: HTMLElement,
  set: ImageSet,
  items: GridItem[],
  classNames: string[],
): void {
  host.replaceChildren(
    ...items.map((it) => {
      const fig = document.createElement('figure');
      const right = it.predicted === it.label;
      fig.className = right ? 'right' : 'wrong';
      const canvas = document.createElement('canvas');
      canvas.width = set.width;
      canvas.height = set.height;
      canvas.getContext('2d')!.putImageData(toImageData(set, it.index), 0, 0);
      const cap = document.createElement('figcaption');
      cap.dataset.prob = String(it.prob);
      cap.textContent = `${right ? '✓' : '✗'} ${classNames[it.predicted]} ${(100 * it.prob).toFixed(1)}%`;
      canvas.setAttribute('role', 'img');
      canvas.setAttribute(
        'aria-label',
        `test image ${it.index}: labelled ${classNames[it.label]}, predicted ${classNames[it.predicted]} (${right ? 'right' : 'wrong'})`,
      );
      fig.append(canvas, cap);
      return fig;
    }),
  );
}

/** counts[true * K + predicted] as a table; cell shade follows the row-normalised count. */
export function renderConfusion(table: HTMLTableElement, counts: Uint32Array, classNames: string[]): void {
  const K = classNames.length;
  const head = document.createElement('tr');
  head.append(th('true \\ predicted', 'col'), ...classNames.map((c) => th(c, 'col')));
  const rows = classNames.map((name, t) => {
    const tr = document.createElement('tr');
    tr.append(th(name, 'row'));
    let total = 0;
    for (let p = 0; p < K; p++) total += counts[t * K + p];
    for (let p = 0; p < K; p++) {
      const td = document.createElement('td');
      const n = counts[t * K + p];
      const share = total ? n / total : 0;
      td.textContent = String(n);
      const hue = p === t ? '34, 139, 34' : '200, 40, 40';
      td.style.background = `rgba(${hue}, ${Math.min(0.85, share).toFixed(3)})`;
      if (share > 0.5) td.style.color = '#fff';
      tr.append(td);
    }
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

function th(text: string, scope: 'row' | 'col'): HTMLTableCellElement {
  const el = document.createElement('th');
  el.scope = scope;
  el.textContent = text;
  return el;
}

/** Shows a picture drawn elsewhere (the worker) on a 2D canvas, closing the bitmap. */
export function showBitmap(canvas: HTMLCanvasElement, bitmap: ImageBitmap): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
}
