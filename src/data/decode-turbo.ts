// The optional JPEG accelerator: native/turbo (a C N-API addon over libjpeg-turbo's TurboJPEG API,
// built by `npm run build:native`) decodes JPEGs, and every other file goes to the decoder beside
// it (sharp). decode-node.ts picks it under WGT_IMAGE_DECODER=auto when the addon is built.
//
// Why a second JPEG path beside sharp: on the first pass over a folder of photos, sharp's per-call
// overhead and libvips' resize cost about as much as the decode itself. The addon does one
// threadpool job per image: a scaled DCT decode (the smallest M/8 factor that still covers the
// target), then the centre-crop window, preprocess.ts's area/bilinear resample and the EXIF
// orientation in C. Its pixels follow preprocess.ts's rules (the same crop rounding and
// resampler, on the DCT-scaled picture), so they sit closer to the pure-JS path than sharp's do.
//
// What it hands back to the fallback: anything not a JPEG by its signature, CMYK/YCCK JPEGs (sharp
// converts them through their ICC profile) and targets over 65535 pixels a side. Corrupt and
// truncated JPEGs (libjpeg-turbo's warnings included, as sharp's default) and pictures over
// maxPixels are DatasetFormatErrors naming the file, which skipped.ts counts as unreadable.
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from './package-root.js';
import { DatasetFormatError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat } from './decode.js';
import type { DecodeLimits, ImageDecoder, RawImage } from './decode.js';
import { jpegOrientation } from './exif.js';
import { preprocessImage, type PreprocessOptions } from './preprocess.js';

/** What native/turbo/turbo.c exports (see its header). */
export interface TurboAddon {
  decodeJpeg(
    bytes: Uint8Array,
    outH: number,
    outW: number,
    channels: 1 | 3,
    mode: 'resize' | 'center-crop',
    orientation: number,
    maxPixels: number,
    flags: number,
  ): Promise<Uint8Array>;
  decodeJpegFull(
    bytes: Uint8Array,
    orientation: number,
    maxPixels: number,
  ): Promise<{ width: number; height: number; channels: 1 | 3; data: Uint8Array }>;
  readonly libjpegTurboVersion: string;
}

/** Where `npm run build:native` puts the addon, from src/data/ (and dist/data/ once built). */
/** The built addon, relative to the package root (the repository, or the installed package). */
export const TURBO_ADDON_PATH = 'native/turbo/build/Release/turbo.node';

/**
 * turbo.c's speed/quality switches, none set: bit 1 allows every M/8 DCT scale (3/8 .. 7/8 decode
 * slower than the full size in libjpeg-turbo 2.1, whose SIMD IDCTs are the 1/2, 1/4 and 1/8 ones);
 * 2 and 4 take libjpeg's fast chroma upsampling and fast integer DCT, which save little time and
 * lose precision. native/turbo/README.md has the measurements.
 */
export const TURBO_FLAGS = 0;

/** The turbo.c side limit; larger targets go to the fallback. */
const MAX_SIDE = 65535;

/** Loads the addon, or throws the loader's error (not built, libturbojpeg missing, another ABI). */
export function loadTurbo(): TurboAddon {
  // From the package root: this module runs from src/data (tsx, vitest) and dist/src/data (the build).
  const file = path.join(packageRoot(), TURBO_ADDON_PATH);
  const addon = createRequire(import.meta.url)(file) as Partial<TurboAddon>;
  if (typeof addon.decodeJpeg !== 'function' || typeof addon.decodeJpegFull !== 'function') {
    throw new Error(`${TURBO_ADDON_PATH} is not the JPEG accelerator this version expects; rebuild it`);
  }
  return addon as TurboAddon;
}

const errorCode = (e: unknown): unknown => (e as { code?: unknown } | undefined)?.code;

/** The named error for the addon's rejection, or undefined when the fallback should decode. */
function turboError(file: string, e: unknown): Error | undefined {
  const code = errorCode(e);
  if (code === 'ERR_JPEG_CMYK') return undefined;
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim().slice(0, 200);
  if (code === 'ERR_JPEG_CORRUPT') {
    return new DatasetFormatError(
      `${file}: corrupt or unreadable JPEG (${msg}); replace or delete the file`,
      file,
    );
  }
  if (code === 'ERR_JPEG_TOO_LARGE') {
    return new DatasetFormatError(
      `${file}: JPEG too large to decode (${msg}); shrink the file or raise maxPixels`,
      file,
    );
  }
  return e instanceof Error ? e : new Error(msg);
}

/** JPEGs through `addon`, everything else (and what it refuses) through `fallback`. */
export function turboImageDecoder(addon: TurboAddon, fallback: ImageDecoder): ImageDecoder {
  const name = `libjpeg-turbo ${addon.libjpegTurboVersion} (native addon) + ${fallback.name}`;
  const maxPixels = (limits: DecodeLimits | undefined): number => limits?.maxPixels ?? DEFAULT_MAX_PIXELS;

  async function viaFallback(
    bytes: Uint8Array,
    file: string,
    opts: PreprocessOptions,
    limits?: DecodeLimits,
  ): Promise<Uint8Array> {
    if (fallback.decodeResized) return fallback.decodeResized(bytes, file, opts, limits);
    return preprocessImage(await fallback.decode(bytes, file, limits), opts);
  }

  return {
    name,
    async decode(bytes: Uint8Array, file: string, limits?: DecodeLimits): Promise<RawImage> {
      if (requireImageFormat(bytes, file) !== 'jpeg') return fallback.decode(bytes, file, limits);
      try {
        return await addon.decodeJpegFull(bytes, jpegOrientation(bytes), maxPixels(limits));
      } catch (e) {
        const err = turboError(file, e);
        if (err) throw err;
        return fallback.decode(bytes, file, limits);
      }
    },
    async decodeResized(bytes, file, opts, limits) {
      const [h, w] = opts.size;
      if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) {
        throw new RangeError(`preprocess size must be two positive integers, got [${opts.size.join(', ')}]`);
      }
      if (requireImageFormat(bytes, file) !== 'jpeg' || h > MAX_SIDE || w > MAX_SIDE) {
        return viaFallback(bytes, file, opts, limits);
      }
      const mode = opts.mode ?? 'resize';
      const channels = opts.channels ?? 3;
      try {
        const orientation = jpegOrientation(bytes);
        return await addon.decodeJpeg(
          bytes,
          h,
          w,
          channels,
          mode,
          orientation,
          maxPixels(limits),
          TURBO_FLAGS,
        );
      } catch (e) {
        const err = turboError(file, e);
        if (err) throw err;
        return viaFallback(bytes, file, opts, limits);
      }
    },
  };
}
