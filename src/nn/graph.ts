// The wiring of a model's layers: who reads whom, and the order to run them in.
//
// A layer reads the outputs named in its `inputs` ('input' is the model's input); without
// `inputs` it reads the previous layer of the list (the first layer reads the model's input), so
// a list without names is the straight stack every earlier model was. The last layer of the list
// is the model's output. The rules, each checked here before any shape or GPU work, with an error
// that names the layers involved:
//   - names are unique, non-empty strings other than 'input';
//   - every input names a layer (or 'input');
//   - no cycles (a layer may read a later layer of the list, as long as nothing loops back);
//   - every layer but the last is read by some layer (a branch that reaches no output is a
//     mistake, not dead weight to train).
// The execution order is topological; among the layers ready to run, the earliest in the list
// goes first, so a list that only reads backwards runs in list order.

import type { LayerSpec } from './layer-types.js';

/** The model's input, as an input name and as a producer index. */
export const INPUT_NAME = 'input';
export const INPUT_INDEX = -1;

export interface GraphLinks {
  /** Per layer, the producers it reads (-1 for the model's input). */
  inputs: number[][];
  /** Per layer, the layers that read it, ascending. */
  readers: number[][];
  inputReaders: number[];
  /** Topological execution order. */
  order: number[];
  names: (string | undefined)[];
  /** Whether any layer names its inputs. */
  isGraph: boolean;
}

type Fail = (message: string) => never;

const typeOf = (s: LayerSpec): string => (s && typeof s === 'object' && s.type) || 'dense';

/** "layer 3 'skip' (conv2d)" or "layer 3 (conv2d)". */
export function layerLabel(specs: readonly LayerSpec[], i: number): string {
  const name = specs[i]?.name;
  return `layer ${i}${typeof name === 'string' ? ` '${name}'` : ''} (${typeOf(specs[i])})`;
}

function namesOf(specs: readonly LayerSpec[], fail: Fail): Map<string, number> {
  const byName = new Map<string, number>();
  specs.forEach((s, i) => {
    if (s === null || typeof s !== 'object') fail(`layer ${i} must be an object.`);
    if (s.name === undefined) return;
    if (typeof s.name !== 'string' || s.name.trim() === '')
      fail(`layer ${i} (${typeOf(s)}): name must be a non-empty string, got ${JSON.stringify(s.name)}.`);
    if (s.name === INPUT_NAME)
      fail(`layer ${i} (${typeOf(s)}): the name '${INPUT_NAME}' is the model's input; choose another.`);
    const other = byName.get(s.name);
    if (other !== undefined)
      fail(`${layerLabel(specs, i)}: the name '${s.name}' is taken by layer ${other}; names must be unique.`);
    byName.set(s.name, i);
  });
  return byName;
}

function inputsOf(specs: readonly LayerSpec[], i: number, byName: Map<string, number>, fail: Fail): number[] {
  const raw = specs[i].inputs;
  if (raw === undefined) return [i - 1];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length === 0 || !list.every((n) => typeof n === 'string'))
    fail(
      `${layerLabel(specs, i)}: inputs must be a layer name or a non-empty list of names, got ${JSON.stringify(raw)}.`,
    );
  return list.map((n) => {
    if (n === INPUT_NAME) return INPUT_INDEX;
    const j = byName.get(n);
    if (j === undefined) {
      const known = [...byName.keys()];
      fail(
        `${layerLabel(specs, i)}: input '${n}' names no layer (${known.length > 0 ? `named layers: ${known.join(', ')}` : 'no layer has a name'}; '${INPUT_NAME}' is the model's input).`,
      );
    }
    return j!;
  });
}

/** A cycle through the unsorted layers, as "layer 2 'a' (conv2d) -> layer 4 'b' (add) -> layer 2 ...". */
function cycleText(specs: readonly LayerSpec[], inputs: number[][], left: Set<number>): string {
  // Walk inputs from any unsorted layer; within the unsorted set every layer has an unsorted
  // input, so the walk must revisit a layer: that loop is the cycle.
  let at = Math.min(...left);
  const seen: number[] = [];
  while (!seen.includes(at)) {
    seen.push(at);
    at = inputs[at].find((p) => left.has(p))!;
  }
  // In data-flow order (producer first), starting from the earliest layer of the list.
  const loop = seen.slice(seen.indexOf(at)).reverse();
  const start = loop.indexOf(Math.min(...loop));
  loop.push(...loop.splice(0, start));
  return [...loop, loop[0]].map((i) => layerLabel(specs, i)).join(' -> ');
}

/** Checks the wiring of specs and orders it; throws through `fail` with a one-line message. */
export function linkGraph(specs: readonly LayerSpec[], fail: Fail): GraphLinks {
  const byName = namesOf(specs, fail);
  const inputs = specs.map((_, i) => inputsOf(specs, i, byName, fail));
  const readers: number[][] = specs.map(() => []);
  const inputReaders: number[] = [];
  inputs.forEach((ins, i) => {
    for (const p of new Set(ins)) (p === INPUT_INDEX ? inputReaders : readers[p]).push(i);
  });
  // Kahn's algorithm, earliest ready layer first.
  const waiting = inputs.map((ins) => new Set(ins.filter((p) => p !== INPUT_INDEX)).size);
  const ready = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(i);
    for (const r of readers[i]) if (--waiting[r] === 0) ready.push(r);
  }
  if (order.length < specs.length) {
    const left = new Set(specs.map((_, i) => i).filter((i) => !order.includes(i)));
    fail(
      `${cycleText(specs, inputs, left)} form a cycle; a layer cannot read its own output, even through others.`,
    );
  }
  const last = specs.length - 1;
  readers.forEach((rs, i) => {
    if (i !== last && rs.length === 0)
      fail(
        `${layerLabel(specs, i)}: nothing reads its output and it is not the last layer (the model's output); name it in a later layer's inputs or remove it.`,
      );
  });
  return {
    inputs,
    readers,
    inputReaders,
    order,
    names: specs.map((s) => s.name),
    isGraph: specs.some((s) => s.inputs !== undefined),
  };
}
