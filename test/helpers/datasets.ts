// Where the tests find their data, and the one line a group prints when it has to skip.
//
// Known datasets (mnist, fashion-mnist, cifar10, catvnoncat) go through the CLI's own lookup,
// src/data/known.ts findLocalDataset: $WGT_DATA_DIR/<name>, /usr/share/datasets/<name>,
// ../shared/data/<name>, the package's data/<name>, the download cache. Tests never download.
// Any other test data (image folders, IDX copies) is looked for in $WGT_DATA_DIR/<name>,
// ../shared/data/<name>, then test/fixtures/<name>, the small real copies that ship with the repo.
//
// A group whose data is missing prints exactly one line to stderr, naming the dataset and how to
// get it, and is skipped. In CI (CI=true) a missing dataset fails the run instead: CI has
// ../shared beside the repository and must run everything.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLocalDataset, KNOWN_DATASETS } from '../../src/data/known.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = path.join(REPO, 'test/fixtures');
const SHARED = path.resolve(REPO, '../shared/data');

function envRoots(env: Record<string, string | undefined>): string[] {
  return env.WGT_DATA_DIR ? [env.WGT_DATA_DIR] : [];
}

/**
 * The first folder for dataset `name` that holds every file in `files` (for a known dataset with
 * no `files`, the lookup's own completeness check), or undefined.
 */
export function findData(
  name: string,
  files: readonly string[] = [],
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const candidates: string[] = [];
  if ((KNOWN_DATASETS as readonly string[]).includes(name)) {
    const known = findLocalDataset(name, { env });
    if (known) candidates.push(known);
    if (files.length === 0) return known;
  }
  for (const root of [...envRoots(env), SHARED, FIXTURES]) candidates.push(path.join(root, name));
  return candidates.find((d) => existsSync(d) && files.every((f) => existsSync(path.join(d, f))));
}

/** How to get a dataset, for the skip line and the CI error. */
export function howToGet(name: string): string {
  if (name === 'fashion-mnist') {
    return 'set WGT_DATA_DIR, `apt-get install dataset-fashion-mnist`, or run `webgpu-trainer train --data fashion-mnist` once to download it';
  }
  if (name === 'mnist' || name === 'cifar10') {
    return `set WGT_DATA_DIR or run \`webgpu-trainer train --data ${name}\` once to download it`;
  }
  return `put a copy of the project's shared data folder's ${name}/ in $WGT_DATA_DIR/${name} or ../shared/data/${name}`;
}

const printed = new Set<string>();

/** Prints the group's skip line once per process, or throws in CI. */
export function reportMissing(name: string, group: string, env = process.env): void {
  const line = `skipped: ${group} (dataset '${name}' not found; ${howToGet(name)})`;
  if (env.CI === 'true')
    throw new Error(`CI must run ${group}, but dataset '${name}' was not found: ${howToGet(name)}`);
  if (printed.has(line)) return;
  printed.add(line);
  process.stderr.write(`${line}\n`);
}

/** findData, and when that fails the group's one skip line (or the CI failure). */
export function needData(name: string, group: string, files: readonly string[] = []): string | undefined {
  const dir = findData(name, files);
  if (dir === undefined) reportMissing(name, group);
  return dir;
}

/**
 * A single folder holding every dataset in `names` as subfolders ($DEMO_DATA_DIR, $WGT_DATA_DIR
 * or ../shared/data), for servers that expose one data root; else the skip line for the first
 * missing one.
 */
export function needDataRoot(names: readonly string[], group: string): string | undefined {
  const roots = [process.env.DEMO_DATA_DIR, ...envRoots(process.env), SHARED].filter(
    (r): r is string => r !== undefined && r !== '',
  );
  const root = roots.find((r) => names.every((n) => existsSync(path.join(r, n))));
  if (root === undefined)
    reportMissing(names.find((n) => !existsSync(path.join(SHARED, n))) ?? names[0], group);
  return root;
}
