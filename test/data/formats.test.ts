// Every image format and variant in test/fixtures/images/formats/ (scripts/make-image-fixtures.mjs)
// through both Node decoders: sharp decodes all of them to the 24x16 test pattern (exactly for
// lossless files, within a stated tolerance for lossy ones); the pure-JS fallback decodes PNG,
// JPEG and BMP the same and reports the rest as 'unsupported' naming sharp; EXIF orientations 1-8
// all come out upright; broken files are skipped, or stop a strict read.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetFormatError, NotAnImageError } from '../../src/errors.js';
import { jsImageDecoder } from '../../src/data/decode-js.js';
import { decoderLibrary, nodeImageDecoder, sharpHeaderSize } from '../../src/data/decode-node.js';
import { decodeFiles } from '../../src/data/decode-pool.js';
import type { ImageDecoder, RawImage } from '../../src/data/decode.js';
import { preprocessImage } from '../../src/data/preprocess.js';
import { readImageFolderFromDisk, readImageHeaders } from '../../src/data/readers-node.js';
import { scanFolderSize } from '../../src/data/folder-size.js';
import { scanImageHeader } from '../../src/data/decode-header.js';
import { badFileKind, type SkippedFile } from '../../src/data/skipped.js';
import { needData } from '../helpers/datasets.js';
import { BLOCKS, bytesOf, FORMATS_DIR, H, pattern, W } from '../helpers/format-fixtures.js';

const DIR = FORMATS_DIR;

/** RGB of a decoded image: grey expanded, alpha dropped. */
function rgbOf(img: RawImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) out[3 * i + c] = img.data[i * img.channels + (img.channels <= 2 ? 0 : c)];
  }
  return out;
}

/** Whether pixel i of a W-wide image lies 2+ pixels inside its 8x8 block. */
const inside = (p: number): boolean =>
  (p % W) % 8 >= 2 && (p % W) % 8 <= 5 && Math.floor(p / W) % 8 >= 2 && Math.floor(p / W) % 8 <= 5;

/**
 * Largest |a - b| and where (pixel x, y, channel), for the failure message; over every pixel when
 * `all`, else over the block interiors (lossy codecs blur the edges between blocks, and WebP and
 * CMYK JPEGs subsample the chroma, spreading one colour into the next block by a pixel or two).
 */
function maxDiff(a: Uint8Array, b: Uint8Array, all = true): { diff: number; at: string } {
  const w = W;
  let diff = 0;
  let at = 'none';
  for (let i = 0; i < a.length; i++) {
    if (!all && !inside(Math.floor(i / 3))) continue;
    const d = Math.abs(a[i] - b[i]);
    if (d > diff) {
      diff = d;
      const p = Math.floor(i / 3);
      at = `x=${p % w} y=${Math.floor(p / w)} c=${i % 3}: ${a[i]} vs ${b[i]}`;
    }
  }
  return { diff, at };
}

/** The tolerance that stands for "CMYK": each block nearest its own colour (see expectPattern). */
const CMYK = 255;

/**
 * Largest sample error allowed per fixture, over the block interiors (0: exact, everywhere).
 * JPEGs are written at quality 95 without chroma subsampling, so flat 8x8 blocks come back within
 * a few levels; AVIF and lossy WebP move them a little more. CMYK goes through libvips' default
 * CMYK profile both ways (written and read), whose gamut moves saturated colours by up to ~85
 * levels: it is checked block by block instead.
 */
