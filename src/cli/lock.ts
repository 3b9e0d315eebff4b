// One run per output folder: `train` holds <out>/.webgpu-trainer.lock while it writes there, so a
// second run into the same --out refuses (naming the first run's pid) instead of interleaving
// checkpoints and metrics with it.
//
// The lock is a small JSON file (pid, host, start time, command) created with O_EXCL, so of two
// runs starting together exactly one gets it. A lock whose process is gone (killed, crashed, the
// machine rebooted) does not stay stuck: on the same host a pid that no longer exists is taken
// over with a note. Takeover renames the stale file away first (rename is atomic), then checks
// that what it moved is the stale lock it read, so two runs taking over at once cannot both win.
// A lock from another host cannot be checked and is never taken over; the message says to delete
// it if that run is over.

import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EngineError } from '../errors.js';

export const LOCK_NAME = '.webgpu-trainer.lock';

/** Another live run holds the output folder's lock. */
export class RunLockedError extends EngineError {
  constructor(
    message: string,
    readonly pid: number,
  ) {
    super(message);
  }
}
Object.defineProperty(RunLockedError.prototype, 'name', { value: 'RunLockedError', writable: true });

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
  token: string;
}

export interface RunLock {
  file: string;
  /** Removes the lock (only if it is still ours). Safe to call twice. */
  release(): Promise<void>;
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockInfo>;
    if (typeof o.pid === 'number' && typeof o.host === 'string') {
      return {
        pid: o.pid,
        host: o.host,
        started: String(o.started ?? '?'),
        command: String(o.command ?? '?'),
        token: String(o.token ?? ''),
      };
    }
  } catch {
    // A lock torn by a crash between create and write: treated as stale below.
  }
  return undefined;
}

async function readLock(file: string): Promise<{ text: string; info: LockInfo | undefined } | undefined> {
  try {
    const text = await readFile(file, 'utf8');
    return { text, info: parseLock(text) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Takes `<dir>/.webgpu-trainer.lock` for this process, or throws RunLockedError naming the live run
 * that holds it. `note` receives one line when a stale lock is taken over. The lock is also removed
 * when the process exits normally; a killed process leaves it, and the next run takes it over.
 */
export async function acquireRunLock(
  dir: string,
  opts: { command?: string; note?: (line: string) => void } = {},
): Promise<RunLock> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_NAME);
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    started: new Date().toISOString(),
    command: opts.command ?? process.argv.slice(1).join(' '),
    token: randomBytes(8).toString('hex'),
  };
  const text = JSON.stringify(info) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(text);
      } finally {
        await fh.close();
      }
      return held(file, info.token);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const cur = await readLock(file);
    if (!cur) continue; // released between our open and read: try again
    const other = cur.info;
    if (other && other.host !== info.host) {
      throw new RunLockedError(
        `${dir} is in use by a run on another machine (${other.host}, pid ${other.pid}, started ${other.started}); ` +
          `pass another --out, or delete ${file} if that run is over`,
        other.pid,
      );
    }
    if (other && pidAlive(other.pid)) {
      throw new RunLockedError(
        `${dir} is in use by another run (pid ${other.pid}, started ${other.started}: ${other.command}); ` +
          'wait for it to finish, stop it, or pass another --out',
        other.pid,
      );
    }
    // Stale: move it aside atomically, and check that what moved is what we judged stale.
    const aside = `${file}.stale.${info.token}`;
    try {
      await rename(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = await readFile(aside, 'utf8');
    if (moved !== cur.text) {
      // Another run replaced the stale lock with its own between our read and rename: give it back.
      await rename(aside, file).catch(() => undefined);
      continue;
    }
    await unlink(aside);
    opts.note?.(
      other
        ? `note: taking over the lock ${file} left by pid ${other.pid} (started ${other.started}), which is no longer running`
        : `note: taking over the unreadable lock ${file} (a run that died while creating it)`,
    );
  }
  throw new RunLockedError(
    `could not take the lock ${file}: other runs keep taking it; pass another --out`,
    0,
  );
}

function held(file: string, token: string): RunLock {
  let released = false;
  const ours = (): boolean => {
    try {
      return parseLock(readFileSync(file, 'utf8'))?.token === token;
    } catch {
      return false;
    }
  };
  // A normal exit (including process.exit after a second Ctrl-C) removes the lock; only SIGKILL
  // or a crash of the runtime leaves it, and that is what the stale check above is for.
  const onExit = (): void => {
    if (!released && ours()) {
      try {
        unlinkSync(file);
      } catch {
        // Exiting anyway: a leftover lock is taken over by the next run.
      }
    }
  };
  process.on('exit', onExit);
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      process.off('exit', onExit);
      if (ours()) await unlink(file).catch(() => undefined);
    },
  };
}
