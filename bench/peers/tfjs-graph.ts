// The TensorFlow.js peer for a graph workload (R in bench/cnn.ts, the resnet preset): the same
// network built with the tfjs-layers functional API, as a tfjs user writes a ResNet, from the
// same initial weights, data, batch order and optimizer as our engine.
//
// Model: tf.input, then per layer of our resolved graph (in execution order; each reads the
// symbolic outputs its `inputs` name): conv2d -> tf.layers.conv2d (padding 'same' or 'valid',
// explicit numeric padding as tf.layers.zeroPadding2d first); batchnorm ->
// tf.layers.batchNormalization (axis -1, momentum 1 - ours as Keras counts it, our epsilon);
// add -> tf.layers.add; concat -> tf.layers.concatenate; maxpool2d / avgpool2d ->
// tf.layers.maxPooling2d / averagePooling2d; globalavgpool -> tf.layers.globalAveragePooling2d;
// flatten -> tf.layers.flatten (NHWC order, as ours); dense -> tf.layers.dense. A fused
// activation other than identity is a tf.layers.activation after the layer (conv and dense take
// it inside). The last layer's softmax is folded into tf.losses.softmaxCrossEntropy on the logits
// (batch mean), as our softmax-ce is.
//
// Weights arrive in our layout and are set once per layer: conv W [F, KH, KW, C] -> kernel
// [KH, KW, C, F]; dense W [units, fanIn] -> kernel [fanIn, units]; batch norm [gamma, beta,
// moving mean 0, moving variance 1].
//
// Step: tf.tidy(() => optimizer.minimize(loss, true, trainable weights)) with the loss of
// model.apply(x, {training: true}) (the path tfjs's own fit takes: batch statistics, moving
// averages updated), tf.train.momentum(lr, mu). Data: every distinct batch is a backend tensor
// before timing. Timing: bench/peers/timed-steps.ts.

import * as tf from '@tensorflow/tfjs';

import type { Weights } from '../../src/engine/trainer.js';
import { resolveModel, type ResolvedLayer } from '../../src/nn/layers.js';
import { initTfjs, PeerBackendError, PeerConfigError } from './tfjs.js';
import { convToTfjs, denseToTfjs, type TfjsCnnOptions, type TfjsCnnResult } from './tfjs-cnn.js';
import { timeSteps, type TimedSteps } from './timed-steps.js';

type Sym = tf.SymbolicTensor;

const ACTIVATIONS: Record<string, string> = {
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
};

function activationOf(l: ResolvedLayer, last: boolean): string | undefined {
  if (last || l.activation === 'identity') return undefined;
  const a = ACTIVATIONS[l.activation];
  if (!a) throw new PeerConfigError(`layer ${l.index}: activation '${l.activation}' is not in this peer`);
  return a;
}

/** The tfjs layer (and the tensor it makes) for one of our layers; weights are set later. */
function buildLayer(l: ResolvedLayer, xs: Sym[], last: boolean): { layer: tf.layers.Layer; out: Sym } {
  const name = `L${l.index}`;
  const apply = (layer: tf.layers.Layer, x: Sym | Sym[]) => ({ layer, out: layer.apply(x) as Sym });
  switch (l.type) {
    case 'conv2d': {
      const c = l.conv!;
      if ((c.G ?? 1) !== 1) throw new PeerConfigError(`layer ${l.index}: grouped convs are not in this peer`);
      const p = (l.spec as { padding?: unknown }).padding ?? 'valid';
      let x = xs[0];
      if (p !== 'same' && p !== 'valid' && c.padTop + c.padBottom + c.padLeft + c.padRight > 0)
        x = tf.layers
          .zeroPadding2d({
            padding: [
              [c.padTop, c.padBottom],
              [c.padLeft, c.padRight],
            ],
          })
          .apply(x) as Sym;
      const conv = tf.layers.conv2d({
        name,
        filters: c.F,
        kernelSize: [c.KH, c.KW],
        strides: [c.SH, c.SW],
        padding: p === 'same' ? 'same' : 'valid',
        useBias: l.param!.b.length > 0,
        activation: activationOf(l, last) as 'relu' | undefined,
      });
      return apply(conv, x);
    }
    case 'batchnorm':
      return apply(
        tf.layers.batchNormalization({ name, axis: -1, momentum: 1 - l.momentum!, epsilon: l.epsilon }),
        xs[0],
      );
    case 'add':
      return apply(tf.layers.add({ name }), xs);
    case 'concat':
      return apply(tf.layers.concatenate({ name, axis: -1 }), xs);
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l.pool!;
      const cfg = {
        name,
        poolSize: [p.KH, p.KW] as [number, number],
        strides: [p.SH, p.SW] as [number, number],
      };
      const pool = l.type === 'maxpool2d' ? tf.layers.maxPooling2d(cfg) : tf.layers.averagePooling2d(cfg);
      return apply(pool, xs[0]);
    }
    case 'globalavgpool':
      return apply(tf.layers.globalAveragePooling2d({ name }), xs[0]);
    case 'flatten':
      return apply(tf.layers.flatten({ name }), xs[0]);
    case 'dense':
      return apply(
        tf.layers.dense({ name, units: l.outSize, activation: activationOf(l, last) as 'relu' | undefined }),
        xs[0],
      );
    default:
      throw new PeerConfigError(`layer ${l.index}: '${l.type}' is not in this peer`);
  }
}

/** Layers whose activation is a separate tfjs layer (conv and dense take theirs inside). */
const SEPARATE_ACTIVATION = new Set(['batchnorm', 'add']);

