// Which decoder Node uses (src/data/decode-node.ts): WGT_IMAGE_DECODER's values, the silent
// fallback to the pure-JS decoders when sharp cannot load (its name saying why), and the error
// when sharp is asked for by name but cannot load.
import { describe, expect, it } from 'vitest';
import { jsImageDecoder } from '../../src/data/decode-js.js';
import { decoderChoice, decoderLibrary, nodeImageDecoder, pickDecoder } from '../../src/data/decode-node.js';
import { ConfigError } from '../../src/errors.js';

const broken = (): never => {
  throw new Error('Could not load the "sharp" module using the linux-x64 runtime\nPossible solutions: ...');
};

describe('nodeImageDecoder', () => {
  it('reads WGT_IMAGE_DECODER: auto when unset, sharp, js; anything else is an error', () => {
    expect(decoderChoice('auto')).toBe('auto');
    expect(decoderChoice('')).toBe('auto');
    expect(decoderChoice(' Sharp ')).toBe('sharp');
    expect(decoderChoice('js')).toBe('js');
    expect(() => decoderChoice('libjpeg')).toThrow(ConfigError);
    expect(() => decoderChoice('libjpeg')).toThrow(/expected auto, sharp or js/);
  });

  it('picks sharp where it loads, and the pure-JS decoders for js', () => {
    expect(decoderLibrary(nodeImageDecoder('sharp'))).toBe('sharp');
    expect(['sharp', 'turbo']).toContain(decoderLibrary(nodeImageDecoder('auto')));
    expect(nodeImageDecoder('js')).toBe(jsImageDecoder);
    expect(decoderLibrary(jsImageDecoder)).toBe('js');
  });

  it('falls back under auto when sharp cannot load, naming the reason; fails under sharp', () => {
    const d = pickDecoder('auto', broken);
    expect(decoderLibrary(d)).toBe('js');
    expect(d.name).toBe(
      'jpeg-js + fast-png (pure JavaScript; sharp did not load: Could not load the "sharp" module using the linux-x64 runtime)',
    );
    expect(() => pickDecoder('sharp', broken)).toThrow(ConfigError);
    expect(() => pickDecoder('sharp', broken)).toThrow(/WGT_IMAGE_DECODER=sharp but sharp did not load/);
  });
});
