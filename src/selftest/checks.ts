// The self-test's checks for the dense kernel families, each against its float64 twin in
// src/reference/: matmul (three forms, every variant in use), activations, losses, bias-grad and
// clip reductions, optimizers. A few odd shapes each (1, primes, past one workgroup), chosen to
// finish in seconds on a software adapter; the unit tests (test/kernels/) sweep far more.
//
// A family is { name, run(h, ctx) }: it builds its dispatches with the kernel wrappers, runs
// them through the Harness and records one row per output it compares. New families (conv,
// pooling, ...) add an entry to FAMILIES in registry.ts.

import { prepareActivationBackward, prepareActivationForward } from '../kernels/activations.js';
import { prepareLoss } from '../kernels/losses.js';
import {
  matmulScratchLength,
  prepareMatmulSteps,
  subgroupMatmulAvailable,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../kernels/matmul.js';
import { prepareOptimizer } from '../kernels/optim.js';
import {
  CLIP_PARTIALS,
  biasGradPartialsLength,
  prepareBiasGrad,
  prepareBiasGradSteps,
  prepareClip,
} from '../kernels/reduce.js';
import { ACTIVATIONS, type Activation } from '../nn/activations.js';
import { LOSSES, type LossName } from '../nn/losses.js';
import { resolveOptimizer, type OptimizerConfig } from '../optim/optimizers.js';
import { activationBackward, activationForward } from '../reference/activations.js';
import { bceWithLogits, mse, softmaxCrossEntropy } from '../reference/losses.js';
import { matmul, matmulForward } from '../reference/matmul.js';
import {
  adamStep,
  adamwStep,
  clipGradients,
  clipScale,
  createParamState,
  momentumStep,
  sgdStep,
} from '../reference/optim.js';
import { columnSum, globalNorm } from '../reference/reduce.js';
import { Rng } from '../rng.js';
import { randF32, seedOf, type Harness } from './harness.js';
import {
  ACTIVATION,
  CLIP,
  LOSS,
  LOSS_GRAD,
  matmulActTol,
  matmulTol,
  OPTIM,
  OPTIM_V,
  SOFTMAX,
} from './tolerances.js';

export interface SelftestContext {
  /** The matmul variants to check: what the tuner chose for each form, and the default. */
  variants: readonly MatmulVariant[];
}

export interface SelftestFamily {
  name: string;
  run(h: Harness, ctx: SelftestContext): Promise<void>;
}

// ---- matmul: Z = X W^T + b with act; dW = dZ^T X; dX = (dZ W) * act'(Zprev) ----

type MatShape = [B: number, K: number, N: number];
const MAT_SHAPES: MatShape[] = [
  [1, 1, 1],
  [7, 13, 5],
  [45, 65, 33],
];
const FORMS: readonly MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];

