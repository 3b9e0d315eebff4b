// Datasets known by name. Resolution order, first match wins:
//   1. opts.dir (the caller's folder), else $WGT_DATA_DIR/<name>
//   2. system and repo locations: /usr/share/datasets/<name> (Debian's dataset-fashion-mnist),
//      ../shared/data/<name> beside the repo, then the package's own data/<name> (it ships the
//      3 MB cat-vs-non-cat sample, which has no public download)
//   3. the cache ~/.cache/webgpu-trainer/<name>, downloading into it (md5-verified) when empty.
// Offline, the DatasetNotFoundError names the exact folder and files to put there. Node-only.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatasetFormatError, DatasetNotFoundError } from '../errors.js';
import type { DatasetSplits } from './types.js';
import { DownloadFailed, downloadVerified } from './download.js';
import type { DownloadProgress, FetchFn, RemoteFile } from './download.js';
import { gunzipIfNeeded } from './gzip.js';
import { readCifarFiles, readHdf5File, readIdxFiles } from './readers-node.js';
import { readTar } from './tar.js';
import { packageRoot } from './package-root.js';

export { packageRoot };

export type KnownDatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'catvnoncat';
export const KNOWN_DATASETS: readonly KnownDatasetName[] = [
  'mnist',
  'fashion-mnist',
  'cifar10',
  'catvnoncat',
];

export interface LoadDatasetOptions {
  /** Folder holding the dataset's files; when given, only it is searched. */
  dir?: string;
  /** Environment to read WGT_DATA_DIR from (default process.env). */
  env?: Record<string, string | undefined>;
  /** System/repo folders to search (default: defaultSearchDirs(name)). */
  searchDirs?: string[];
  /** Cache root (default ~/.cache/webgpu-trainer); the dataset goes in <cacheRoot>/<name>. */
  cacheRoot?: string;
  /** Allow downloading into the cache (default true). */
  download?: boolean;
  fetch?: FetchFn;
  onProgress?: (p: DownloadProgress) => void;
}

const MNIST_FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
const CIFAR_BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');

/** Published md5s of the .gz files (torchvision; zalandoresearch/fashion-mnist README). */
const MNIST_MD5: Record<string, string> = {
  'train-images-idx3-ubyte': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
  'train-labels-idx1-ubyte': 'd53e105ee54ea40749a09fcbcd1e9432',
  't10k-images-idx3-ubyte': '9fb629c4189551a2d022fa330f9573f3',
  't10k-labels-idx1-ubyte': 'ec29112dd5afa0611ce80d1b7f02629c',
};
const FASHION_MD5: Record<string, string> = {
  'train-images-idx3-ubyte': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
  'train-labels-idx1-ubyte': '25c81989df183df01b3e8a0aad5dffbe',
  't10k-images-idx3-ubyte': 'bef4ecab320f06d8554ea6380940ec79',
  't10k-labels-idx1-ubyte': 'bb300cfdad3c16e7a12a480ee83cd310',
};
const MNIST_MIRRORS = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'https://yann.lecun.com/exdb/mnist/',
];
const FASHION_MIRRORS = ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'];
const CIFAR10_ARCHIVE: RemoteFile = {
  name: 'cifar-10-binary.tar.gz',
  urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'],
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
};

function remoteFiles(name: KnownDatasetName): RemoteFile[] {
  if (name === 'mnist' || name === 'fashion-mnist') {
    const md5 = name === 'mnist' ? MNIST_MD5 : FASHION_MD5;
    const mirrors = name === 'mnist' ? MNIST_MIRRORS : FASHION_MIRRORS;
    return MNIST_FILES.map((f) => ({
      name: `${f}.gz`,
      urls: mirrors.map((m) => `${m}${f}.gz`),
      md5: md5[f],
    }));
  }
  if (name === 'cifar10') return [CIFAR10_ARCHIVE];
  return []; // catvnoncat has no canonical public URL
}

/** The files a folder must hold, as shown in error messages. */
function requiredFiles(name: KnownDatasetName): string[] {
  if (name === 'mnist' || name === 'fashion-mnist') return MNIST_FILES.map((f) => `${f}.gz`);
  if (name === 'cifar10') return [...CIFAR_BATCHES, 'batches.meta.txt (optional)'];
  return ['train_catvnoncat.h5', 'test_catvnoncat.h5'];
}

/** Where the dataset's files actually live under `dir`, or undefined when incomplete. */
function locate(name: KnownDatasetName, dir: string): string | undefined {
  if (name === 'mnist' || name === 'fashion-mnist') {
    return MNIST_FILES.every((f) => existsSync(path.join(dir, `${f}.gz`)) || existsSync(path.join(dir, f)))
      ? dir
      : undefined;
  }
  if (name === 'cifar10') {
    for (const d of [dir, path.join(dir, 'cifar-10-batches-bin')]) {
      if (CIFAR_BATCHES.every((f) => existsSync(path.join(d, f)))) return d;
    }
    return undefined;
  }
  return existsSync(path.join(dir, 'train_catvnoncat.h5')) && existsSync(path.join(dir, 'test_catvnoncat.h5'))
    ? dir
    : undefined;
}

export function defaultSearchDirs(name: KnownDatasetName): string[] {
  const root = packageRoot();
  return [
    path.join('/usr/share/datasets', name),
    path.resolve(root, '../shared/data', name),
    path.join(root, 'data', name),
  ];
}

