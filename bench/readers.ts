// Reader throughput on the real data: records/s and MB/s (MB of input file bytes read).
// Run: npx tsx bench/readers.ts. Not a unit test. Each reader runs a few times; the best run counts.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCatHdf5 } from '../src/data/hdf5.js';
import { parseIdxImages } from '../src/data/idx.js';
import { readImageFolderFromDisk } from '../src/data/readers-node.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATA = path.resolve(repoRoot, '../shared/data');

interface Row {
  reader: string;
  records: number;
  bytes: number;
  ms: number;
}

async function best(
  reader: string,
  bytes: number,
  runs: number,
  fn: () => Promise<number> | number,
): Promise<Row> {
  let ms = Infinity;
  let records = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    records = await fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { reader, records, bytes, ms };
}

function folderBytes(root: string): number {
  let n = 0;
  for (const cls of readdirSync(root)) {
    for (const f of readdirSync(path.join(root, cls))) n += readFileSync(path.join(root, cls, f)).length;
  }
  return n;
}

const mnist = readFileSync(path.join(DATA, 'mnist/train-images-idx3-ubyte.gz'));
const h5 = new Uint8Array(readFileSync(path.join(DATA, 'catvnoncat/train_catvnoncat.h5')));
const png = path.join(DATA, 'imagefolder-sample/catvnoncat-png');
const jpg = path.join(DATA, 'imagefolder-sample/cats-dogs-jpeg');
const rows = [
  await best('IDX .gz (MNIST train images)', mnist.length, 3, () => parseIdxImages(mnist, 'mnist').count),
  await best('HDF5 (catvnoncat train)', h5.length, 3, () => parseCatHdf5(h5, 'h5').count),
  await best(
    'PNG folder -> 64x64x3',
    folderBytes(png),
    3,
    async () => (await readImageFolderFromDisk(png, { size: [64, 64] })).count,
  ),
  await best(
    'JPEG folder -> 64x64x3 crop',
    folderBytes(jpg),
    2,
    async () => (await readImageFolderFromDisk(jpg, { size: [64, 64], mode: 'center-crop' })).count,
  ),
];

console.log(
  `${'reader'.padEnd(30)} ${'records'.padStart(8)} ${'ms'.padStart(8)} ${'records/s'.padStart(10)} ${'MB/s'.padStart(7)}`,
);
for (const r of rows) {
  console.log(
    `${r.reader.padEnd(30)} ${String(r.records).padStart(8)} ${r.ms.toFixed(0).padStart(8)} ${(r.records / (r.ms / 1000)).toFixed(0).padStart(10)} ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(1).padStart(7)}`,
  );
}
