// How many worker threads Mesa's CPU driver (llvmpipe, behind lavapipe) runs compute on, in Node.
//
// Why: llvmpipe's compute thread pool cuts every dispatch into ONE contiguous block of workgroups
// per thread (lp_cs_tpool_queue_task: iter_per_thread = num_iters / num_threads), and the next
// dispatch waits for the slowest block. With one thread per core (its default), any time a core
// gives to something else (Dawn's own threads, the main thread recording the next step, the OS)
// idles the other core until the block on it is done. On the 2-core VM, a 1024 matmul kept the
// two workers busy 62% of the wall time. With 4 threads per core the blocks are a quarter the
// size and the OS scheduler evens them out: on 2 cores the 1024 matmul and the wide MLP and CNN
// steps run 1.4-1.5x faster, the small MLP no slower; 6 threads fall between, and 16 slow the small
// MLP down (the side-by-side runs are in docs/benchmarks.md).
//
// llvmpipe reads LP_NUM_THREADS once, when the first Vulkan instance creates its screen, so this
// runs before this process creates any Dawn instance. A value the user set is kept. Browsers
// run their own driver process, and hardware drivers never read the variable.

/** Threads per core that llvmpipe gets when the user has not chosen. */
export const THREADS_PER_CORE = 4;
/** llvmpipe's own cap (LP_MAX_THREADS). */
const LLVMPIPE_MAX_THREADS = 32;

export interface DriverThreads {
  /** The worker-thread count llvmpipe will use (if lavapipe is the driver). */
  threads: number;
  /** 'user': LP_NUM_THREADS was set before us; 'engine': we set it. */
  source: 'user' | 'engine';
}

/** What LP_NUM_THREADS should be, from the environment's value (if any) and the core count. */
export function driverThreadsFor(current: string | undefined, cores: number): DriverThreads {
  if (current !== undefined && current.trim() !== '') {
    const n = Number(current);
    // llvmpipe parses it itself; a value it cannot read is reported as 0 (its own fallback is
    // the core count, but that is llvmpipe's business, not a reason to override the user).
    return { threads: Number.isInteger(n) && n >= 0 ? n : 0, source: 'user' };
  }
  const c = Number.isInteger(cores) && cores >= 1 ? cores : 1;
  return { threads: Math.min(LLVMPIPE_MAX_THREADS, c * THREADS_PER_CORE), source: 'engine' };
}

let applied: DriverThreads | undefined;

/**
 * Sets LP_NUM_THREADS for this process unless the user did; idempotent. Must run before the
 * first Dawn instance is created (later calls only report what the first one decided).
 */
export function applyDriverThreads(env: Record<string, string | undefined>, cores: number): DriverThreads {
  if (applied) return applied;
  applied = driverThreadsFor(env.LP_NUM_THREADS, cores);
  if (applied.source === 'engine') env.LP_NUM_THREADS = String(applied.threads);
  return applied;
}

/**
 * A tuning-cache key part: kernel timings taken with one worker count do not rank variants for
 * another (split-K and workgroup counts are chosen against the threads that run them).
 */
export function driverThreadsKey(report: { driverThreads?: DriverThreads }): string {
  return report.driverThreads ? ` | lp threads ${report.driverThreads.threads}` : '';
}
