// `webgpu-trainer selftest`: checks that this machine's GPU computes the engine's kernels
// correctly. Every registered kernel family (src/selftest/run.ts) runs on the current adapter on
// a few odd shapes, with NaN-poisoned outputs, and is compared with the float64 CPU reference
// (src/reference/). Prints the adapter and one row per comparison (kernel, variant, shape, max
// error, tolerance, pass/fail), or the same as JSON; exits 1 when any row fails.
//
// WGT_TEST_SELFTEST_FAULT=<kernel prefix> is for tests only: it corrupts the GPU result of the
// matching rows (src/selftest/harness.ts) so the failure path can be checked.

import { runSelftest, type CheckResult } from '../selftest/run.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { chooseVariants, FORMS, openGpu } from './gpu.js';
import { table, type CliContext } from './io.js';

export const selftestCommand: CommandSpec = {
  name: 'selftest',
  summary:
    "Check that this machine's GPU computes every kernel family correctly, against the CPU reference. " +
    'Matmul in all forms for the chosen variants and the default, activations, losses, reductions, optimizers, ' +
    'pooling, batch norm and dropout, on odd shapes; prints the adapter and a pass/fail table (or --json) and exits 1 on any failure.',
  usage: 'webgpu-trainer selftest [options]',
  options: [
    { name: 'json', type: 'boolean', default: false, help: 'print JSON instead of the table' },
    {
      name: 'adapter',
      type: 'choice',
      choices: ['auto', 'lavapipe', 'swiftshader'],
      default: 'auto',
      help: 'auto: the adapter training would use; or force a software Vulkan driver',
    },
  ],
  examples: [
    'webgpu-trainer selftest',
    'webgpu-trainer selftest --json',
    'webgpu-trainer selftest --adapter swiftshader',
  ],
};

const tolText = (r: CheckResult): string =>
  `${r.tolerance.atol.toExponential(1)} + ${r.tolerance.rtol.toExponential(0)}|e|`;

export async function runSelftestCommand(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  const adapter = args.values.adapter as 'auto' | 'lavapipe' | 'swiftshader';
  const { gpu, owned } = await openGpu(ctx, adapter === 'auto' ? {} : { software: adapter });
  try {
    const choice = await chooseVariants(gpu);
    const report = await runSelftest(
      gpu,
      FORMS.map((f) => choice.variants[f]).concat(Object.values(choice.extra)),
      { injectFault: process.env.WGT_TEST_SELFTEST_FAULT || undefined },
    );
    if (args.values.json) {
      io.out(
        JSON.stringify({ ...report, ok: report.failed === 0, variantSource: choice.source }, null, 2) + '\n',
      );
    } else {
      const rows: (string | number)[][] = [
        ['kernel', 'variant', 'shape', 'max error', 'tolerance', 'result'],
      ];
      for (const r of report.results) {
        rows.push([
          r.kernel,
          r.variant,
          r.shape,
          r.maxError.toExponential(2),
          tolText(r),
          r.pass ? 'pass' : 'FAIL',
        ]);
      }
      io.out(`adapter    ${report.adapter.name} [${report.adapter.origin}]\n`);
      io.out(`variants   ${report.variants.join(', ')} (tuner: ${choice.source}, plus the default)\n\n`);
      io.out(table(rows, ['l', 'l', 'l', 'r', 'r', 'l']));
      for (const r of report.results.filter((x) => !x.pass))
        io.out(`FAIL ${r.kernel} ${r.variant} ${r.shape}: ${r.detail ?? ''}\n`);
      io.out(
        `\n${report.failed === 0 ? 'all' : `${report.failed} of`} ${report.results.length} checks ${report.failed === 0 ? 'passed' : 'FAILED'} in ${report.seconds.toFixed(1)} s\n`,
      );
    }
    return report.failed === 0 ? 0 : 1;
  } finally {
    if (owned) gpu.destroy();
  }
}
