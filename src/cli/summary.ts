// The network as a table, layer by layer, the way Keras's model.summary() prints it: each layer's
// output shape per sample, its learned parameters and (conv and dense) its forward multiply-adds
// per sample, then the totals and the activation memory one training batch needs. `train` prints
// it in its header.
//
// Activation memory counts what the engine keeps on the GPU per batch: the input rows, and for
// every layer its output Z, its activation A and the gradients of both (4 float32 tensors of the
// layer's output size; layers whose A is Z itself still count both, so it is an upper bound).
// It grows linearly with the batch size, which is why the recipe caps the batch for large images.

import { describeLayer, resolveModel, type ModelSpec } from '../nn/layers.js';

const fmtInt = (n: number) => n.toLocaleString('en-US');
/** The layers whose multiply-adds are counted (pooling and normalisation cost reads, not MACs). */
const isProduct = (type: string) => type === 'dense' || type === 'conv2d';

/** Bytes of activations (and their gradients) one batch of B samples keeps on the GPU. */
export function activationBytes(spec: ModelSpec, B: number): number {
  const m = resolveModel(spec);
  return B * (m.inputSize + 4 * m.layers.reduce((s, l) => s + l.outSize, 0)) * 4;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The table's lines (no trailing newline): header row, one row per layer, totals, memory. */
export function layerTable(spec: ModelSpec, B: number): string[] {
  const m = resolveModel(spec);
  const params = new Map<number, number>();
  for (const p of m.params) params.set(p.layer, p.W.length + p.b.length);
  const rows = [
    ['input', m.inputShape.join('x'), '', ''],
    ...m.layers.map((l) => [
      describeLayer(l),
      l.outShape.join('x'),
      fmtInt(params.get(l.index) ?? 0),
      isProduct(l.type) ? fmtInt(l.macs) : '',
    ]),
  ];
  const head = ['layer', 'output', 'params', 'MACs'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    [r[0].padEnd(width[0]), r[1].padEnd(width[1]), r[2].padStart(width[2]), r[3].padStart(width[3])]
      .join('  ')
      .trimEnd();
  const macs = m.layers.reduce((s, l) => s + (isProduct(l.type) ? l.macs : 0), 0);
  return [
    line(head),
    ...rows.map(line),
    `total ${fmtInt(m.paramCount)} parameters (${formatMiB(m.paramCount * 4)}), ${fmtInt(macs)} multiply-adds per sample forward`,
    `activations ${formatMiB(activationBytes(spec, B))} per batch of ${B} (input, and Z, A and their gradients of every layer, float32)`,
  ];
}
