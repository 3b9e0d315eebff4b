// The JPEG accelerator (native/turbo through src/data/decode-turbo.ts): shapes, pixels against
// preprocessImage(jpeg-js) (the same crop and resampler rules) and against sharp, EXIF orientations
// 1-8 upright, both modes, 1 and 3 channels, growing, what goes to sharp (PNG, WebP, CMYK), and bad
// files (truncated, corrupt, over maxPixels) as DatasetFormatErrors that folders skip as
// unreadable. Where the addon is not built (`npm run build:native`) the addon groups are skipped
// with one line; in CI (CI set) a missing addon fails, because .ci/run builds it.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsImageDecoder } from '../../src/data/decode-js.js';
import { decoderLibrary, nodeImageDecoder, pickDecoder } from '../../src/data/decode-node.js';
import { loadSharp } from '../../src/data/decode-sharp.js';
import { loadTurbo, turboImageDecoder, type TurboAddon } from '../../src/data/decode-turbo.js';
import type { ImageDecoder } from '../../src/data/decode.js';
import { preprocessImage, type PreprocessOptions } from '../../src/data/preprocess.js';
import { readImageFolderFromDisk } from '../../src/data/readers-node.js';
import { badFileKind } from '../../src/data/skipped.js';
import { ConfigError, DatasetFormatError } from '../../src/errors.js';
import { needData } from '../helpers/datasets.js';
import { bytesOf, FORMATS_DIR, H, pattern, W } from '../helpers/format-fixtures.js';

const DIR = FORMATS_DIR;

/** Mean and largest |a - b|, and where the largest is, for the failure message. */
function diff(a: Uint8Array, b: Uint8Array, keep: (i: number) => boolean = () => true) {
  let sum = 0;
  let n = 0;
  let max = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    if (!keep(i)) continue;
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    n++;
    if (d > max) [max, at] = [d, i];
  }
  return { mean: sum / Math.max(1, n), max, at: at < 0 ? 'none' : `sample ${at}: ${a[at]} vs ${b[at]}` };
}

/** Sample i of a 24-wide c-channel image lies 2+ pixels inside its 8x8 block (JPEG blurs edges). */
const inside =
  (c: number) =>
  (i: number): boolean => {
    const p = Math.floor(i / c);
    return [(p % W) % 8, Math.floor(p / W) % 8].every((v) => v >= 2 && v <= 5);
  };

