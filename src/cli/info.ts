// `webgpu-trainer info`: the adapter in use, its limits and features, and the matmul kernel
// variants chosen for it (measured once per adapter by src/engine/tune.ts, then cached).
// `info MODEL` describes a model file instead (src/cli/model-info.ts). It also names the library
// that decodes image files (src/data/decode-node.ts: sharp, or the pure-JS fallback and why).

import type { CommandSpec, ParsedArgs } from './args.js';
import { chooseVariants, describeVariants, openGpu } from './adapter.js';
import { modelInfo } from './model-info.js';
import { decoderLibrary, nodeImageDecoder } from '../data/decode-node.js';
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

/** The image decoder in use, or why the one WGT_IMAGE_DECODER asks for cannot be used. */
function imageDecoderInfo(): { name: string; library: string } {
  try {
    const d = nodeImageDecoder();
    return { name: d.name, library: decoderLibrary(d) };
  } catch (e) {
    return { name: `none: ${e instanceof Error ? e.message : String(e)}`, library: 'none' };
  }
}

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
    const images = imageDecoderInfo();
    if (args.values.json) {
      const kernels = { source: choice.source, variants: all };
      io.out(JSON.stringify({ adapter: r, kernels, imageDecoder: images }, null, 2) + '\n');
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
      `images       ${images.name}`,
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
