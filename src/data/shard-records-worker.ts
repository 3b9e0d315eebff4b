// Worker-thread entry for shard-records.ts (Node only): reads the records a job names straight
// into the job's SharedArrayBuffer views and replies { id, ok } (or the error's name and message).

import { parentPort, workerData } from 'node:worker_threads';
import { RecordFiles } from './shard-records.js';
import type { ReadJob, ReadReply, ShardLayout } from './shard-records.js';

const port = parentPort;
if (!port) throw new Error('shard-records-worker.ts runs as a worker thread (see shard-records.ts)');
const files = new RecordFiles(workerData as ShardLayout);

port.on('message', (job: ReadJob) => {
  let reply: ReadReply;
  try {
    files.read(job.ids, job.images, job.labels);
    reply = { id: job.id, ok: true };
  } catch (e) {
    const err = e as Error;
    reply = { id: job.id, ok: false, name: err.name, message: err.message };
  }
  port.postMessage(reply);
});
