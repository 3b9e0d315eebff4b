import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileTooLargeError } from '../../src/errors.js';
import { readFileLimited, writeFileAtomic } from '../../src/io/atomic.js';
import { loadCheckpointFile, loadModelFile, saveCheckpointFile, saveModelFile } from '../../src/io/files.js';
import { makeCheckpoint, makeModel } from './fixtures.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'io-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytesOf = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('writeFileAtomic', () => {
  it('creates and replaces a file, keeping the old permissions', async () => {
    const path = join(dir, 'model.safetensors');
    await writeFileAtomic(path, bytesOf(10, 1));
    expect(new Uint8Array(await readFile(path))).toEqual(bytesOf(10, 1));
    await chmod(path, 0o640);
    await writeFileAtomic(path, bytesOf(3, 2), { chunkBytes: 2 });
    expect(new Uint8Array(await readFile(path))).toEqual(bytesOf(3, 2));
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('leaves the previous file intact and no temp file when the write fails midway', async () => {
    const path = join(dir, 'ckpt.safetensors');
    await writeFile(path, bytesOf(100, 7));
    const chunks: number[] = [];
    const failing = writeFileAtomic(path, bytesOf(1000, 9), {
      chunkBytes: 64,
      onProgress: (written) => {
        chunks.push(written);
        if (written >= 256) throw new Error('disk full (simulated)');
      },
    });
    await expect(failing).rejects.toThrow('disk full (simulated)');
    expect(chunks).toEqual([64, 128, 192, 256]);
    expect(new Uint8Array(await readFile(path))).toEqual(bytesOf(100, 7));
    expect(await readdir(dir)).toEqual(['ckpt.safetensors']);
  });

  it('creates nothing when the first write fails', async () => {
    const path = join(dir, 'new.safetensors');
    const failing = writeFileAtomic(path, bytesOf(10, 1), {
      onProgress: () => {
        throw new Error('boom');
      },
    });
    await expect(failing).rejects.toThrow('boom');
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes the temp file when the rename fails', async () => {
    // A non-empty directory cannot be replaced by a file.
    const path = join(dir, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    await expect(writeFileAtomic(path, bytesOf(10, 1))).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['taken']);
    expect(await readdir(path)).toEqual(['keep']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'f'), bytesOf(1, 1))).rejects.toThrow(/ENOENT/);
  });
});

describe('readFileLimited', () => {
  it('reads a file up to the limit and refuses a larger one', async () => {
    const path = join(dir, 'f.bin');
    await writeFile(path, bytesOf(1000, 3));
    const bytes = await readFileLimited(path, 1000);
    expect(bytes).toEqual(bytesOf(1000, 3));
    expect(bytes.byteOffset).toBe(0);
    const error = await readFileLimited(path, 999).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileTooLargeError);
    expect((error as FileTooLargeError).message).toMatch(/is 1000 bytes, over the 999-byte limit/);
    expect(await readFileLimited(join(dir, 'empty'), 0).catch((e: unknown) => e)).toMatchObject({
      code: 'ENOENT',
    });
  });

  it.skipIf(process.platform !== 'linux')('stops reading an endless file at the limit', async () => {
    await expect(readFileLimited('/dev/zero', 100_000)).rejects.toThrow(/more than 100000 bytes/);
  });
});

describe('model file helpers', () => {
  it('save and load models and checkpoints on disk', async () => {
    const model = makeModel(4);
    const ckpt = makeCheckpoint(5);
    await saveModelFile(join(dir, 'm.safetensors'), model);
    await saveCheckpointFile(join(dir, 'c.safetensors'), ckpt);
    expect(await loadModelFile(join(dir, 'm.safetensors'))).toEqual(model);
    expect(await loadCheckpointFile(join(dir, 'c.safetensors'))).toEqual(ckpt);
    await expect(loadModelFile(join(dir, 'm.safetensors'), { maxFileBytes: 100 })).rejects.toThrow(
      FileTooLargeError,
    );
  });
});
