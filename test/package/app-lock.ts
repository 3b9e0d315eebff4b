// A package-lock.json for an empty project that depends on the packed tarball alone, written from
// the repository's own package-lock.json, so that `npm ci --offline` installs it from the npm
// cache with no registry at all.
//
// Why: `npm ci` in the repository fills the cache with tarballs (content addressed by integrity)
// but not with registry metadata (packuments). `npm install --offline <tgz>` must resolve the
// tarball's dependency ranges to versions, which needs packuments, and stops with ENOTCACHED.
// `npm ci` with a complete lock resolves nothing: every package has a version, a `resolved` URL and
// an `integrity`, and pacote reads the tarball from the cache by its integrity.
//
// The dependency closure keeps the repository's tree shape: a package found at
// node_modules/a/node_modules/b in the repository sits there in the app too, and Node's lookup
// from node_modules/webgpu-trainer finds the same versions as from the repository root.

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

export interface Lockfile {
  name?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

export interface PackedManifest {
  name: string;
  version: string;
  license?: string;
  engines?: Record<string, string>;
  bin?: Record<string, string> | string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/** Where Node finds `dep` required from the package at `from` ('' is the root) in `packages`. */
function locate(packages: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  let at = from;
  for (;;) {
    const key = at === '' ? `node_modules/${dep}` : `${at}/node_modules/${dep}`;
    if (key in packages) return key;
    if (at === '') return undefined;
    const cut = at.lastIndexOf('/node_modules/');
    at = cut < 0 ? '' : at.slice(0, cut);
  }
}

/** The registry tarball URL npm would record: `https://registry.npmjs.org/@s/n/-/n-1.0.0.tgz`. */
function registryTarball(name: string, version: string): string {
  const base = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `${DEFAULT_REGISTRY}${name}/-/${base}-${version}.tgz`;
}

/** The installed name of the package at a lock key (`node_modules/@s/n` -> `@s/n`). */
function nameAt(key: string): string {
  return key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/**
 * The app's lockfile: the root depends on `tarballSpec` (e.g. `file:../pkg-0.1.0.tgz`, relative to
 * the app), and every runtime dependency of `manifest` (with theirs, transitively, optional ones
 * when the repository has them) is copied from `repoLock` with its integrity. Throws when a
 * dependency is missing from the repository's lock or has no integrity (the repository's
 * `npm ci` would then not have cached it).
 */
export function appLockfile(
  repoLock: Lockfile,
  manifest: PackedManifest,
  tarballSpec: string,
  tarballIntegrity: string,
): Lockfile {
  if (repoLock.lockfileVersion < 2) {
    throw new Error(`package-lock.json has lockfileVersion ${repoLock.lockfileVersion}; need 2 or 3`);
  }
  const from = repoLock.packages;
  const out: Record<string, LockEntry> = {};
  const pending: { at: string; deps: Record<string, string>; optional: boolean }[] = [
    { at: '', deps: manifest.dependencies ?? {}, optional: false },
    { at: '', deps: manifest.optionalDependencies ?? {}, optional: true },
  ];
  while (pending.length > 0) {
    const { at, deps, optional } = pending.pop()!;
    for (const dep of Object.keys(deps)) {
      const key = locate(from, at, dep);
      if (key === undefined) {
        if (optional) continue;
        throw new Error(
          `'${dep}' (needed by ${at || manifest.name}) is not in package-lock.json: run npm install in the repository`,
        );
      }
      if (key in out) continue;
      const e = from[key];
      if (e.link === true)
        throw new Error(`'${key}' is a link in package-lock.json; cannot install it offline`);
      if (e.version === undefined || e.integrity === undefined) {
        throw new Error(
          `'${key}' has no version or integrity in package-lock.json; cannot install it offline`,
        );
      }
      const copy: LockEntry = { ...e };
      delete copy.dev;
      delete copy.devOptional;
      delete copy.peer;
      if (optional) copy.optional = true;
      copy.resolved ??= registryTarball(nameAt(key), e.version);
      out[key] = copy;
      pending.push({ at: key, deps: e.dependencies ?? {}, optional });
      pending.push({ at: key, deps: e.optionalDependencies ?? {}, optional: true });
      const peers = Object.fromEntries(
        Object.entries(e.peerDependencies ?? {}).filter(
          ([p]) => e.peerDependenciesMeta?.[p]?.optional !== true,
        ),
      );
      pending.push({ at: key, deps: peers, optional });
    }
  }
  const self: LockEntry = {
    version: manifest.version,
    resolved: tarballSpec,
    integrity: tarballIntegrity,
  };
  if (manifest.license !== undefined) self.license = manifest.license;
  if (manifest.dependencies !== undefined) self.dependencies = manifest.dependencies;
  if (manifest.optionalDependencies !== undefined) self.optionalDependencies = manifest.optionalDependencies;
  if (manifest.bin !== undefined) {
    self.bin = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : manifest.bin;
  }
  if (manifest.engines !== undefined) self.engines = manifest.engines;
  const sorted = Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    name: 'app',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'app', dependencies: { [manifest.name]: tarballSpec } },
      [`node_modules/${manifest.name}`]: self,
      ...sorted,
    },
  };
}
