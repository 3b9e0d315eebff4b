// Frozen layers (fine-tuning a pretrained backbone), as PyTorch users know them from
// `requires_grad = False` on the parameters and `eval()` on the frozen batch norms:
//   - a frozen layer's parameters are never touched by the optimizer (no step, no weight decay,
//     their moments left as they are);
//   - a frozen batch norm normalises with its running statistics and does not update them; a
//     frozen dropout keeps dropping (PyTorch does, unless eval() is called on it);
//   - no gradient is computed for a frozen layer, nor for anything upstream of it.
// A frozen set must be closed upstream: every producer of a frozen layer is frozen (the model's
// input counts as frozen), so the backward pass simply stops where nothing upstream trains.
//
// 'backbone' freezes every layer but the head: the last layer with parameters (the output dense
// layer, which a model's spec always ends with) and whatever it feeds.

import { ConfigError } from '../errors.js';
import type { ResolvedModel, TensorSlot } from '../nn/layers.js';
import { layerLabel, PARAM_ALIGN } from '../nn/layers.js';

/**
 * What to freeze: nothing, every layer but the head, or these layers (indices into spec.layers;
 * every producer of a frozen layer must be frozen too).
 */
export type FreezeSpec = 'none' | 'backbone' | { layers: readonly number[] };

/** Per layer of spec.layers, whether it is frozen. Throws ConfigError on a bad or open set. */
export function resolveFreeze(m: ResolvedModel, f: FreezeSpec | undefined): boolean[] {
  const L = m.layers.length;
  if (f === undefined || f === 'none') return new Array<boolean>(L).fill(false);
  if (f === 'backbone') return backbone(m);
  if (f === null || typeof f !== 'object' || !Array.isArray(f.layers)) {
    throw new ConfigError(
      `freeze must be 'none', 'backbone' or {layers: [indices]}, got ${JSON.stringify(f)}.`,
    );
  }
  const frozen = new Array<boolean>(L).fill(false);
  for (const i of f.layers) {
    if (!Number.isInteger(i) || i < 0 || i >= L)
      throw new ConfigError(`freeze: layer index ${String(i)} is not one of the model's layers 0..${L - 1}.`);
    frozen[i] = true;
  }
  checkClosed(m, frozen);
  if (!m.layers.some((l, i) => l.param && !frozen[i]))
    throw new ConfigError(
      'freeze: every layer with parameters is frozen, so there is nothing to train; leave the head (the last layer) out.',
    );
  return frozen;
}

/** Every layer but the last with parameters and the layers it feeds. */
function backbone(m: ResolvedModel): boolean[] {
  const L = m.layers.length;
  let head = -1;
  for (const i of m.order) if (m.layers[i].param) head = i;
  const downstream = new Array<boolean>(L).fill(false);
  downstream[head] = true;
  for (const i of m.order) if (m.layers[i].inputs.some((p) => p >= 0 && downstream[p])) downstream[i] = true;
  return downstream.map((d) => !d);
}

/** Every producer of a frozen layer is frozen; throws ConfigError naming the first that is not. */
function checkClosed(m: ResolvedModel, frozen: readonly boolean[]): void {
  const specs = m.spec.layers;
  for (const i of m.order) {
    if (!frozen[i]) continue;
    const open = m.layers[i].inputs.find((p) => p >= 0 && !frozen[p]);
    if (open !== undefined)
      throw new ConfigError(
        `freeze: ${layerLabel(specs, i)} is frozen but reads ${layerLabel(specs, open)}, which trains; a frozen set must include every layer upstream of it (freeze ${open} too, or unfreeze ${i}).`,
      );
  }
}

/**
 * Per layer, whether its gradient d loss / dZ is needed: it is not frozen and it has parameters
 * or reads a layer whose gradient is needed. The backward pass runs exactly these layers.
 */
export function gradientNeeded(m: ResolvedModel, frozen: readonly boolean[]): boolean[] {
  const need = new Array<boolean>(m.layers.length).fill(false);
  for (const i of m.order) {
    const l = m.layers[i];
    need[i] = !frozen[i] && (l.param !== undefined || l.inputs.some((p) => p >= 0 && need[p]));
  }
  return need;
}

/**
 * The stretches of the flat parameter buffer the optimizer updates, [offset, end) in f32 values:
 * the trainable layers' slots, merged where they are adjacent (padding between tensors has zero
 * gradient and zero value, so it may ride along). One range covers everything when nothing is
 * frozen. Offsets are multiples of 64 floats (the slots' alignment), as storage bindings need.
 */
export function trainableRanges(m: ResolvedModel, frozen: readonly boolean[]): [number, number][] {
  const slots: TensorSlot[] = [];
  for (const l of m.layers) {
    if (!l.param || frozen[l.index]) continue;
    slots.push(l.param.W);
    if (l.param.b.length > 0) slots.push(l.param.b);
  }
  slots.sort((a, b) => a.offset - b.offset);
  const frozenSlots = m.layers
    .filter((l) => l.param && frozen[l.index])
    .flatMap((l) => [l.param!.W, l.param!.b].filter((s) => s.length > 0));
  const ranges: [number, number][] = [];
  for (const s of slots) {
    // Up to the next tensor's alignment: the padding rides along, whole vec4s for the optimizer.
    const end = Math.min(Math.ceil((s.offset + s.length) / PARAM_ALIGN) * PARAM_ALIGN, m.paramSize);
    const last = ranges[ranges.length - 1];
    // Merge when no frozen tensor lies between the previous range and this slot.
    if (last && !frozenSlots.some((f) => f.offset >= last[1] && f.offset < s.offset)) last[1] = end;
    else ranges.push([s.offset, end]);
  }
  return ranges;
}

/** What is frozen, in numbers: layers and parameters, frozen and in all. */
export interface FreezeSummary {
  frozenLayers: number;
  layers: number;
  frozenParams: number;
  params: number;
}

export function freezeSummary(m: ResolvedModel, frozen: readonly boolean[]): FreezeSummary {
  let frozenParams = 0;
  for (const l of m.layers)
    if (l.param && frozen[l.index]) frozenParams += l.param.W.length + l.param.b.length;
  return {
    frozenLayers: frozen.filter(Boolean).length,
    layers: m.layers.length,
    frozenParams,
    params: m.paramCount,
  };
}

/** A FreezeSpec as JSON (checkpoints), and back with its shape checked. */
export function freezeToJson(f: FreezeSpec): string | { layers: number[] } {
  return typeof f === 'string' ? f : { layers: [...f.layers] };
}

export function freezeFromJson(v: unknown, what: string): FreezeSpec {
  if (v === 'none' || v === 'backbone') return v;
  if (v !== null && typeof v === 'object' && Array.isArray((v as { layers?: unknown }).layers)) {
    const layers = (v as { layers: unknown[] }).layers;
    if (layers.every((i) => Number.isInteger(i))) return { layers: layers as number[] };
  }
  throw new ConfigError(
    `${what}: the stored freeze state ${JSON.stringify(v)} is not 'none', 'backbone' or {layers}.`,
  );
}
