// A shard set (shard-format.ts) opened as a dataset (open.ts): loaded into memory, or left on disk
// to stream when its records are over the caller's budget. Class names come from the index; a set
// written without them gets numbers from its labels. Node only.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatasetLayoutError } from '../errors.js';
import type { ImageSet, OpenedDataset } from './types.js';
import { SHARD_INDEX_FILE } from './shard-format.js';
import { ShardSet } from './shards.js';

/** True when `dir` holds a shard set's index. */
export function isShardSet(dir: string): boolean {
  return existsSync(path.join(dir, SHARD_INDEX_FILE));
}

interface ShardSplit {
  set: ImageSet;
  streamed: boolean;
  classNames: string[] | null;
}

/** Loads a shard set, or (over `streamOver` bytes) describes it with its records left on disk. */
async function readShardSet(
  dir: string,
  streamOver: number | undefined,
  log: (line: string) => void,
): Promise<ShardSplit> {
  const shards = await ShardSet.open(dir);
  const { height, width, channels, classNames, source } = shards.index;
  const bytes = shards.count * shards.recordBytes;
  const what = `${dir}: shard set of ${shards.count} records ${height}x${width}x${channels} (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
  if (streamOver !== undefined && bytes > streamOver) {
    log(`${what}, streamed from disk`);
    const set: ImageSet = {
      images: new Uint8Array(0),
      labels: new Int32Array(0),
      count: shards.count,
      height,
      width,
      channels,
      classNames: classNames ?? undefined,
      source,
    };
    return { set, streamed: true, classNames };
  }
  const t0 = performance.now();
  const set = await shards.toImageSet();
  log(`${what}, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { set, streamed: false, classNames };
}

/** Highest label + 1 over a shard set, one shard in memory at a time (sets without class names). */
async function classCount(dir: string, set: ImageSet): Promise<number> {
  let k = 0;
  if (set.images.length > 0 || set.count === 0) {
    for (const l of set.labels) k = Math.max(k, l + 1);
    return k;
  }
  const shards = await ShardSet.open(dir);
  const buf = new Uint8Array(shards.maxShardBytes);
  for (let i = 0; i < shards.shardCount; i++)
    for (const l of (await shards.readShard(i, buf)).labels) k = Math.max(k, l + 1);
  return k;
}

/** Reads the test split beside `train`; both must hold records of one shape and the same classes. */
async function readTestSplit(
  root: string,
  trainDir: string,
  testDir: string,
  train: ShardSplit,
  log: (line: string) => void,
  streamOver: number | undefined,
): Promise<ShardSplit> {
  if (!isShardSet(testDir)) {
    throw new DatasetLayoutError(
      `${trainDir} is a shard set but ${testDir} is not (no index.json); convert both`,
      testDir,
    );
  }
  const left = streamOver === undefined ? undefined : streamOver - train.set.images.byteLength;
  const test = await readShardSet(testDir, left === undefined ? undefined : Math.max(0, left), log);
  const [a, b] = [train.set, test.set];
  if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
    throw new DatasetLayoutError(
      `${trainDir} holds ${a.height}x${a.width}x${a.channels} records but ${testDir} holds ${b.height}x${b.width}x${b.channels}; they must match`,
      root,
    );
  }
  if (JSON.stringify(train.classNames) !== JSON.stringify(test.classNames)) {
    throw new DatasetLayoutError(
      `${root}: the training shards have classes [${(train.classNames ?? []).join(', ')}] but the test shards have [${(test.classNames ?? []).join(', ')}]; they must match`,
      root,
    );
  }
  return test;
}

/** A shard set at `trainDir` (and `testDir`, when given) as a dataset named `root`. */
export async function openShardFolder(
  root: string,
  trainDir: string,
  testDir: string | undefined,
  log: (line: string) => void,
  streamOver?: number,
): Promise<OpenedDataset> {
  const train = await readShardSet(trainDir, streamOver, log);
  const test = testDir ? await readTestSplit(root, trainDir, testDir, train, log, streamOver) : undefined;
  let classNames = train.classNames;
  if (!classNames) {
    let k = await classCount(trainDir, train.set);
    if (test && testDir) k = Math.max(k, await classCount(testDir, test.set));
    classNames = Array.from({ length: k }, (_, i) => String(i));
  }
  return {
    source: root,
    train: train.set,
    test: test?.set,
    classNames,
    shape: [train.set.height, train.set.width, train.set.channels],
    namedClasses: train.classNames !== null,
    trainShards: train.streamed ? trainDir : undefined,
    testShards: test?.streamed ? testDir : undefined,
    shardSet: true,
  };
}
