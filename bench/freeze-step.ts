// The cost of a frozen-backbone step (fine-tuning, src/engine/freeze.ts) next to a full training
// step and an inference forward pass, on the `--arch resnet` preset at batch 32, 32x32x3, 10
// classes, random data. Each figure is the median of `ROUNDS` timed passes over `STEPS` batches,
// after a warm-up pass that compiles every pipeline.
//
//   npx tsx bench/freeze-step.ts [--steps N] [--rounds N] [--conv tuned|im2col|implicit]

import { acquireGpu } from '../src/gpu/device.js';
import { Trainer } from '../src/engine/trainer.js';
import { archSpec } from '../src/cli/arch.js';
import { Rng } from '../src/rng.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const STEPS = Number(arg('steps', '8'));
const ROUNDS = Number(arg('rounds', '3'));
const conv = arg('conv', 'im2col') as 'tuned' | 'im2col' | 'implicit';
const B = 32;

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main(): Promise<void> {
  const gpu = await acquireGpu({ log: () => {} });
  const spec = archSpec('resnet', [32, 32, 3], 10, 'softmax-ce', []);
  const rng = new Rng(1);
  const count = B * STEPS;
  const x = Float32Array.from({ length: count * 32 * 32 * 3 }, () => rng.uniform(-2, 2));
  const labels = Int32Array.from({ length: count }, () => rng.int(10));
  const data = { kind: 'float' as const, x, labels, count };
  const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'momentum', lr: 0.01 }, conv });
  const fitMs = async (): Promise<number> => {
    const t0 = performance.now();
    await t.fit(data, { epochs: 1, batchSize: B, shuffle: false, logEvery: STEPS });
    return (performance.now() - t0) / STEPS;
  };
  const evalMs = async (): Promise<number> => {
    const t0 = performance.now();
    await t.evaluate(data, { batchSize: B });
    return (performance.now() - t0) / STEPS;
  };
  const measure = async (f: () => Promise<number>): Promise<number> => {
    await f();
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) times.push(await f());
    return median(times);
  };
  const full = await measure(fitMs);
  t.setFreeze('backbone');
  const frozen = await measure(fitMs);
  const forward = await measure(evalMs);
  const s = t.freezeSummary;
  console.log(`adapter   ${gpu.report.name}`);
  console.log(`model     resnet preset, ${t.parameterCount} parameters; batch ${B}, 32x32x3, conv ${conv}`);
  console.log(
    `frozen    ${s.frozenLayers} of ${s.layers} layers, ${s.frozenParams} of ${s.params} parameters`,
  );
  console.log(`full step       ${full.toFixed(2)} ms`);
  console.log(
    `frozen step     ${frozen.toFixed(2)} ms (${((100 * frozen) / full).toFixed(0)}% of a full step)`,
  );
  console.log(`forward (eval)  ${forward.toFixed(2)} ms per batch`);
  t.destroy();
  gpu.destroy();
}

await main();
