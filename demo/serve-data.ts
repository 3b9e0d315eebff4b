// Node-side (never bundled into the page): serves a local data folder under /data/ for the Vite
// dev and preview servers and for the browser tests. Read-only, GET/HEAD only, and every path is
// resolved (symlinks included) and checked to lie inside the folder, so `..`, encoded `%2e%2e`,
// absolute paths and links pointing elsewhere all answer 404.

import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

export const DATA_PREFIX = '/data/';

const TYPES: Record<string, string> = {
  '.gz': 'application/gzip',
  '.h5': 'application/x-hdf5',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.safetensors': 'application/octet-stream',
};

/** The data folder: $DEMO_DATA_DIR, else `fallback` (../shared/data next to the repository). */
export function dataDir(fallback: string): string {
  return path.resolve(process.env.DEMO_DATA_DIR ?? fallback);
}

/**
 * Maps a URL path below the prefix (e.g. "mnist/t10k-labels-idx1-ubyte.gz") to a regular file
 * inside `root`, or undefined when it is missing, not a file, or outside the folder.
 */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (rel.includes('\0') || rel.includes('\\')) return undefined;
  const realRoot = safeRealpath(root);
  if (!realRoot) return undefined;
  const candidate = path.resolve(realRoot, '.' + path.posix.normalize('/' + rel));
  const real = safeRealpath(candidate);
  if (!real || !real.startsWith(realRoot + path.sep)) return undefined;
  return fs.statSync(real).isFile() ? real : undefined;
}

function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Connect-style middleware: answers requests under /data/ from `root`, passes the rest on. */
export function dataMiddleware(
  root: string,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(DATA_PREFIX)) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.statusCode = 405;
      res.end();
      return;
    }
    const file = resolveInside(root, url.pathname.slice(DATA_PREFIX.length));
    if (!file) {
      res.statusCode = 404;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(`Not found in the data folder: ${url.pathname}`);
      return;
    }
    res.statusCode = 200;
    res.setHeader('content-type', TYPES[path.extname(file)] ?? 'application/octet-stream');
    res.setHeader('content-length', String(fs.statSync(file).size));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).pipe(res);
  };
}
