// train --memory-budget on an image folder: the first run decodes straight into the decoded cache
// and streams the records from its shards; the next run finds the cache over the budget and
// streams from it without decoding. The header says so, and both runs train on the same batches,
// so their metrics agree exactly. A test/ folder over what is left of the budget streams too, and
// --data may name a shard set (train and eval, streamed or loaded, same results).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageFolderFromDisk } from '../../src/data/readers-node.js';
import { writeShards } from '../../src/data/shard-writer.js';
import { makeImageFolder, runCli } from './helpers.js';

let root = '';
const savedCache = process.env.XDG_CACHE_HOME;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-stream-cli-'));
  process.env.XDG_CACHE_HOME = path.join(root, 'cache');
  await makeImageFolder(path.join(root, 'shapes'), { perClass: 12, seed: 5, splits: ['train'] });
  await makeImageFolder(path.join(root, 'split'), { perClass: 12, seed: 6, splits: ['train', 'test'] });
});

afterAll(async () => {
  if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCache;
  if (root) await rm(root, { recursive: true, force: true });
});

const args = (out: string): string[] => [
  'train',
  '--data',
  path.join(root, 'shapes'),
  '--image-size',
  '8x8',
  '--layers',
  '8',
  '--epochs',
  '2',
  '--batch-size',
  '8',
  '--memory-budget',
  '1KiB',
  '--checkpoint-every',
  '0',
  '--out',
  path.join(root, out),
];

/** The per-epoch rows of the summary table (epoch, losses, accuracies; not the times). */
function epochRows(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => /^\d+ +\d/.test(l))
    .map((l) => l.split(/ +/).slice(0, 5).join(' '));
}

