// Image-folder throughput: this engine's first pass and cached epoch on a folder of photos, with
// PyTorch's ImageFolder + DataLoader beside it on the same files in the same run (issue 30).
//
//   npm run -s bench:decode -- [--photos DIR] [--count 2000] [--sizes 224,64] [--skip-train]
//                              [--train-count N] [--out FILE]
//
// The folder (default /tmp/wgt-photos-<count>) is made by scripts/make-photo-folder.mjs when
// missing: 500x375 JPEGs at quality 90 cropped from the shared cats-dogs photos. For each target
// size (square), in this order, each engine row in a fresh child process:
//   PyTorch      scripts/torch-imagefolder-bench.py (Resize + CenterCrop + ToTensor, 2 workers);
//   first pass   readImageFolderCached into a fresh cache folder: list, decode, resize, write the
//                shards. streamOver is 64 MiB, so a set over it is left on disk (not read back);
//                one row per decoder (WGT_IMAGE_DECODER=turbo, =sharp and =js); the cached rows
//                and the training run read the first one's cache (the default decoder's);
//   cached load  the same folder again (a cache hit) loaded into memory, as a run without a
//                memory budget does;
//   cached stream the hit with a 64 MiB budget: every record read once through ShardRecordReader
//                in a seeded random order, 64 per batch into shared buffers on its worker thread,
//                two batches in flight, as training streams them;
//   PyTorch      again, so a drift in the machine's load shows; the ratios use the mean of the two.
// Every image count is over wall time from the start of the call (process start-up excluded,
// worker start-up included; PyTorch's rate likewise includes its workers' start-up). Peak RSS is
// the child's process.resourceUsage().maxRSS (worker threads included). The shards were just
// written, so the cached rows read from the page cache.
// Then one epoch of `train --arch cnn --image-size 128x128` (src/cli/main.ts's main, as
// bin/webgpu-trainer.js calls it, from the sources), after a first pass has filled the decoded
// cache it reads, so it times training; its own XDG_CACHE_HOME keeps the kernel tuners' choices
// between bench runs. The markdown table is printed and written to bench/results/decode-<date>.md.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { nodeImageDecoder } from '../src/data/decode-node.js';
import { readImageFolderCached } from '../src/data/folder-cache.js';
import { ShardRecordReader } from '../src/data/shard-records.js';

const MiB = 1 << 20;
const BUDGET = 64 * MiB;
const self = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(self), '..');

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** What a child measured. */
interface Measured {
  images: number;
  seconds: number;
  maxRssMiB: number;
  decoder?: string;
  cache?: string;
  note?: string;
}

type ChildSpec =
  | { kind: 'first'; dir: string; size: number; cacheDir: string; threads?: number }
  | { kind: 'load'; dir: string; size: number; cacheDir: string }
  | { kind: 'stream'; dir: string; size: number; cacheDir: string }
  | { kind: 'train'; args: string[] };

const rssMiB = (): number => process.resourceUsage().maxRSS / 1024;

async function runChildSpec(spec: ChildSpec): Promise<Measured> {
  const size: [number, number] = spec.kind === 'train' ? [0, 0] : [spec.size, spec.size];
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  if (spec.kind === 'first') {
    const r = await readImageFolderCached(spec.dir, {
      size,
      cacheDir: spec.cacheDir,
      streamOver: BUDGET,
      threads: spec.threads,
    });
    const s = seconds();
    return {
      images: r.set.count,
      seconds: s,
      maxRssMiB: rssMiB(),
      decoder: nodeImageDecoder().name,
      cache: r.cache,
    };
  }
  if (spec.kind === 'load') {
    const r = await readImageFolderCached(spec.dir, { size, cacheDir: spec.cacheDir });
    if (r.set.images.length !== r.set.count * spec.size * spec.size * 3) throw new Error('not loaded');
    return { images: r.set.count, seconds: seconds(), maxRssMiB: rssMiB(), cache: r.cache };
  }
  if (spec.kind === 'stream') {
    const r = await readImageFolderCached(spec.dir, { size, cacheDir: spec.cacheDir, streamOver: BUDGET });
    if (!r.streamed || !r.dir) return { images: 0, seconds: 0, maxRssMiB: rssMiB(), note: 'not streamed' };
    const images = await streamEpoch(r.dir);
    return { images, seconds: seconds(), maxRssMiB: rssMiB(), cache: r.cache };
  }
  const { main } = await import('../src/cli/main.js');
  const code = await main(spec.args);
  process.exit(code);
}

