// Fine-tuning a trained network on other classes: the network of a model file, re-headed.
//
// The head is the output layer: the last layer of the list, which every valid model ends in, a
// dense layer that nothing but the model's output reads (src/nn/layers.ts checkHead), and the last
// layer with parameters. Re-heading replaces it with the output layer the loss needs for the new
// class count (units = classes; one sigmoid unit for bce), keeping its name and inputs, so the
// caller initialises it afresh; every other layer keeps its spec, and so its parameter shapes.
// When the classes are the file's own and the head already fits the loss, the head is kept too
// (the run continues the file's training).
//
// The input may change size: convolutions, pooling and a global average pool take any map, so a
// backbone trained at 224x224 runs at 64x64. What cannot change is anything that fixes a
// parameter's shape (the channels of the input, the features a flatten feeds a dense layer):
// checkTransfer compares every kept layer's parameter shapes in both networks.
// A dense-only network (a flat input, as the MLP preset writes) gets a flatten in front, so it
// reads [h, w, c] images in the engine's NHWC order, the order its flat input had.

import { ConfigError, ShapeError } from '../errors.js';
import { layerLabel, resolveModel } from './layers.js';
import type { LayerSpec, ModelSpec } from './layer-types.js';
import type { LossName } from './losses.js';
import { outputLayer } from './presets.js';

/** The head of a model: its index in spec.layers and in the model's parameter layers. */
export interface Head {
  layer: number;
  param: number;
}

/** The replaced head, for messages: where it is and how many outputs it had and has. */
export interface ReplacedHead extends Head {
  fromUnits: number;
  toUnits: number;
}

export interface Reheaded {
  /** The network on the new input shape, with the new head (or the file's). */
  spec: ModelSpec;
  /** Absent when the head was kept. */
  replaced?: ReplacedHead;
}

/** The head of a valid model (throws ConfigError when the spec is not one). */
export function findHead(spec: ModelSpec): Head {
  const m = resolveModel(spec);
  const layer = m.layers.length - 1;
  const param = m.params.length - 1;
  if (param < 0 || m.params[param].layer !== layer || m.params[param].type !== 'dense')
    throw new ConfigError(
      `${layerLabel(spec.layers, layer)} is not a dense output layer with weights; a network to re-head must end in one`,
    );
  return { layer, param };
}

/**
 * The loss of a fine-tuning run: the one asked for, else the file's when it fits the class count
 * (bce takes 2 classes only; other counts get softmax-ce).
 */
export function fineTuneLoss(fileLoss: LossName, asked: LossName | 'auto', classes: number): LossName {
  if (asked !== 'auto') return asked;
  return fileLoss === 'bce' && classes !== 2 ? 'softmax-ce' : fileLoss;
}

const isDenseOnly = (layers: readonly LayerSpec[]): boolean =>
  layers.every((l) => l.type === undefined || l.type === 'dense');

/** The output layer `loss` needs for `classes` classes, in the place of `old` (its name and inputs kept). */
function newHead(old: LayerSpec, loss: LossName, classes: number): LayerSpec {
  return {
    ...(old.name !== undefined ? { name: old.name } : {}),
    ...(old.inputs !== undefined ? { inputs: old.inputs } : {}),
    ...outputLayer(loss, classes),
  };
}

function headFits(head: LayerSpec, loss: LossName, classes: number): boolean {
  const want = outputLayer(loss, classes) as { units: number; activation: string };
  const h = head as { units?: number; activation?: string };
  return h.units === want.units && (h.activation ?? 'identity') === want.activation;
}

/**
 * The file's network on [h, w, c] inputs with a head for `classes` classes and `loss`; the head
 * is kept when `sameClasses` and it already fits. Throws ConfigError when the network does not run
 * at this shape, ShapeError when a kept layer's parameters would change shape.
 */
export function reheadModel(
  file: ModelSpec,
  shape: readonly [number, number, number],
  o: { classes: number; loss: LossName; sameClasses: boolean },
): Reheaded {
  const head = findHead(file);
  const flat = isDenseOnly(file.layers);
  const layers: LayerSpec[] = JSON.parse(JSON.stringify(file.layers)) as LayerSpec[];
  if (flat) layers.unshift({ type: 'flatten' });
  const at = head.layer + (flat ? 1 : 0);
  const keep = o.sameClasses && headFits(layers[at], o.loss, o.classes);
  const fromUnits = resolveModel(file).outputSize;
  if (!keep) layers[at] = newHead(layers[at], o.loss, o.classes);
  const spec: ModelSpec = { inputShape: [...shape], layers, loss: o.loss };
  const replaced = keep ? undefined : { layer: at, param: head.param, fromUnits, toUnits: 0 };
  if (replaced) replaced.toUnits = resolveModel(spec).outputSize;
  checkTransfer(file, spec, replaced?.param);
  return { spec, replaced };
}

/**
 * Every parameter layer but `skip` has the same shape in `from` and `to` (the same count of
 * parameter layers, in order). Throws ShapeError naming the layer and both shapes.
 */
export function checkTransfer(from: ModelSpec, to: ModelSpec, skip?: number): void {
  const a = resolveModel(from);
  const b = resolveModel(to);
  if (a.params.length !== b.params.length)
    throw new ShapeError(
      `the networks have ${a.params.length} and ${b.params.length} layers with parameters; they must be the same network`,
    );
  a.params.forEach((p, k) => {
    const q = b.params[k];
    if (k === skip) return;
    const same =
      p.type === q.type &&
      p.b.length === q.b.length &&
      p.shape.length === q.shape.length &&
      p.shape.every((d, i) => d === q.shape[i]);
    if (!same)
      throw new ShapeError(
        `${layerLabel(to.layers, q.layer)} needs ${q.type} weights of ${q.shape.join('x')} on ${b.inputShape.join('x')} inputs, ` +
          `but the file's are ${p.shape.join('x')} (it was trained on ${a.inputShape.join('x')})`,
      );
  });
}
