// `webgpu-trainer info`: the adapter in use, its limits and features, and the matmul kernel
// variants chosen for it (measured once per adapter by src/engine/tune.ts, then cached).
// `info MODEL` describes a model file instead (src/cli/model-info.ts).

import type { CommandSpec, ParsedArgs } from './args.js';
import { chooseVariants, describeVariants, openGpu } from './adapter.js';
import { modelInfo } from './model-info.js';
import type { CliContext } from './terminal.js';

export const infoCommand: CommandSpec = {
  name: 'info',
  summary:
    'Show the WebGPU adapter, its limits and features, and the chosen matmul kernel variants; ' +
    'with a model file, what it holds and where its weights came from.',
  usage: 'webgpu-trainer info [MODEL] [options]',
  positionals: { min: 0, max: 1 },
  options: [{ name: 'json', type: 'boolean', default: false, help: 'print JSON instead of text' }],
  examples: [
    'webgpu-trainer info',
    'webgpu-trainer info --json',
    'webgpu-trainer info runs/mine/model.safetensors',
  ],
};

export async function runInfo(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  if (args.positionals.length > 0) {
    io.out(await modelInfo(args.positionals[0], args.values.json === true));
    return 0;
  }
  const { gpu, owned } = await openGpu(ctx);
  try {
    const r = gpu.report;
    const choice = await chooseVariants(gpu);
    const all = { ...choice.variants, ...choice.extra };
    if (args.values.json) {
      io.out(
        JSON.stringify({ adapter: r, kernels: { source: choice.source, variants: all } }, null, 2) + '\n',
      );
      return 0;
    }
    const lines = [
      `adapter      ${r.name}`,
      `kind         ${r.kind}${r.software ? ' (software, runs on the CPU)' : ''}`,
      `origin       ${r.origin}`,
      ...(r.driverThreads
        ? [
            `cpu threads  ${r.driverThreads.threads} llvmpipe workers (${r.driverThreads.source === 'engine' ? '4 per core, set by the engine; set LP_NUM_THREADS to choose' : 'from LP_NUM_THREADS'})`,
          ]
        : []),
      `vendor       ${r.vendor || '-'}   architecture ${r.architecture || '-'}`,
      `features     ${r.features.join(', ') || '(none)'}`,
      `kernels      ${describeVariants(all)} [${choice.source}]`,
      'limits',
      ...Object.entries(r.limits)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, val]) => `  ${k.padEnd(42)}${val}`),
    ];
    io.out(lines.join('\n') + '\n');
    return 0;
  } finally {
    if (owned) gpu.destroy();
  }
}
