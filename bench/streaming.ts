// Streaming benchmark: trains an MLP through Trainer.fit for one epoch on a synthetic uint8 shard
// set several times larger than the memory budget fit is given, then the same data resident.
//
//   npx tsx bench/streaming.ts [--budget-mib 64] [--dataset-mib 256] [--batch 256] [--hidden 64]
//                              [--worker 1|0]   (0: shard reads on the training thread)
//
// The parent writes the shard set into a temp dir, then runs each training in a child process
// (small V8 heap, so garbage cannot hide behind a large heap) and prints what the child measured:
//   baseline RSS  after the GPU, the trainer and its plan exist (a warm-up fit on 2 batches) and a GC;
//   peak RSS      the kernel's high-water mark (VmHWM, reset at the baseline via /proc/self/clear_refs)
//                 and the largest RSS sampled every 5 ms, whichever is larger;
//   samples/s     the epoch's training throughput as fit reports it.
// streamed: fit({kind: 'stream', reader: ShardRecordReader}, {memoryBudget}) streams the records from
// disk (worker-thread read-ahead, two GPU batch slots). resident: the same records read into memory
// and uploaded once (the largest prefix that fits one storage binding, when the whole set does not).
// On a software adapter (lavapipe) GPU buffers live in the process too, so a resident set's upload
// counts in its RSS. The shards were just written, so they are in the page cache: this measures
// the pipeline, not the disk.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { acquireGpu } from '../src/gpu/device.js';
import { Trainer } from '../src/engine/trainer.js';
import { loadStreamed, type StreamedData } from '../src/engine/batch-source.js';
import { ShardRecordReader } from '../src/data/shard-records.js';
import { writeShards } from '../src/data/shard-writer.js';
import type { LabeledRecord } from '../src/data/shard-writer.js';

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
  mode: 'stream' | 'resident';
  baselineRss: number;
  peakRssSampled: number;
  peakRssHwm: number | null;
  records: number;
  seconds: number;
  samplesPerSecond: number;
  loss: number;
}

function rssHwm(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function child(
  dir: string,
  mode: 'stream' | 'resident',
  budget: number,
  batchSize: number,
  hidden: number,
  worker: boolean,
): Promise<void> {
  const gpu = await acquireGpu();
  const reader = await ShardRecordReader.open(dir, { worker });
  const norm = { mul: [1 / 255, 1 / 255, 1 / 255], add: [-0.5, -0.5, -0.5] };
  const all: StreamedData = {
    kind: 'stream',
    reader,
    count: reader.count,
    channels: C,
    height: H,
    width: W,
    ...norm,
  };
  const maxRecords = Math.floor(gpu.device.limits.maxStorageBufferBindingSize / R);
  const trainer = await Trainer.create(
    gpu,
    {
      inputSize: R,
      layers: [
        { units: hidden, activation: 'relu' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    { seed: 1, optimizer: { name: 'adam', lr: 1e-3 } },
  );
  // Warm-up: pipelines and the batch-size plan exist before the baseline.
  const warm: StreamedData = { ...all, count: 2 * batchSize };
  await trainer.fit(warm, { epochs: 1, batchSize, memoryBudget: budget });
  const data =
    mode === 'stream' ? all : await loadStreamed({ ...all, count: Math.min(all.count, maxRecords) });
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
  const h = await trainer.fit(data, {
    epochs: 1,
    batchSize,
    logEvery: 50,
    ...(mode === 'stream' ? { memoryBudget: budget } : { residency: 'gpu' as const }),
    onStep: sample,
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  const e = h.epochs[0];
  const report: ChildReport = {
    mode,
    baselineRss,
    peakRssSampled: peak,
    peakRssHwm: rssHwm(),
    records: data.count,
    seconds,
    samplesPerSecond: e.samplesPerSecond,
    loss: e.loss,
  };
  await reader.close();
  trainer.destroy();
  if (!Number.isFinite(e.loss)) throw new Error('non-finite loss');
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

function runChild(
  dir: string,
  mode: string,
  budget: number,
  batchSize: number,
  hidden: number,
  worker: number,
): Promise<ChildReport> {
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
    mode,
    String(budget),
    String(batchSize),
    String(hidden),
    String(worker),
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
    const [dir, mode, budget, batch, hidden, worker] = process.argv.slice(3);
    const m = mode as 'stream' | 'resident';
    await child(dir, m, Number(budget), Number(batch), Number(hidden), worker === '1');
    return;
  }
  const budget = arg('budget-mib', 64) * MiB;
  const datasetBytes = arg('dataset-mib', 256) * MiB;
  const batchSize = arg('batch', 256);
  const hidden = arg('hidden', 64);
  const worker = arg('worker', 1);
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
        `(${(onDisk / budget).toFixed(1)}x the ${(budget / MiB).toFixed(0)} MiB budget), written in ${writeS.toFixed(1)} s; ` +
        `MLP ${R}-${hidden}-10, batch ${batchSize}, 1 epoch`,
    );
    const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
    const results: ChildReport[] = [];
    for (const mode of ['stream', 'resident']) {
      const r = await runChild(dir, mode, budget, batchSize, hidden, worker);
      results.push(r);
      const peak = Math.max(r.peakRssSampled, r.peakRssHwm ?? 0);
      console.log(
        `${mode === 'stream' ? `streamed (reads on ${worker ? 'a worker thread' : 'the training thread'})` : 'resident'}: ${r.records} samples in ${r.seconds.toFixed(1)} s, ` +
          `${r.samplesPerSecond.toFixed(0)} samples/s, loss ${r.loss.toFixed(3)}; RSS baseline ${mib(r.baselineRss)}, ` +
          `peak ${mib(peak)}, peak - baseline ${mib(peak - r.baselineRss)}` +
          (mode === 'stream'
            ? ` vs budget ${mib(budget)}: ${peak - r.baselineRss <= budget ? 'within budget' : 'OVER budget'}`
            : ''),
      );
    }
    const [st, re] = results;
    console.log(`streamed / resident throughput: ${(st.samplesPerSecond / re.samplesPerSecond).toFixed(2)}`);
    if (st.records !== count)
      throw new Error(`the streamed epoch saw ${st.records} records, expected ${count}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