/** Reads every record once in a seeded random order, 64 a batch, two batches in flight. */
async function streamEpoch(dir: string): Promise<number> {
  const reader = await ShardRecordReader.open(dir);
  const n = reader.count;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  let s = 12345;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const B = 64;
  const slots = [0, 1].map(() => ({
    images: new Uint8Array(new SharedArrayBuffer(B * reader.recordBytes)),
    labels: new Int32Array(new SharedArrayBuffer(B * 4)),
  }));
  let read = 0;
  let checksum = 0;
  let pending: Promise<void> | undefined;
  let pendingSlot = 0;
  // One pass more than there are batches: the last one only collects the batch still pending.
  for (let b = 0, k = 0; b < n + B; b += B, k ^= 1) {
    const next =
      b < n
        ? reader.read(order.subarray(b, Math.min(n, b + B)), slots[k].images, slots[k].labels)
        : undefined;
    if (pending) {
      await pending;
      const got = Math.min(B, n - (b - B));
      // Touch the batch as a consumer would, so the reads cannot be skipped.
      checksum += slots[pendingSlot].images[0] + slots[pendingSlot].labels[got - 1];
      read += got;
    }
    pending = next;
    pendingSlot = k;
  }
  await reader.close();
  if (!Number.isFinite(checksum)) throw new Error('bad checksum');
  return read;
}

/** Runs a child; resolves with its last stdout line (JSON) and its timestamped lines. */
function spawnChild(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  /** Also keep stderr in the timestamped lines, and echo every line as it comes. */
  all = false,
): Promise<{ last: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const stdio = ['ignore', 'pipe', all ? 'pipe' : 'inherit'] as const;
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: [...stdio] });
    const lines: string[] = [];
    const bufs = { out: '', err: '' };
    const collect = (which: 'out' | 'err') => (d: Buffer) => {
      bufs[which] += d.toString();
      let nl;
      while ((nl = bufs[which].indexOf('\n')) >= 0) {
        // Progress bars redraw with \r: keep what the line ends as.
        const line = bufs[which].slice(0, nl).split('\r').pop()!;
        bufs[which] = bufs[which].slice(nl + 1);
        if (!all) lines.push(line);
        else {
          lines.push(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
          console.log(lines[lines.length - 1]);
        }
      }
    };
    p.stdout?.on('data', collect('out'));
    p.stderr?.on('data', collect('err'));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (bufs.out) lines.push(bufs.out);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
      else resolve({ last: lines[lines.length - 1] ?? '', lines });
    });
  });
}

async function child(spec: ChildSpec, env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  const args = [...process.execArgv, self, '--child', JSON.stringify(spec)];
  const { last } = await spawnChild(process.execPath, args, env);
  return JSON.parse(last) as Measured;
}

interface TorchResult {
  images: number;
  seconds: number;
  images_per_s: number;
  images_per_s_warm: number;
  torch_threads: number;
  versions: Record<string, string>;
  max_rss_mib: { main: number; largest_worker: number };
}

async function torch(dir: string, size: number): Promise<TorchResult> {
  const script = path.join(repo, 'scripts/torch-imagefolder-bench.py');
  const { last } = await spawnChild('/usr/bin/python3', [script, dir, '--size', String(size)], {});
  return JSON.parse(last) as TorchResult;
}

interface Row {
  what: string;
  size: string;
  images: number;
  seconds: number;
  perS: number;
  ratio: number | null;
  rss: string;
}

