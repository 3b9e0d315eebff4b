// The tensors of a plan over a model graph (a straight stack is the graph where each layer reads
// the one before): per layer Z and A, the gradients d loss / dZ, and the order of the backward
// pass's gradient traffic, with gradient buffers reused once nothing reads them any more.
//
// Sources. A flatten moves no data: its Z and A are its input's views, and its gradient is its
// source's (the nearest non-flatten producer, or the model's input). "Readers" below are the
// non-flatten layers reading a source, through flattens, one entry per input slot.
//
// Gradients. G[l] = d loss / dZ[l] (the loss writes the output layer's). The backward pass visits
// the layers in reverse execution order; every reader of a layer comes before it. A one-input
// reader's backward writes its input gradient with the source's act' fused (LayerIO.dIn): the
// first such reader writes G[source] itself, any later one a temporary that is summed in. A join
// (add, concat) writes nothing in its own turn: when the visit reaches one of its sources, the
// join's gradient for that input is copied (or added) into G[source] with the act' applied
// (LayerModule.joinGrad). These sums run just before the source's own backward, when every
// reader is done. An add input with no activation and no other reader shares the add's gradient
// buffer instead: d loss / dZ of that input IS the add's (no copy).
//
// Liveness. Each gradient tensor lives from its first write to its last read. They are placed in
// buffers of one size (the largest layer output) with a free list, so a straight stack uses two,
// and a residual network a few more (a skip's gradient waits while its block runs backward).
//
// Precision. A layer keeps Z, A and G in f16 (mixed precision) when its module takes f16 views,
// it is not the output, and it has exactly one reader whose module does too; joins and the
// tensors they touch, and tensors with several readers, stay f32 (their sums run in f32).

import { halfView, view, type TensorView } from '../kernels/common.js';
import type { ResolvedModel } from '../nn/layers.js';
import { LAYER_MODULES } from './layers/index.js';

export interface Reader {
  /** The reading layer (never a flatten) and which of its inputs the tensor is. */
  r: number;
  k: number;
}

/** The nearest non-flatten producer of layer p's output, through flattens; -1 for the model's input. */
export function sourceOf(m: ResolvedModel, p: number): number {
  while (p >= 0 && m.layers[p].type === 'flatten') p = m.layers[p].inputs[0];
  return p;
}

/** Per layer, its readers through flattens (empty for flattens and the output). */
export function readersOf(m: ResolvedModel): Reader[][] {
  const readers: Reader[][] = m.layers.map(() => []);
  for (const i of m.order) {
    const l = m.layers[i];
    if (l.type === 'flatten') continue;
    l.inputs.forEach((p, k) => {
      const s = sourceOf(m, p);
      if (s >= 0) readers[s].push({ r: i, k });
    });
  }
  return readers;
}

const halfReady = (m: ResolvedModel, l: number): boolean => {
  const type = m.layers[l].type;
  return type !== 'flatten' && LAYER_MODULES[type].halfPrecision === true;
};

/** Which layers keep Z, A and G in f16 (see the header). */
export function halfOutputs(m: ResolvedModel, readers: readonly Reader[][], half: boolean): boolean[] {
  const last = m.layers.length - 1;
  return m.layers.map((_, l) => {
    if (!half || l === last || !halfReady(m, l)) return false;
    const rs = readers[l];
    return rs.length === 1 && halfReady(m, rs[0].r);
  });
}

/** One step of the backward pass's gradient traffic, on logical gradient tensors. */
export type GradEvent =
  /** The layer's own backward: reads G[layer], writes its input gradient `dIn` (a tensor id) or none. */
  | { kind: 'backward'; layer: number; dIn: number | undefined }
  /** G[target] += temp (a second one-input reader's gradient). */
  | { kind: 'sum'; temp: number; target: number }
  /** The join's gradient for its input k into G[target]: copy, or add when `accumulate`. */
  | { kind: 'join'; join: number; k: number; target: number; accumulate: boolean };

/**
 * The backward pass as events. Tensor ids: layer l's gradient is l (or the id of the add it
 * shares a buffer with: `alias`), temporaries are numbered from the layer count up.
 */
export interface GradSchedule {
  events: GradEvent[];
  /** Per layer, the tensor id holding its G (itself, or an add's); -1 for flattens. */
  tensorOf: number[];
  /** Per temporary (id - layer count), the layer whose gradient it is part of. */
  temps: number[];
}

