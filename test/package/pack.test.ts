// The package as a user gets it: `npm pack` (prepack builds dist/src), then the tarball installed
// into an empty project OFFLINE with `npm ci --offline`: the project's lockfile is written from the
// repository's (app-lock.ts), so every dependency comes from the npm cache that the repository's
// `npm ci` filled, by integrity, and no registry is asked anything. There: a tiny training through
// `import { acquireGpu, Trainer } from 'webgpu-trainer'` in Node, `npx webgpu-trainer info`,
// `npx webgpu-trainer export --torch` (its Python templates ship in the package), a TypeScript
// check of the published types, and a Vite build of a page that imports the package (its browser
// entry must not pull in node:fs or Dawn).
// Slow-ish (a build, an install, a GPU run and a bundle: 1-2 minutes on 2 loaded cores). The pack runs
// in a temp copy of the tracked sources, so it never rewrites this checkout's dist/.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/datasets.js';
import { appLockfile, type Lockfile, type PackedManifest } from './app-lock.js';

// Generous limits: every step below is a process that can take a minute on 2 loaded cores.
const PACK_INPUTS = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'README.md',
  'src',
  'shaders',
  'bin',
  'data/catvnoncat',
  'scripts/gen-shaders.mjs',
  'scripts/prepack.mjs',
];

interface PackInfo {
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

function run(cmd: string, args: string[], cwd: string, timeout = 300_000): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout,
    env: {
      ...process.env,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    },
  });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} in ${cwd} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