const fmt = (x: number, d = 0): string => x.toFixed(d);

function row(what: string, size: number | string, m: Measured, torchPerS: number | null): Row {
  const perS = m.images / m.seconds;
  return {
    what,
    size: typeof size === 'number' ? `${size}x${size}` : size,
    images: m.images,
    seconds: m.seconds,
    perS,
    ratio: torchPerS ? perS / torchPerS : null,
    rss: `${fmt(m.maxRssMiB)} MiB`,
  };
}

function table(rows: Row[]): string {
  const head =
    '| what | target | images | seconds | images/s | x PyTorch | peak RSS |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map(
    (r) =>
      `| ${r.what} | ${r.size} | ${r.images} | ${fmt(r.seconds, 2)} | ${fmt(r.perS)} | ${r.ratio === null ? '' : fmt(r.ratio, 2)} | ${r.rss} |`,
  );
  return [head, ...body].join('\n');
}

/** The decoders to measure, each chosen by WGT_IMAGE_DECODER in its child. */
function decoders(): { label: string; env: NodeJS.ProcessEnv }[] {
  return [
    { label: 'turbo', env: { WGT_IMAGE_DECODER: 'turbo' } },
    { label: 'sharp', env: { WGT_IMAGE_DECODER: 'sharp' } },
    { label: 'js', env: { WGT_IMAGE_DECODER: 'js' } },
  ];
}

function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce(
    (n, c) => n + (existsSync(path.join(dir, c)) ? readdirSync(path.join(dir, c)).length : 0),
    0,
  );
}

async function ensurePhotos(dir: string, count: number): Promise<string> {
  if (countFiles(dir) >= count) return 'made before this run';
  const script = path.join(repo, 'scripts/make-photo-folder.mjs');
  const { lines } = await spawnChild(process.execPath, [script, dir, '--count', String(count)], {});
  return lines.join(' ').replace(/^\[[^\]]*\] /, '');
}

interface SizeResult {
  rows: Row[];
  torch: TorchResult[];
  rssOverBudget?: { decoder: string; mib: number; recordsMiB: number };
}

async function measureSize(dir: string, size: number, work: string): Promise<SizeResult> {
  const rows: Row[] = [];
  const t1 = await torch(dir, size);
  const first: { label: string; m: Measured; cacheDir: string }[] = [];
  for (const d of decoders()) {
    const cacheDir = path.join(work, `cache-${size}-${d.label}`);
    await rm(cacheDir, { recursive: true, force: true });
    const m = await child({ kind: 'first', dir, size, cacheDir }, d.env);
    first.push({ label: d.label, m, cacheDir });
    console.log(`  first pass ${size}px (${m.decoder}): ${m.images} in ${fmt(m.seconds, 1)} s`);
  }
  const cacheDir = first[0].cacheDir;
  const load = await child({ kind: 'load', dir, size, cacheDir }, {});
  const recordsMiB = (load.images * size * size * 3) / MiB;
  const stream = recordsMiB > BUDGET / MiB ? await child({ kind: 'stream', dir, size, cacheDir }) : undefined;
  const t2 = await torch(dir, size);
  const tPerS = (t1.images_per_s + t2.images_per_s) / 2;
  const torchRow: Measured = {
    images: t1.images,
    seconds: t1.images / tPerS,
    maxRssMiB: t1.max_rss_mib.main + 2 * t1.max_rss_mib.largest_worker,
  };
  rows.push({
    ...row('PyTorch ImageFolder + DataLoader (2 workers), mean of 2 runs', size, torchRow, tPerS),
    rss: `${fmt(t1.max_rss_mib.main)} + 2 x ${fmt(t1.max_rss_mib.largest_worker)} MiB`,
  });
  for (const f of first) rows.push(row(`first pass, ${f.m.decoder}`, size, f.m, tPerS));
  rows.push(row('cached epoch, loaded into memory', size, load, tPerS));
  if (stream) rows.push(row('cached epoch, streamed (64 MiB budget)', size, stream, tPerS));
  const over = recordsMiB > BUDGET / MiB ? first[0] : undefined;
  return {
    rows,
    torch: [t1, t2],
    rssOverBudget: over && { decoder: over.m.decoder ?? over.label, mib: over.m.maxRssMiB, recordsMiB },
  };
}

