// The image decoder Node uses: sharp (decode-sharp.ts) when it loads, with the JPEG accelerator
// (decode-turbo.ts, the optional native/turbo addon) in front of it when that is built; else the
// pure-JS decoders (decode-js.ts). WGT_IMAGE_DECODER overrides the choice:
//   auto (default): the accelerator + sharp when both load, sharp alone when the addon is not
//     built; if sharp does not load, the pure-JS decoders, whose name then says why;
//   turbo: the accelerator + sharp, or an error saying which did not load;
//   sharp: sharp or an error saying why it did not load;
//   js: the pure-JS decoders (for comparisons, and for records bit-identical to older caches).
// The choice is made once per thread and kept.
import { ConfigError } from '../errors.js';
import { envVariable } from '../env-vars.js';
import { JS_DECODER_NAME, jsDecoderNamed, jsImageDecoder } from './decode-js.js';
import { loadSharp, sharpImageDecoder } from './decode-sharp.js';
import { loadTurbo, turboImageDecoder } from './decode-turbo.js';
import type { ImageDecoder } from './decode.js';
import type { ImageHeader } from './decode-header.js';

export type DecoderChoice = 'auto' | 'turbo' | 'sharp' | 'js';

/** The library behind a decoder in one word, for cache keys: 'turbo' (accelerator + sharp), 'sharp', 'js'. */
export type DecoderLibrary = 'turbo' | 'sharp' | 'js';

const chosen = new Map<DecoderChoice, ImageDecoder>();
let loadedSharp: ReturnType<typeof loadSharp> | undefined;
const libraries = new WeakMap<ImageDecoder, DecoderLibrary>();

/** WGT_IMAGE_DECODER, checked: 'auto' when unset or empty. */
export function decoderChoice(value = envVariable('WGT_IMAGE_DECODER')): DecoderChoice {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'sharp' || v === 'js' || v === 'turbo') return v;
  throw new ConfigError(
    `WGT_IMAGE_DECODER="${value}": expected auto, sharp or js (or turbo, the native JPEG accelerator); unset it for auto`,
  );
}

const firstLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);

/**
 * The decoder `choice` selects, sharp loaded by `load` and the JPEG accelerator by `loadAddon`
 * (parameters so tests can make them fail).
 */
export function pickDecoder(
  choice: DecoderChoice,
  load: () => ReturnType<typeof loadSharp> = loadSharp,
  loadAddon: () => ReturnType<typeof loadTurbo> = loadTurbo,
): ImageDecoder {
  if (choice === 'js') return jsImageDecoder;
  let sharp;
  try {
    sharp = load();
  } catch (e) {
    const why = firstLine(e);
    if (choice !== 'auto') {
      throw new ConfigError(
        `WGT_IMAGE_DECODER=${choice} but sharp did not load (${why}); run \`npm install sharp\`, or set WGT_IMAGE_DECODER=js`,
      );
    }
    const fallback = jsDecoderNamed(`${JS_DECODER_NAME.slice(0, -1)}; sharp did not load: ${why})`);
    libraries.set(fallback, 'js');
    return fallback;
  }
  if (load === loadSharp) loadedSharp = sharp;
  const d = sharpImageDecoder(sharp);
  libraries.set(d, 'sharp');
  if (choice === 'sharp') return d;
  let addon;
  try {
    addon = loadAddon();
  } catch (e) {
    if (choice === 'auto') return d;
    throw new ConfigError(
      `WGT_IMAGE_DECODER=turbo but the JPEG accelerator did not load (${firstLine(e)}); build it with \`npm run build:native\` (needs libturbojpeg0-dev), or unset WGT_IMAGE_DECODER`,
    );
  }
  const t = turboImageDecoder(addon, d);
  libraries.set(t, 'turbo');
  return t;
}

/** The decoder WGT_IMAGE_DECODER (or `choice`) selects; see the header. */
export function nodeImageDecoder(choice: DecoderChoice = decoderChoice()): ImageDecoder {
  let d = chosen.get(choice);
  if (!d) {
    d = pickDecoder(choice);
    chosen.set(choice, d);
  }
  return d;
}

/** 'turbo', 'sharp' or 'js' for a decoder from this module or decode-js.ts; 'other' for any other. */
export function decoderLibrary(d: ImageDecoder): DecoderLibrary | 'other' {
  if (d === jsImageDecoder) return 'js';
  return libraries.get(d) ?? 'other';
}

/**
 * The upright size sharp reads from `file`'s header, for the files decode-header.ts cannot size
 * (AVIF, HEIF); undefined when sharp is not the decoder in use or cannot read the file.
 */
export async function sharpHeaderSize(file: string): Promise<ImageHeader | undefined> {
  const library = decoderLibrary(nodeImageDecoder());
  if (!loadedSharp || (library !== 'sharp' && library !== 'turbo')) return undefined;
  try {
    const m = await loadedSharp(file).metadata();
    const { width, height } = m.autoOrient;
    const format = m.format === 'heif' ? (m.compression === 'av1' ? 'avif' : 'heif') : m.format;
    const known = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif', 'heif'] as const;
    const fmt = known.find((k) => k === format);
    return fmt && width > 0 && height > 0 ? { format: fmt, width, height } : undefined;
  } catch {
    return undefined;
  }
}
