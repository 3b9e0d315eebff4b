// `webgpu-trainer import FILE --arch ARCH [--image-size HxW] --out model.safetensors`: a torchvision
// (or timm) state dict, .pth or .safetensors, becomes an engine model file that eval, predict and
// `train --from` use as they are (src/io/torchvision-import.ts does the mapping). The file is read
// once; nothing is written unless every tensor fits the architecture.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { parseStateDict } from '../io/state-dict.js';
import { importTorchvision } from '../io/torchvision-import.js';
import { DEFAULT_SIDE, isTorchvisionArch, TORCHVISION_ARCHS } from '../nn/torchvision.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { parseImageSize } from './config.js';
import type { CliContext } from './terminal.js';

export const importCommand: CommandSpec = {
  name: 'import',
  summary:
    'Import pretrained weights (a torchvision or timm state dict, .pth or .safetensors) as a model file for eval, ' +
    'predict and train --from.',
  usage:
    'webgpu-trainer import FILE [--arch ARCH] [--image-size HxW] [--class-names FILE] --out model.safetensors',
  positionals: { min: 1, max: 1 },
  options: [
    {
      name: 'arch',
      type: 'string',
      arg: 'ARCH',
      choices: [...TORCHVISION_ARCHS],
      defaultText: "detected from the file's tensor names",
      help: 'the architecture the state dict belongs to',
    },
    {
      name: 'image-size',
      type: 'string',
      arg: 'HxW',
      defaultText: `${DEFAULT_SIDE}x${DEFAULT_SIDE}`,
      help: 'the input size the model file is built for (any size from 32x32 up; predict resizes to it)',
    },
    {
      name: 'class-names',
      type: 'string',
      arg: 'FILE',
      defaultText: '0, 1, 2, ...',
      help: 'a text file with one class name per line, one per output of the classifier',
    },
    {
      name: 'out',
      type: 'string',
      arg: 'FILE',
      defaultText: 'required',
      help: 'the model file to write (replaced atomically)',
    },
  ],
  examples: [
    'webgpu-trainer import resnet18-f37072fd.pth --out resnet18.safetensors',
    'webgpu-trainer import mobilenet_v2.pth --arch mobilenet_v2 --image-size 128x128 --out mnv2.safetensors',
    'webgpu-trainer predict resnet18.safetensors photo.jpg --json',
  ],
};

async function classNamesFrom(file: string | undefined): Promise<string[] | undefined> {
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--class-names: cannot read ${file} (${e.code ?? e.message})`);
  });
  const names = text.split(/\r?\n/).map((s) => s.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  return names;
}

export async function runImport(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const file = args.positionals[0];
  const out = args.values.out;
  if (typeof out !== 'string') throw new UsageError('import needs --out FILE (the model file to write)');
  const arch = args.values.arch as string | undefined;
  if (arch !== undefined && !isTorchvisionArch(arch))
    throw new UsageError(`--arch: '${arch}' is not one of ${TORCHVISION_ARCHS.join(', ')}`);
  const sizeText = args.values['image-size'] as string | undefined;
  const size = sizeText === undefined ? undefined : parseImageSize(sizeText);
  if (size === 'native') throw new UsageError('--image-size: import needs HxW (e.g. 224x224), not native');
  const classNames = await classNamesFrom(args.values['class-names'] as string | undefined);

  if (!(await stat(file).catch(() => undefined))?.isFile())
    throw new UsageError(`import: ${file} is not a file; give the .pth or .safetensors state dict to import`);
  const started = performance.now();
  const raw = await readFile(file);
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const r = importTorchvision(parseStateDict(bytes, file), {
    fileName: path.basename(file),
    arch,
    imageSize: size,
    classNames,
    sha256,
  });
  await writeFileAtomic(out, r.bytes);
  const [h, w] = size ?? [DEFAULT_SIDE, DEFAULT_SIDE];
  ctx.io.out(
    `imported   ${file} (${r.timm ? 'timm' : 'torchvision'} ${r.arch}${arch === undefined ? ', detected' : ''}; sha256 ${sha256.slice(0, 12)})\n` +
      `model      ${out}: ${h}x${w}x3 input, ImageNet normalisation, ${r.classes} classes\n` +
      `took       ${((performance.now() - started) / 1000).toFixed(1)} s\n` +
      `next       webgpu-trainer predict ${out} IMAGE --json\n` +
      `           webgpu-trainer train --data FOLDER --from ${out} --freeze backbone\n`,
  );
  return 0;
}
