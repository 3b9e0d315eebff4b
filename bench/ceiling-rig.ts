// The measuring rig of bench/ceiling.ts: the two clocks (wall, and the CPU time of the driver's
// worker threads), the shader modules, buffers and layouts of bench/shaders/ceiling_*.wgsl, one
// timed entry point (`measure`) and what waiting on Dawn costs (`waitCost`).
//
// Per core: the same FLOPs over the CPU time the driver's worker threads got in that window
// (/proc/self/task/*/schedstat, every thread but the main one), best of the rounds. On a machine
// shared with other work a window rarely has both cores; CPU time is what the code costs whatever
// else runs, and 2 x per-core is the 2-core figure. The main thread is left out because Dawn's
// wait polls on it (part 4 of the ceiling bench measures how much). tfjs-wasm runs on the main
// thread, so its per-core figure is over the main thread's CPU time.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { GpuDevice } from '../src/gpu/device.js';
import { Rng } from '../src/rng.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Worker CPU milliseconds one dispatch is sized to (wall time depends on the neighbours). */
export const TARGET_MS = 20;
const DISPATCHES = 2;
const WORKGROUPS = 256; // of 64 invocations: far more than 2 cores' worth of work items
export const INVOCATIONS = WORKGROUPS * 64;
const SRC_FLOATS = 65536;

// ---- clocks -----------------------------------------------------------------------------------
const PROC = existsSync('/proc/self/task');

/** CPU milliseconds so far of this process's main thread and of all its other threads. */
function threadCpu(): { main: number; others: number } {
  if (!PROC) {
    const c = process.cpuUsage();
    return { main: 0, others: (c.user + c.system) / 1000 };
  }
  let main = 0;
  let others = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    let ns = 0;
    try {
      ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      continue; // the thread ended between the listing and the read; its time is in neither sum
    }
    if (Number(tid) === process.pid) main += ns / 1e6;
    else others += ns / 1e6;
  }
  return { main, others };
}

export interface Clocked {
  wall: number;
  /** Driver worker threads' CPU ms. */
  workers: number;
  main: number;
}

export async function clocked(fn: () => Promise<void>): Promise<Clocked> {
  const c0 = threadCpu();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c1 = threadCpu();
  return { wall, workers: c1.others - c0.others, main: c1.main - c0.main };
}

export interface Measured {
  /** Wall clock, best round. */
  gflops: number;
  /** Per CPU-second of the driver's worker threads, best round. */
  perCore: number;
}

export interface WaitCost {
  wallMs: number;
  mainCpuMs: number;
  workerCpuMs: number;
}

export const rate = (flops: number, ms: number) => flops / (ms * 1e6);
export const fixed = (x: number, d = 1) => x.toFixed(d);
export const both = (m: Measured) => `${fixed(m.gflops)} [${fixed(m.perCore)}]`;
export const best = <T extends Measured>(rows: T[]): T | undefined =>
  rows.reduce<T | undefined>((a, b) => (a && a.perCore >= b.perCore ? a : b), undefined);

/** Shader modules, buffers and layouts for the ceiling kernels on one device. */
export class CeilingRig {
  readonly hasSubgroups: boolean;
  readonly fmaModule: GPUShaderModule;
  readonly mixModule: GPUShaderModule;
  private readonly device: GPUDevice;
  private readonly out: GPUBuffer;
  private readonly src: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly fmaLayout: GPUBindGroupLayout;
  private readonly mixLayout: GPUBindGroupLayout;