interface TrainResult {
  row: Row;
  timeline: string[];
  tunerWarm: boolean;
  warmupSeconds: number;
  epochSeconds: number;
  wallSeconds: number;
  dataLine: string;
}

/** Runs the CLI's main with `args` in a child; its timestamped stdout and stderr lines. */
async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const spec: ChildSpec = { kind: 'train', args };
  const argv = [...process.execArgv, self, '--child', JSON.stringify(spec)];
  return (await spawnChild(process.execPath, argv, env, true)).lines;
}

async function measureTrain(dir: string, work: string, limit?: number): Promise<TrainResult> {
  const xdg = path.join(work, 'xdg');
  const tunerWarm = existsSync(path.join(xdg, 'webgpu-trainer/tuning.json'));
  const env = {
    XDG_CACHE_HOME: xdg,
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    ...decoders()[0].env,
  };
  const base = ['train', '--data', dir, '--image-size', '128x128', '--arch', 'cnn', '--epochs', '1'];
  // A short run first fills the decoded cache with the CLI's own options (and the tuners' cache),
  // so the timed run reads a cached folder.
  console.log('training warm-up (fills the decoded cache): 64 samples');
  const w0 = performance.now();
  await cli([...base, '--limit', '64', '--out', path.join(work, 'train-warmup')], env);
  const warmupSeconds = (performance.now() - w0) / 1000;
  const out = path.join(work, 'train-out');
  await rm(out, { recursive: true, force: true });
  const t0 = performance.now();
  const lines = await cli([...base, ...(limit ? ['--limit', String(limit)] : []), '--out', out], env);
  const wallSeconds = (performance.now() - t0) / 1000;
  const metrics = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; seconds?: number; samplesPerSecond?: number });
  const epoch = metrics.find((m) => m.type === 'epoch');
  if (!epoch?.seconds || !epoch.samplesPerSecond) throw new Error('no epoch in the metrics log');
  const samples = Math.round(epoch.seconds * epoch.samplesPerSecond);
  const m: Measured = { images: samples, seconds: epoch.seconds, maxRssMiB: 0 };
  const dataLine = lines.find((l) => /from the cache|decoded \d+ images/.test(l)) ?? '(no data line)';
  return {
    row: { ...row('one training epoch, `train --arch cnn` (cached folder)', 128, m, null), rss: '' },
    timeline: lines,
    tunerWarm,
    warmupSeconds,
    epochSeconds: epoch.seconds,
    wallSeconds,
    dataLine: dataLine.replace(/^\[[^\]]*\] /, ''),
  };
}