async function matmulCase(h: Harness, form: MatmulForm, shape: MatShape, variant: MatmulVariant) {
  const [B, K, N] = shape;
  const rng = new Rng(seedOf(B, K, N, FORMS.indexOf(form)));
  const act: Activation = form === 'weightGrad' ? 'identity' : 'relu';
  let lhs: Float32Array, rhs: Float32Array, extra: Float32Array | null;
  let ref: Float64Array;
  let refA: Float64Array | null = null;
  if (form === 'forward') {
    [lhs, rhs, extra] = [randF32(rng, B * K), randF32(rng, N * K), randF32(rng, N)];
    ref = matmulForward(lhs, rhs, extra, B, K, N);
    refA = activationForward(act, ref, B, N);
  } else if (form === 'weightGrad') {
    [lhs, rhs, extra] = [randF32(rng, B * N), randF32(rng, B * K), null];
    ref = matmul(lhs, rhs, N, B, K, true, false);
  } else {
    [lhs, rhs, extra] = [randF32(rng, B * N), randF32(rng, N * K), randF32(rng, B * K)];
    const dX = matmul(lhs, rhs, B, N, K, false, false);
    ref = activationBackward(act, extra, activationForward(act, extra, B, K), dX, B, K);
  }
  const outLen = form === 'weightGrad' ? N * K : form === 'forward' ? B * N : B * K;
  const xb = h.upload(lhs);
  const wb = h.upload(rhs);
  const eb = h.upload(extra ?? [0]);
  const out = h.poisoned(outLen);
  const outA = h.poisoned(form === 'forward' ? outLen : 1);
  const scratch = h.poisoned(Math.max(1, matmulScratchLength(form, B, K, N, variant)));
  const ds = await prepareMatmulSteps(h.env, {
    form,
    lhs: xb,
    rhs: wb,
    B,
    K,
    N,
    out,
    bias: form === 'forward' ? eb : undefined,
    outA: form === 'forward' ? outA : undefined,
    aux: form === 'inputGrad' ? eb : undefined,
    activation: form === 'weightGrad' ? undefined : act,
    variant,
    scratch,
    dummies: { read: h.poisoned(4).buffer, write: h.poisoned(4).buffer },
  });
  h.run(ds);
  const r = form === 'forward' ? K : form === 'weightGrad' ? B : N;
  const row = { variant: variantName(variant), shape: `B${B} K${K} N${N}` };
  const label = form === 'weightGrad' ? 'matmul weightGrad' : `matmul ${form} + ${act}`;
  h.compare(
    { ...row, kernel: label },
    await h.download(out),
    ref,
    form === 'inputGrad' ? matmulActTol(r) : matmulTol(r),
  );
  if (refA) h.compare({ ...row, kernel: `${label} (A)` }, await h.download(outA), refA, matmulActTol(r));
  h.free();
}

const matmulFamily: SelftestFamily = {
  name: 'matmul',
  async run(h, ctx) {
    const sg = subgroupMatmulAvailable(h.env.device);
    for (const variant of ctx.variants) {
      // A subgroup variant runs only where lanes are 8 wide; the tuner never picks it elsewhere.
      if (variant.kind === 'sg' && !sg) continue;
      for (const form of FORMS) for (const shape of MAT_SHAPES) await matmulCase(h, form, shape, variant);
    }
  },
};

// ---- activations: A = act(Z); dZ = dA * act'(Z) (softmax: from S) ----

const ACT_SHAPES: [number, number][] = [
  [7, 13],
  [257, 33],
];

const activationFamily: SelftestFamily = {
  name: 'activations',
  async run(h) {
    for (const act of ACTIVATIONS) {
      const alpha = act === 'leaky_relu' ? 0.2 : undefined;
      const tol = act === 'softmax' ? SOFTMAX : ACTIVATION;
      for (const [rows, cols] of ACT_SHAPES) {
        const rng = new Rng(seedOf(rows, cols, act.length));
        // relu6 and hardswish have kinks at -3, 3 and 6: draw z from [-8, 8] to reach them.
        const wide = act === 'relu6' || act === 'hardswish' ? 8 : 2;
        const z = randF32(rng, rows * cols, -wide, wide);
        const dA = randF32(rng, rows * cols);
        const a = activationForward(act, z, rows, cols, { alpha });
        const shape = `${rows}x${cols}`;
        const kernel = `activation ${act}${alpha ? `(${alpha})` : ''}`;
        const zb = h.upload(z);
        const out = h.poisoned(rows * cols);
        h.run([await prepareActivationForward(h.env, { activation: act, alpha, rows, cols, z: zb, out })]);
        h.compare({ kernel: `${kernel} forward`, shape }, await h.download(out), a, tol);
        // Softmax backward reads S; both sides get the same f32-rounded S.
        const s = act === 'softmax' ? Float32Array.from(a) : null;
        const dzRef = activationBackward(act, z, s ?? a, dA, rows, cols, { alpha });
        const back = h.poisoned(rows * cols);
        h.run([
          await prepareActivationBackward(h.env, {
            activation: act,
            alpha,
            rows,
            cols,
            z: s ? h.upload(s) : zb,
            dA: h.upload(dA),
            out: back,
          }),
        ]);
        h.compare({ kernel: `${kernel} backward`, shape }, await h.download(back), dzRef, tol);
        h.free();
      }
    }
  },
};

