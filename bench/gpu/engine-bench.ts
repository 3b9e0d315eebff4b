// Runs our engine's benchmarks on whatever adapter Dawn finds (meant for a real GPU: see
// bench/gpu/README.md) and writes JSON: adapter, tuned matmul variants, matmul GFLOP/s per form
// at square sizes, training throughput for workloads A, B, C and the CNNs D, E (with one step's
// kernel profile each), and one step's kernel profile of C.
// Before any timing, the selftest (src/selftest/run.ts: every kernel family against the float64
// reference on this adapter, the tuned matmul variants and the default) puts its pass/fail
// summary and any failing rows in the JSON: the kernels' first run on a real GPU is checked, not
// only timed.
// Usage: node engine-bench.mjs OUT.json [--quick] [--only=selftest,matmul,training,cnn,f16,profile]
// (--only=cnn --quick runs in a few minutes on lavapipe: a check of the CNN side without a GPU).

import { writeFileSync } from 'node:fs';
import { acquireGpu } from '../../src/gpu/device.js';
import {
  MATMUL_VARIANTS,
  variantName,
  type MatmulForm,
  type MatmulVariant,
} from '../../src/kernels/matmul.js';
import { Trainer } from '../../src/engine/trainer.js';
import { summariseProfile } from '../../src/engine/profile.js';
import { WORKLOADS, benchMatmul, benchTraining, syntheticImages } from '../engine.js';
import { CNN_WORKLOADS, benchCnnEngine, cnnData, cnnInit } from '../cnn.js';
import { createKernelEnv } from '../../src/kernels/env.js';
import { chooseMatmulVariants } from '../../src/engine/tune.js';
import { runSelftest } from '../../src/selftest/run.js';

const out = process.argv[2] ?? 'engine-bench.json';
const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const want = (part: string) => !only || only.includes(part);
const gpu = await acquireGpu();
console.log(`adapter: ${gpu.report.name} (${gpu.report.origin})`);
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  adapter: gpu.report,
  node: process.version,
};
const save = () => writeFileSync(out, JSON.stringify(result, null, 2));

// 0. Correctness on this adapter first.
if (want('selftest')) {
  const t = await chooseMatmulVariants(createKernelEnv(gpu), gpu.report);
  const r = await runSelftest(gpu, [t.forward, t.weightGrad, t.inputGrad, t.longK]);
  const failing = r.results.filter((x) => !x.pass);
  result.selftest = { passed: r.passed, failed: r.failed, seconds: r.seconds, variants: r.variants, failing };
  console.log(`selftest: ${r.passed} passed, ${r.failed} failed in ${r.seconds.toFixed(0)} s`);
  for (const x of failing)
    console.log(`  FAILED ${x.kernel} ${x.variant} ${x.shape}: ${x.detail ?? x.maxError}`);
  save();
}

// 1. Every variant at 1024 per form; the best per form is used for everything after.
const forms: MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];
// Without the matmul part, the trainers use the adapter's tuned variants.
const best: Partial<Record<MatmulForm, MatmulVariant>> = {};
const variantTable: Record<string, Record<string, number>> = {};
for (const form of want('matmul') ? forms : []) {
  variantTable[form] = {};
  let top = -1;
  for (const v of MATMUL_VARIANTS) {
    try {
      const r = await benchMatmul(gpu, form, 1024, 1024, 1024, v, 0.2);
      variantTable[form][variantName(v)] = r.gflops;
      console.log(`matmul ${form} 1024 ${variantName(v)}: ${r.gflops.toFixed(1)} GFLOP/s`);
      if (r.gflops > top) [top, best[form]] = [r.gflops, v];
    } catch (e) {
      variantTable[form][variantName(v)] = -1;
      console.log(`matmul ${form} ${variantName(v)} failed: ${(e as Error).message}`);
    }
  }
}
result.variants1024 = variantTable;
result.chosen = Object.fromEntries(Object.entries(best).map(([k, v]) => [k, variantName(v)]));
save();

// 2. Square sizes with the best variant per form.
const squares: Record<string, Record<number, number>> = {};
for (const form of want('matmul') ? forms : []) {
  squares[form] = {};
  for (const n of quick ? [256, 1024] : [256, 512, 1024, 2048, 4096]) {
    const r = await benchMatmul(gpu, form, n, n, n, best[form]!, 0.3);
    squares[form][n] = r.gflops;
    console.log(`matmul ${form} ${n}: ${r.gflops.toFixed(1)} GFLOP/s`);
  }
}
result.matmulSquare = squares;
save();

