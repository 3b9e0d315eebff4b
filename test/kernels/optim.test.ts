// Optimizer updates (shaders/optim.wgsl via src/kernels/optim.ts) against the float64 reference
// step functions (src/reference/optim.ts): sgd (with and without weight decay), momentum (plain
// and nesterov), adam, adamw, each for steps t = 1, 2, 3 with a changing learning rate written by
// writeHyper, with and without global-norm clipping (the clip buffer from prepareClip, computed
// in the same pass just before the update). Parameters and state are updated in place, so they
// cannot be poisoned; instead every element of p, m and v is compared after each step.

import { describe, it } from 'vitest';
import { encodeDispatch } from '../../src/kernels/common.js';
import { prepareOptimizer } from '../../src/kernels/optim.js';
import { CLIP_PARTIALS, prepareClip } from '../../src/kernels/reduce.js';
import { resolveOptimizer, type OptimizerConfig } from '../../src/optim/optimizers.js';
import {
  adamStep,
  adamwStep,
  clipGradients,
  createParamState,
  momentumStep,
  sgdStep,
} from '../../src/reference/optim.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose } from '../helpers/allclose.js';
import { download, poisoned, run, testGpu, upload } from '../helpers/gpu.js';
import { OPTIM, OPTIM_V } from '../tolerances.js';
import { free, randF32, seedOf } from './inputs.js';

// 4099: odd, prime, more than 16 workgroups of 256, so the f32 kernels (optim.wgsl). 4096: a
// multiple of 4, so the vec4 kernels (optim_vec4.wgsl) that the model's aligned buffer gets.
const SIZES = [4099, 4096];
const LRS = [0.1, 0.05, 0.02];

const CONFIGS: { name: string; config: OptimizerConfig }[] = [
  { name: 'sgd', config: { name: 'sgd', lr: 0.1 } },
  { name: 'sgd + weight decay', config: { name: 'sgd', lr: 0.1, weightDecay: 0.1 } },
  { name: 'momentum', config: { name: 'momentum', lr: 0.1, momentum: 0.9, weightDecay: 0.01 } },
  { name: 'momentum nesterov', config: { name: 'momentum', lr: 0.1, momentum: 0.8, nesterov: true } },
  { name: 'adam', config: { name: 'adam', lr: 0.1, weightDecay: 0.01 } },
  { name: 'adamw', config: { name: 'adamw', lr: 0.1, weightDecay: 0.1 } },
];

async function check(config: OptimizerConfig, label: string, P: number) {
  const { env } = await testGpu();
  const opt = resolveOptimizer(config);
  const rng = new Rng(seedOf(P, label.length, config.maxNorm === undefined ? 0 : 1));
  const p0 = randF32(rng, P);
  const grads = Array.from({ length: LRS.length }, () => randF32(rng, P));

  const params = upload(env, p0);
  const g = upload(env, grads[0]);
  // State starts at zero, as the trainer allocates it.
  const m = upload(env, new Float32Array(P));
  const v = upload(env, new Float32Array(P));
  const partials = poisoned(env, CLIP_PARTIALS);
  const scale = poisoned(env, 2);
  const clip =
    opt.maxNorm === undefined
      ? []
      : await prepareClip(env, { grads: g, maxNorm: opt.maxNorm, partials, scale });
  const d = await prepareOptimizer(env, { opt, params, grads: g, m, v, clip: scale });

  const p = Float64Array.from(p0);
  const st = createParamState(P);
  for (let t = 1; t <= LRS.length; t++) {
    const lr = LRS[t - 1];
    env.device.queue.writeBuffer(g.buffer, g.offset, grads[t - 1]);
    d.writeHyper(env.device.queue, lr, t);
    run(env, (pass) => {
      for (const c of clip) encodeDispatch(pass, c);
      encodeDispatch(pass, d);
    });

    const gt = Float64Array.from(grads[t - 1]);
    if (opt.maxNorm !== undefined) clipGradients([gt], Math.fround(opt.maxNorm));
    const hp = { ...opt, lr };
    if (opt.name === 'sgd') sgdStep(p, gt, hp);
    else if (opt.name === 'momentum') momentumStep(p, gt, st.v, hp);
    else if (opt.name === 'adam') adamStep(p, gt, st.m, st.v, t, hp);
    else adamwStep(p, gt, st.m, st.v, t, hp);

    const at = `${label} step ${t}`;
    expectAllClose(await download(env, params), p, OPTIM, `${at} params`);
    // The GPU keeps momentum's velocity in m; the reference in v.
    if (opt.name === 'momentum') expectAllClose(await download(env, m), st.v, OPTIM, `${at} velocity`);
    if (opt.name === 'adam' || opt.name === 'adamw') {
      expectAllClose(await download(env, m), st.m, OPTIM, `${at} m`);
      expectAllClose(await download(env, v), st.v, OPTIM_V, `${at} v`);
    }
  }
  free(env, params, g, m, v, partials, scale);
}

describe('optimizer kernels vs float64 reference (3 steps)', () => {
  it('adapter', async () => {
    await testGpu();
  });

  for (const P of SIZES) {
    for (const { name, config } of CONFIGS) {
      it(`${name} (P ${P})`, async () => {
        await check(config, name, P);
      });
      // |g| ~ sqrt(P * 4/3) ~ 74, so maxNorm 10 clips every step (scale ~0.14).
      it(`${name} + clipping (P ${P})`, async () => {
        await check({ ...config, maxNorm: 10 }, `${name} + clip`, P);
      });
    }
  }
});
