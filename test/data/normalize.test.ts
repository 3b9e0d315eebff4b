// One normalisation (src/data/normalize.ts) for the API, the CLI and the demo: the GPU's
// (mul, add) form agrees with the float64 formula, statistics come from exact histograms, and the
// CLI's model-file reader reports a bad block in one line.

import { describe, expect, it } from 'vitest';
import { parseNormalization } from '../../src/cli/data-flags.js';
import { UsageError } from '../../src/cli/args.js';
import {
  computeNormalization,
  imageSetNormalization,
  normalizationMulAdd,
} from '../../src/data/normalize.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

describe('one normalisation', () => {
  it('mul/add reproduce (v/255 - mean)/std per channel, and scale is v/255', () => {
    const norm = { kind: 'standardize' as const, mean: [0.1307, 0.5, 0.25], std: [0.3081, 0.2, 0.7] };
    const { mul, add } = normalizationMulAdd(norm, 3);
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) {
        const want = (v / 255 - norm.mean[c]) / norm.std[c];
        expect(Math.abs(v * mul[c] + add[c] - want)).toBeLessThan(1e-12 * (1 + Math.abs(want)));
      }
    }
    expect(normalizationMulAdd({ kind: 'scale' }, 2)).toEqual({ mul: [1 / 255, 1 / 255], add: [0, 0] });
    // A one-entry normalisation applies to every channel (the demo's grey models on RGB input).
    const one = normalizationMulAdd({ kind: 'standardize', mean: [0.5], std: [0.25] }, 3);
    expect(one.mul).toEqual([4 / 255, 4 / 255, 4 / 255]);
    expect(one.add).toEqual([-2, -2, -2]);
    expect(() => normalizationMulAdd({ kind: 'standardize', mean: [0, 0], std: [1, 1] }, 3)).toThrow(
      ConfigError,
    );
  });

  it('statistics are exact and rounded to 6 decimals; a constant channel gets std 1', () => {
    const rng = new Rng(4);
    const n = 999;
    const images = new Uint8Array(n * 2);
    for (let i = 0; i < n; i++) {
      images[2 * i] = rng.int(256);
      images[2 * i + 1] = 77;
    }
    const got = computeNormalization(images, 2, 'standardize');
    let s = 0;
    for (let i = 0; i < n; i++) s += images[2 * i];
    const m = s / n;
    let q = 0;
    for (let i = 0; i < n; i++) q += (images[2 * i] - m) ** 2;
    expect(got).toEqual({
      kind: 'standardize',
      mean: [Math.round((m / 255) * 1e6) / 1e6, Math.round((77 / 255) * 1e6) / 1e6],
      std: [Math.round((Math.sqrt(q / n) / 255) * 1e6) / 1e6, 1],
    });
    expect(computeNormalization(images, 2, 'scale')).toEqual({ kind: 'scale' });
    // An ImageSet's (what the CLI and openDataset give) goes through the same function.
    const set = {
      images,
      count: n,
      height: 1,
      width: 1,
      channels: 2,
      labels: new Int32Array(n),
      source: 't',
    };
    expect(imageSetNormalization(set, 'standardize')).toEqual(got);
  });

  it('a bad normalisation block in a model file is a one-line UsageError naming the file', () => {
    expect(parseNormalization({ kind: 'scale' }, 3, 'm.safetensors')).toEqual({ kind: 'scale' });
    const ok = { kind: 'standardize', mean: [0.5], std: [0.2] };
    expect(parseNormalization(ok, 1, 'm.safetensors')).toEqual(ok);
    for (const bad of [
      { kind: 'standardize', mean: [0.5], std: [0] },
      { kind: 'standardize', mean: [0.5, 0.5], std: [0.2, 0.2] },
      { kind: 'whiten' },
      null,
    ]) {
      let err: unknown;
      try {
        parseNormalization(bad, 1, 'm.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/^m\.safetensors: /);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});