function machineFacts(torchV: Record<string, string>, threads: number): string[] {
  const req = (p: string): { version: string } =>
    JSON.parse(readFileSync(path.join(repo, 'node_modules', p, 'package.json'), 'utf8')) as {
      version: string;
    };
  const sharpPkg = req('sharp');
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return [
    `- CPU: ${os.cpus().length} logical cores (${cpu}), availableParallelism ${os.availableParallelism()}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB`,
    `- Node ${process.version}; sharp ${sharpPkg.version} (its bundled libvips and mozjpeg, a libjpeg-turbo fork); jpeg-js ${req('jpeg-js').version}`,
    `- PyTorch ${torchV.torch}, torchvision ${torchV.torchvision}, PIL ${torchV.PIL} with libjpeg-turbo ${torchV.libjpeg_turbo} (Debian python3-torch); torch.get_num_threads() = ${threads}, as left by default`,
    `- load average at the end: ${os
      .loadavg()
      .map((x) => fmt(x, 2))
      .join(', ')}`,
  ];
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const m = await runChildSpec(JSON.parse(process.argv[3]) as ChildSpec);
    process.stdout.write(JSON.stringify(m) + '\n');
    return;
  }
  const count = Number(flag('count') ?? 2000);
  const dir = path.resolve(flag('photos') ?? `/tmp/wgt-photos-${count}`);
  const sizes = (flag('sizes') ?? '224,64').split(',').map(Number);
  const trainCount = flag('train-count') ? Number(flag('train-count')) : undefined;
  const work = path.join(os.tmpdir(), 'wgt-decode-bench');
  mkdirSync(work, { recursive: true });
  const loadBefore = os.loadavg();
  const made = await ensurePhotos(dir, count);
  const files = countFiles(dir);
  console.log(`photos: ${made}; ${files} files`);
  console.log(
    `decoders: ${decoders()
      .map((d) => d.label)
      .join(', ')}`,
  );
  const results: SizeResult[] = [];
  for (const size of sizes) {
    console.log(`target ${size}x${size}`);
    results.push(await measureSize(dir, size, work));
  }
  const train = process.argv.includes('--skip-train') ? undefined : await measureTrain(dir, work, trainCount);
  const rows = [...results.flatMap((r) => r.rows), ...(train ? [train.row] : [])];
  const t = table(rows);
  console.log('\n' + t);
  const torch0 = results[0].torch[0];
  const notes: string[] = [];
  for (const [i, r] of results.entries()) {
    const [a, b] = r.torch;
    notes.push(
      `- PyTorch at ${sizes[i]}x${sizes[i]}: ${fmt(a.images_per_s)} and ${fmt(b.images_per_s)} images/s with worker start-up (the table's rate: their mean), ${fmt(a.images_per_s_warm)} and ${fmt(b.images_per_s_warm)} without it (from the first batch on)`,
    );
    if (r.rssOverBudget) {
      notes.push(
        `- Peak RSS of a first pass over a folder larger than the budget: ${fmt(r.rssOverBudget.mib)} MiB (${r.rssOverBudget.decoder}, ${sizes[i]}x${sizes[i]}, ${fmt(r.rssOverBudget.recordsMiB)} MiB of records, streamOver 64 MiB)`,
      );
    }
  }
  if (train) {
    notes.push(
      `- Training: one epoch of ${train.row.images} samples took ${fmt(train.epochSeconds, 1)} s (the epoch's time as metrics.jsonl records it); the whole command ${fmt(train.wallSeconds, 1)} s (timeline below). Before it, a 64-sample run of the same command (which decoded the folder into the cache${train.tunerWarm ? '' : ' and tuned the kernels'}) took ${fmt(train.warmupSeconds, 1)} s. Data: ${train.dataLine}`,
    );
  }
  const date = new Date().toISOString().slice(0, 10);
  const outFile = flag('out') ?? path.join(repo, `bench/results/decode-${date}.md`);
  const md = [
    `# Image-folder throughput, ${date}`,
    '',
    `Made by \`npm run -s bench:decode\` (bench/decode.ts). Photos: ${files} files in ${dir} (${made}), made by scripts/make-photo-folder.mjs from the shared cats-dogs sample.`,
    `The machine was shared with other jobs during the run (load average ${loadBefore.map((x) => fmt(x, 2)).join(', ')} at the start), so absolute rates are noisy; PyTorch ran before and after the engine rows of each size so the ratios compare like with like.`,
    '',
    t,
    '',
    ...notes,
    '',
    '## Machine',
    ...machineFacts(torch0.versions, torch0.torch_threads),
    '',
    ...(train
      ? [
          '## Training run (timestamped output)',
          '',
          '```',
          ...train.timeline.filter((l) => !/^\[[^\]]*\] {10}/.test(l)),
          '```',
          '',
        ]
      : []),
  ].join('\n');
  writeFileSync(outFile, md);
  console.log(`\nwrote ${outFile}`);
}

await main();
