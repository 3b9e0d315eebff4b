// Half-precision variants of a shader. A shader names the storage type of each tensor it may
// bind in f16 with a line `alias NAME = f32;`; specialiseTypes rewrites the named aliases to f16
// and enables the extension, so one WGSL file serves every mix of f32 and f16 tensors and stays
// valid WGSL on its own. Loads convert to f32 (`f32(x[i])`), stores round once (`NAME(v)`).

import { ShaderCompileError } from '../errors.js';

/** Storage element type of a tensor. */
export type DType = 'f32' | 'f16';

export function specialiseTypes(shader: string, source: string, f16: readonly string[]): string {
  if (f16.length === 0) return source;
  let text = source;
  for (const name of f16) {
    const line = new RegExp(`^alias ${name} = f32;$`, 'm');
    if (!line.test(text)) {
      throw new ShaderCompileError(
        `shaders/${shader}.wgsl has no line 'alias ${name} = f32;', so it cannot store that tensor in f16.`,
        shader,
        0,
        0,
      );
    }
    text = text.replace(line, `alias ${name} = f16;`);
  }
  return `enable f16;\n${text}`;
}

/** The names of `aliases` whose tensor is f16 (the 4th argument of PipelineCache.get). */
export function halfAliases(aliases: Record<string, unknown>): string[] {
  return Object.entries(aliases)
    .filter(([, t]) => (t as { dtype?: DType } | null | undefined)?.dtype === 'f16')
    .map(([name]) => name)
    .sort();
}