describe('train --memory-budget', () => {
  it('the first run decodes into the cache and streams from it, the cached run too, with the same metrics', async () => {
    const first = await runCli(args('a'));
    expect(first.code, first.err).toBe(0);
    expect(first.err).toMatch(/^decoded 36 images from .* wrote the decoded cache /m);
    expect(first.out).toMatch(/^data .*streamed from shards \(the decoded cache\), budget 1\.0 KiB$/m);
    const second = await runCli(args('b'));
    expect(second.code, second.err).toBe(0);
    expect(second.err).not.toMatch(/^decoded/m);
    expect(second.err).toMatch(/streaming 36 decoded images of .* from the cache/);
    expect(second.out).toMatch(/^data .*streamed from shards \(the decoded cache\), budget 1\.0 KiB$/m);
    const rows = epochRows(first.out);
    expect(rows).toHaveLength(2);
    expect(epochRows(second.out)).toEqual(rows);
  }, 300_000);

  it('a test/ folder over the budget streams, and gives the test result it gives loaded', async () => {
    const run = (out: string, budget: string[]) =>
      runCli([
        ...args(out)
          .map((a) => (a.endsWith('shapes') ? path.join(root, 'split') : a))
          .filter((a, i, all) => a !== '--memory-budget' && all[i - 1] !== '--memory-budget'),
        ...budget,
      ]);
    const loaded = await run('t1', []);
    expect(loaded.code, loaded.err).toBe(0);
    // 36 training images of 8x8x3 (6.75 KiB) fit 8 KiB; the 12 test images (2.25 KiB) do not as well.
    const streamed = await run('t2', ['--memory-budget', '8KiB']);
    expect(streamed.code, streamed.err).toBe(0);
    expect(streamed.out).toMatch(/^data .*, 12 test; .*; test streamed from shards$/m);
    expect(loaded.out).not.toMatch(/streamed/);
    const testLine = (o: string) => o.split('\n').find((l) => l.startsWith('test '));
    expect(testLine(loaded.out)).toMatch(/\(12 samples\)$/);
    expect(testLine(streamed.out)).toBe(testLine(loaded.out));
    // Flip TTA reads the streamed test split a chunk at a time: the same two-view result.
    const ttaLines = (o: string) =>
      o.split('\n').filter((l, i, all) => l.startsWith('test ') || all[i - 1]?.startsWith('test '));
    const loadedTta = await run('t3', ['--tta', 'flip']);
    const streamedTta = await run('t4', ['--memory-budget', '8KiB', '--tta', 'flip']);
    expect(streamedTta.code, streamedTta.err).toBe(0);
    expect(ttaLines(loadedTta.out)[1]).toMatch(/flip TTA .*one view: loss \S+ +accuracy/);
    expect(ttaLines(streamedTta.out)).toEqual(ttaLines(loadedTta.out));
    // The one view under TTA is the engine's own score of the same weights.
    expect(ttaLines(loadedTta.out)[1]).toContain(/accuracy ([\d.]+%)/.exec(testLine(loaded.out)!)![1]);
  }, 300_000);

  it('--data naming a shard set: train streamed and loaded alike, then eval whole and in chunks', async () => {
    const shards = path.join(root, 'shards');
    const set = await readImageFolderFromDisk(path.join(root, 'shapes', 'train'), { size: [8, 8] });
    await writeShards(shards, set, { classNames: set.classNames, recordsPerShard: 7 });
    const train = (out: string, budget: string) =>
      runCli([...args(out).map((a) => (a.endsWith('shapes') ? shards : a === '1KiB' ? budget : a))]);
    const streamed = await train('s1', '1KiB');
    expect(streamed.code, streamed.err).toBe(0);
    expect(streamed.out).toMatch(
      /^data .*shards \(shard set\): .*streamed from the shard set, budget 1\.0 KiB$/m,
    );
    expect(streamed.err).toMatch(/shard set of 36 records 8x8x3 .*streamed from disk/);
    const loaded = await train('s2', '1GiB');
    expect(loaded.code, loaded.err).toBe(0);
    expect(loaded.out).toMatch(/^data .*shards \(shard set\): /m);
    expect(loaded.out).not.toMatch(/streamed/);
    expect(epochRows(loaded.out)).toEqual(epochRows(streamed.out));

    const model = path.join(root, 's1', 'model.safetensors');
    const whole = await runCli(['eval', model, '--data', shards, '--json']);
    expect(whole.code, whole.err).toBe(0);
    const chunked = await runCli([
      'eval',
      model,
      '--data',
      shards,
      '--memory-budget',
      '1KiB',
      '--batch-size',
      '5',
      '--json',
    ]);
    expect(chunked.code, chunked.err).toBe(0);
    type Rep = { samples: number; split: string; accuracy: number; loss: number; confusion: number[][] };
    const a = JSON.parse(whole.out) as Rep;
    const b = JSON.parse(chunked.out) as Rep;
    expect(a.samples).toBe(36);
    expect(a.split).toBe('all');
    expect(b.samples).toBe(36);
    expect(b.confusion).toEqual(a.confusion);
    expect(b.accuracy).toBeCloseTo(a.accuracy, 12);
    // Chunk means weighted back together: only the summation order differs.
    expect(Math.abs(b.loss - a.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(a.loss));
    const text = await runCli([
      'eval',
      model,
      '--data',
      shards,
      '--memory-budget',
      '1KiB',
      '--batch-size',
      '5',
    ]);
    expect(text.out).toMatch(
      /^data +.*shards, all of it, 36 samples \(read from .*shards in chunks of 5\)$/m,
    );
  }, 300_000);

  it('a folder that is neither an image tree nor shards is a one-line error', async () => {
    const r = await runCli(
      args('n').map((a) => (a.endsWith('shapes') ? path.join(root, 'shapes', 'train', 'ring') : a)),
    );
    expect(r.code).not.toBe(0);
    // One line after the 'loading ...' note.
    expect(r.err.trim().split('\n').slice(1)).toEqual([
      expect.stringMatching(
        /is neither an image folder \(root\/<class>\/<image>\), a shard set \(index\.json\) nor a folder of IDX files$/,
      ) as string,
    ]);
  });

  it('rejects a size it cannot read in one line', async () => {
    const r = await runCli(args('c').map((a) => (a === '1KiB' ? 'lots' : a)));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--memory-budget: 'lots' is not a size such as 512MiB or 2GiB/);
  });
});
