// Streaming benchmark: one epoch over a synthetic shard set several times larger than the loader's
// memory budget, reporting throughput and peak RSS against the budget.
//
//   npx tsx bench/streaming.ts [--budget-mib 64] [--dataset-mib 320] [--batch 256]
//
// The parent writes the shard set into a temp dir, then runs the loader in a child process (small V8
// heap, so garbage cannot hide behind a large heap) and prints what the child measured:
//   baseline RSS  after imports and a GC, before the loader allocates anything;
//   peak RSS      the kernel's high-water mark (VmHWM, reset at the baseline via /proc/self/clear_refs)
//                 and the largest RSS sampled every 5 ms, whichever is larger;
//   loader bytes  what the loader's buffers hold (StreamLoader.bytesHeld(), must be <= budget).
// The shards were just written, so they are in the page cache: this measures the pipeline, not the disk.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ShardSet, writeShards } from '../src/data/shards.js';
import type { LabeledRecord } from '../src/data/shards.js';
import { StreamLoader } from '../src/data/stream.js';

const MiB = 1 << 20;
const H = 32;
const W = 32;
const C = 3;
const R = H * W * C;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

interface ChildReport {
  baselineRss: number;
  peakRssSampled: number;
  peakRssHwm: number | null;
  bytesHeld: number;
  memory: ReturnType<StreamLoader['memory']>;
  shuffleRecords: number;
  batches: number;
  records: number;
  seconds: number;
  firstBatchSeconds: number;
}

function rssHwm(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function child(dir: string, budget: number, batchSize: number): Promise<void> {
  const set = await ShardSet.open(dir);
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const baselineRss = process.memoryUsage.rss();
  try {
    // "5" resets the peak-RSS counter so VmHWM covers only what follows.
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux or not permitted: the sampled peak still stands.
  }
  let peak = baselineRss;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, 5);
  const t0 = performance.now();
  const loader = await StreamLoader.open(set, {
    batchSize,
    seed: 1,
    memoryBudget: budget,
    normalization: { kind: 'standardize', mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
    oneHot: true,
  });
  let records = 0;
  let checksum = 0;
  let firstBatchSeconds = 0;
  // The double-buffered pattern an engine uses: ask for batch n+1, then "use" batch n.
  let cur = await loader.next();
  firstBatchSeconds = (performance.now() - t0) / 1000;
  for (let k = 0; k < loader.batchesPerEpoch; k++) {
    const pending = k + 1 < loader.batchesPerEpoch ? loader.next() : null;
    records += cur.size;
    checksum += cur.x[0] + cur.x[cur.x.length - 1];
    sample();
    if (!pending) break;
    cur = await pending;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  const report: ChildReport = {
    baselineRss,
    peakRssSampled: peak,
    peakRssHwm: rssHwm(),
    bytesHeld: loader.bytesHeld(),
    memory: loader.memory(),
    shuffleRecords: loader.shuffleRecords,
    batches: loader.batchesPerEpoch,
    records,
    seconds,
    firstBatchSeconds,
  };
  await loader.close();
  if (!Number.isFinite(checksum)) throw new Error('non-finite batch values');
  process.stdout.write(JSON.stringify(report) + '\n');
}

async function* synthetic(count: number): AsyncGenerator<LabeledRecord> {
  const image = new Uint8Array(R);
  const words = new Uint32Array(image.buffer);
  let s = 0x12345678;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < words.length; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      words[k] = s;
    }
    yield { image, label: i % 10 };
  }
}

function runChild(dir: string, budget: number, batchSize: number): Promise<ChildReport> {
  const self = fileURLToPath(import.meta.url);
  const args = [
    ...process.execArgv,
    '--expose-gc',
    '--max-old-space-size=48',
    // A small young generation: short-lived batch objects are collected before they grow the heap.
    `--max-semi-space-size=${process.env.SEMI ?? 2}`,
    self,
    '--child',
    dir,
    String(budget),
    String(batchSize),
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`benchmark child exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
    });
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
    return;
  }
  const budget = arg('budget-mib', 64) * MiB;
  const datasetBytes = arg('dataset-mib', 320) * MiB;
  const batchSize = arg('batch', 256);
  const count = Math.ceil(datasetBytes / R);
  const dir = await mkdtemp(join(tmpdir(), 'bench-streaming-'));
  try {
    const t0 = performance.now();
    const index = await writeShards(dir, synthetic(count), {
      height: H,
      width: W,
      channels: C,
      classNames: [...'0123456789'],
    });
    const writeS = (performance.now() - t0) / 1000;
    const onDisk = index.shards.reduce((a, s) => a + s.bytes, 0);
    console.log(
      `dataset: ${count} records of ${H}x${W}x${C}, ${index.shards.length} shards, ${(onDisk / MiB).toFixed(1)} MiB on disk ` +
        `(${(onDisk / budget).toFixed(1)}x the budget), written in ${writeS.toFixed(1)} s`,
    );
    const r = await runChild(dir, budget, batchSize);
    const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
    const peak = Math.max(r.peakRssSampled, r.peakRssHwm ?? 0);
    const m = r.memory;
    console.log(
      `loader buffers: ${mib(r.bytesHeld)} of ${mib(budget)} budget ` +
        `(read pool ${mib(m.readPool)}, shuffle window ${mib(m.shuffleWindow)} = ${r.shuffleRecords} records, ` +
        `batch buffers ${mib(m.batchBuffers)}, scratch ${mib(m.scratch)}; reserve ${mib(m.reserve)} left free)`,
    );
    console.log(
      `epoch: ${r.batches} batches of ${batchSize}, ${r.records} records in ${r.seconds.toFixed(2)} s ` +
        `(first batch after ${r.firstBatchSeconds.toFixed(2)} s): ${(r.batches / r.seconds).toFixed(1)} batches/s, ` +
        `${((r.records * R) / MiB / r.seconds).toFixed(1)} MiB/s of records`,
    );
    console.log(
      `RSS: baseline ${mib(r.baselineRss)}, peak ${mib(peak)} (sampled ${mib(r.peakRssSampled)}, VmHWM ${r.peakRssHwm === null ? 'n/a' : mib(r.peakRssHwm)}), ` +
        `peak - baseline ${mib(peak - r.baselineRss)} vs budget ${mib(budget)}: ` +
        (peak <= r.baselineRss + budget ? 'within budget + baseline' : 'OVER budget + baseline'),
    );
    if (r.records !== count) throw new Error(`epoch produced ${r.records} records, expected ${count}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