let addon: TurboAddon | undefined;
let why = '';
try {
  addon = loadTurbo();
} catch (e) {
  why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
if (!addon && !process.env.CI) {
  process.stderr.write(
    `skipped: the JPEG accelerator tests (addon not built: ${why}; run npm run build:native)\n`,
  );
}
const sharpDecoder = nodeImageDecoder('sharp');
const turbo: ImageDecoder | undefined = addon && turboImageDecoder(addon, sharpDecoder);
const run = addon ? describe : describe.skip;
const jsPreprocessed = async (bytes: Uint8Array, file: string, o: PreprocessOptions): Promise<Uint8Array> =>
  preprocessImage(await jsImageDecoder.decode(bytes, file), o);

describe('the JPEG accelerator: built where CI needs it, chosen by WGT_IMAGE_DECODER', () => {
  it('is built in CI', () => {
    if (process.env.CI) expect(addon, `CI builds native/turbo (npm run build:native): ${why}`).toBeDefined();
  });

  it('auto and turbo pick it with sharp behind it; auto falls back to sharp alone when it is not built', () => {
    const broken = (): never => {
      throw new Error('Cannot find module turbo.node');
    };
    expect(decoderLibrary(pickDecoder('auto', loadSharp, broken))).toBe('sharp');
    expect(() => pickDecoder('turbo', loadSharp, broken)).toThrow(ConfigError);
    expect(() => pickDecoder('turbo', loadSharp, broken)).toThrow(/npm run build:native/);
    expect(decoderLibrary(pickDecoder('sharp', loadSharp, broken))).toBe('sharp');
    if (!addon) return;
    for (const choice of ['auto', 'turbo'] as const) {
      const d = pickDecoder(choice);
      expect(decoderLibrary(d)).toBe('turbo');
      expect(d.name).toMatch(/^libjpeg-turbo \d+\.\d+(\.\d+)? \(native addon\) \+ sharp \d+\.\d+\.\d+ /);
    }
  });
});

run('the JPEG accelerator on the fixtures', () => {
  const d = turbo!;

  it.each(['jpeg-baseline.jpg', 'jpeg-progressive.jpg', 'jpeg-grey.jpg'])(
    'decodes %s at its size, and decodeResized there gives preprocessImage(jpeg-js)',
    async (file) => {
      const bytes = bytesOf(file);
      const img = await d.decode(bytes, file);
      const grey = file.includes('grey');
      expect([img.width, img.height, img.channels]).toEqual([W, H, grey ? 1 : 3]);
      if (!grey) expect(diff(img.data, pattern(), inside(3)).max).toBeLessThanOrEqual(8);
      for (const channels of [3, 1] as const) {
        const opts = { size: [H, W] as [number, number], channels };
        const px = await d.decodeResized!(bytes, file, opts);
        const want = await jsPreprocessed(bytes, file, opts);
        expect(px.length).toBe(W * H * channels);
        // Two IDCTs (libjpeg-turbo's and jpeg-js's) at the same size: a level or two apart.
        const r = diff(px, want);
        expect(r.mean, `${file} ${channels}ch: ${r.at}`).toBeLessThanOrEqual(1.5);
        expect(r.max, `${file} ${channels}ch: ${r.at}`).toBeLessThanOrEqual(12);
      }
    },
  );

  it('shrinks, crops, stretches and grows as preprocessImage does, in 1 and 3 channels', async () => {
    const file = 'jpeg-baseline.jpg';
    const bytes = bytesOf(file);
    const sizes: [number, number][] = [
      [8, 8],
      [7, 13],
      [5, 3],
      [1, 1],
      [16, 17],
      [40, 57],
      [33, 20],
    ];
    for (const size of sizes) {
      for (const mode of ['resize', 'center-crop'] as const) {
        for (const channels of [3, 1] as const) {
          const opts = { size, mode, channels };
          const px = await d.decodeResized!(bytes, file, opts);
          expect(px.length).toBe(size[0] * size[1] * channels);
          const want = await jsPreprocessed(bytes, file, opts);
          // A 2x+ shrink is the DCT's (1/2, 1/4, 1/8) then an area average: it differs from
          // averaging the full-size pixels only where the blocks' colours meet.
          const r = diff(px, want);
          const where = `${size.join('x')} ${mode} ${channels}ch: ${r.at}`;
          expect(r.mean, where).toBeLessThanOrEqual(6);
          expect(r.max, where).toBeLessThanOrEqual(64);
        }
      }
    }
  });

  it.each(Array.from({ length: 8 }, (_, k) => k + 1))('EXIF orientation %i comes out upright', async (o) => {
    const file = `exif-orientation-${o}.jpg`;
    const bytes = bytesOf(file);
    const img = await d.decode(bytes, file);
    expect([img.width, img.height]).toEqual([W, H]);
    expect(diff(img.data, pattern(), inside(3)).max, `${file} decode`).toBeLessThanOrEqual(8);
    const px = await d.decodeResized!(bytes, file, { size: [H, W] });
    expect(diff(px, pattern(), inside(3)).max, `${file} decodeResized`).toBeLessThanOrEqual(8);
    // A shrink and a crop of the upright picture, taken from the stored one.
    for (const opts of [
      { size: [8, 12] as [number, number] },
      { size: [8, 8] as [number, number], mode: 'center-crop' as const },
    ]) {
      const small = await d.decodeResized!(bytes, file, opts);
      const want = preprocessImage({ width: W, height: H, channels: 3, data: pattern() }, opts);
      const r = diff(small, want);
      expect(r.mean, `${file} ${opts.size.join('x')}: ${r.at}`).toBeLessThanOrEqual(6);
    }
  });

  it.each(['png-rgb8.png', 'png-rgba.png', 'webp-lossy.webp', 'gif.gif', 'jpeg-cmyk.jpg'])(
    '%s goes to sharp',
    async (file) => {
      const bytes = bytesOf(file);
      const opts = { size: [8, 12] as [number, number], mode: 'center-crop' as const };
      expect(await d.decodeResized!(bytes, file, opts)).toEqual(
        await sharpDecoder.decodeResized!(bytes, file, opts),
      );
      expect(await d.decode(bytes, file)).toEqual(await sharpDecoder.decode(bytes, file));
    },
  );

  it('truncated, corrupt and oversized JPEGs reject with a DatasetFormatError naming the file', async () => {
    const whole = bytesOf('jpeg-progressive.jpg');
    const cases: [string, Uint8Array][] = [
      ['broken-truncated.jpg', bytesOf('broken-truncated.jpg')],
      ['broken-text.jpg', bytesOf('broken-text.jpg')],
      ['broken-empty.jpg', bytesOf('broken-empty.jpg')],
      ...[4, 40, 200, whole.length - 2].map((n): [string, Uint8Array] => [`cut-${n}.jpg`, whole.slice(0, n)]),
    ];
    for (const [file, bytes] of cases) {
      for (const call of [
        () => d.decodeResized!(bytes, file, { size: [8, 8] }),
        () => d.decode(bytes, file),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err, file).toBeInstanceOf(DatasetFormatError);
        expect((err as Error).message.startsWith(`${file}: `), (err as Error).message).toBe(true);
        expect(badFileKind(err, bytes), file).toBe(bytes.length === 0 ? 'empty' : 'unreadable');
      }
    }
    const big = await d.decodeResized!(whole, 'big.jpg', { size: [8, 8] }, { maxPixels: W * H - 1 }).catch(
      (e: unknown) => e,
    );
    expect(big).toBeInstanceOf(DatasetFormatError);
    expect((big as Error).message).toMatch(/^big\.jpg: JPEG too large .*over the limit of 383/);
    expect(await d.decodeResized!(whole, 'ok.jpg', { size: [8, 8] }, { maxPixels: W * H })).toHaveLength(192);
  });
});

run('the JPEG accelerator in an image folder with broken files', () => {
  let root = '';
  const files = ['jpeg-baseline.jpg', 'jpeg-grey.jpg', 'exif-orientation-6.jpg', 'png-rgb8.png'];
  const broken = ['broken-truncated.jpg', 'broken-text.jpg'];
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'wgt-turbo-'));
    [...files, ...broken].forEach((f, i) => {
      const cls = path.join(root, i % 2 === 0 ? 'a' : 'b');
      mkdirSync(cls, { recursive: true });
      copyFileSync(path.join(DIR, f), path.join(cls, f));
    });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('skips the broken JPEGs as unreadable, and strict stops at the first', async () => {
    const set = await readImageFolderFromDisk(root, { size: [8, 8], decoder: turbo! });
    expect(set.count).toBe(files.length);
    expect(set.skipped.map((s) => [path.basename(s.file), s.kind]).sort()).toEqual(
      broken.map((f) => [f, 'unreadable']).sort(),
    );
    const truncated = set.skipped.find((s) => s.file.endsWith('broken-truncated.jpg'));
    // The addon's message, from libjpeg-turbo (the text file never reaches it: no JPEG signature).
    expect(truncated?.reason).toMatch(/^corrupt or unreadable JPEG \(Premature end of JPEG file\)/);
    const err = await readImageFolderFromDisk(root, { size: [8, 8], decoder: turbo!, strict: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetFormatError);
  });
});

