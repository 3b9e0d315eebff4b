// The one module that reads WGSL (from the generated module; see scripts/gen-shaders.mjs).
// `#include name` lines splice a snippet file (shaders/name.wgsl) in place: the only templating.

import { WGSL_SOURCES } from './wgsl.generated.js';

function resolve(name: string, seen: Set<string>): string {
  const src = WGSL_SOURCES[name];
  if (src === undefined) throw new Error(`shaders/${name}.wgsl does not exist (run \`npm run gen\`)`);
  if (seen.has(name)) return '';
  seen.add(name);
  return src.replace(/^#include\s+(\w+)\s*$/gm, (_m, inc: string) => resolve(inc, seen));
}

/** Every shader with its includes resolved, keyed by file name without extension. */
export const SHADERS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.keys(WGSL_SOURCES).map((name) => [name, resolve(name, new Set())]),
);
