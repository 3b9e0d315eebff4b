// conv2d kernel benchmark (never part of the unit tests):
//   npx tsx bench/conv.ts [--adapter lavapipe|swiftshader]
// GFLOP/s (2 * B*OH*OW*F*KH*KW*C per form) of both algorithms (im2col + matmul, implicit GEMM)
// in each form at the CIFAR layer (batch 64, 16x16x32 -> 64, 3x3 'same') and the issue-14 D net's
// layers (batch 64: 32x32x3 -> 32, 16x16x32 -> 64, 8x8x64 -> 128, 3x3 'same') and the E net's
// (LeNet: 28x28x1 -> 6 5x5 'same', 14x14x6 -> 16 5x5 'valid'), each with the
// matmul variant the adapter's matmul tuning picks for the equivalent product, the direct kernel
// in the forward form, and which algorithm
// and variant src/engine/conv-tune.ts chooses (it also tries the forward form's variant, the other
// row count, and one-subgroup workgroups), with that choice's GFLOP/s. Times are the fastest of 3 rounds after a warm-up (one submit
// each, awaited with onSubmittedWorkDone); the chooser measures again on its own (1 rep per round).
// Depthwise rows (batch 128, 3x3 'same' stride 1, G = C = F; src/kernels/conv-grouped.ts): a
// depthwise conv is memory-bound, so its forward and input grad are reported in GB/s of the bytes
// they must move (forward: read x and w, write Z; input grad: read dZ and w, write dX), beside a
// copyBufferToBuffer of as many bytes (read n, write n), the adapter's practical ceiling.
// `--depthwise` runs only those rows.

import { acquireGpu } from '../src/gpu/device.js';
import { chooseConvAlgo, convCandidate, convFlops, timeConv } from '../src/engine/conv-tune.js';
import { im2colFits } from '../src/kernels/conv.js';
import { encodeDispatch, view, type Dispatch, type KernelEnv } from '../src/kernels/common.js';
import { prepareGroupedConvForward, prepareGroupedConvInputGrad } from '../src/kernels/conv-grouped.js';
import { USAGE } from '../src/gpu/buffers.js';
import { createKernelEnv } from '../src/kernels/env.js';
import { variantName, type MatmulForm } from '../src/kernels/matmul.js';
import { MATMUL_FORMS, chooseMatmulVariants, describeTuning } from '../src/engine/tune.js';
import { resolveModel, type ConvGeometry } from '../src/nn/layers.js';

const args = process.argv.slice(2);
const adapterArg = args.includes('--adapter') ? args[args.indexOf('--adapter') + 1] : 'lavapipe';
if (adapterArg !== 'lavapipe' && adapterArg !== 'swiftshader') {
  throw new Error(`--adapter must be lavapipe or swiftshader, got ${adapterArg}`);
}

function sameConv(
  H: number,
  W: number,
  C: number,
  F: number,
  k = 3,
  padding: 'same' | 'valid' = 'same',
  groups = 1,
): ConvGeometry {
  const layers = [
    { type: 'conv2d' as const, filters: F, kernelSize: k, padding, groups },
    { type: 'flatten' as const },
    { units: 1 },
  ];
  return resolveModel({ inputShape: [H, W, C], layers, loss: 'mse' }).layers[0].conv!;
}

const LAYERS: { name: string; B: number; g: ConvGeometry }[] = [
  { name: 'CIFAR 16x16x32->64', B: 64, g: sameConv(16, 16, 32, 64) },
  { name: 'D1 32x32x3->32', B: 64, g: sameConv(32, 32, 3, 32) },
  { name: 'D2 16x16x32->64', B: 64, g: sameConv(16, 16, 32, 64) },
  { name: 'D3 8x8x64->128', B: 64, g: sameConv(8, 8, 64, 128) },
  { name: 'E1 28x28x1->6 5x5', B: 64, g: sameConv(28, 28, 1, 6, 5) },
  { name: 'E2 14x14x6->16 5x5v', B: 64, g: sameConv(14, 14, 6, 16, 5, 'valid') },
];

const DEPTHWISE: { name: string; B: number; g: ConvGeometry }[] = [
  { name: 'DW 16x16x96', B: 128, g: sameConv(16, 16, 96, 96, 3, 'same', 96) },
  { name: 'DW 32x32x32', B: 128, g: sameConv(32, 32, 32, 32, 3, 'same', 32) },
];

/** Best of 3 rounds (after a warm-up) of `reps` encodes of `encode` in one submit, in ms per rep. */
async function bestMs(
  env: KernelEnv,
  reps: number,
  encode: (enc: GPUCommandEncoder) => void,
): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r <= 3; r++) {
    const enc = env.device.createCommandEncoder({ label: 'bench depthwise' });
    for (let i = 0; i < reps; i++) encode(enc);
    const t0 = performance.now();
    env.device.queue.submit([enc.finish()]);
    await env.device.queue.onSubmittedWorkDone();
    if (r > 0) times.push((performance.now() - t0) / reps);
  }
  return Math.min(...times);
}

