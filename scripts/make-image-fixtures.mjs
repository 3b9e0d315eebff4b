#!/usr/bin/env node
// Writes the image-format fixtures in test/fixtures/images/formats/ (test/data/formats.test.ts):
// one asymmetric 24x16 test pattern in every format and variant the decoders must read, EXIF
// orientations 1-8, and four broken files. Run it again only to change the fixtures; the files
// are committed. Needs sharp (an optional dependency); BMP, which sharp cannot write, is written
// here, and the PNG variants through fast-png for exact control of depth, palette and alpha.
//
// The pattern is 3x2 blocks of 8x8 pixels, a different colour in each (no two corners alike, red
// and blue apart), so a wrong orientation, a mirror or a swapped channel shows; the blocks are
// whole JPEG blocks, so the lossy formats keep their colours within a few levels.
import { Buffer } from 'node:buffer';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import sharp from 'sharp';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/images/formats');
const W = 24;
const H = 16;
/** Block colours, row by row (test/helpers/format-fixtures.ts holds the same table). */
const BLOCKS = [
  [
    [220, 40, 40],
    [240, 240, 240],
    [40, 40, 220],
  ],
  [
    [40, 200, 40],
    [20, 20, 20],
    [230, 210, 40],
  ],
];
const colourAt = (x, y) => BLOCKS[y >> 3][Math.floor(x / 8)];

function pattern(channels = 3) {
  const px = new Uint8Array(W * H * channels);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [r, g, b] = colourAt(x, y);
      const o = (y * W + x) * channels;
      if (channels === 1) px[o] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
      else px.set([r, g, b], o);
    }
  }
  return px;
}

const raw = (px, channels, w = W, h = H) => sharp(px, { raw: { width: w, height: h, channels } });
const write = (name, bytes) => writeFileSync(path.join(OUT, name), bytes);

/** The stored pixel (sx, sy) an upright (x, y) comes from under EXIF orientation o (src/data/exif.ts). */
function storedPixel(o, x, y, w, h) {
  return [
    [x, y],
    [x, y],
    [w - 1 - x, y],
    [w - 1 - x, h - 1 - y],
    [x, h - 1 - y],
    [y, x],
    [y, h - 1 - x],
    [w - 1 - y, h - 1 - x],
    [w - 1 - y, x],
  ][o];
}

/** The pattern stored so that a viewer applying orientation o shows it upright. */
function storedFor(o) {
  const [sw, sh] = o >= 5 ? [H, W] : [W, H];
  const rgb = pattern(3);
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [sx, sy] = storedPixel(o, x, y, sw, sh);
      out.set(rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3), (sy * sw + sx) * 3);
    }
  }
  return { data: out, width: sw, height: sh };
}

/** A BMP file: 24-bit BGR or 8-bit palette, bottom-up rows padded to 4 bytes. */
function bmp(bits) {
  const stride = Math.ceil((W * bits) / 32) * 4;
  const paletteBytes = bits === 8 ? 256 * 4 : 0;
  const offset = 14 + 40 + paletteBytes;
  const b = Buffer.alloc(offset + stride * H);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(W, 18);
  b.writeInt32LE(H, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bits, 28);
  b.writeUInt32LE(stride * H, 34);
  const colours = BLOCKS.flat();
  if (bits === 8) {
    b.writeUInt32LE(colours.length, 46);
    colours.forEach(([r, g, bl], i) => b.set([bl, g, r, 0], 54 + 4 * i));
  }
  for (let y = 0; y < H; y++) {
    const row = offset + (H - 1 - y) * stride;
    for (let x = 0; x < W; x++) {
      const c = colourAt(x, y);
      if (bits === 8) b[row + x] = colours.indexOf(c);
      else b.set([c[2], c[1], c[0]], row + 3 * x);
    }
  }
  return b;
}

function pngVariants() {
  const rgb = pattern(3);
  const grey = pattern(1);
  const rgb16 = Uint16Array.from(rgb, (v) => v * 257);
  const rgba = new Uint8Array(W * H * 4);
  const greyAlpha = new Uint8Array(W * H * 2);
  const indexed = new Uint8Array(W * H);
  const colours = BLOCKS.flat();
  for (let i = 0; i < W * H; i++) {
    // Alpha differs across the picture, down to fully transparent, so a decoder that composites
    // instead of dropping it shows.
    const a = (i * 37) % 256;
    rgba.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], a], 4 * i);
    greyAlpha.set([grey[i], a], 2 * i);
    const x = i % W;
    const y = Math.floor(i / W);
    indexed[i] = colours.indexOf(colourAt(x, y));
  }
  const img = (data, channels, depth = 8) => ({ width: W, height: H, data, channels, depth });
  write('png-rgb8.png', encodePng(img(rgb, 3)));
  write('png-rgb16.png', encodePng(img(rgb16, 3, 16)));
  write('png-palette.png', encodePng({ ...img(indexed, 1), palette: colours }));
  write('png-rgba.png', encodePng(img(rgba, 4)));
  write('png-grey.png', encodePng(img(grey, 1)));
  write('png-grey-alpha.png', encodePng(img(greyAlpha, 2)));
}

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const rgb = () => raw(pattern(3), 3);
  const jpegOpts = { quality: 95, chromaSubsampling: '4:4:4' };
  const baseline = await rgb().jpeg(jpegOpts).toBuffer();
  write('jpeg-baseline.jpg', baseline);
  write(
    'jpeg-progressive.jpg',
    await rgb()
      .jpeg({ ...jpegOpts, progressive: true })
      .toBuffer(),
  );
  write('jpeg-grey.jpg', await raw(pattern(1), 1).toColourspace('b-w').jpeg(jpegOpts).toBuffer());
  write('jpeg-cmyk.jpg', await rgb().toColourspace('cmyk').jpeg(jpegOpts).toBuffer());
  pngVariants();
  write('webp-lossless.webp', await rgb().webp({ lossless: true }).toBuffer());
  write('webp-lossy.webp', await rgb().webp({ quality: 95 }).toBuffer());
  write('gif.gif', await rgb().gif({ dither: 0 }).toBuffer());
  write('bmp-24.bmp', bmp(24));
  write('bmp-8.bmp', bmp(8));
  write('tiff.tif', await rgb().tiff({ compression: 'lzw' }).toBuffer());
  write('avif.avif', await rgb().avif({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer());
  for (let o = 1; o <= 8; o++) {
    const s = storedFor(o);
    const bytes = await raw(s.data, 3, s.width, s.height)
      .jpeg(jpegOpts)
      .withMetadata({ orientation: o })
      .toBuffer();
    write(`exif-orientation-${o}.jpg`, bytes);
  }
  // Cut halfway through the entropy-coded scan: the headers are whole, the pixels end early.
  const sos = baseline.indexOf(Buffer.from([0xff, 0xda]));
  write('broken-truncated.jpg', baseline.subarray(0, sos + Math.floor((baseline.length - sos) / 2)));
  const png = Buffer.from(encodePng({ width: W, height: H, data: pattern(3), channels: 3, depth: 8 }));
  // Flip bytes inside the IDAT chunk's data: its CRC no longer matches and the zlib stream breaks.
  const idat = png.indexOf('IDAT', 0, 'latin1');
  for (let k = 8; k < 24; k++) png[idat + k] ^= 0x5a;
  write('broken-corrupt.png', png);
  write('broken-empty.jpg', new Uint8Array(0));
  write('broken-text.jpg', 'This is a note, not a picture.\n');
}

await main();