/** The functional model of our resolved graph, its tfjs layers by our layer index. */
function buildModel(model: ReturnType<typeof resolveModel>): {
  net: tf.LayersModel;
  byIndex: Map<number, tf.layers.Layer>;
} {
  const [H, W, C] = model.inputShape;
  const input = tf.input({ shape: [H, W, C] });
  const outs = new Map<number, Sym>([[-1, input]]);
  const byIndex = new Map<number, tf.layers.Layer>();
  const lastIndex = model.layers.length - 1;
  for (const i of model.order) {
    const l = model.layers[i];
    const last = i === lastIndex;
    const built = buildLayer(
      l,
      l.inputs.map((j) => outs.get(j)!),
      last,
    );
    byIndex.set(i, built.layer);
    let out = built.out;
    const act = SEPARATE_ACTIVATION.has(l.type) ? activationOf(l, last) : undefined;
    if (act) out = tf.layers.activation({ activation: act as 'relu' }).apply(out) as Sym;
    outs.set(i, out);
  }
  return { net: tf.model({ inputs: input, outputs: outs.get(lastIndex)! }), byIndex };
}

/** Sets every parameter layer's weights from ours (conversions in the header). */
function setWeights(
  model: ReturnType<typeof resolveModel>,
  byIndex: Map<number, tf.layers.Layer>,
  weights: Weights[],
): void {
  model.params.forEach((p, k) => {
    const w = weights[k];
    if (w.W.length !== p.W.length || w.b.length !== p.b.length)
      throw new PeerConfigError(
        `layer ${p.layer}: W has ${w.W.length} values and b ${w.b.length}, expected ${p.W.length} and ${p.b.length}`,
      );
    const ts: tf.Tensor[] = [];
    if (p.type === 'conv2d') {
      const [F, KH, KW, C] = p.shape;
      ts.push(tf.tensor4d(convToTfjs(w.W, F, KH, KW, C), [KH, KW, C, F]));
      if (p.b.length > 0) ts.push(tf.tensor1d(w.b));
    } else if (p.type === 'dense') {
      const [units, fanIn] = p.shape;
      ts.push(tf.tensor2d(denseToTfjs(w.W, units, fanIn), [fanIn, units]), tf.tensor1d(w.b));
    } else if (p.type === 'batchnorm') {
      const C = p.shape[0];
      ts.push(tf.tensor1d(w.W), tf.tensor1d(w.b), tf.zeros([C]), tf.ones([C]));
    } else {
      throw new PeerConfigError(`layer ${p.layer}: '${p.type}' is not in this peer`);
    }
    byIndex.get(p.layer)!.setWeights(ts);
    tf.dispose(ts);
  });
}

/** Trains opts.spec (a graph, or a stack) on opts.backend; same options and result as tfjsTrainCnn. */
export async function tfjsTrainGraph(opts: TfjsCnnOptions): Promise<TfjsCnnResult> {
  const model = resolveModel(opts.spec);
  const B = opts.batchSize;
  const n = opts.y.length;
  const classes = model.outputSize;
  if (opts.spec.loss !== 'softmax-ce') throw new PeerConfigError('the graph peer trains softmax-ce only');
  if (model.inputShape.length !== 3) throw new PeerConfigError('the graph peer takes image inputs [H, W, C]');
  if (opts.x.length !== n * model.inputSize)
    throw new PeerConfigError(`x has ${opts.x.length} values, expected ${n} x ${model.inputSize}`);
  if (opts.initialWeights.length !== model.params.length)
    throw new PeerConfigError(
      `initialWeights has ${opts.initialWeights.length} layers, the model ${model.params.length}`,
    );
  if (n % B !== 0) throw new PeerConfigError(`n = ${n} must be a multiple of the batch ${B}`);
  await initTfjs(opts.backend);

  const { net, byIndex } = buildModel(model);
  setWeights(model, byIndex, opts.initialWeights);
  const vars = net.trainableWeights.map((v) => v.read() as tf.Variable);

  const [H, W, C] = model.inputShape;
  const batches: { xb: tf.Tensor4D; yb: tf.Tensor2D }[] = [];
  for (let k = 0; k < n / B; k++) {
    const labels = new Float32Array(B * classes);
    for (let r = 0; r < B; r++) labels[r * classes + opts.y[k * B + r]] = 1;
    batches.push({
      xb: tf.tensor4d(opts.x.subarray(k * B * model.inputSize, (k + 1) * B * model.inputSize), [B, H, W, C]),
      yb: tf.tensor2d(labels, [B, classes]),
    });
  }

  const optimizer = tf.train.momentum(opts.optimizer.lr, opts.optimizer.momentum);
  let stepIndex = 0;
  const step = (): tf.Scalar =>
    tf.tidy(() => {
      const { xb, yb } = batches[stepIndex++ % batches.length];
      const lossOf = () => {
        const logits = net.apply(xb, { training: true }) as tf.Tensor2D;
        return tf.losses.softmaxCrossEntropy(yb, logits) as tf.Scalar;
      };
      const loss = optimizer.minimize(lossOf, true, vars);
      if (loss === null) throw new PeerBackendError('optimizer.minimize returned no cost');
      return loss;
    });
  const backendName = tf.getBackend();
  let timed: TimedSteps;
  try {
    timed = await timeSteps(step, opts);
  } finally {
    optimizer.dispose();
    net.dispose();
    for (const b of batches) tf.dispose([b.xb, b.yb]);
  }
  if (tf.getBackend() !== opts.backend)
    throw new PeerBackendError(
      `backend changed during the run: asked '${opts.backend}', now '${tf.getBackend()}'`,
    );
  const { msPerStep, blockMsPerStep, losses } = timed;
  return { msPerStep, blockMsPerStep, losses, backendName };
}
