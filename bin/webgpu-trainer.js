#!/usr/bin/env node
// The `webgpu-trainer` command. It runs the compiled CLI in dist/; build it once with
// `npm run build` (which first generates the WGSL module).
import { existsSync } from 'node:fs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'webgpu-trainer: the command is not built yet (no dist/src/cli/main.js). ' +
      'Run `npm run build` in the package folder first.',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// Exit explicitly: the Dawn addon may keep the event loop alive after the device is released.
process.exit(code);
