// Child process of driver-threads.test.ts: acquires the adapter the way the engine does and
// prints, as one JSON line, the report's driverThreads and this process's OS thread count.
import { readdirSync } from 'node:fs';
import { acquireGpu } from '../../src/gpu/device.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const gpu = await acquireGpu({ log: () => {} });
// A dispatch-free device still has llvmpipe's pools: they are made with the screen.
const tasks = readdirSync('/proc/self/task').length;
console.log(
  JSON.stringify({
    kind: gpu.report.kind,
    driverThreads: gpu.report.driverThreads ?? null,
    tasks,
    env: process.env.LP_NUM_THREADS ?? null,
  }),
);
gpu.destroy();
process.exit(0);
