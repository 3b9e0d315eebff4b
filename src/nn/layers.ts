// The layer vocabulary of a sequential model, and shape inference: one definition that the
// engine, the CPU reference, model files, the CLI, the demo and the PyTorch export all read.
//
// Tensors are NHWC and batch-major: an image map is [B, H, W, C], a flat one [B, F]. Per layer
// (each type's module in src/nn/layer-kinds/ gives its maths and shape rule in its header):
//   dense         [F] -> [units]          Z = X W^T + b, A = act(Z); W [units, F] (nn.Linear)
//   conv2d        [H,W,C] -> [OH,OW,F]     Z = conv(X, W) + b, A = act(Z); W [F, KH, KW, C]
//   maxpool2d     [H,W,C] -> [OH,OW,C]     window max
//   avgpool2d     [H,W,C] -> [OH,OW,C]     window mean
//   globalavgpool [H,W,C] -> [C]           mean over H and W
//   batchnorm     [H,W,C] or [F]           per channel (last axis), batch or running statistics
//   dropout       same shape               inverted dropout in training, identity in evaluation
//   flatten       [H,W,C] -> [H*W*C]       NHWC order, no data moves
//
// Parameters live in one flat buffer, each tensor on a 64-float boundary (PARAM_ALIGN); batch-norm
// running statistics in a second, state buffer.

import { ConfigError } from '../errors.js';
import { ACTIVATIONS, isActivation, type Activation } from './activations.js';
import { LOSSES } from './losses.js';
import { layerLabel, linkGraph, type GraphLinks } from './graph.js';
import { LAYER_KINDS, type ResolveContext } from './layer-kinds/index.js';
import {
  LAYER_TYPES,
  type LayerSpec,
  type LayerType,
  type ModelSpec,
  type ParamLayer,
  type ResolvedLayer,
  type ResolvedModel,
  type StateLayer,
  type TensorSlot,
} from './layer-types.js';

export * from './layer-types.js';
export { INPUT_NAME, layerLabel } from './graph.js';

/** Every tensor starts on a 64-float (256-byte) boundary: storage bindings need that offset alignment. */
export const PARAM_ALIGN = 64;

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

const fail = (m: string): never => {
  throw new ConfigError(`Invalid model: ${m}`);
};

/** The model's input shape, [H, W, C] or [features], from inputShape or inputSize. */
function inputShapeOf(spec: ModelSpec): number[] {
  if (spec.inputShape === undefined) {
    if (!Number.isInteger(spec.inputSize) || (spec.inputSize ?? 0) < 1)
      fail(`inputSize must be a positive integer, got ${spec.inputSize}.`);
    return [spec.inputSize!];
  }
  const s = spec.inputShape;
  if (
    !Array.isArray(s) ||
    (s.length !== 1 && s.length !== 3) ||
    !s.every((d) => Number.isInteger(d) && d > 0)
  )
    fail(`inputShape must be [H, W, C] or [features] with positive integers, got ${JSON.stringify(s)}.`);
  const size = s.reduce((a, b) => a * b, 1);
  if (spec.inputSize !== undefined && spec.inputSize !== size)
    fail(`inputSize ${spec.inputSize} does not match inputShape ${shapeText(s)} (${size} values).`);
  return [...s];
}

/** The parameter and state buffers' allocators: offsets grow in PARAM_ALIGN steps. */
class Slots {
  params = 0;
  count = 0;
  state = 0;
  take(n: number): TensorSlot {
    const slot = { offset: this.params, length: n };
    this.params += Math.ceil(n / PARAM_ALIGN) * PARAM_ALIGN;
    this.count += n;
    return slot;
  }
  /** Lays every parameter and state tensor out again, in the order of `layers`. */
  relayout(layers: readonly ResolvedLayer[]): void {
    this.params = 0;
    this.count = 0;
    this.state = 0;
    for (const l of layers) {
      if (l.param) {
        l.param.W.offset = this.take(l.param.W.length).offset;
        l.param.b.offset = l.param.b.length > 0 ? this.take(l.param.b.length).offset : this.params;
      }
      if (l.state) Object.assign(l.state, this.takeState(l.index, l.state.channels));
    }
  }
  takeState(layer: number, channels: number): StateLayer {
    const step = Math.ceil(channels / PARAM_ALIGN) * PARAM_ALIGN;
    const s = { layer, channels, mean: this.state, variance: this.state + step };
    this.state += 2 * step;
    return s;
  }
}

/** The validators and allocators one layer's kind module works with. */
function contextFor(
  i: number,
  label: string,
  type: LayerType,
  shapes: number[][],
  isLast: boolean,
  slots: Slots,
): ResolveContext {
  const shape = shapes[0];
  const bad = (m: string): never => fail(`${label}: ${m}`);
  const posInt = (v: unknown, what: string): number => {
    if (!Number.isInteger(v) || (v as number) < 1)
      bad(`${what} must be a positive integer, got ${String(v)}.`);
    return v as number;
  };
  return {
    index: i,
    isLast,
    shape,
    shapes,
    inSize: shape.reduce((a, b) => a * b, 1),
    bad,
    posInt,
    pairOf(v, what) {
      if (!Array.isArray(v)) return [posInt(v, what), posInt(v, what)];
      if (v.length !== 2) bad(`${what} must be a number or [h, w], got ${JSON.stringify(v)}.`);
      return [posInt(v[0], what), posInt(v[1], what)];
    },
    activationOf(s) {
      const a = s.activation ?? 'identity';
      if (typeof a !== 'string' || !isActivation(a))
        bad(`unknown activation '${String(a)}' (use ${ACTIVATIONS.join(', ')}).`);
      if (a === 'softmax' && (!isLast || type !== 'dense'))
        bad('softmax is only supported on the last layer, a dense one.');
      if (s.alpha !== undefined && !Number.isFinite(s.alpha)) bad('alpha must be a finite number.');
      return [a as Activation, (s.alpha as number | undefined) ?? 0.01];
    },
    needMap(what) {
      if (shape.length !== 3)
        bad(
          `${what} needs an image map [H, W, C] as input, but its input is flat ${shapeText(shape)}; give the model an inputShape [H, W, C] or move this layer before the flatten.`,
        );
      return [shape[0], shape[1], shape[2]];
    },
    take: (n) => slots.take(n),
    empty: () => ({ offset: slots.params, length: 0 }),
    takeState: (channels) => slots.takeState(i, channels),
  };
}

