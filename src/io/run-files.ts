// Node-only: a training run's files in one folder, the RunStore (src/io/run-store.ts) that
// `webgpu-trainer train` and a user's script pass to runTraining:
//   model.safetensors       the trained model (atomic write, src/io/files.ts)
//   checkpoint.safetensors  the latest checkpoint (atomic: a crash mid-write keeps the old one)
//   metrics.jsonl           the metrics log, one JSON record per line, appended as training goes
//   curves.svg              loss and accuracy against epochs (src/io/curves.ts), at the end

import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricRecord, RunStore } from './run-store.js';
import { curvesSvg } from './curves.js';
import { saveCheckpointFile, saveModelFile } from './files.js';
import type { CheckpointInput, ModelInput } from './modelfile.js';

/** Reads a metrics log; a line cut short by a crash mid-append is skipped, the rest kept. */
export async function readMetricsFile(file: string): Promise<MetricRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const out: MetricRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRecord;
      if (r && typeof r.type === 'string') out.push(r);
    } catch {
      // A torn last line: skip it, keep the history before it.
    }
  }
  return out;
}

export class FileRunStore implements RunStore {
  readonly files: { model: string; checkpoint: string; metrics: string; curves: string };
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {
    this.files = {
      model: path.join(dir, 'model.safetensors'),
      checkpoint: path.join(dir, 'checkpoint.safetensors'),
      metrics: path.join(dir, 'metrics.jsonl'),
      curves: path.join(dir, 'curves.svg'),
    };
  }

  get checkpointName(): string {
    return this.files.checkpoint;
  }

  saveCheckpoint(checkpoint: CheckpointInput): Promise<void> {
    return saveCheckpointFile(this.files.checkpoint, checkpoint);
  }

  saveModel(model: ModelInput): Promise<void> {
    return saveModelFile(this.files.model, model);
  }

  async openMetrics(fresh: boolean): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (fresh) await rm(this.files.metrics, { force: true });
  }

  appendMetric(record: MetricRecord): void {
    const line = JSON.stringify(record) + '\n';
    this.queue = this.queue.then(() => appendFile(this.files.metrics, line));
  }

  async metrics(): Promise<MetricRecord[]> {
    await this.queue;
    return readMetricsFile(this.files.metrics);
  }

  async close(caption: string): Promise<void> {
    await writeFile(this.files.curves, curvesSvg(await this.metrics(), caption));
  }
}