// ---- losses: per-row loss and the gradient, fused; rows past `active` are ignored ----

const LOSS_SHAPES: [B: number, N: number, active: number][] = [
  [7, 13, 5],
  [130, 3, 130],
];
// Every loss, and softmax-ce again with label smoothing eps 0.1.
const LOSS_CASES: [LossName, number][] = [
  ...LOSSES.map((l): [LossName, number] => [l, 0]),
  ['softmax-ce', 0.1],
];

const lossFamily: SelftestFamily = {
  name: 'losses',
  async run(h) {
    for (const [loss, eps] of LOSS_CASES) {
      const name = eps > 0 ? `${loss} eps ${eps}` : loss;
      for (const [B, N, active] of LOSS_SHAPES) {
        const rng = new Rng(seedOf(B, N, active, loss.length));
        const outputs = randF32(rng, B * N);
        const ce = loss === 'softmax-ce';
        const targets = ce
          ? Uint32Array.from({ length: B }, () => rng.int(N))
          : loss === 'bce'
            ? Float32Array.from({ length: B * N }, () => Math.fround(rng.next()))
            : randF32(rng, B * N);
        const ref =
          loss === 'bce'
            ? bceWithLogits(outputs, targets, B, N, active)
            : ce
              ? softmaxCrossEntropy(outputs, targets, B, N, active, eps)
              : mse(outputs, targets, B, N, active);
        const grad = h.poisoned(B * N);
        const stats = h.poisoned(B * 3);
        const d = await prepareLoss(h.env, {
          loss,
          B,
          N,
          active,
          outputs: h.upload(outputs),
          targets: h.upload(targets, ce ? 'u32' : 'f32'),
          grad,
          stats,
          smoothing: eps,
        });
        h.run([d]);
        const shape = `B${B} N${N} active ${active}`;
        const g = await h.download(grad);
        h.compare(
          { kernel: `loss ${name} grad`, shape },
          g.subarray(0, active * N),
          ref.grad.subarray(0, active * N),
          LOSS_GRAD,
        );
        const s = await h.download(stats);
        const rowLoss = Float32Array.from({ length: active }, (_, r) => s[3 * r]);
        h.compare({ kernel: `loss ${name} row loss`, shape }, rowLoss, ref.perSample, LOSS);
        h.free();
      }
    }
  },
};

// ---- reductions: bias gradient (column sums) and the global-norm clip scale ----

const reduceFamily: SelftestFamily = {
  name: 'reduce',
  async run(h) {
    for (const [B, N] of [
      [7, 13],
      [127, 257],
    ]) {
      const dZ = randF32(new Rng(seedOf(B, N, 5)), B * N);
      const db = h.poisoned(N);
      h.run([await prepareBiasGrad(h.env, { B, N, dZ: h.upload(dZ), db })]);
      h.compare(
        { kernel: 'bias_grad', shape: `B${B} N${N}` },
        await h.download(db),
        columnSum(dZ, B, N),
        matmulTol(B),
      );
      h.free();
    }
    // Two passes over row chunks: 32 rows (a dense layer on a real GPU) and 256 (conv layers).
    for (const [B, N, chunk] of [
      [129, 12, 32],
      [512, 1024, 32],
      [1031, 7, 256],
    ]) {
      const dZ = randF32(new Rng(seedOf(B, N, chunk)), B * N);
      const db = h.poisoned(N);
      const partials = h.poisoned(biasGradPartialsLength(B, N, chunk));
      h.run(await prepareBiasGradSteps(h.env, { B, N, dZ: h.upload(dZ), db, chunk, partials }));
      h.compare(
        { kernel: `bias_grad ${chunk}-row chunks`, shape: `B${B} N${N}` },
        await h.download(db),
        columnSum(dZ, B, N),
        matmulTol(B),
      );
      h.free();
    }
    for (const n of [1001, 64 * 256 + 4097]) {
      const g = randF32(new Rng(seedOf(n, 3)), n);
      const norm = globalNorm([g]);
      const maxNorm = norm / 3;
      const scale = h.poisoned(2);
      h.run(
        await prepareClip(h.env, { grads: h.upload(g), maxNorm, partials: h.poisoned(CLIP_PARTIALS), scale }),
      );
      const got = await h.download(scale);
      h.compare(
        { kernel: 'clip (norm, scale)', shape: `n ${n}` },
        Float32Array.of(got[1], got[0]),
        [norm, clipScale(norm, Math.fround(maxNorm))],
        CLIP,
      );
      h.free();
    }
  },
};

