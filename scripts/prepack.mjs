// `npm pack` / `npm publish` build step: a clean dist/src from the current sources. The generated
// WGSL module (src/kernels/wgsl.generated.ts) is rebuilt first, so the package carries the shaders
// inside dist/src/kernels/wgsl.generated.js and needs no .wgsl files at run time.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
rmSync(path.join(root, 'dist/src'), { recursive: true, force: true });
run(['scripts/gen-shaders.mjs']);
run([path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