  /** `rounds`: timed rounds per entry point, the best of which counts. */
  constructor(
    private readonly gpu: GpuDevice,
    readonly rounds: number,
  ) {
    const device = (this.device = gpu.device);
    this.hasSubgroups = device.features.has('subgroups');
    const shader = (name: string) => readFileSync(join(here, 'shaders', name), 'utf8');
    this.fmaModule = device.createShaderModule({ label: 'ceiling_fma', code: shader('ceiling_fma.wgsl') });
    // ceiling_subgroup.wgsl opens with `enable subgroups;` and uses ceiling_mix.wgsl's declarations.
    const mixCode =
      (this.hasSubgroups ? shader('ceiling_subgroup.wgsl') + '\n' : '') + shader('ceiling_mix.wgsl');
    this.mixModule = device.createShaderModule({ label: 'ceiling_mix', code: mixCode });
    this.out = device.createBuffer({
      label: 'ceiling out',
      size: INVOCATIONS * 16,
      usage: GPUBufferUsage.STORAGE,
    });
    this.src = device.createBuffer({
      label: 'ceiling src',
      size: SRC_FLOATS * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const srcRng = new Rng(14);
    device.queue.writeBuffer(
      this.src,
      0,
      Float32Array.from({ length: SRC_FLOATS }, () => srcRng.uniform(-1, 1)),
    );
    this.params = device.createBuffer({
      label: 'ceiling params',
      size: 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    // Explicit layouts: 'auto' would drop the bindings an entry point leaves unused.
    const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type },
    });
    this.fmaLayout = device.createBindGroupLayout({
      label: 'ceiling_fma',
      entries: [entry(0, 'uniform'), entry(1, 'storage')], // params; one result per invocation
    });
    this.mixLayout = device.createBindGroupLayout({
      label: 'ceiling_mix',
      // params; one vec4 result per invocation; the source as floats; the same source as vec4s
      entries: [
        entry(0, 'uniform'),
        entry(1, 'storage'),
        entry(2, 'read-only-storage'),
        entry(3, 'read-only-storage'),
        entry(4, 'uniform'),
      ],
    });
  }

  get timing() {
    return {
      targetWorkerMsPerDispatch: TARGET_MS,
      dispatchesPerRound: DISPATCHES,
      rounds: this.rounds,
      invocations: INVOCATIONS,
    };
  }

  /**
   * Times one entry point over INVOCATIONS invocations; `flopsPerIter` is per invocation per loop
   * iteration; `scalars` are the params words after `iters`.
   */
  async measure(
    module: GPUShaderModule,
    entryPoint: string,
    constants: Record<string, number>,
    flopsPerIter: number,
    scalars: [number, number],
  ): Promise<Measured> {
    const isMix = module === this.mixModule;
    const layout = isMix ? this.mixLayout : this.fmaLayout;
    const pipeline = await this.device.createComputePipelineAsync({
      label: entryPoint,
      layout: this.device.createPipelineLayout({ label: entryPoint, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint, constants },
    });
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.params } },
      { binding: 1, resource: { buffer: this.out } },
    ];
    if (isMix)
      entries.push(
        { binding: 2, resource: { buffer: this.src } },
        { binding: 3, resource: { buffer: this.src } },
        { binding: 4, resource: { buffer: this.src, size: 65536 } },
      );
    const bindGroup = this.device.createBindGroup({ label: entryPoint, layout, entries });
    const run = async (iters: number, dispatches: number) => {
      const p = new ArrayBuffer(16);
      new Uint32Array(p, 0, 1)[0] = iters;
      new Float32Array(p, 4, 2).set(scalars);
      this.device.queue.writeBuffer(this.params, 0, p);
      const enc = this.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let d = 0; d < dispatches; d++) pass.dispatchWorkgroups(WORKGROUPS);
      pass.end();
      await this.device.queue.onSubmittedWorkDone(); // the params write lands before the clocks start
      return clocked(async () => {
        this.device.queue.submit([enc.finish()]);
        await this.device.queue.onSubmittedWorkDone();
      });
    };
    // Size one dispatch to ~TARGET_MS of worker CPU time (wall time depends on the neighbours).
    let iters = 64;
    let ms = (await run(iters, 1)).workers;
    while (ms < 5 && iters < 1 << 24) {
      iters *= 4;
      ms = (await run(iters, 1)).workers;
    }
    iters = Math.max(16, Math.round((iters * TARGET_MS) / ms));
    let wall = Infinity;
    let cpu = Infinity;
    for (let r = 0; r < this.rounds; r++) {
      const t = await run(iters, DISPATCHES);
      wall = Math.min(wall, t.wall);
      cpu = Math.min(cpu, t.workers);
    }
    this.gpu.throwIfFailed();
    const flops = INVOCATIONS * iters * flopsPerIter * DISPATCHES;
    return { gflops: rate(flops, wall), perCore: rate(flops, cpu) };
  }

  /**
   * Dawn's Node binding polls for completion on the main thread while a promise of it is pending,
   * which on a 2-core machine takes CPU from the driver's 2 workers. Measured on FMA-only work
   * (vec4, 8 accumulators, chain 4): await right after submit, or sleep 80% of that time first.
   */
  async waitCost(): Promise<{ poll: WaitCost[]; sleepFirst: WaitCost[] }> {
    const pipeline = await this.device.createComputePipelineAsync({
      label: 'wait cost',
      layout: this.device.createPipelineLayout({ label: 'wait cost', bindGroupLayouts: [this.fmaLayout] }),
      compute: { module: this.fmaModule, entryPoint: 'fma_vec4', constants: { ACC: 8, CHAIN: 4 } },
    });
    const bindGroup = this.device.createBindGroup({
      label: 'wait cost',
      layout: this.fmaLayout,
      entries: [
        { binding: 0, resource: { buffer: this.params } },
        { binding: 1, resource: { buffer: this.out } },
      ],
    });
    const p = new ArrayBuffer(16);
    new Uint32Array(p, 0, 1)[0] = 2000;
    new Float32Array(p, 4, 2).set([0.999, 0.001]);
    this.device.queue.writeBuffer(this.params, 0, p);
    const once = async (sleepMs: number): Promise<WaitCost> => {
      const enc = this.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let d = 0; d < 10; d++) pass.dispatchWorkgroups(WORKGROUPS);
      pass.end();
      await this.device.queue.onSubmittedWorkDone();
      const t = await clocked(async () => {
        this.device.queue.submit([enc.finish()]);
        if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
        await this.device.queue.onSubmittedWorkDone();
      });
      return { wallMs: t.wall, mainCpuMs: t.main, workerCpuMs: t.workers };
    };
    await once(0);
    const poll: WaitCost[] = [];
    const sleepFirst: WaitCost[] = [];
    for (let r = 0; r < 3; r++) {
      poll.push(await once(0));
      sleepFirst.push(await once(Math.round(0.8 * poll[r].wallMs)));
    }
    this.gpu.throwIfFailed();
    const line = (xs: WaitCost[]) =>
      `wall ${xs.map((x) => fixed(x.wallMs, 0)).join('/')} ms, main thread CPU ${xs.map((x) => fixed(x.mainCpuMs, 0)).join('/')} ms, workers ${xs.map((x) => fixed(x.workerCpuMs, 0)).join('/')} ms`;
    console.log(`wait right after submit: ${line(poll)}`);
    console.log(`sleep 80% first:         ${line(sleepFirst)}`);
    return { poll, sleepFirst };
  }
}