describe('npm pack -> offline install -> import, CLI, types, Vite', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'wgt-pack-'));
  const src = path.join(work, 'src');
  const app = path.join(work, 'app');
  let info: PackInfo;

  beforeAll(() => {
    // The sources as they are in this checkout (tracked and new files, not ignored build output).
    const tracked = execFileSync(
      'git',
      ['ls-files', '-z', '-co', '--exclude-standard', '--', ...PACK_INPUTS],
      {
        cwd: REPO,
        encoding: 'utf8',
      },
    )
      .split('\0')
      .filter((f) => f !== '' && f !== 'src/kernels/wgsl.generated.ts');
    for (const f of tracked) {
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      copyFileSync(path.join(REPO, f), path.join(src, f));
    }
    symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'), 'dir');
    const out = run('npm', ['pack', '--json', '--pack-destination', work], src);
    info = (JSON.parse(out.slice(out.indexOf('['))) as PackInfo[])[0];
    console.log(
      `[package] ${info.filename}: ${(info.size / 1e6).toFixed(2)} MB packed, ` +
        `${(info.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${info.entryCount} files`,
    );
    mkdirSync(app);
    const tarball = `file:../${info.filename}`;
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({
        name: 'app',
        private: true,
        type: 'module',
        dependencies: { 'webgpu-trainer': tarball },
      }),
    );
    const lock = appLockfile(
      JSON.parse(readFileSync(path.join(src, 'package-lock.json'), 'utf8')) as Lockfile,
      JSON.parse(readFileSync(path.join(src, 'package.json'), 'utf8')) as PackedManifest,
      tarball,
      info.integrity,
    );
    writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
    try {
      run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
    } catch (e) {
      const m = (e as Error).message;
      if (!m.includes('ENOTCACHED') && !m.includes('EINTEGRITY')) throw e;
      throw new Error(
        `${m}\nThe npm cache lacks a tarball of a runtime dependency listed in package-lock.json: ` +
          'run `npm ci` in the repository (it fills the cache), then run this test again.',
      );
    }
  }, 600_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds the built library, its types, the CLI and the cat sample; no tests, benchmarks or maps', () => {
    const files = info.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'bin/webgpu-trainer.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/node.js',
      'dist/src/node.d.ts',
      'dist/src/cli/main.js',
      'dist/src/kernels/wgsl.generated.js',
      'data/catvnoncat/train_catvnoncat.h5',
      'data/catvnoncat/test_catvnoncat.h5',
      'src/export/templates/train.py', // read from disk by `export --torch`
      'src/export/templates/README.md',
    ]) {
      expect(files, f).toContain(f);
    }
    const stray = files.filter(
      (f) =>
        /^(test|bench|demo|scripts|shaders|src)\/|\.map$|\.test\.|__pycache__|\.pyc$/.test(f) &&
        !/^src\/export\/templates\/[^/]+\.(py|md)$/.test(f),
    );
    expect(stray).toEqual([]);
    expect(info.size).toBeLessThan(8e6);
  });

  it('trains in Node through the package entry point', () => {
    writeFileSync(
      path.join(app, 'train.mjs'),
      `import { acquireGpu, Trainer, saveModelFile } from 'webgpu-trainer';
const gpu = await acquireGpu({ log: () => {} });
const n = 64;
const x = new Float32Array(n * 2);
const y = new Int32Array(n);
for (let i = 0; i < n; i++) {
  const a = ((i * 37) % 17) / 8 - 1, b = ((i * 11) % 13) / 6 - 1;
  x.set([a, b], 2 * i);
  y[i] = a + b > 0 ? 1 : 0;
}
const trainer = await Trainer.create(
  gpu,
  { inputSize: 2, layers: [{ units: 8, activation: 'relu' }, { units: 1, activation: 'sigmoid' }], loss: 'bce' },
  { seed: 1, optimizer: { name: 'adam', lr: 0.05 } },
);
const losses = [];
await trainer.fit({ kind: 'float', x, labels: y, count: n }, { epochs: 30, batchSize: 16, onEpoch: (e) => losses.push(e.loss) });
const layers = [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }];
await saveModelFile('model.safetensors', {
  architecture: { inputShape: [2], inputSize: 2, layers, loss: 'bce' },
  normalization: { kind: 'none' },
  classNames: ['no', 'yes'],
  training: { optimizer: { name: 'adam', lr: 0.05 }, batchSize: 16, epochs: 30, seed: 1 },
  weights: await trainer.getWeights(),
});
console.log(JSON.stringify({ first: losses[0], last: losses.at(-1), adapter: gpu.report?.name ?? '' }));
process.exit(0);
`,
    );
    const out = run(process.execPath, ['train.mjs'], app);
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { first: number; last: number };
    expect(r.last).toBeLessThan(r.first * 0.7);
  }, 300_000);

  it('npx webgpu-trainer info prints the adapter', () => {
    const out = run('npx', ['--offline', '--no', 'webgpu-trainer', 'info'], app);
    expect(out).toMatch(/adapter/i);
  }, 300_000);

  it('npx webgpu-trainer export --torch finds its Python templates in the installed package', () => {
    // Needs model.safetensors from the training test above.
    const out = run(
      'npx',
      ['--offline', '--no', 'webgpu-trainer', 'export', '--torch', 'model.safetensors', '--out', 'torch'],
      app,
    );
    expect(out).toMatch(/exported/);
    expect(readFileSync(path.join(app, 'torch/train.py'), 'utf8')).toBe(
      readFileSync(path.join(REPO, 'src/export/templates/train.py'), 'utf8'),
    );
    expect(readFileSync(path.join(app, 'torch/model.py'), 'utf8')).toMatch(/nn\.Linear\(2, 8/);
  }, 300_000);

  it('the published types resolve (Node conditions) with @webgpu/types from the dependencies', () => {
    writeFileSync(
      path.join(app, 'check.ts'),
      `import { acquireGpu, Trainer, loadDataset, type ModelSpec } from 'webgpu-trainer';
const spec: ModelSpec = { inputSize: 4, layers: [{ units: 2, activation: 'softmax' }], loss: 'softmax-ce' };
export async function go(): Promise<number> {
  const gpu = await acquireGpu();
  const device: GPUDevice = gpu.device;
  const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 0.1 } });
  const d = await loadDataset('catvnoncat');
  return device.limits.maxBufferSize + d.train.count + (t ? 1 : 0);
}
`,
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          types: ['@webgpu/types'],
          lib: ['ES2023', 'DOM'],
        },
        files: ['check.ts'],
      }),
    );
    run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  }, 300_000);

  it('Vite bundles a page that imports it, without node:fs or Dawn', () => {
    writeFileSync(
      path.join(app, 'index.html'),
      '<!doctype html><script type="module" src="./main.js"></script>\n',
    );
    writeFileSync(
      path.join(app, 'main.js'),
      `import { acquireGpu, Trainer } from 'webgpu-trainer';
document.body.textContent = typeof Trainer.create;
acquireGpu().then((g) => console.log(g.report));
`,
    );
    run(
      process.execPath,
      [path.join(REPO, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
      app,
    );
    const assets = path.join(app, 'dist/assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    const code = js.map((f) => readFileSync(path.join(assets, f), 'utf8')).join('\n');
    expect(code).toContain('matmul'); // the WGSL came along
    expect(code).not.toMatch(/from\s*["']node:|require\(["']node:|dawn\.node/);
  }, 300_000);
});