// ---- optimizers: three steps with a changing learning rate, in place ----

const OPTIMIZER_CASES: OptimizerConfig[] = [
  { name: 'sgd', lr: 0.1, weightDecay: 0.1 },
  { name: 'momentum', lr: 0.1, momentum: 0.8, nesterov: true },
  { name: 'adam', lr: 0.1, weightDecay: 0.01 },
  { name: 'adamw', lr: 0.1, weightDecay: 0.1, maxNorm: 10 },
];
const LRS = [0.1, 0.05, 0.02];

const optimizerFamily: SelftestFamily = {
  name: 'optimizers',
  async run(h) {
    // 4099: the scalar kernels; 4096: the vec4 kernels the model's aligned buffer gets.
    for (const P of [4099, 4096]) {
      for (const config of OPTIMIZER_CASES) {
        const opt = resolveOptimizer(config);
        const rng = new Rng(seedOf(P, config.name.length));
        const p0 = randF32(rng, P);
        const grads = LRS.map(() => randF32(rng, P));
        const params = h.upload(p0);
        const g = h.upload(grads[0]);
        const m = h.upload(new Float32Array(P));
        const v = h.upload(new Float32Array(P));
        const scale = h.poisoned(2);
        const clip =
          opt.maxNorm === undefined
            ? []
            : await prepareClip(h.env, {
                grads: g,
                maxNorm: opt.maxNorm,
                partials: h.poisoned(CLIP_PARTIALS),
                scale,
              });
        const d = await prepareOptimizer(h.env, { opt, params, grads: g, m, v, clip: scale });
        const p = Float64Array.from(p0);
        const st = createParamState(P);
        for (let t = 1; t <= LRS.length; t++) {
          h.env.device.queue.writeBuffer(g.buffer, g.offset, grads[t - 1]);
          d.writeHyper(h.env.device.queue, LRS[t - 1], t);
          h.run([...clip, d]);
          const gt = Float64Array.from(grads[t - 1]);
          if (opt.maxNorm !== undefined) clipGradients([gt], Math.fround(opt.maxNorm));
          const hp = { ...opt, lr: LRS[t - 1] };
          if (opt.name === 'sgd') sgdStep(p, gt, hp);
          else if (opt.name === 'momentum') momentumStep(p, gt, st.v, hp);
          else if (opt.name === 'adam') adamStep(p, gt, st.m, st.v, t, hp);
          else adamwStep(p, gt, st.m, st.v, t, hp);
        }
        const kernel = `optimizer ${config.name}${opt.maxNorm !== undefined ? ' + clip' : ''}`;
        const shape = `P ${P}, 3 steps`;
        h.compare({ kernel: `${kernel} params`, shape }, await h.download(params), p, OPTIM);
        // The GPU keeps momentum's velocity in m; the reference in v.
        if (opt.name === 'momentum')
          h.compare({ kernel: `${kernel} velocity`, shape }, await h.download(m), st.v, OPTIM);
        if (opt.name === 'adam' || opt.name === 'adamw') {
          h.compare({ kernel: `${kernel} m`, shape }, await h.download(m), st.m, OPTIM);
          h.compare({ kernel: `${kernel} v`, shape }, await h.download(v), st.v, OPTIM_V);
        }
        h.free();
      }
    }
  },
};

export const DENSE_FAMILIES: readonly SelftestFamily[] = [
  matmulFamily,
  activationFamily,
  lossFamily,
  reduceFamily,
  optimizerFamily,
];
