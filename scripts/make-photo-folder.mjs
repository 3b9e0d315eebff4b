#!/usr/bin/env node
// Writes a folder of realistic photos for the decode benchmark (bench/decode.ts):
//
//   node scripts/make-photo-folder.mjs OUT [--count 2000] [--seed 1]
//
// OUT/cat/ and OUT/dog/ receive `count` 500x375 JPEGs between them (even indices cats, odd dogs),
// made from the 50 real photos in ../shared/data/imagefolder-sample/cats-dogs-jpeg (25 per class,
// 105x200 up to 500x499, baseline 4:2:0 JPEGs from the Kaggle cats-vs-dogs set). Each output is:
//   - a source photo of its class, drawn at random;
//   - a random crop of it: area uniform in 50-100% of the source, aspect log-uniform within 10% of
//     4:3; a crop that does not fit the source at that aspect is clamped to the largest that does;
//   - flipped horizontally with probability 1/2;
//   - resized to exactly 500x375 with sharp's lanczos3 kernel (the few small sources are upscaled);
//   - encoded by sharp (libvips with its bundled mozjpeg library) at quality 90, 4:2:0 chroma,
//     baseline with optimised Huffman tables. sharp's `mozjpeg: true` preset is not used: it writes
//     progressive files, and cameras and phones write baseline ones.
// Every random draw comes from one seeded generator (xorshift32) before any encoding, so the same
// count and seed give the same files on any machine with the same sharp. Prints the count, the
// total bytes and the seconds taken.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(here, '../../shared/data/imagefolder-sample/cats-dogs-jpeg');
const CLASSES = ['cat', 'dog'];
const OUT_W = 500;
const OUT_H = 375;
const ASPECT = 4 / 3;

function parseArgs(argv) {
  const out = argv[2];
  const flag = (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const count = flag('count', 2000);
  const seed = flag('seed', 1);
  if (!out || out.startsWith('--') || !Number.isInteger(count) || count < 2) {
    console.error('usage: node scripts/make-photo-folder.mjs OUT [--count 2000] [--seed 1] (count >= 2)');
    process.exit(2);
  }
  return { out, count, seed };
}

/** xorshift32: uniform floats in [0, 1). */
function rng(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** The crop rectangle, flip and source for output `i`, drawn from `rand`. */
function plan(i, sources, rand) {
  const pool = sources[i % 2];
  const src = pool[Math.floor(rand() * pool.length)];
  const area = (0.5 + 0.5 * rand()) * src.width * src.height;
  const aspect = ASPECT * Math.exp((rand() * 2 - 1) * Math.log(1.1));
  let w = Math.sqrt(area * aspect);
  let h = Math.sqrt(area / aspect);
  if (w > src.width) [w, h] = [src.width, src.width / aspect];
  if (h > src.height) [w, h] = [src.height * aspect, src.height];
  const width = Math.max(1, Math.min(src.width, Math.round(w)));
  const height = Math.max(1, Math.min(src.height, Math.round(h)));
  const left = Math.floor(rand() * (src.width - width + 1));
  const top = Math.floor(rand() * (src.height - height + 1));
  const flip = rand() < 0.5;
  return { src, crop: { left, top, width, height }, flip, cls: CLASSES[i % 2] };
}

async function encode(p) {
  let img = sharp(p.src.bytes).extract(p.crop);
  if (p.flip) img = img.flop();
  return img
    .resize(OUT_W, OUT_H, { fit: 'fill', kernel: 'lanczos3' })
    .jpeg({ quality: 90, chromaSubsampling: '4:2:0', optimiseCoding: true, progressive: false })
    .toBuffer();
}

async function main() {
  const { out, count, seed } = parseArgs(process.argv);
  const t0 = performance.now();
  const sources = [];
  for (const cls of CLASSES) {
    const dir = path.join(SOURCE, cls);
    const files = readdirSync(dir)
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort();
    const list = [];
    for (const f of files) {
      const bytes = readFileSync(path.join(dir, f));
      const m = await sharp(bytes).metadata();
      list.push({ bytes, width: m.width, height: m.height });
    }
    if (list.length === 0) throw new Error(`${dir} holds no JPEG files; see ../shared/data/README.md`);
    sources.push(list);
  }
  const rand = rng(seed);
  const plans = Array.from({ length: count }, (_, i) => plan(i, sources, rand));
  for (const cls of CLASSES) mkdirSync(path.join(out, cls), { recursive: true });
  const digits = String(count - 1).length;
  let bytes = 0;
  let next = 0;
  // A few encodes in flight keep libvips' threads busy without holding every output at once.
  const lane = async () => {
    while (next < plans.length) {
      const i = next++;
      const p = plans[i];
      const jpeg = await encode(p);
      writeFileSync(path.join(out, p.cls, `${p.cls}-${String(i).padStart(digits, '0')}.jpg`), jpeg);
      bytes += jpeg.length;
    }
  };
  await Promise.all(Array.from({ length: 4 }, lane));
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `wrote ${count} photos (${OUT_W}x${OUT_H} JPEG q90) to ${out}: ${bytes} bytes (${(bytes / count / 1024).toFixed(1)} KiB each) in ${seconds.toFixed(1)} s`,
  );
}

await main();
