// Worker-thread entry for decode-pool.ts (Node only): reads, decodes and preprocesses image files
// exactly like the folder reader, and posts the records back with their buffers transferred.
// Message in: { id, files: string[], opts: DecodeJobOptions }. Message out: { id, results }, one
// result per file in order: { ok: true, pixels } or { ok: false, error: SerializedError }, the
// error saying what kind of bad file it makes the file (skipped.ts); the pool decides to skip.

import { parentPort } from 'node:worker_threads';
import { FileTooLargeError } from '../errors.js';
import { nodeImageDecoder } from './decode-node.js';
import type { DecodeJob, DecodeResult } from './decode-pool.js';
import { preprocessImageBytes } from './imagefolder.js';
import { readFileBytes } from './readers-node.js';
import { badFileKind } from './skipped.js';

const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs as a worker thread (see decode-pool.ts)');

port.on('message', (job: DecodeJob) => {
  void run(job).then(({ results, transfer }) => port.postMessage({ id: job.id, results }, transfer));
});

async function run(job: DecodeJob): Promise<{ results: DecodeResult[]; transfer: ArrayBuffer[] }> {
  const results: DecodeResult[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const file of job.files) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFileBytes(file);
      let px = await preprocessImageBytes(bytes, file, { decoder: nodeImageDecoder(), ...job.opts });
      // Transfer only a buffer the record owns whole.
      if (px.byteOffset !== 0 || px.byteLength !== px.buffer.byteLength) px = px.slice();
      results.push({ ok: true, pixels: px });
      transfer.push(px.buffer as ArrayBuffer);
    } catch (e) {
      const err = e as Error & { file?: string };
      results.push({
        ok: false,
        error: {
          name: err.name,
          message: err.message,
          file: err.file,
          kind: badFileKind(e, bytes),
          size: e instanceof FileTooLargeError ? e.size : undefined,
          limit: e instanceof FileTooLargeError ? e.limit : undefined,
        },
      });
    }
  }
  return { results, transfer };
}