const FIXTURES: { file: string; tol: number; grey?: boolean; js: 'decodes' | 'unsupported' }[] = [
  { file: 'jpeg-baseline.jpg', tol: 8, js: 'decodes' },
  { file: 'jpeg-progressive.jpg', tol: 8, js: 'decodes' },
  { file: 'jpeg-grey.jpg', tol: 8, grey: true, js: 'decodes' },
  { file: 'jpeg-cmyk.jpg', tol: CMYK, js: 'decodes' },
  { file: 'png-rgb8.png', tol: 0, js: 'decodes' },
  { file: 'png-rgb16.png', tol: 0, js: 'decodes' },
  { file: 'png-palette.png', tol: 0, js: 'decodes' },
  { file: 'png-rgba.png', tol: 0, js: 'decodes' },
  { file: 'png-grey.png', tol: 0, grey: true, js: 'decodes' },
  { file: 'png-grey-alpha.png', tol: 0, grey: true, js: 'decodes' },
  { file: 'webp-lossless.webp', tol: 0, js: 'unsupported' },
  { file: 'webp-lossy.webp', tol: 24, js: 'unsupported' },
  { file: 'gif.gif', tol: 0, js: 'unsupported' },
  { file: 'bmp-24.bmp', tol: 0, js: 'decodes' },
  { file: 'bmp-8.bmp', tol: 0, js: 'decodes' },
  { file: 'tiff.tif', tol: 0, js: 'unsupported' },
  { file: 'avif.avif', tol: 24, js: 'unsupported' },
];
const ORIENTED = Array.from({ length: 8 }, (_, k) => `exif-orientation-${k + 1}.jpg`);
const BROKEN: Record<string, SkippedFile['kind']> = {
  'broken-corrupt.png': 'unreadable',
  'broken-empty.jpg': 'empty',
  'broken-text.jpg': 'unreadable',
  'broken-truncated.jpg': 'unreadable',
};

const sharpDecoder = nodeImageDecoder('sharp');

/** For each block, the pattern colour nearest to the mean of its interior: its own when upright. */
function nearestBlocks(rgb: Uint8Array): number[][] {
  const colours = BLOCKS.flat();
  return BLOCKS.map((row, by) =>
    row.map((_, bx) => {
      const mean = [0, 0, 0];
      for (let y = by * 8 + 2; y < by * 8 + 6; y++) {
        for (let x = bx * 8 + 2; x < bx * 8 + 6; x++)
          for (let c = 0; c < 3; c++) mean[c] += rgb[(y * W + x) * 3 + c] / 16;
      }
      const dist = colours.map((k) => k.reduce((s, v, c) => s + (v - mean[c]) ** 2, 0));
      return dist.indexOf(Math.min(...dist));
    }),
  );
}

async function expectPattern(d: ImageDecoder, file: string, tol: number, grey = false): Promise<void> {
  const img = await d.decode(bytesOf(file), file);
  expect([img.width, img.height], `${file}: size`).toEqual([W, H]);
  if (tol === CMYK) {
    // Saturated blue and green lie outside a CMYK press's gamut: the colours come back moved, but
    // every block must still be nearest its own colour (an orientation or channel error is not).
    expect(nearestBlocks(rgbOf(img)), `${d.name} on ${file}`).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    return;
  }
  const { diff, at } = maxDiff(rgbOf(img), pattern(grey), tol === 0);
  expect(diff, `${d.name} on ${file}: worst sample ${at}`).toBeLessThanOrEqual(tol);
}