export function gradSchedule(m: ResolvedModel, readers: readonly Reader[][]): GradSchedule {
  const L = m.layers.length;
  const tensorOf = m.layers.map((l, i) => (l.type === 'flatten' ? -1 : i));
  // Sharing: an identity-activation source read once, by an add (see the header).
  for (let p = 0; p < L; p++) {
    const rs = readers[p];
    if (rs.length !== 1 || tensorOf[p] < 0) continue;
    const j = m.layers[rs[0].r];
    if (j.type === 'add' && m.layers[p].activation === 'identity') tensorOf[p] = rs[0].r;
  }
  const resolve = (id: number): number => (tensorOf[id] === id ? id : resolve(tensorOf[id]));
  for (let p = 0; p < L; p++) if (tensorOf[p] >= 0) tensorOf[p] = resolve(p);

  const written = new Array<boolean>(L).fill(false);
  const pendingTemps: number[][] = m.layers.map(() => []);
  const temps: number[] = [];
  const events: GradEvent[] = [];
  for (const l of [...m.order].reverse()) {
    const layer = m.layers[l];
    if (layer.type === 'flatten') continue;
    // Assemble G[l] from what its readers left: temporaries, then joins' gradients.
    for (const temp of pendingTemps[l]) events.push({ kind: 'sum', temp, target: l });
    for (const { r, k } of readers[l]) {
      if (LAYER_MODULES[m.layers[r].type as Exclude<typeof layer.type, 'flatten'>].joinGrad === undefined)
        continue;
      if (tensorOf[l] === tensorOf[r]) continue; // shares the add's buffer
      events.push({ kind: 'join', join: r, k, target: l, accumulate: written[l] });
      written[l] = true;
    }
    let dIn: number | undefined;
    const p = sourceOf(m, layer.inputs[0]);
    const joins = LAYER_MODULES[layer.type].joinGrad !== undefined;
    if (!joins && p >= 0) {
      if (!written[p]) {
        dIn = p;
        written[p] = true;
      } else {
        dIn = L + temps.length;
        temps.push(p);
        pendingTemps[p].push(dIn);
      }
    }
    events.push({ kind: 'backward', layer: l, dIn });
  }
  return { events, tensorOf, temps };
}

/** What each event reads and writes, as root tensor ids (for liveness). */
function touches(s: GradSchedule, e: GradEvent): { reads: number[]; writes: number[] } {
  const t = (id: number) => (id < s.tensorOf.length ? s.tensorOf[id] : id);
  switch (e.kind) {
    case 'backward':
      return { reads: [t(e.layer)], writes: e.dIn === undefined ? [] : [t(e.dIn)] };
    case 'sum':
      return { reads: [e.temp], writes: [t(e.target)] };
    case 'join':
      return { reads: [t(e.join)], writes: [t(e.target)] };
  }
}

/**
 * Places the gradient tensors in shared buffers (`slots` physical ones, allocated by `make`),
 * reusing a buffer once its tensor's last reader has run. The output layer's gradient is live
 * from the start (the loss writes it). Returns the buffer of every root tensor id.
 */
export function placeGradients<T>(
  s: GradSchedule,
  output: number,
  make: (index: number) => T,
): Map<number, T> {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const outRoot = s.tensorOf[output];
  first.set(outRoot, -1);
  s.events.forEach((e, i) => {
    const { reads, writes } = touches(s, e);
    for (const id of [...reads, ...writes]) {
      if (!first.has(id)) first.set(id, i);
      last.set(id, i);
    }
  });
  const free: T[] = [];
  const made: T[] = [];
  const placed = new Map<number, T>();
  const take = (id: number) => {
    const b = free.pop() ?? make(made.length);
    if (!made.includes(b)) made.push(b);
    placed.set(id, b);
  };
  take(outRoot);
  s.events.forEach((_, i) => {
    for (const [id, f] of first) if (f === i) take(id);
    for (const [id, l] of last) if (l === i) free.push(placed.get(id)!);
  });
  return placed;
}

/**
 * Values one batch sample keeps for training, as the plan lays them out (f32 counts; f16 tensors
 * take half): the input, Z and A of every layer (A only with an activation; flattens none), and
 * the gradient buffers (`gradientBuffers` of the largest layer output each).
 */
export function planFootprint(m: ResolvedModel): {
  activations: number;
  gradients: number;
  gradientBuffers: number;
} {
  const s = gradSchedule(m, readersOf(m));
  let buffers = 0;
  placeGradients(s, m.layers.length - 1, () => buffers++);
  const forward = m.layers.reduce(
    (sum, l) => sum + (l.type === 'flatten' ? 0 : l.outSize * (l.activation === 'identity' ? 1 : 2)),
    m.inputSize,
  );
  const largest = Math.max(...m.layers.map((l) => l.outSize));
  return { activations: forward, gradients: buffers * largest, gradientBuffers: buffers };
}

/** A view of `n` values of buffer b with the dtype of `like`. */
export const gradView = (b: GPUBuffer, n: number, like: TensorView): TensorView =>
  like.dtype === 'f16' ? halfView(b, n) : view(b, n);
