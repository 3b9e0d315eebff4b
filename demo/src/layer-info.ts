// What the page shows of a network's layers, for straight stacks and graphs alike (runs in the
// worker; no DOM). A layer of a graph shows its name, and the outputs it reads when they are not
// simply the layer above it in the list:
//   "conv2d 3x3/1 same, 8 relu -> 28x28x8, 80 parameters"        (a stack: one line per layer)
//   "s1.res.add: add 2 relu from s1.res.2.bn, s1.pool -> 16x16x32" (a graph's residual join)

import { describeLayer, type ResolvedLayer, type ResolvedModel } from '../../src/index.js';
import type { FirstLayer } from './protocol.js';

/** The name a graph reads an output by: the model's input, the layer's name, or its index. */
function producerName(m: ResolvedModel, j: number): string {
  if (j < 0) return 'input';
  return m.layers[j].name ?? `layer ${j}`;
}

/** One line per layer, in list order: name, type, inputs (where not the layer above), shape, parameters. */
export function layerLines(m: ResolvedModel): string[] {
  return m.layers.map((l) => {
    const params = l.param ? l.param.W.length + l.param.b.length : 0;
    const reads =
      l.inputs.length === 1 && l.inputs[0] === l.index - 1
        ? ''
        : ` from ${l.inputs.map((j) => producerName(m, j)).join(', ')}`;
    return (
      `${l.name === undefined ? '' : `${l.name}: `}${describeLayer(l)}${reads} -> ${l.outShape.join('x')}` +
      (params ? `, ${params.toLocaleString('en')} parameters` : '')
    );
  });
}

/** Whether `l` sees the model's input as it is (through flatten and dropout only, which keep its values' order). */
function readsInput(m: ResolvedModel, l: ResolvedLayer): boolean {
  if (l.inputs.length !== 1) return false;
  const j = l.inputs[0];
  if (j < 0) return true;
  const p = m.layers[j];
  return (p.type === 'flatten' || p.type === 'dropout') && readsInput(m, p);
}

/**
 * The weighted layer that reads the input images, to draw its weights as pictures: conv filters
 * [KH, KW, C / groups], or dense rows as input-sized images. `param` indexes m.params (and the
 * trainer's weights). Undefined when no dense or conv layer reads the input directly.
 */
export function firstLayerOf(
  m: ResolvedModel,
  inputShape: readonly [number, number, number],
): (Omit<FirstLayer, 'picture'> & { param: number }) | undefined {
  const param = m.params.findIndex(
    (p) => (p.type === 'conv2d' || p.type === 'dense') && readsInput(m, m.layers[p.layer]),
  );
  if (param < 0) return undefined;
  const p = m.params[param];
  const layer = m.layers[p.layer];
  if (p.type === 'conv2d') {
    const c = layer.conv!;
    return {
      param,
      kind: 'conv2d',
      units: c.F,
      shape: { height: c.KH, width: c.KW, channels: c.C / (c.G ?? 1) },
    };
  }
  const [height, width, channels] = inputShape;
  if (height * width * channels !== layer.inSize) return undefined;
  return { param, kind: 'dense', units: p.units, shape: { height, width, channels } };
}
