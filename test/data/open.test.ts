// Opening data through the library alone (the Node entry point), as a user's script would: an IDX
// folder, an image folder and a shard set give their splits, shapes and class names, the
// normalisation and the batch sources the Trainer consumes; a bad path or an unknown layout is a
// named library error whose message says what to do (never the command line's UsageError).

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClassMismatchError,
  DatasetFormatError,
  DatasetLayoutError,
  DatasetNotFoundError,
  EngineError,
  computeNormalization,
  datasetNormalization,
  matchClasses,
  openDataset,
  toBatchSource,
  writeShards,
  type OpenedDataset,
} from '../../src/node.js';
import { REPO } from '../helpers/datasets.js';

const FIXTURES = path.join(REPO, 'test/fixtures');

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(EngineError);
  // The library's own errors, not the command line's usage messages.
  expect((e as Error).name).not.toBe('UsageError');
  expect((e as Error).message).not.toContain('--data');
  expect((e as Error).message).not.toContain('\n');
  return e as Error;
}

describe('opening data through the library', () => {
  let tmp = '';
  let idx = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'wgt-open-'));
    // The MNIST fixture holds only t10k files: the same 100 records serve as both splits.
    idx = path.join(tmp, 'idx');
    mkdirSync(idx);
    const from = path.join(FIXTURES, 'mnist-t10k-head');
    for (const split of ['train', 't10k']) {
      copyFileSync(
        path.join(from, 't10k-images-idx3-ubyte.gz'),
        path.join(idx, `${split}-images-idx3-ubyte.gz`),
      );
      copyFileSync(
        path.join(from, 't10k-labels-idx1-ubyte.gz'),
        path.join(idx, `${split}-labels-idx1-ubyte.gz`),
      );
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('an IDX folder: both splits, 28x28x1, numbered classes, a limit, resident batches', async () => {
    const d = await openDataset(idx);
    expect([d.train.count, d.test?.count]).toEqual([100, 100]);
    expect(d.shape).toEqual([28, 28, 1]);
    expect(d.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(d.namedClasses).toBe(false);
    expect(d.trainShards).toBeUndefined();
    const few = await openDataset(idx, { limit: 7 });
    expect([few.train.count, few.train.images.length, few.test?.count]).toEqual([7, 7 * 784, 7]);
    const norm = await datasetNormalization(d, 'standardize');
    expect(norm).toEqual(computeNormalization(d.train.images, 1, 'standardize'));
    const src = await toBatchSource(d.train, d.trainShards, norm);
    expect(src.kind).toBe('uint8');
    expect(src.count).toBe(100);
  });

  it('an image folder: class folders decoded to the size asked for, through the cache', async () => {
    const root = path.join(FIXTURES, 'imagefolder-sample', 'catvnoncat-png');
    const lines: string[] = [];
    const cacheDir = path.join(tmp, 'cache');
    const opts = {
      imageSize: [8, 6] as [number, number],
      channels: 1 as const,
      cacheDir,
      log: (l: string) => lines.push(l),
    };
    const d = await openDataset(root, opts);
    expect(d.classNames).toEqual(['cat', 'non-cat']);
    expect(d.namedClasses).toBe(true);
    expect(d.train.count).toBe(50);
    expect(d.test).toBeUndefined();
    expect(d.shape).toEqual([8, 6, 1]);
    expect(d.train.images.length).toBe(50 * 8 * 6);
    expect([...new Set(d.train.labels)].sort()).toEqual([0, 1]);
    expect(lines.join('\n')).toMatch(/decoded 50 images/);
    // Over the memory budget: the records stay in the cache and stream from there.
    const streamed = await openDataset(root, { ...opts, streamOver: 100 });
    expect(streamed.trainShards).toBeDefined();
    expect(streamed.train.images.length).toBe(0);
    const norm = await datasetNormalization(streamed, 'standardize');
    expect(norm).toEqual(await datasetNormalization(d, 'standardize'));
    const src = await toBatchSource(streamed.train, streamed.trainShards, norm);
    expect(src.kind).toBe('stream');
    if (src.kind === 'stream') await src.reader.close();
  });

  it('a shard set, alone or as train/ and test/, with class names from its index', async () => {
    const d = await openDataset(idx, { limit: 30 });
    const names = d.classNames.map((n) => `digit ${n}`);
    const one = path.join(tmp, 'shards');
    await writeShards(one, d.train, { classNames: names, recordsPerShard: 8 });
    const s = await openDataset(one);
    expect(s.shardSet).toBe(true);
    expect(s.train.count).toBe(30);
    expect(s.shape).toEqual([28, 28, 1]);
    expect(s.classNames).toEqual(names);
    expect(s.train.images).toEqual(d.train.images);
    const split = path.join(tmp, 'split');
    await writeShards(path.join(split, 'train'), d.train, { classNames: names });
    await writeShards(path.join(split, 'test'), d.test!, { classNames: names });
    const both = await openDataset(split);
    expect([both.train.count, both.test?.count]).toEqual([30, 30]);
    // Without class names in the index, classes are numbered from the labels.
    const bare = path.join(tmp, 'bare');
    await writeShards(bare, { ...d.train, classNames: undefined });
    const b = await openDataset(bare);
    expect(b.namedClasses).toBe(false);
    expect(b.classNames.length).toBe(Math.max(...d.train.labels) + 1);
  });

  it('a bad path or an unknown layout is a named error that says what to do', async () => {
    const missing = await failure(openDataset(path.join(tmp, 'no-such-folder')));
    expect(missing).toBeInstanceOf(DatasetNotFoundError);
    expect(missing.message).toMatch(
      /is neither a known dataset \(.*mnist.*\) nor an existing path; give one of/,
    );
    expect((await failure(openDataset('mnsit'))).message).toMatch(/^'mnsit' is neither a known dataset/);

    const loose = path.join(tmp, 'loose');
    mkdirSync(loose);
    writeFileSync(path.join(loose, 'notes.txt'), 'hello');
    const unknown = await failure(openDataset(loose));
    expect(unknown).toBeInstanceOf(DatasetLayoutError);
    expect(unknown).toBeInstanceOf(DatasetFormatError);
    expect((unknown as DatasetLayoutError).file).toBe(loose);
    expect(unknown.message).toBe(
      `${loose} is neither an image folder (root/<class>/<image>), a shard set (index.json) nor a folder of IDX files`,
    );
    const file = await failure(openDataset(path.join(loose, 'notes.txt')));
    expect(file).toBeInstanceOf(DatasetLayoutError);
    expect(file.message).toMatch(/is a file; give a folder of IDX files or of class folders$/);
    writeFileSync(path.join(loose, 'shard-00000.bin'), new Uint8Array(20));
    expect((await failure(openDataset(loose))).message).toMatch(
      /holds shard files but no index\.json \(an unfinished conversion\?\); write the shard set again$/,
    );
    // A test split that is not a shard set beside a training one that is.
    const half = path.join(tmp, 'half');
    await writeShards(path.join(half, 'train'), (await openDataset(idx, { limit: 4 })).train);
    mkdirSync(path.join(half, 'test'));
    expect((await failure(openDataset(half))).message).toMatch(
      /is a shard set but .* is not \(no index\.json\); convert both$/,
    );
  });

  it('labels are matched to a model by class name; an unknown class is a ClassMismatchError', () => {
    const d = { classNames: ['dog', 'ant'], namedClasses: true } as Pick<
      OpenedDataset,
      'classNames' | 'namedClasses'
    >;
    const labels = Int32Array.of(0, 1, 1);
    expect([...matchClasses(labels, d.classNames, ['ant', 'cat', 'dog'], d.namedClasses, 'pets')]).toEqual([
      2, 0, 0,
    ]);
    let err: unknown;
    try {
      matchClasses(labels, ['ant', 'yak'], ['ant', 'cat'], true, 'pets');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClassMismatchError);
    expect((err as Error).message).toBe(
      "pets: class yak is not among the model's classes (ant, cat); evaluate data with the model's class folders",
    );
  });
});
