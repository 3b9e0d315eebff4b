// train --memory-budget on an image folder: the first run decodes and writes the decoded cache
// (the images are in memory then, so they stream to the GPU from memory); the next run finds the
// cache over the budget and streams the records from its shards without loading them. The header
// says which, and both runs train on the same batches, so their metrics agree exactly.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImageFolder, runCli } from './helpers.js';

let root = '';
const savedCache = process.env.XDG_CACHE_HOME;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'wgt-stream-cli-'));
  process.env.XDG_CACHE_HOME = path.join(root, 'cache');
  await makeImageFolder(path.join(root, 'shapes'), { perClass: 12, seed: 5, splits: ['train'] });
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
  it('streams from memory on the first run and from the decoded cache after, with the same metrics', async () => {
    const first = await runCli(args('a'));
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^data .*streamed from memory a batch at a time \(budget 1\.0 KiB\)$/m);
    const second = await runCli(args('b'));
    expect(second.code, second.err).toBe(0);
    expect(second.err).toMatch(/streaming \d+ decoded images of .* from the cache/);
    expect(second.out).toMatch(/^data .*streamed from shards \(the decoded cache\), budget 1\.0 KiB$/m);
    const rows = epochRows(first.out);
    expect(rows).toHaveLength(2);
    expect(epochRows(second.out)).toEqual(rows);
  }, 300_000);

  it('rejects a size it cannot read in one line', async () => {
    const r = await runCli(args('c').map((a) => (a === '1KiB' ? 'lots' : a)));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--memory-budget: 'lots' is not a size such as 512MiB or 2GiB/);
  });
});
