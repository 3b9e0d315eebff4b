// A process killed hard (SIGKILL) while it writes a checkpoint never leaves a file that fails to
// load: the target holds either the previous checkpoint or the new one, byte for byte
// (src/io/atomic.ts: temp file in the same folder, fsync, rename, fsync the folder).
//
// A child process writes two ~6 MB checkpoints (A, B) over one path in a loop, through the same
// writeFileAtomic the CLI's saves use, in 256 KiB chunks, printing a line per chunk. The parent
// SIGKILLs it after a different number of lines each time (so the kill lands before, inside and
// after different writes, fsyncs and renames), then loads the file. The temp files that the
// killed writers leave are removed by the next successful write.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { loadCheckpointFile } from '../../src/io/files.js';
import { saveCheckpoint, type CheckpointInput } from '../../src/io/modelfile.js';
import { Rng } from '../../src/rng.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A 1024-512-10 classifier's checkpoint with Adam moments: 3 x 528,906 floats, about 6.3 MB. */
function bigCheckpoint(seed: number): CheckpointInput {
  const rng = new Rng(seed);
  const f32 = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-2, 2));
  const weights = [
    { W: f32(512 * 1024), b: f32(512) },
    { W: f32(10 * 512), b: f32(10) },
  ];
  const params = weights.reduce((n, w) => n + w.W.length + w.b.length, 0);
  return {
    model: {
      architecture: {
        inputShape: [32, 32, 1],
        inputSize: 1024,
        layers: [
          { units: 512, activation: 'relu' },
          { units: 10, activation: 'softmax' },
        ],
        loss: 'softmax-ce',
      },
      normalization: { kind: 'scale', mul: [1 / 255], add: [0] },
      classNames: Array.from({ length: 10 }, (_, i) => `c${i}`),
      training: { seed },
      weights,
      createdAt: '2026-01-01T00:00:00.000Z',
    },
    state: {
      step: seed,
      epoch: 0,
      batchInEpoch: seed,
      rngState: rng.state(),
      dataPosition: {},
      optimizer: { kind: 'adam' },
      schedule: {},
    },
    optimizerState: { t: seed, tensors: { m: f32(params), v: f32(params).map(Math.abs) } },
  };
}

// The writer: alternates the two files' bytes (written by the parent) over the target, forever.
const CHILD = `
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from ${JSON.stringify(path.join(REPO, 'src/io/atomic.ts'))};
const [target, a, b] = process.argv.slice(2);
const files = [readFileSync(a), readFileSync(b)];
process.stdout.write('ready\\n');
for (let i = 0; ; i++) {
  await writeFileAtomic(target, files[i % 2], {
    chunkBytes: 1 << 18,
    onProgress: (w) => process.stdout.write(i + ' ' + w + '\\n'),
  });
  process.stdout.write('renamed ' + i + '\\n');
}
`;

let dir: string;
let childFile: string;
let A: Uint8Array;
let B: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-sigkill-'));
  childFile = path.join(dir, 'writer.mts');
  await writeFile(childFile, CHILD);
  A = saveCheckpoint(bigCheckpoint(1));
  B = saveCheckpoint(bigCheckpoint(2));
  await writeFile(path.join(dir, 'a.bin'), A);
  await writeFile(path.join(dir, 'b.bin'), B);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts the writer, SIGKILLs it once it has printed `lines` progress lines; resolves on its exit. */
function writeAndKill(target: string, lines: number): Promise<{ seen: number; last: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', childFile, target, path.join(dir, 'a.bin'), path.join(dir, 'b.bin')],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let seen = -1; // 'ready' does not count
    let last = '';
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) {
        seen++;
        last = p;
        if (seen >= lines && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve({ seen, last });
    });
  });
}

describe('SIGKILL during checkpoint writes', () => {
  it('leaves the old or the new checkpoint, never a torn one, at many kill points', async () => {
    const target = path.join(dir, 'checkpoint.safetensors');
    await writeFileAtomic(target, A);
    // A write is ~25 chunk lines plus its 'renamed' line: these land in the first three writes at
    // every phase, and the pipe's delay moves each kill a little further.
    const points = [0, 3, 9, 17, 24, 25, 26, 27, 40, 52, 53];
    const outcomes = { A: 0, B: 0 };
    for (const lines of points) {
      const { last } = await writeAndKill(target, lines);
      const bytes = new Uint8Array(await readFile(target));
      const which = Buffer.compare(bytes, A) === 0 ? 'A' : Buffer.compare(bytes, B) === 0 ? 'B' : undefined;
      expect(which, `killed after line ${lines} ('${last}'): the file is neither checkpoint`).toBeDefined();
      outcomes[which!]++;
      const c = await loadCheckpointFile(target);
      expect(c.state.step).toBe(which === 'A' ? 1 : 2);
    }
    // The kills landed on both sides of a rename, not always before the first one.
    expect(outcomes.A).toBeGreaterThan(0);
    expect(outcomes.B).toBeGreaterThan(0);
    // Killed writers left temp files; the next write removes them.
    await writeFileAtomic(target, A);
    expect((await readdir(dir)).sort()).toEqual(['a.bin', 'b.bin', 'checkpoint.safetensors', 'writer.mts']);
  });
});