// 3. Training throughput.
const training: Record<string, unknown> = {};
for (const key of want('training') ? ['A-sgd', 'A-adam', 'B', 'C'] : []) {
  const w = WORKLOADS[key];
  const big = { ...w, count: key === 'B' ? w.count : w.batchSize * (quick ? 50 : 200) };
  const r = await benchTraining(gpu, big, { epochs: 3, variants: best });
  training[key] = r;
  console.log(
    `${w.name}: ${r.samplesPerSecond.toFixed(0)} samples/s, ${r.msPerStep.median.toFixed(3)} ms/step, loss ${r.firstLoss.toFixed(3)} -> ${r.lastLoss.toFixed(3)}`,
  );
}
result.training = training;
save();

// 4. CNN workloads D and E (bench/cnn.ts), with one step's kernel profile each.
const cnn: Record<string, unknown> = {};
for (const key of want('cnn') ? (['D', 'E'] as const) : []) {
  const w = CNN_WORKLOADS[key];
  // More distinct batches than on lavapipe, so each timed epoch is long enough to time on a GPU.
  const big = { ...w, batches: quick ? 2 : 4 * w.batches };
  const r = await benchCnnEngine(gpu, big, {
    data: cnnData(big),
    weights: cnnInit(w.spec, 3),
    epochs: quick ? 1 : 5,
    checkSteps: quick ? 1 : 3,
    variants: Object.keys(best).length > 0 ? best : undefined,
    profile: gpu.device.features.has('timestamp-query'),
  });
  cnn[key] = r;
  console.log(
    `${w.name}: ${r.msPerStep.toFixed(3)} ms/step, ${r.samplesPerSecond.toFixed(0)} samples/s, ` +
      `${r.gflops.toFixed(1)} GFLOP/s, loss ${r.losses[0].toFixed(3)} -> ${r.losses[r.losses.length - 1].toFixed(3)}` +
      `${r.fell ? '' : '  LOSS DID NOT FALL'}`,
  );
}
result.cnn = cnn;
save();

// 4b. Mixed precision: C, D and E again in f16 (where the adapter has shader-f16), same data
// and weights, so the f32 rows above are the baseline.
const f16: Record<string, unknown> = {};
if (want('f16') && gpu.device.features.has('shader-f16')) {
  const w = WORKLOADS.C;
  const big = { ...w, count: w.batchSize * (quick ? 50 : 200) };
  const data = syntheticImages(big.count, w.spec.inputSize, 10);
  for (const precision of ['f32', 'f16'] as const) {
    const r = await benchTraining(gpu, big, { data, epochs: 3, variants: best, precision });
    f16[`C-${precision}`] = r;
    console.log(
      `${w.name} ${precision}: ${r.msPerStep.median.toFixed(3)} ms/step, loss ${r.firstLoss.toFixed(3)} -> ${r.lastLoss.toFixed(3)}`,
    );
  }
  for (const key of ['D', 'E'] as const) {
    const cw = CNN_WORKLOADS[key];
    const cbig = { ...cw, batches: quick ? 2 : 4 * cw.batches };
    const ds = cnnData(cbig);
    const weights = cnnInit(cw.spec, 3);
    for (const precision of ['f32', 'f16'] as const) {
      const r = await benchCnnEngine(gpu, cbig, {
        data: ds,
        weights,
        epochs: quick ? 1 : 5,
        checkSteps: 1,
        variants: Object.keys(best).length > 0 ? best : undefined,
        precision,
      });
      f16[`${key}-${precision}`] = r;
      console.log(
        `${cw.name} ${precision}: ${r.msPerStep.toFixed(3)} ms/step${r.fell ? '' : '  LOSS DID NOT FALL'}`,
      );
    }
  }
} else if (want('f16')) {
  f16.skipped = 'no shader-f16';
}
result.f16 = f16;
save();

// 5. Kernel profile of one step of C.
if (want('profile') && gpu.device.features.has('timestamp-query')) {
  const w = WORKLOADS.C;
  const t = await Trainer.create(gpu, w.spec, { seed: 1, optimizer: w.optimizer, variants: best });
  const data = syntheticImages(w.batchSize, w.spec.inputSize, 10);
  await t.profileStep(data, w.batchSize);
  result.profileC = summariseProfile(await t.profileStep(data, w.batchSize));
  save();
}
console.log(`wrote ${out}`);
