// What the worker reports about a model, drawn into the page: its summary and layer table, the
// first layer's weights as pictures, and its predictions on the test set.

import type { ImageSet } from '../../src/index.js';
import { byId, setText } from './dom.js';
import type { DataSummary, ModelSummary, ModelView } from './protocol.js';
import { renderConfusion, renderPredictionGrid, showBitmap } from './render.js';

/** The summary's images as an ImageSet for the drawing helpers. */
function imageSet(d: DataSummary, images: Uint8Array, count: number): ImageSet {
  const [height, width, channels] = d.shape;
  return { images, labels: new Int32Array(count), count, height, width, channels, source: d.title };
}

/** Test-set pictures and first-layer weights, as the worker computed them. */
export function showView(view: ModelView, d: DataSummary | undefined, model: ModelSummary | undefined): void {
  const f = view.firstLayer;
  if (f) {
    showBitmap(byId('weights', HTMLCanvasElement), f.picture);
    const s = f.shape;
    setText(
      'weights-caption',
      f.kind === 'conv2d'
        ? `The ${f.units} filters (${s.height}x${s.width}x${s.channels}) of the first convolution, grey = 0.`
        : `Each first-layer unit's weights as a ${s.height}x${s.width} picture, grey = 0.`,
    );
    byId('weights', HTMLCanvasElement).dataset.kind = f.kind;
  }
  const r = view.report;
  if (r && d && model) {
    const acc = byId('m-test-acc', HTMLElement);
    acc.textContent = `${(100 * r.accuracy).toFixed(1)}% of ${r.count}`;
    acc.dataset.value = String(r.accuracy);
    renderPredictionGrid(
      byId('pred-grid', HTMLDivElement),
      imageSet(d, d.testImages, d.testImageCount),
      r.items.filter((it) => it.index < d.testImageCount),
      model.classNames,
    );
    renderConfusion(byId('confusion', HTMLTableElement), r.confusion, model.classNames);
  }
}

/** The model's input, loss, parameter count, classes and layer table. */
export function showModelInfo(m: ModelSummary | undefined): void {
  if (!m) return;
  setText(
    'model-info',
    `Model ${m.origin}: input ${m.inputShape.join('x')}, loss ${m.loss}, ` +
      `${m.parameterCount.toLocaleString('en')} parameters, classes: ${m.classNames.join(', ')}.`,
  );
  byId('layers-info', HTMLOListElement).replaceChildren(
    ...m.lines.map((line) => {
      const li = document.createElement('li');
      li.textContent = line;
      return li;
    }),
  );
}
