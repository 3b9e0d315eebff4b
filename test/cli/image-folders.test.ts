// `train` on image folders with no --image-size and with bad files, in-process: the header says
// which size was chosen and why (one size; mixed sizes; --image-size given), and how many files
// were skipped, with the list in <out>/skipped.txt; a second run loads the decoded cache and
// reports the same list; --strict stops at the first bad file with the decoder's message; the
// model stores the size chosen, so eval and predict use it.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/io/files.js';
import { Rng } from '../../src/rng.js';
import { CLASSES, runCli, synthImage } from './helpers.js';

let root: string;

const pngOf = (k: number, w: number, h: number, rng: Rng): Uint8Array =>
  encode({ width: w, height: h, data: synthImage(k, w, h, rng), channels: 3, depth: 8 });

/** <class>/<i>.png for the three classes, `per` each, of the size `sizeOf(i)` gives ([w, h]). */
function folder(name: string, per: number, sizeOf: (i: number) => [number, number]): string {
  const dir = path.join(root, name);
  const rng = new Rng(name.length);
  CLASSES.forEach((c, k) => {
    mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < per; i++) {
      const [w, h] = sizeOf(i);
      writeFileSync(path.join(dir, c, `${i}.png`), pngOf(k, w, h, rng));
    }
  });
  return dir;
}

const TRAIN = (data: string, out: string, extra: string[] = []) => [
  'train',
  '--data',
  data,
  '--layers',
  '8',
  '--epochs',
  '1',
  '--validation',
  'none',
  '--out',
  out,
  ...extra,
];

/** The header row that starts with `key`. */
const row = (out: string, key: string): string | undefined =>
  out.split('\n').find((l) => l.startsWith(`${key} `));

// The decoded cache is the user's, as for the other CLI tests (the tuning cache lives beside it):
// slots are keyed by the folder's path, unique here, and pruned once the folder is gone.
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-cli-folders-'));
});

describe('train on an image folder with bad files and no --image-size', () => {
  it('says the size and the skipped files, lists them, and a cached run says the same', async () => {
    const data = folder('bad', 8, () => [12, 10]);
    const cut = path.join(data, 'ring', 'cut.png');
    writeFileSync(cut, pngOf(0, 12, 10, new Rng(1)).subarray(0, 60));
    writeFileSync(path.join(data, 'stripes', 'text.jpg'), 'text, not a picture');
    writeFileSync(path.join(data, 'tl-block', 'empty.jpg'), '');
    const out1 = path.join(root, 'out1');
    const r1 = await runCli(TRAIN(data, out1));
    expect(r1.code, r1.err).toBe(0);
    expect(row(r1.out, 'image size')).toBe('image size 10x12 (every picture is 10x12)');
    const list = path.join(out1, 'skipped.txt');
    expect(row(r1.out, 'skipped')).toBe(`skipped    3 of 27 files (2 unreadable, 1 empty); list in ${list}`);
    expect(r1.out).toMatch(/^data +.*: 24 train, validation none, no test split; 10x12x3, 3 classes$/m);
    const lines = (await readFile(list, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual([
      cut,
      path.join(data, 'stripes', 'text.jpg'),
      path.join(data, 'tl-block', 'empty.jpg'),
    ]);
    expect(lines[0].split('\t')[1]).toMatch(/^unreadable: corrupt or unreadable PNG \(/);
    expect(r1.err).toMatch(/decoded 24 images from .* \(3 bad files skipped\); wrote the decoded cache/);
    // The size chosen is stored with the run, so eval, predict and --resume read the same records.
    const m = await loadModelFile(path.join(out1, 'model.safetensors'));
    expect(m.architecture.inputShape).toEqual([10, 12, 3]);
    expect((m.training as { config: { imageSize: unknown } }).config.imageSize).toEqual([10, 12]);
    const ev = await runCli(['eval', path.join(out1, 'model.safetensors'), '--json']);
    expect(ev.code, ev.err).toBe(0);
    expect((JSON.parse(ev.out) as { samples: number }).samples).toBe(24);

    // The second run loads the decoded cache and reports the same list.
    const out2 = path.join(root, 'out2');
    const r2 = await runCli(TRAIN(data, out2));
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toMatch(/loaded 24 decoded images of .* from the cache .* \(3 bad files skipped\)/);
    expect(row(r2.out, 'image size')).toBe(row(r1.out, 'image size'));
    expect(row(r2.out, 'skipped')).toBe(row(r1.out, 'skipped')!.replace(out1, out2));
    expect(await readFile(path.join(out2, 'skipped.txt'), 'utf8')).toBe(await readFile(list, 'utf8'));

    // --strict: the first bad file is the error, with the decoder's message.
    const r3 = await runCli(TRAIN(data, path.join(root, 'out3'), ['--strict']));
    expect(r3.code).toBe(1);
    expect(r3.err).toMatch(
      new RegExp(`^webgpu-trainer: DatasetFormatError: ${cut}: corrupt or unreadable PNG \\(`, 'm'),
    );
  });

  it('mixed sizes train at the median rule; --image-size wins; a clean run drops an old list', async () => {
    const sizes: [number, number][] = [
      [16, 16],
      [40, 17],
      [20, 30],
      [9, 18],
    ];
    const data = folder('mixed', 4, (i) => sizes[i]);
    const out = path.join(root, 'out1');
    const r = await runCli(TRAIN(data, out));
    expect(r.code, r.err).toBe(0);
    // Short sides 16, 17, 20, 9 (three each): median (16 + 17) / 2 -> 16.
    expect(row(r.out, 'image size')).toBe(
      'image size 16x16 (mixed sizes; median short side 16 of 12 pictures; --image-size to change)',
    );
    expect(row(r.out, 'skipped')).toBeUndefined();
    expect(existsSync(path.join(out, 'skipped.txt'))).toBe(false);
    const given = await runCli(TRAIN(data, path.join(root, 'out4'), ['--image-size', '6x7']));
    expect(given.code, given.err).toBe(0);
    expect(row(given.out, 'image size')).toBe('image size 6x7 (--image-size)');
  });
});
