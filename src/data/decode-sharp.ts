// Decoding with sharp (libvips, whose JPEG codec is libjpeg-turbo's), Node only; decode-node.ts
// loads it when it can. What it returns, against preprocess.ts's rules:
//   - EXIF orientation is applied (libvips' autorotate), so phone photos stand upright;
//   - channels 3: sRGB. Greyscale is expanded; CMYK JPEGs go through their embedded ICC profile,
//     or libvips' default CMYK profile when they carry none; 16-bit samples become 8-bit;
//   - channels 1: BT.601 luma of the sRGB result (0.299 R + 0.587 G + 0.114 B, as preprocess.ts),
//     computed here: libvips' own grey is BT.709 luminance in linear light, which would give a
//     folder different records from the pure-JS path;
//   - alpha is dropped, not composited (as preprocess.ts). sharp premultiplies alpha around a
//     resize, which would darken the colour under transparent pixels, so formats that may carry
//     alpha are decoded at their size first, alpha removed, and then resized as raw pixels;
//   - GIF: the first frame; BMP, which libvips does not read, goes to decode-bmp.ts.
// decodeResized shrinks JPEGs while decoding: libvips asks libjpeg-turbo for a 1/2, 1/4 or 1/8
// scaled DCT decode when the target is at least that much smaller (shrink-on-load), then resizes
// the rest of the way. 'resize' stretches to the size (fit 'fill'); 'center-crop' takes the
// largest centred window of the target's aspect (fit 'cover', position 'centre'); the pixels differ
// from preprocess.ts's area/bilinear resampler by the kernel, never in shape.
//
// Settings, chosen by measuring the first pass over JPEG photos (up to 500x500) at 224x224 and
// 64x64 targets on two cores:
//   - sharp's cache off: every file is read once, so caching its operations only costs memory;
//   - one libvips thread per image (sharp.concurrency(1)) with several images in flight
//     (decode-pool.ts): small images give libvips' own threads too little to share, while images
//     in flight keep every core busy;
//   - the 'linear' kernel (a triangle filter widened by the shrink, close to preprocess.ts's area
//     average): about 20% faster at 224 than the default lanczos3, whose sharpening a network
//     does not need; 'nearest' is faster still but aliases;
//   - sequentialRead: libvips reads the JPEG top to bottom once instead of keeping it random-access;
//   - thumbnails (PNG and JPEG of at most SMALL_PICTURE_PIXELS, as CIFAR's 32x32) go to the
//     pure-JS decoders: a libvips call's fixed cost is about twice jpeg-js's whole decode there
//     (40,000 CIFAR JPEGs: 32 s through sharp, 11-17 s through jpeg-js on two worker threads).
import { createRequire } from 'node:module';
import type { Sharp, SharpOptions } from 'sharp';
import { DatasetFormatError } from '../errors.js';
import { decodeBmp } from './decode-bmp.js';
import { scanImageHeader } from './decode-header.js';
import { decodeImageSync } from './decode-js.js';
import { preprocessImage } from './preprocess.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat, type ImageFormat } from './decode.js';
import type { DecodeLimits, ImageDecoder, RawImage } from './decode.js';
import type { PreprocessOptions } from './preprocess.js';

type SharpModule = typeof import('sharp').default;

/** PNGs and JPEGs of at most this many pixels decode faster in JavaScript than through libvips. */
export const SMALL_PICTURE_PIXELS = 96 * 96;

function isThumbnail(bytes: Uint8Array, fmt: ImageFormat): boolean {
  if (fmt !== 'jpeg' && fmt !== 'png') return false;
  const h = scanImageHeader(bytes);
  return typeof h === 'object' && h.width * h.height <= SMALL_PICTURE_PIXELS;
}

/** Loads sharp, or throws the loader's error (a missing package, a platform without a binary). */
export function loadSharp(): SharpModule {
  const sharp = createRequire(import.meta.url)('sharp') as SharpModule;
  sharp.cache(false);
  sharp.concurrency(1);
  return sharp;
}

