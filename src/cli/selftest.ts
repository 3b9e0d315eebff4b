// `webgpu-trainer selftest`: checks that this machine's GPU computes the engine's kernels
// correctly. Every registered kernel family (src/selftest/run.ts) runs on the current adapter on
// a few odd shapes, with NaN-poisoned outputs, and is compared with the float64 CPU reference
// (src/reference/). Prints the adapter and one row per comparison (kernel, variant, shape, max
// error, tolerance, pass/fail), or the same as JSON; exits 1 when any row fails.
// The command never corrupts a result: the failure path is tested by calling runSelftest with its
// test-only `injectFault` option and printing the report with selftestOutput (test/cli/).

import { runSelftest, type CheckResult, type SelftestReport } from '../selftest/run.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { chooseVariants, FORMS, openGpu } from './adapter.js';
import { table, type CliContext } from './terminal.js';

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
  const adapter = args.values.adapter as 'auto' | 'lavapipe' | 'swiftshader';
  const { gpu, owned } = await openGpu(ctx, adapter === 'auto' ? {} : { software: adapter });
  try {
    const choice = await chooseVariants(gpu);
    const report = await runSelftest(
      gpu,
      FORMS.map((f) => choice.variants[f]).concat(Object.values(choice.extra)),
    );
    const { text, code } = selftestOutput(report, choice.source, Boolean(args.values.json));
    ctx.io.out(text);
    return code;
  } finally {
    if (owned) gpu.destroy();
  }
}

/** What the command prints for a report (the table, or JSON) and its exit code: 1 on any failure. */
export function selftestOutput(
  report: SelftestReport,
  variantSource: string,
  json: boolean,
): { text: string; code: number } {
  const code = report.failed === 0 ? 0 : 1;
  if (json) {
    const text = JSON.stringify({ ...report, ok: report.failed === 0, variantSource }, null, 2) + '\n';
    return { text, code };
  }
  const rows: (string | number)[][] = [['kernel', 'variant', 'shape', 'max error', 'tolerance', 'result']];
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
  let text = `adapter    ${report.adapter.name} [${report.adapter.origin}]\n`;
  text += `variants   ${report.variants.join(', ')} (tuner: ${variantSource}, plus the default)\n\n`;
  text += table(rows, ['l', 'l', 'l', 'r', 'r', 'l']);
  for (const r of report.results.filter((x) => !x.pass))
    text += `FAIL ${r.kernel} ${r.variant} ${r.shape}: ${r.detail ?? ''}\n`;
  const all = report.failed === 0;
  text += `\n${all ? 'all' : `${report.failed} of`} ${report.results.length} checks ${all ? 'passed' : 'FAILED'} in ${report.seconds.toFixed(1)} s\n`;
  return { text, code };
}
