// Pipeline cache keyed by everything that specialises a shader: source name, entry point, the
// values of its `override` constants and which of its storage aliases are f16 (shader-types.ts). WGSL compile errors are turned into ShaderCompileError with
// line:column and the offending source line, instead of a bare validation message.

import { ShaderCompileError } from '../errors.js';
import { specialiseTypes } from './shader-types.js';

export type Overrides = Record<string, number | boolean>;

export class PipelineCache {
  private modules = new Map<string, Promise<GPUShaderModule>>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(
    private readonly device: GPUDevice,
    private readonly sources: Readonly<Record<string, string>>,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  /**
   * Compiles (once) `entry` of shaders/<shader>.wgsl with the given override constants, and the
   * storage aliases named in `f16` switched to half precision.
   */
  get(
    shader: string,
    entry: string,
    constants: Overrides = {},
    f16: readonly string[] = [],
  ): Promise<GPUComputePipeline> {
    const keys = Object.keys(constants).sort();
    const half = [...f16].sort();
    const key = `${shader}:${entry}:${keys.map((k) => `${k}=${Number(constants[k])}`).join(',')}${half.length ? `:f16=${half.join(',')}` : ''}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(shader, entry, constants, key, half);
      this.pipelines.set(key, p);
      // A failed build must not poison the cache: the next call retries and reports again.
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  private module(shader: string, f16: readonly string[]): Promise<GPUShaderModule> {
    const key = f16.length ? `${shader}:f16=${f16.join(',')}` : shader;
    let m = this.modules.get(key);
    if (!m) {
      if (f16.length > 0 && !this.device.features.has('shader-f16')) {
        return Promise.reject(
          new ShaderCompileError(
            `shaders/${shader}.wgsl in half precision needs the 'shader-f16' feature, which this adapter does not offer; train in f32 (precision 'f32' or 'auto').`,
            shader,
            0,
            0,
          ),
        );
      }
      m = compileModule(this.device, shader, specialiseTypes(shader, this.sourceOf(shader), f16));
      this.modules.set(key, m);
      m.catch(() => this.modules.delete(key));
    }
    return m;
  }

  private sourceOf(shader: string): string {
    const src = this.sources[shader];
    if (src === undefined) {
      throw new ShaderCompileError(
        `No shader named '${shader}' (known: ${Object.keys(this.sources).join(', ')}). Run \`npm run gen\` after adding shaders/${shader}.wgsl.`,
        shader,
        0,
        0,
      );
    }
    return src;
  }

  private async build(
    shader: string,
    entry: string,
    constants: Overrides,
    key: string,
    f16: readonly string[],
  ): Promise<GPUComputePipeline> {
    const module = await this.module(shader, f16);
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = Number(v);
    this.device.pushErrorScope('validation');
    // Synchronous creation on purpose: Dawn's createComputePipelineAsync aborts the Node process
    // (std::system_error from its worker thread) on long LLVM compiles under lavapipe.
    let pipeline: GPUComputePipeline;
    try {
      pipeline = this.device.createComputePipeline({
        label: `${entry} [${key}]`,
        layout: 'auto',
        compute: { module, entryPoint: entry, constants: numeric },
      });
    } catch (e) {
      await this.device.popErrorScope();
      throw new ShaderCompileError(
        `Pipeline ${entry} of shaders/${shader}.wgsl failed: ${(e as Error).message}`,
        shader,
        0,
        0,
      );
    }
    const err = await this.device.popErrorScope();
    if (err) {
      throw new ShaderCompileError(
        `Pipeline ${entry} of shaders/${shader}.wgsl failed: ${err.message}`,
        shader,
        0,
        0,
      );
    }
    return pipeline;
  }
}

/** Compiles a module and throws ShaderCompileError (line:column and source line) on any error. */
export async function compileModule(device: GPUDevice, name: string, code: string): Promise<GPUShaderModule> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: name, code });
  const info = await module.getCompilationInfo();
  const scopeErr = await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const lines = code.split('\n');
    const first = errors[0];
    const text = errors
      .map((m) => {
        const src = lines[m.lineNum - 1] ?? '';
        const caret = ' '.repeat(Math.max(0, m.linePos - 1)) + '^';
        return `shaders/${name}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}\n  ${src}\n  ${caret}`;
      })
      .join('\n');
    throw new ShaderCompileError(`WGSL compile error:\n${text}`, name, first.lineNum, first.linePos);
  }
  if (scopeErr)
    throw new ShaderCompileError(`WGSL error in shaders/${name}.wgsl: ${scopeErr.message}`, name, 0, 0);
  return module;
}
