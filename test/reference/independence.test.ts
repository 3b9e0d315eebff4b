// The float64 reference is written from the maths, never from the engine: its modules import each
// other, the error classes, the RNG, and the engine's vocabulary of names (activations, losses,
// layer types), which itself imports nothing but the errors. A reference that imported a kernel or
// the plan could agree with a bug instead of catching it.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const src = path.resolve(import.meta.dirname, '../../src');
const VOCABULARY = ['nn/activations.ts', 'nn/losses.ts', 'nn/layer-types.ts'];
const ALLOWED = new Set(['errors.ts', 'rng.ts', ...VOCABULARY]);

/** The src-relative files a module imports (static imports and re-exports). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(src, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)[^'"]*from '([^']+)'/gm)].map((m) =>
    path.relative(src, path.resolve(path.dirname(path.join(src, file)), m[1].replace(/\.js$/, '.ts'))),
  );
}

describe('the reference stays independent of the engine', () => {
  it('src/reference imports only itself, errors, the RNG and the name vocabulary', () => {
    const files = readdirSync(path.join(src, 'reference')).map((f) => `reference/${f}`);
    const outside = files.flatMap((f) =>
      importsOf(f)
        .filter((t) => !t.startsWith('reference/') && !ALLOWED.has(t))
        .map((t) => `${f} -> ${t}`),
    );
    expect(files.length).toBeGreaterThan(5);
    expect(outside).toEqual([]);
  });

  it('the vocabulary modules import nothing but the errors and each other', () => {
    const outside = VOCABULARY.flatMap((f) =>
      importsOf(f)
        .filter((t) => t !== 'errors.ts' && !VOCABULARY.includes(t))
        .map((t) => `${f} -> ${t}`),
    );
    expect(outside).toEqual([]);
  });
});