run('the JPEG accelerator on real photos (cats-dogs sample)', () => {
  const dir = needData('imagefolder-sample', 'real photos through the JPEG accelerator', ['cats-dogs-jpeg']);
  it.skipIf(!dir)('every photo: right shapes, near preprocessImage(jpeg-js) and near sharp', async () => {
    const root = path.join(dir!, 'cats-dogs-jpeg');
    const photos = readdirSync(root).flatMap((c) =>
      readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)),
    );
    expect(photos.length).toBeGreaterThanOrEqual(50);
    const targets: PreprocessOptions[] = [
      { size: [224, 224], mode: 'center-crop' },
      { size: [64, 64], mode: 'resize' },
      { size: [64, 64], mode: 'center-crop', channels: 1 },
      { size: [600, 450], mode: 'resize' },
    ];
    const means = targets.map(() => [0, 0]);
    for (const file of photos) {
      const bytes = new Uint8Array(readFileSync(file));
      const full = await turbo!.decode(bytes, file);
      const viaSharp = await sharpDecoder.decode(bytes, file);
      expect([full.width, full.height, full.channels], file).toEqual([viaSharp.width, viaSharp.height, 3]);
      const raw = await jsImageDecoder.decode(bytes, file);
      for (const [k, opts] of targets.entries()) {
        const px = await turbo!.decodeResized!(bytes, file, opts);
        expect(px.length, file).toBe(opts.size[0] * opts.size[1] * (opts.channels ?? 3));
        // Same rules as preprocess.ts: close to it; the DCT's shrink differs on fine texture.
        const js = diff(px, preprocessImage(raw, opts));
        expect(js.mean, `${file} ${opts.size.join('x')}`).toBeLessThanOrEqual(5);
        expect(js.max, `${file} ${opts.size.join('x')}`).toBeLessThanOrEqual(96);
        // sharp resamples with libvips' linear kernel and rounds its crop after its own shrink.
        const sh = diff(px, await sharpDecoder.decodeResized!(bytes, file, opts));
        expect(sh.mean, `${file} ${opts.size.join('x')} vs sharp`).toBeLessThanOrEqual(15);
        means[k][0] += js.mean / photos.length;
        means[k][1] += sh.mean / photos.length;
      }
    }
    // On average over the photos: within 2 levels of preprocess.ts, within 4 of sharp.
    for (const [k, [js, sh]] of means.entries()) {
      expect(js, `${targets[k].size.join('x')} mean vs jpeg-js`).toBeLessThanOrEqual(2);
      expect(sh, `${targets[k].size.join('x')} mean vs sharp`).toBeLessThanOrEqual(4);
    }
  });
});