export function defaultCacheRoot(): string {
  return path.join(os.homedir(), '.cache', 'webgpu-trainer');
}

function checkName(name: string): KnownDatasetName {
  if ((KNOWN_DATASETS as readonly string[]).includes(name)) return name as KnownDatasetName;
  throw new DatasetNotFoundError(
    `unknown dataset "${name}"; known: ${KNOWN_DATASETS.join(', ')} (or give a folder path)`,
  );
}

/**
 * The dataset's folder when a local location already holds it ($WGT_DATA_DIR, the search
 * folders, the cache, in that order), else undefined; never downloads. Tests use it to decide
 * whether a large dataset is here.
 */
export function findLocalDataset(
  nameIn: string,
  opts: Pick<LoadDatasetOptions, 'env' | 'searchDirs' | 'cacheRoot'> = {},
): string | undefined {
  const name = checkName(nameIn);
  const env = opts.env ?? process.env;
  const envDir = env.WGT_DATA_DIR ? [path.join(env.WGT_DATA_DIR, name)] : [];
  const cacheDir = path.join(opts.cacheRoot ?? defaultCacheRoot(), name);
  for (const d of [...envDir, ...(opts.searchDirs ?? defaultSearchDirs(name)), cacheDir]) {
    const found = locate(name, d);
    if (found) return found;
  }
  return undefined;
}

/** Finds the dataset's folder per the resolution order, downloading into the cache if allowed. */
export async function resolveDatasetDir(nameIn: string, opts: LoadDatasetOptions = {}): Promise<string> {
  const name = checkName(nameIn);
  const listing = requiredFiles(name).join(', ');
  if (opts.dir !== undefined) {
    const found = locate(name, opts.dir);
    if (found) return found;
    throw new DatasetNotFoundError(
      `${name}: ${opts.dir} does not hold the dataset; put these files there: ${listing}`,
    );
  }
  const local = findLocalDataset(name, opts);
  if (local) return local;
  const cacheDir = path.join(opts.cacheRoot ?? defaultCacheRoot(), name);
  const remotes = remoteFiles(name);
  const where = `put these files in ${cacheDir} (or in $WGT_DATA_DIR/${name}, or pass a folder): ${listing}`;
  if (remotes.length === 0) {
    throw new DatasetNotFoundError(`${name}: not found locally and it has no public download; ${where}`);
  }
  if (opts.download === false) {
    throw new DatasetNotFoundError(`${name}: not found locally and downloads are off; ${where}`);
  }
  const fetchFn = opts.fetch ?? ((url: string) => fetch(url));
  try {
    for (const r of remotes) {
      const bytes = await downloadVerified(r, cacheDir, fetchFn, opts.onProgress);
      if (name === 'cifar10') await extractCifar(bytes, path.join(cacheDir, r.name), cacheDir);
    }
  } catch (e) {
    if (!(e instanceof DownloadFailed)) throw e;
    throw new DatasetNotFoundError(
      `${name}: not found locally and the download failed (${e.message}); if this machine is offline, ${where}`,
    );
  }
  const found = locate(name, cacheDir);
  if (!found)
    throw new DatasetFormatError(`${name}: download finished but ${cacheDir} is incomplete`, cacheDir);
  return found;
}

async function extractCifar(archive: Uint8Array, archiveName: string, cacheDir: string): Promise<void> {
  const entries = readTar(gunzipIfNeeded(archive, archiveName), archiveName);
  for (const e of entries) {
    const parts = e.path.split('/');
    // Only the expected flat files, so a hostile archive cannot write outside the cache.
    if (parts.length !== 2 || parts[0] !== 'cifar-10-batches-bin' || !/^[\w.-]+$/.test(parts[1])) continue;
    await mkdir(path.join(cacheDir, parts[0]), { recursive: true });
    await writeFile(path.join(cacheDir, parts[0], parts[1]), e.data);
  }
}

function idxPath(dir: string, f: string): string {
  return existsSync(path.join(dir, `${f}.gz`)) ? path.join(dir, `${f}.gz`) : path.join(dir, f);
}

/** Loads a known dataset's train and test splits. */
export async function loadDataset(nameIn: string, opts: LoadDatasetOptions = {}): Promise<DatasetSplits> {
  const name = checkName(nameIn);
  const dir = await resolveDatasetDir(name, opts);
  if (name === 'mnist' || name === 'fashion-mnist') {
    const classNames =
      name === 'mnist' ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] : FASHION_CLASSES;
    const [trainImg, trainLab, testImg, testLab] = MNIST_FILES.map((f) => idxPath(dir, f));
    const train = await readIdxFiles(trainImg, trainLab, { classNames });
    const test = await readIdxFiles(testImg, testLab, { classNames });
    return { name, train, test, classNames };
  }
  if (name === 'cifar10') {
    const train = await readCifarFiles(
      CIFAR_BATCHES.slice(0, 5).map((f) => path.join(dir, f)),
      'cifar10',
    );
    const test = await readCifarFiles([path.join(dir, 'test_batch.bin')], 'cifar10');
    const classNames = train.classNames ?? CIFAR10_CLASSES;
    return { name, train: { ...train, classNames }, test: { ...test, classNames }, classNames };
  }
  const train = await readHdf5File(path.join(dir, 'train_catvnoncat.h5'), { split: 'train' });
  const test = await readHdf5File(path.join(dir, 'test_catvnoncat.h5'), { split: 'test' });
  return { name, train, test, classNames: train.classNames ?? ['non-cat', 'cat'] };
}
