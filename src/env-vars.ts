// Every WGT_* environment variable the project reads, in one place. docs/environment.md explains
// them for users; test/env-vars.test.ts fails when code under src/, scripts/, bench/ or test/
// reads a WGT_ variable this list does not name, or the list names a setting nothing reads.
// Browser-safe: process.env is read only where `process` exists.

export interface EnvVar {
  name: `WGT_${string}`;
  /** What it changes, and the values it takes. */
  meaning: string;
  /** Where it is read (for the reader; the test checks the name, not the place). */
  readBy: string;
}

/** Settings a user may set: each changes what the engine, the CLI or the setup script does. */
export const USER_ENV_VARS: readonly EnvVar[] = [
  {
    name: 'WGT_DATA_DIR',
    meaning:
      'A folder holding datasets by name (<dir>/mnist, <dir>/fashion-mnist, ...); searched before the system locations and the download cache.',
    readBy: 'src/data/known.ts, scripts/setup-system.sh',
  },
  {
    name: 'WGT_MATMUL_VARIANT',
    meaning:
      'Skip the matmul tuner and use this variant for every form, e.g. "row-8x1-tm4" or "sg-8x4-tm16-split4" (names as `webgpu-trainer info` prints them).',
    readBy: 'src/engine/tune.ts',
  },
  {
    name: 'WGT_CONV_ALGO',
    meaning:
      'Skip the conv2d tuner: "im2col" or "implicit" for every conv layer (im2col still falls back to implicit where its column buffer exceeds one storage binding).',
    readBy: 'src/engine/conv-tune.ts',
  },
  {
    name: 'WGT_PACED_WAITS',
    meaning:
      '"1": on a CPU driver under Node, fit() sleeps until a submitted step should be done before awaiting it, instead of awaiting at once. Off by default (slower on the measured loads).',
    readBy: 'src/engine/step-waiter.ts',
  },
  {
    name: 'WGT_DEBUG',
    meaning: 'Any non-empty value: the CLI prints the stack trace of an unexpected error.',
    readBy: 'src/cli/main.ts',
  },
  {
    name: 'WGT_IMAGE_DECODER',
    meaning:
      'Which library decodes image files in Node: "auto" (default: the native JPEG accelerator + sharp when the addon is built, sharp alone when not, else the pure-JS jpeg-js + fast-png), "turbo" (the accelerator + sharp; an error when either cannot load), "sharp" (an error when it cannot load) or "js".',
    readBy: 'src/data/decode-node.ts',
  },
];

/** Variables only the tests (or test hooks) read; not settings for users. */
export const TEST_ENV_VARS: readonly EnvVar[] = [
  {
    name: 'WGT_E2E',
    meaning: 'Runs the slow end-to-end tests under test/e2e/ outside CI: "1" for all, or a case name.',
    readBy: 'test/e2e/',
  },
  {
    name: 'WGT_ADAPTER_PROBE',
    meaning:
      'The command scripts/setup-system.sh runs to find the adapter (default: node scripts/probe-adapter.mjs); the setup tests replace it with a stub.',
    readBy: 'scripts/setup-system.sh, test/scripts/setup.test.ts',
  },
];

/** An environment variable under Node; undefined in a browser. */
export function envVariable(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}