/** Forward and input grad of one depthwise layer in GB/s of bytes moved, and a copy of as many. */
async function depthwiseRow(env: KernelEnv, name: string, B: number, g: ConvGeometry): Promise<void> {
  const made: GPUBuffer[] = [];
  const tensor = (n: number) => {
    const buf = env.pool.acquire(n * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, 'bench');
    made.push(buf);
    env.device.queue.writeBuffer(
      buf,
      0,
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2),
    );
    return view(buf, n);
  };
  const [xLen, zLen, wLen] = [B * g.H * g.W * g.C, B * g.OH * g.OW * g.F, g.F * g.KH * g.KW];
  const [x, w, bias, z] = [tensor(xLen), tensor(wLen), tensor(g.F), tensor(zLen)];
  const [dZ, dX] = [tensor(zLen), tensor(xLen)];
  const dummies = { read: tensor(4).buffer, write: tensor(4).buffer };
  const fwd = await prepareGroupedConvForward(env, {
    B,
    g,
    x,
    w,
    bias,
    z,
    a: z,
    activation: 'identity',
    dummies,
  });
  const bwd = await prepareGroupedConvInputGrad(env, { B, g, dZ, w, dX, dummies });
  const pass = (steps: Dispatch[]) => (enc: GPUCommandEncoder) => {
    const p = enc.beginComputePass();
    for (const d of steps) encodeDispatch(p, d);
    p.end();
  };
  const cells: string[] = [];
  for (const [form, steps, bytes] of [
    ['forward', fwd, (xLen + wLen + zLen) * 4],
    ['inputGrad', bwd, (zLen + wLen + xLen) * 4],
  ] as const) {
    const ms = await bestMs(env, 3, pass(steps));
    // A copy of half the bytes moves as many: each byte is read once and written once.
    const half = Math.floor(bytes / 8) * 4;
    const src = tensor(half / 4).buffer;
    const dst = tensor(half / 4).buffer;
    const copyMs = await bestMs(env, 3, (enc) => enc.copyBufferToBuffer(src, 0, dst, 0, half));
    const gbs = (t: number) => (bytes / (t * 1e6)).toFixed(2);
    cells.push(
      `${pad(form, 10)} ${pad(`${gbs(ms)} GB/s (${ms.toFixed(2)} ms)`, 26)} copy ${gbs(copyMs)} GB/s (${copyMs.toFixed(2)} ms), ${((100 * copyMs) / ms).toFixed(0)}% of it`,
    );
  }
  for (const c of cells) console.log(`${pad(name, 22)} ${c}`);
  for (const b of made) env.pool.release(b);
}

const gpu = await acquireGpu({ software: adapterArg });
const env = createKernelEnv(gpu);
console.log(`adapter: ${gpu.report.name} (${gpu.report.origin})`);
const pad = (s: string, n: number) => s.padEnd(n);

console.log(
  `${pad('depthwise (batch 128)', 22)} ${pad('form', 10)} ${pad('bytes moved', 26)} plain copy of as many bytes`,
);
for (const { name, B, g } of DEPTHWISE) await depthwiseRow(env, name, B, g);
if (args.includes('--depthwise')) {
  gpu.destroy();
  process.exit(0);
}

const tuning = await chooseMatmulVariants(env, gpu.report);
console.log(describeTuning(tuning));
console.log(
  `${pad('layer (batch 64, 3x3 same)', 22)} ${pad('form', 11)} ${pad('im2col GFLOP/s', 26)} ${pad('implicit GFLOP/s', 26)} ${pad('direct GFLOP/s', 20)} chosen`,
);
for (const { name, B, g } of LAYERS) {
  if (name.startsWith('D2')) {
    console.log(`${pad(name, 22)} (same shape as the CIFAR layer above)`);
    continue;
  }
  for (const form of MATMUL_FORMS as readonly MatmulForm[]) {
    const cells: string[] = [];
    for (const kind of ['im2col', 'implicit'] as const) {
      const algo = convCandidate(kind, form, B, g, tuning);
      if (kind === 'im2col' && !im2colFits(env.device, B, g)) {
        cells.push(pad('does not fit', 26));
        continue;
      }
      const ms = await timeConv(env, form, B, g, algo, { reps: 2, rounds: 3 });
      const gf = convFlops(B, g) / (ms * 1e6);
      cells.push(pad(`${gf.toFixed(2)} (${variantName(algo.variant)}, ${ms.toFixed(1)} ms)`, 26));
    }
    if (form === 'forward') {
      const ms = await timeConv(
        env,
        form,
        B,
        g,
        { kind: 'direct', variant: tuning.forward },
        { reps: 2, rounds: 3 },
      );
      cells.push(pad(`${(convFlops(B, g) / (ms * 1e6)).toFixed(2)} (${ms.toFixed(1)} ms)`, 20));
    } else cells.push(pad('-', 20));
    const pick = await chooseConvAlgo(env, gpu.report, g, B, form, tuning, { cache: false });
    // The pick timed again as the columns are (it may be a variant no column shows).
    const pickMs = await timeConv(env, form, B, g, pick, { reps: 2, rounds: 3 });
    console.log(
      `${pad(name, 22)} ${pad(form, 11)} ${cells.join(' ')} ${pick.kind}${pick.kind === 'direct' ? '' : ` ${variantName(pick.variant)}`} ${(convFlops(B, g) / (pickMs * 1e6)).toFixed(2)} (${pickMs.toFixed(1)} ms)`,
    );
  }
}
gpu.destroy();
