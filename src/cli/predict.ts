// `webgpu-trainer predict MODEL IMAGE...`: classifies image files (PNG, JPEG, WebP, ...) of any size. Each image is
// decoded, converted to the model's channels, resized to its input size (the same code path as
// the image-folder reader used in training) and normalised with the model file's statistics.
// Folders given as arguments are searched for images (sorted, recursively).

import { hasImageExtension, IMAGE_FORMATS_TEXT } from '../data/decode.js';
import { centreCropImages, rrcRecordSize } from '../data/augment-rrc.js';
import { trainedWithRrc } from './config.js';
import { resolveModel } from '../nn/layers.js';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readImageFileFromDisk } from '../data/readers-node.js';
import { NotAnImageError } from '../errors.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { normalizationMulAdd as mulAdd } from '../data/normalize.js';
import { openGpu } from './adapter.js';
import { table, type CliContext } from './terminal.js';
import { argmax, classProbabilities, inferenceTrainer, loadModelForUse } from './model.js';
import { meanOfViews, predictBothViews, ttaForModel, TTA_CHOICES, type TtaChoice } from '../engine/tta.js';
import { TTA_HELP } from './tta.js';

export const predictCommand: CommandSpec = {
  name: 'predict',
  summary:
    'Classify images (PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF; any size) with a model file: each is resized and normalised exactly as in training. ' +
    'Folders are searched for images.',
  usage: 'webgpu-trainer predict MODEL IMAGE|FOLDER... [options]',
  positionals: { min: 2, max: Infinity },
  options: [
    {
      name: 'top',
      type: 'int',
      arg: 'K',
      min: 1,
      default: 1,
      help: 'show the K most likely classes per image',
    },
    {
      name: 'json',
      type: 'boolean',
      default: false,
      help: "print JSON instead of a table: per image its top classes and `probabilities`, every class's probability in class-index order",
    },
    {
      name: 'resize',
      type: 'choice',
      choices: ['resize', 'center-crop'],
      defaultText: 'as in training',
      help: 'how images reach the model input size',
    },
    {
      name: 'tta',
      type: 'choice',
      choices: TTA_CHOICES,
      default: 'auto',
      help: TTA_HELP.replace('for the test evaluation', 'for the prediction'),
    },
  ],
  examples: [
    'webgpu-trainer predict runs/catvnoncat/model.safetensors photo.jpg',
    'webgpu-trainer predict runs/catvnoncat/model.safetensors ../shared/data/imagefolder-sample/catvnoncat-png --json',
  ],
};

async function expand(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of inputs) {
    let s;
    try {
      s = await stat(p);
    } catch {
      throw new UsageError(`${p}: no such file or folder`);
    }
    if (!s.isDirectory()) {
      out.push(p);
      continue;
    }
    const walk = async (dir: string): Promise<void> => {
      const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : 1,
      );
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (hasImageExtension(e.name)) out.push(full);
      }
    };
    const before = out.length;
    await walk(p);
    if (out.length === before)
      throw new UsageError(`${p}: the folder holds no image files (${IMAGE_FORMATS_TEXT})`);
  }
  return out;
}

export async function runPredict(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const io = ctx.io;
  const v = args.values;
  const m = await loadModelForUse(args.positionals[0]);
  const [h, w, c] = m.shape;
  if (c !== 1 && c !== 3)
    throw new UsageError(`${m.file}: input has ${c} channels; predict reads 1- or 3-channel images`);
  const training = m.model.training as { config?: { resize?: unknown; augment?: unknown } };
  const tta = ttaForModel(v.tta as TtaChoice, training.config, m.shape, m.spec.loss, '--tta');
  if (tta === 'flip')
    io.err('tta        flip: each image and its mirror, probabilities averaged (--tta none: one view)\n');
  const mode =
    typeof v.resize === 'string'
      ? v.resize
      : training.config?.resize === 'center-crop'
        ? 'center-crop'
        : 'resize';
  const files = await expand(args.positionals.slice(1));
  const per = h * w * c;
  const images = new Uint8Array(files.length * per);
  // Trained with random-resized crop: the centre of the picture at 8/7 the input size, as it validated.
  const rrc = trainedWithRrc(training.config);
  const record = rrc ? rrcRecordSize({ height: h, width: w }) : { height: h, width: w };
  for (let i = 0; i < files.length; i++) {
    let px: Uint8Array;
    try {
      px = await readImageFileFromDisk(files[i], {
        size: [record.height, record.width],
        channels: c,
        mode: rrc ? 'center-crop' : (mode as 'resize' | 'center-crop'),
      });
      if (rrc) px = centreCropImages(px, 1, record, { height: h, width: w }, c);
    } catch (e) {
      // The reader's own advice names an API option (skipNonImages); a CLI user needs this instead.
      if (!(e instanceof NotAnImageError)) throw e;
      throw new UsageError(
        `${files[i]}: not an image file; predict reads ${IMAGE_FORMATS_TEXT} files only: ` +
          'leave this file out, or pass a folder (files in it that are not images are skipped)',
      );
    }
    images.set(px, i * per);
  }
  const { gpu, owned } = await openGpu(ctx);
  try {
    const trainer = await inferenceTrainer(gpu, m);
    const part = { images, count: files.length, labels: new Int32Array(files.length) };
    const norm = mulAdd(m.normalization, c);
    const out =
      tta === 'flip'
        ? meanOfViews(...(await predictBothViews(trainer, part, norm, m.shape, 256)))
        : await trainer.predict({ kind: 'uint8', ...part, channels: c, ...norm });
    trainer.destroy();
    const outputs = resolveModel(m.spec).outputSize;
    const probs = classProbabilities(out, files.length, outputs);
    const k = Math.min(v.top as number, m.classNames.length);
    const results = files.map((file, i) => {
      const order = Array.from(probs[i].keys()).sort((a, b) => probs[i][b] - probs[i][a] || a - b);
      const best = argmax(probs[i]);
      return {
        file,
        class: m.classNames[best],
        index: best,
        probability: probs[i][best],
        top: order.slice(0, k).map((j) => ({ class: m.classNames[j], index: j, probability: probs[i][j] })),
        // Every class in class-index order (a bce model's one output p as [1 - p, p]).
        probabilities: Array.from(probs[i]),
      };
    });
    if (v.json) {
      io.out(JSON.stringify(results, null, 2) + '\n');
      return 0;
    }
    const header = ['image', 'class', 'probability'];
    for (let j = 1; j < k; j++) header.push(`#${j + 1}`, 'p');
    const rows: (string | number)[][] = [header];
    for (const r of results) {
      const row: (string | number)[] = [r.file, r.class, r.probability.toFixed(4)];
      for (const t of r.top.slice(1)) row.push(t.class, t.probability.toFixed(4));
      rows.push(row);
    }
    const align = header.map((_, j) => (j === 0 || (j >= 1 && j % 2 === 1) ? 'l' : 'r')) as ('l' | 'r')[];
    io.out(table(rows, align));
    return 0;
  } finally {
    if (owned) gpu.destroy();
  }
}
