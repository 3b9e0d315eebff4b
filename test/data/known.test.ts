// Resolution order and downloads, with an injected fetch: these tests never touch the network.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DownloadProgress, FetchFn } from '../../src/data/download.js';
import {
  defaultSearchDirs,
  findLocalDataset,
  loadDataset,
  packageRoot,
  resolveDatasetDir,
} from '../../src/data/known.js';
import { DatasetFormatError, DatasetNotFoundError } from '../../src/errors.js';
import { needData, REPO } from '../helpers/datasets.js';
import { cifarBatch } from './readers-helpers.js';

const mnist = needData('mnist', 'MNIST download with a fake fetch');

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'known-'));
const offline: FetchFn = () => Promise.reject(new TypeError('fetch failed: getaddrinfo ENOTFOUND'));
/** Nothing local: no env dir, no system or repo folders, an empty cache. */
const isolated = (cacheRoot: string) => ({ env: {}, searchDirs: [], cacheRoot });

describe('known datasets', () => {
  it('rejects unknown names', async () => {
    await expect(loadDataset('imagenet')).rejects.toBeInstanceOf(DatasetNotFoundError);
  });

  it('a caller folder without the files names the folder and the files', async () => {
    const dir = tmp();
    const e = await resolveDatasetDir('mnist', { dir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatasetNotFoundError);
    expect((e as Error).message).toContain(dir);
    expect((e as Error).message).toContain('train-images-idx3-ubyte.gz');
  });

  it('offline: DatasetNotFoundError names the exact cache folder and files', async () => {
    const root = tmp();
    const e = await resolveDatasetDir('mnist', { ...isolated(root), fetch: offline }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DatasetNotFoundError);
    const msg = (e as Error).message;
    expect(msg).toContain(path.join(root, 'mnist'));
    for (const f of ['train-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) expect(msg).toContain(f);
    expect(msg).toContain('ENOTFOUND');
  });

  it('catvnoncat has no download: the error says where to put the .h5 files', async () => {
    const root = tmp();
    const e = await resolveDatasetDir('catvnoncat', isolated(root)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatasetNotFoundError);
    expect((e as Error).message).toContain(path.join(root, 'catvnoncat'));
    expect((e as Error).message).toContain('train_catvnoncat.h5');
  });

  it('checksum mismatch: DatasetFormatError, nothing left in the cache', async () => {
    const root = tmp();
    const bad: FetchFn = () => Promise.resolve(new Response(new Uint8Array([1, 2, 3])));
    for (const name of ['fashion-mnist', 'cifar10']) {
      const e = await resolveDatasetDir(name, { ...isolated(root), fetch: bad }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DatasetFormatError);
      expect((e as Error).message).toMatch(/md5/);
      const dir = path.join(root, name);
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    }
  });

  it('a dataset folder of CIFAR batches loads through `dir`', async () => {
    const dir = tmp();
    for (const f of [
      'data_batch_1',
      'data_batch_2',
      'data_batch_3',
      'data_batch_4',
      'data_batch_5',
      'test_batch',
    ]) {
      writeFileSync(path.join(dir, `${f}.bin`), cifarBatch([1, 2], 'cifar10'));
    }
    const s = await loadDataset('cifar10', { dir });
    expect(s.train.count).toBe(10);
    expect(s.test?.count).toBe(2);
    expect(s.classNames[0]).toBe('airplane');
  });
});

describe('known datasets on the real files', () => {
  it.skipIf(!mnist)(
    'downloads MNIST into the cache with verified md5s and progress (fake fetch)',
    async () => {
      const root = tmp();
      const progress: DownloadProgress[] = [];
      const served: FetchFn = (url) => {
        const bytes = readFileSync(path.join(mnist ?? '', path.basename(new URL(url).pathname)));
        return Promise.resolve(new Response(bytes, { headers: { 'content-length': String(bytes.length) } }));
      };
      const s = await loadDataset('mnist', {
        ...isolated(root),
        fetch: served,
        onProgress: (p) => progress.push(p),
      });
      expect(s.train.count).toBe(60000);
      expect(s.test?.count).toBe(10000);
      expect(readdirSync(path.join(root, 'mnist')).sort()).toEqual([
        't10k-images-idx3-ubyte.gz',
        't10k-labels-idx1-ubyte.gz',
        'train-images-idx3-ubyte.gz',
        'train-labels-idx1-ubyte.gz',
      ]);
      const last = progress.filter((p) => p.file === 'train-labels-idx1-ubyte.gz').at(-1);
      expect(last?.loaded).toBe(28881);
      expect(last?.total).toBe(28881);
      // Second load finds the cache and never fetches.
      const again = await resolveDatasetDir('mnist', { ...isolated(root), fetch: offline });
      expect(again).toBe(path.join(root, 'mnist'));
    },
  );

  it('the package ships catvnoncat: found with no env, no download and an empty cache', async () => {
    expect(packageRoot()).toBe(REPO);
    const dirs = defaultSearchDirs('catvnoncat');
    expect(dirs).toEqual([
      '/usr/share/datasets/catvnoncat',
      path.resolve(REPO, '../shared/data/catvnoncat'),
      path.join(REPO, 'data/catvnoncat'),
    ]);
    const shipped = path.join(REPO, 'data/catvnoncat');
    expect(findLocalDataset('catvnoncat', { env: {}, searchDirs: [shipped], cacheRoot: tmp() })).toBe(
      shipped,
    );
    const s = await loadDataset('catvnoncat', { env: {}, cacheRoot: tmp(), download: false });
    expect(s.classNames).toEqual(['non-cat', 'cat']);
    expect([s.train.count, s.test?.count]).toEqual([209, 50]);
  });

  it('WGT_DATA_DIR/<name> comes before the search folders, which come before the cache', () => {
    const envRoot = tmp();
    const cacheRoot = tmp();
    const shipped = path.join(REPO, 'data/catvnoncat');
    const put = (dir: string): void => {
      mkdirSync(dir, { recursive: true });
      for (const f of ['train_catvnoncat.h5', 'test_catvnoncat.h5'])
        copyFileSync(path.join(shipped, f), path.join(dir, f));
    };
    put(path.join(cacheRoot, 'catvnoncat'));
    const opts = { env: { WGT_DATA_DIR: envRoot }, searchDirs: [shipped], cacheRoot };
    expect(findLocalDataset('catvnoncat', opts)).toBe(shipped);
    expect(findLocalDataset('catvnoncat', { ...opts, searchDirs: [] })).toBe(
      path.join(cacheRoot, 'catvnoncat'),
    );
    put(path.join(envRoot, 'catvnoncat'));
    expect(findLocalDataset('catvnoncat', opts)).toBe(path.join(envRoot, 'catvnoncat'));
    // Half a dataset is not a dataset.
    expect(
      findLocalDataset('mnist', { env: { WGT_DATA_DIR: envRoot }, searchDirs: [], cacheRoot: tmp() }),
    ).toBe(undefined);
  });

  it.skipIf(!existsSync('/usr/share/datasets/fashion-mnist'))(
    "finds Debian's dataset-fashion-mnist in /usr/share/datasets",
    async () => {
      const dir = await resolveDatasetDir('fashion-mnist', { env: {}, cacheRoot: tmp(), download: false });
      expect(dir).toBe('/usr/share/datasets/fashion-mnist');
    },
  );
});
