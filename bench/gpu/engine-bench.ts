// Runs our engine's benchmarks on whatever adapter Dawn finds (meant for a real GPU: see
// bench/gpu/README.md) and writes JSON: adapter, tuned matmul variants, matmul GFLOP/s per form
// at square sizes, training throughput for workloads A, B, C, and one step's kernel profile.
// Usage: node engine-bench.mjs OUT.json [--quick]

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

const out = process.argv[2] ?? 'engine-bench.json';
const quick = process.argv.includes('--quick');
const gpu = await acquireGpu();
console.log(`adapter: ${gpu.report.name} (${gpu.report.origin})`);
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  adapter: gpu.report,
  node: process.version,
};
const save = () => writeFileSync(out, JSON.stringify(result, null, 2));

// 1. Every variant at 1024 per form; the best per form is used for everything after.
const forms: MatmulForm[] = ['forward', 'weightGrad', 'inputGrad'];
const best: Record<string, MatmulVariant> = {};
const variantTable: Record<string, Record<string, number>> = {};
for (const form of forms) {
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
for (const form of forms) {
  squares[form] = {};
  for (const n of quick ? [256, 1024] : [256, 512, 1024, 2048, 4096]) {
    const r = await benchMatmul(gpu, form, n, n, n, best[form], 0.3);
    squares[form][n] = r.gflops;
    console.log(`matmul ${form} ${n}: ${r.gflops.toFixed(1)} GFLOP/s`);
  }
}
result.matmulSquare = squares;
save();

// 3. Training throughput.
const training: Record<string, unknown> = {};
for (const key of ['A-sgd', 'A-adam', 'B', 'C']) {
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

// 4. Kernel profile of one step of C.
if (gpu.device.features.has('timestamp-query')) {
  const w = WORKLOADS.C;
  const t = await Trainer.create(gpu, w.spec, { seed: 1, optimizer: w.optimizer, variants: best });
  const data = syntheticImages(w.batchSize, w.spec.inputSize, 10);
  await t.profileStep(data, w.batchSize);
  result.profileC = summariseProfile(await t.profileStep(data, w.batchSize));
  save();
}
console.log(`wrote ${out}`);