const FORMAT_NAMES: Record<ImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  webp: 'WebP',
  gif: 'GIF',
  bmp: 'BMP',
  tiff: 'TIFF',
  avif: 'AVIF',
  heif: 'HEIF',
};

function corrupt(name: string, fmt: ImageFormat, e: unknown): DatasetFormatError {
  if (e instanceof DatasetFormatError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
  return new DatasetFormatError(
    `${name}: corrupt or unreadable ${FORMAT_NAMES[fmt]} (${msg.slice(0, 200)}); replace or delete the file`,
    name,
  );
}

/** BT.601 luma of interleaved RGB, rounded as preprocess.ts rounds it. */
function lumaOf(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.round(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
  }
  return out;
}

const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export function sharpImageDecoder(sharp: SharpModule): ImageDecoder {
  const v = sharp.versions;
  const name = `sharp ${v.sharp ?? '?'} (libvips ${v.vips}, libjpeg-turbo)`;
  const input = (limits: DecodeLimits | undefined): SharpOptions => ({
    limitInputPixels: limits?.maxPixels ?? DEFAULT_MAX_PIXELS,
    sequentialRead: true,
  });

  /** Native size, oriented, alpha kept: RGB(A), or grey(+alpha) for grey input. */
  async function decodeNative(bytes: Uint8Array, file: string, limits?: DecodeLimits): Promise<RawImage> {
    const fmt = requireImageFormat(bytes, file);
    if (fmt === 'bmp') return decodeBmp(bytes, file, limits);
    try {
      const { data, info } = await sharp(bytes, input(limits))
        .rotate()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      const channels = info.channels;
      if (channels < 1 || channels > 4 || data.length !== info.width * info.height * channels) {
        throw new Error(`decoded ${data.length} bytes for ${info.width}x${info.height}x${channels}`);
      }
      return { width: info.width, height: info.height, channels, data: asBytes(data) };
    } catch (e) {
      throw corrupt(file, fmt, e);
    }
  }

  /** Resizes through libvips as decodeResized does, from `img` (alpha dropped first). */
  function fromRaw(img: RawImage): Sharp {
    const { width, height, channels } = img;
    const colour = channels >= 3 ? 3 : 1;
    let data = img.data;
    if (channels !== colour) {
      data = new Uint8Array(width * height * colour);
      for (let i = 0, n = width * height; i < n; i++) {
        for (let c = 0; c < colour; c++) data[i * colour + c] = img.data[i * channels + c];
      }
    }
    return sharp(data, { raw: { width, height, channels: colour } });
  }

  async function finish(pipe: Sharp, opts: PreprocessOptions): Promise<Uint8Array> {
    const [h, w] = opts.size;
    const cover = (opts.mode ?? 'resize') === 'center-crop';
    const { data, info } = await pipe
      .resize(w, h, { fit: cover ? 'cover' : 'fill', position: 'centre', kernel: 'linear' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== w || info.height !== h || data.length !== w * h * 3) {
      throw new Error(`resized to ${info.width}x${info.height}x${info.channels}, wanted ${w}x${h}x3`);
    }
    const rgb = asBytes(data);
    return (opts.channels ?? 3) === 1 ? lumaOf(rgb) : rgb;
  }

  return {
    name,
    decode: decodeNative,
    async decodeResized(bytes, file, opts, limits) {
      const [h, w] = opts.size;
      if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) {
        throw new RangeError(`preprocess size must be two positive integers, got [${opts.size.join(', ')}]`);
      }
      const fmt = requireImageFormat(bytes, file);
      if (isThumbnail(bytes, fmt)) return preprocessImage(decodeImageSync(bytes, file, limits), opts);
      // JPEGs have no alpha: one pipeline, shrinking in the DCT. The rest may carry alpha.
      if (fmt !== 'jpeg') return finish(fromRaw(await decodeNative(bytes, file, limits)), opts);
      try {
        return await finish(sharp(bytes, input(limits)).rotate(), opts);
      } catch (e) {
        throw corrupt(file, fmt, e);
      }
    },
  };
}
