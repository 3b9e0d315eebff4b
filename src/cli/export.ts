// `webgpu-trainer export --torch MODEL_OR_CHECKPOINT --out DIR`: writes a small Python project that
// continues the run under PyTorch DistributedDataParallel and writes the result back in this
// engine's format (see src/export/project.ts and the generated README.md).

import path from 'node:path';
import { exportTorch } from '../export/project.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import type { CliContext } from './terminal.js';

export const exportCommand: CommandSpec = {
  name: 'export',
  summary:
    'Export a model or checkpoint as a PyTorch project: model.py (the nn.Sequential), train.py (DistributedDataParallel ' +
    'under torchrun, writing webgpu-trainer model files back) and a README with the commands for one machine and several.',
  usage: 'webgpu-trainer export --torch MODEL_OR_CHECKPOINT --out DIR',
  options: [
    {
      name: 'torch',
      type: 'string',
      arg: 'FILE',
      defaultText: 'required',
      help: 'model.safetensors or checkpoint.safetensors to export (a checkpoint brings its optimizer state)',
    },
    {
      name: 'out',
      type: 'string',
      arg: 'DIR',
      defaultText: '<folder of FILE>/torch',
      help: 'folder for the project (created; files in it are overwritten)',
    },
  ],
  examples: [
    'webgpu-trainer export --torch runs/mnist/checkpoint.safetensors --out runs/mnist/torch',
    'cd runs/mnist/torch && torchrun --standalone --nproc_per_node=4 train.py --epochs 3',
    'webgpu-trainer eval runs/mnist/torch/runs/model.safetensors',
  ],
};

export async function runExport(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  const file = args.values.torch;
  if (typeof file !== 'string')
    throw new UsageError('export needs --torch MODEL_OR_CHECKPOINT (the only export format so far)');
  const outDir =
    typeof args.values.out === 'string' ? args.values.out : path.join(path.dirname(file), 'torch');
  const r = await exportTorch(file, outDir);
  const rel = (f: string) => path.join(outDir, f);
  io.out(
    `exported   ${file} (${r.run.startKind}, ${r.plan.resolved.layers.length} layers, ${r.plan.resolved.paramCount.toLocaleString('en-US')} parameters)\n` +
      `files      ${r.files.map(rel).join('\n           ')}\n` +
      `module     ${r.torchvision.target ? `torchvision.models.${r.torchvision.target.arch}(num_classes=${r.torchvision.target.classes})` : 'an nn.Module written for this network'}\n` +
      `optimizer  ${r.run.optimizer.name} lr ${r.run.optimizer.lr}, ${r.run.schedule.kind} schedule, global batch ${r.run.batchSize}\n` +
      `data       ${r.run.data.path ?? 'not found here: pass --data PATH to train.py'}\n` +
      `next       cd ${outDir} && torchrun --standalone --nproc_per_node=2 train.py --epochs 1\n` +
      `           webgpu-trainer eval ${rel('runs/model.safetensors')}\n`,
  );
  for (const n of r.run.notes) io.err(`note: ${n}\n`);
  return 0;
}