/** One layer: its kind checks the spec and fills in shapes, geometry, parameters and cost. */
function resolveLayer(
  specs: readonly LayerSpec[],
  i: number,
  links: GraphLinks,
  shapes: number[][],
  slots: Slots,
): ResolvedLayer {
  const raw = specs[i];
  const type: LayerType = raw.type ?? 'dense';
  if (!(LAYER_TYPES as readonly string[]).includes(type))
    fail(`layer ${i}: unknown type '${String(type)}' (use ${LAYER_TYPES.join(', ')}).`);
  const label = layerLabel(specs, i);
  const kind = LAYER_KINDS[type];
  const inputs = links.inputs[i];
  if (kind.joins === true && inputs.length < 2)
    fail(`${label}: it joins two or more inputs; list them as inputs: ['a', 'b'].`);
  if (kind.joins !== true && inputs.length !== 1)
    fail(
      `${label}: it reads one input, got ${inputs.length}; join several with an 'add' or 'concat' layer first.`,
    );
  const inShapes = inputs.map((p) => [...shapes[p + 1]]);
  const ctx = contextFor(i, label, type, inShapes, i === specs.length - 1, slots);
  const r: ResolvedLayer = {
    index: i,
    type,
    spec: raw,
    name: links.names[i],
    inputs,
    readers: links.readers[i],
    inShape: inShapes[0],
    inShapes,
    outShape: [...inShapes[0]],
    inSize: ctx.inSize,
    outSize: ctx.inSize,
    activation: 'identity',
    alpha: 0.01,
    macs: 0,
  };
  kind.resolve(raw, r, ctx);
  r.outSize = r.outShape.reduce((a, b) => a * b, 1);
  return r;
}

/** The checks on the whole model's end: a dense classifier or regressor that fits the loss. */
function checkHead(spec: ModelSpec, last: ResolvedLayer): void {
  if (last.outShape.length !== 1)
    fail(
      `the last layer's output is the map ${shapeText(last.outShape)}; end with 'globalavgpool' or 'flatten' and a dense layer.`,
    );
  if (last.type !== 'dense')
    fail(`the last layer must be dense (the classifier or regressor), got '${last.type}'.`);
  if (spec.loss === 'bce' && last.activation !== 'sigmoid')
    fail(`loss 'bce' is computed on logits and needs a final 'sigmoid' layer (got '${last.activation}').`);
  if (spec.loss === 'softmax-ce' && (last.activation !== 'softmax' || last.outSize < 2))
    fail(`loss 'softmax-ce' needs a final 'softmax' layer with at least 2 units.`);
}

/** Checks a spec and infers every layer's shape and parameter slots; throws ConfigError naming the layer. */
export function resolveModel(spec: ModelSpec): ResolvedModel {
  if (spec === null || typeof spec !== 'object') fail('the spec must be an object.');
  const inputShape = inputShapeOf(spec);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) fail('it needs at least one layer.');
  if (!(LOSSES as readonly string[]).includes(spec.loss))
    fail(`unknown loss '${String(spec.loss)}' (use ${LOSSES.join(', ')}).`);
  const links = linkGraph(spec.layers, fail);
  const slots = new Slots();
  const layers: ResolvedLayer[] = new Array<ResolvedLayer>(spec.layers.length);
  // shapes[p + 1] is producer p's output shape; shapes[0] the model's input.
  const shapes: number[][] = [inputShape];
  for (const i of links.order) {
    layers[i] = resolveLayer(spec.layers, i, links, shapes, slots);
    shapes[i + 1] = layers[i].outShape;
  }
  // Shapes resolve in execution order, but the buffers are laid out in list order (as model files
  // and the reference list parameters), whatever order a graph runs in.
  if (links.isGraph) slots.relayout(layers);
  const last = layers[layers.length - 1];
  checkHead(spec, last);
  return {
    spec,
    inputShape,
    inputSize: inputShape.reduce((a, b) => a * b, 1),
    outputSize: last.outSize,
    layers,
    order: links.order,
    inputReaders: links.inputReaders,
    isGraph: links.isGraph,
    params: layers.flatMap((l): ParamLayer[] => (l.param ? [l.param] : [])),
    paramSize: slots.params,
    paramCount: slots.count,
    states: layers.flatMap((l): StateLayer[] => (l.state ? [l.state] : [])),
    stateSize: slots.state,
    hasModes: layers.some((l) => LAYER_KINDS[l.type].hasModes === true),
  };
}

/** Keras-style one-line description of a layer, e.g. "conv2d 3x3/1 same, 32 relu". */
export function describeLayer(l: ResolvedLayer): string {
  return LAYER_KINDS[l.type].describe(l);
}

export { pair as sizePair };