describe('image formats: fixtures through sharp and the pure-JS fallback', () => {
  it('the fixture folder holds every file the tables name, and nothing else', () => {
    const want = [...FIXTURES.map((f) => f.file), ...ORIENTED, ...Object.keys(BROKEN)].sort();
    expect(readdirSync(DIR).sort()).toEqual(want);
  });

  it.each(FIXTURES)('sharp decodes $file to the pattern (tolerance $tol)', async ({ file, tol, grey }) => {
    expect(sharpDecoder.name).toMatch(/^sharp \d+\.\d+\.\d+ \(libvips /);
    await expectPattern(sharpDecoder, file, tol, grey);
  });

  it.each(FIXTURES)("sharp's decodeResized at the native size gives the pattern: $file", async (f) => {
    const bytes = bytesOf(f.file);
    for (const channels of [3, 1] as const) {
      const px = await sharpDecoder.decodeResized!(bytes, f.file, { size: [H, W], channels }, {});
      const want = preprocessImage(
        { width: W, height: H, channels: 3, data: pattern(f.grey) },
        { size: [H, W], channels },
      );
      expect(px.length).toBe(W * H * channels);
      if (f.tol === CMYK) continue;
      let worst = 0;
      for (let i = 0; i < px.length; i++) {
        if (f.tol === 0 || inside(Math.floor(i / channels)))
          worst = Math.max(worst, Math.abs(px[i] - want[i]));
      }
      expect(worst, `${f.file}, ${channels} channel(s)`).toBeLessThanOrEqual(f.tol);
    }
  });

  it.each(FIXTURES)('the pure-JS fallback on $file: $js', async ({ file, tol, grey, js }) => {
    if (js === 'decodes') return expectPattern(jsImageDecoder, file, tol, grey);
    const err = await jsImageDecoder.decode(bytesOf(file), file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAnImageError);
    expect(badFileKind(err, bytesOf(file))).toBe('unsupported');
    expect((err as Error).message).toMatch(/the native decoder \(sharp\) is needed/);
  });

  it('both decoders agree on a 2x shrink and a centre crop of every file the fallback reads', async () => {
    for (const f of FIXTURES.filter((x) => x.js === 'decodes')) {
      for (const mode of ['resize', 'center-crop'] as const) {
        const opts = { size: [8, 8] as [number, number], channels: 3 as const, mode };
        const viaSharp = await sharpDecoder.decodeResized!(bytesOf(f.file), f.file, opts, {});
        const viaJs = preprocessImage(await jsImageDecoder.decode(bytesOf(f.file), f.file), opts);
        expect(viaSharp.length).toBe(viaJs.length);
        // Resamplers differ (libvips' linear kernel vs area averaging) at the block edges only.
        const mean = viaSharp.reduce((s, v, i) => s + Math.abs(v - viaJs[i]), 0) / viaJs.length;
        expect(mean, `${f.file} ${mode}: mean difference`).toBeLessThanOrEqual(
          f.file.includes('cmyk') ? 40 : 16,
        );
      }
    }
  });

  it.each(ORIENTED)('%s comes out upright with both decoders', async (file) => {
    await expectPattern(sharpDecoder, file, 8);
    await expectPattern(jsImageDecoder, file, 8);
    const px = await sharpDecoder.decodeResized!(bytesOf(file), file, { size: [H, W] }, {});
    expect(maxDiff(px, pattern(), false).diff, `${file} through decodeResized`).toBeLessThanOrEqual(8);
  });

  it.each(Object.entries(BROKEN))('%s is a bad file of kind %s to both decoders', async (file, kind) => {
    for (const d of [sharpDecoder, jsImageDecoder]) {
      const err = await d.decode(bytesOf(file), file).catch((e: unknown) => e);
      expect(err, `${d.name} on ${file}`).toBeInstanceOf(DatasetFormatError);
      expect(badFileKind(err, bytesOf(file)), `${d.name} on ${file}`).toBe(kind);
      expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
    }
  });
});

describe('header sizes: every format, EXIF orientation seen through', () => {
  const sizedByHeader = FIXTURES.map((f) => f.file).filter((f) => !f.endsWith('.avif'));

  it('each header states the upright 24x16, read from the file head as folders read it', async () => {
    const files = [...sizedByHeader, ...ORIENTED].map((f) => path.join(DIR, f));
    const headers = await readImageHeaders(files);
    headers.forEach((h, i) => expect(h && [h.width, h.height], files[i]).toEqual([W, H]));
  });

  it('a head cut short asks for more, never a wrong size', () => {
    for (const f of [...sizedByHeader, ...ORIENTED]) {
      const b = bytesOf(f);
      for (let n = 0; n < Math.min(b.length, 40); n++) {
        const scan = scanImageHeader(b.subarray(0, n));
        if (scan !== 'more' && scan !== undefined)
          expect([scan.width, scan.height], `${f} at ${n}`).toEqual([W, H]);
      }
    }
  });

  it('AVIF has no header size of its own; sharp reads it; the folder size sees through orientation', async () => {
    expect(scanImageHeader(bytesOf('avif.avif'))).toBeUndefined();
    const avif = await sharpHeaderSize(path.join(DIR, 'avif.avif'));
    // Only when sharp is the decoder in use (WGT_IMAGE_DECODER=js leaves such files unsized).
    const sharpInUse = ['sharp', 'turbo'].includes(decoderLibrary(nodeImageDecoder()));
    expect(avif).toEqual(sharpInUse ? { format: 'avif', width: W, height: H } : undefined);
    const chosen = await scanFolderSize([...ORIENTED, 'avif.avif'].map((f) => path.join(DIR, f)));
    expect(chosen).toMatchObject({ size: [H, W], from: 'uniform', reason: `every picture is ${H}x${W}` });
  });
});

describe('image folders with sharp: broken files skipped, or fatal under strict', () => {
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'wgt-formats-'));
    const good = FIXTURES.map((f) => f.file);
    const files = [...good, ...Object.keys(BROKEN)];
    files.forEach((f, i) => {
      const cls = path.join(root, i % 2 === 0 ? 'a' : 'b');
      mkdirSync(cls, { recursive: true });
      copyFileSync(path.join(DIR, f), path.join(cls, f));
    });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const brokenPaths = (): string[] =>
    readdirSync(root)
      .flatMap((c) => readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)))
      .filter((f) => path.basename(f) in BROKEN)
      .sort();

  it('skips exactly the broken files, each with its kind', async () => {
    const set = await readImageFolderFromDisk(root, { size: [8, 8], decoder: sharpDecoder });
    expect(set.count).toBe(FIXTURES.length);
    expect(set.skipped.map((s) => s.file).sort()).toEqual(brokenPaths());
    for (const s of set.skipped) expect(s.kind).toBe(BROKEN[path.basename(s.file)]);
  });

  it('strict stops at the first broken file', async () => {
    const err = await readImageFolderFromDisk(root, {
      size: [8, 8],
      decoder: sharpDecoder,
      strict: true,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    const first = readdirSync(root)
      .sort()
      .flatMap((c) =>
        readdirSync(path.join(root, c))
          .sort()
          .map((f) => path.join(root, c, f)),
      )
      .find((f) => path.basename(f) in BROKEN);
    expect((err as DatasetFormatError).message.startsWith(`${first}: `)).toBe(true);
  });

  it('the first pass (decode-pool, several files in flight) skips the same files in file order', async () => {
    const files = readdirSync(root)
      .sort()
      .flatMap((c) =>
        readdirSync(path.join(root, c))
          .sort()
          .map((f) => path.join(root, c, f)),
      );
    const records = await decodeFiles(files, { size: [8, 8] });
    const skipped = records.filter((r): r is SkippedFile => !(r instanceof Uint8Array));
    // The pool decodes with WGT_IMAGE_DECODER's choice: under js, the formats it lacks skip too.
    const js = decoderLibrary(nodeImageDecoder()) === 'js';
    const unsupported = new Set(FIXTURES.filter((f) => js && f.js === 'unsupported').map((f) => f.file));
    const bad = (f: string): boolean => path.basename(f) in BROKEN || unsupported.has(path.basename(f));
    expect(skipped.map((s) => s.file)).toEqual(files.filter(bad));
    const err = await decodeFiles(files, { size: [8, 8], strict: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
  });
});

describe('real photos (cats-dogs sample) through both decoders', () => {
  const dir = needData('imagefolder-sample', 'real photos through sharp and jpeg-js', ['cats-dogs-jpeg']);
  it.skipIf(!dir)('every photo decodes with both, to the same size and nearly the same pixels', async () => {
    const root = path.join(dir!, 'cats-dogs-jpeg');
    const files = readdirSync(root).flatMap((c) =>
      readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(50);
    for (const file of files) {
      const bytes = new Uint8Array(readFileSync(file));
      const a = await sharpDecoder.decode(bytes, file);
      const b = await jsImageDecoder.decode(bytes, file);
      expect([a.width, a.height], file).toEqual([b.width, b.height]);
      const ra = rgbOf(a);
      const rb = rgbOf(b);
      // Two IDCTs and chroma upsamplers: close on average, never far.
      const mean = ra.reduce((s, v, i) => s + Math.abs(v - rb[i]), 0) / ra.length;
      expect(mean, file).toBeLessThan(3);
      const px = await sharpDecoder.decodeResized!(bytes, file, { size: [64, 64], mode: 'center-crop' }, {});
      expect(px.length).toBe(64 * 64 * 3);
    }
  });
});
