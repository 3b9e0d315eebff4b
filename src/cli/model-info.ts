// `webgpu-trainer info MODEL`: what a model file holds, read without a GPU: its input, classes,
// normalisation, network and parameter count, and where its weights came from (training.source of
// an `import`, training.from of a `train --from` run, the dataset of a `train` run).

import { resolveModel } from '../nn/layers.js';
import type { JsonObject } from '../io/modelfile.js';
import { describeNormalization, describeSource } from './from-model.js';
import { loadModelForUse } from './model.js';
import { describeNet } from './summary.js';

/** One provenance block {file, sha256, source?, from?} in words, following its chain of files. */
function describeFrom(from: unknown): string {
  if (typeof from !== 'object' || from === null) return String(from);
  const f = from as Record<string, unknown>;
  const source = describeSource(f.source);
  const hash = typeof f.sha256 === 'string' ? `sha256 ${f.sha256.slice(0, 12)}` : '';
  const inner = [hash, source].filter((x) => x).join('; ');
  const own = `${String(f.file)}${inner ? ` (${inner})` : ''}`;
  return f.from === undefined ? own : `${own}, itself from ${describeFrom(f.from)}`;
}

/** The file's description: JSON, or rows of text. */
export async function modelInfo(file: string, json: boolean): Promise<string> {
  const m = await loadModelForUse(file);
  const a = m.model.architecture;
  const t = m.model.training;
  const parameters = resolveModel(m.spec).paramCount;
  if (json) {
    const out: JsonObject = {
      file,
      inputShape: a.inputShape,
      classNames: m.classNames,
      normalization: m.model.normalization,
      loss: a.loss,
      layers: a.layers.length,
      parameters,
      training: t,
      createdAt: m.model.createdAt,
    };
    return JSON.stringify(out, null, 2) + '\n';
  }
  const dataset = t.dataset as { source?: unknown; train?: unknown; test?: unknown } | undefined;
  const source = describeSource(t.source);
  const rows: [string, string][] = [
    ['model', file],
    ['input', a.inputShape.join('x')],
    ['classes', `${m.classNames.length}: ${m.classNames.join(', ')}`],
    ['normalize', describeNormalization(m.model.normalization)],
    ['network', describeNet(m.spec)],
    ['parameters', parameters.toLocaleString('en-US')],
  ];
  if (dataset?.source !== undefined)
    rows.push([
      'dataset',
      `${String(dataset.source)} (${String(dataset.train)} train, ${String(dataset.test)} test)`,
    ]);
  if (source) rows.push(['source', source]);
  if (t.from !== undefined) rows.push(['from', describeFrom(t.from)]);
  rows.push(['created', m.model.createdAt]);
  return rows.map(([k, v]) => `${k.padEnd(11)}${v}`).join('\n') + '\n';
}
