// Where a training run (src/engine/run.ts) keeps what it writes: the checkpoint, the final model
// and the metrics log. The run only talks to this interface, so it has no file system in it and
// runs in a browser as well as under Node:
//   - MemoryRunStore (here): keeps the latest checkpoint, the model and the records in memory
//     (the browser demo, tests, a script that saves elsewhere);
//   - FileRunStore (./run-files.ts, Node): model.safetensors, checkpoint.safetensors,
//     metrics.jsonl and curves.svg in a folder, the files `webgpu-trainer train` writes.
//
// Metrics records, by "type" (a resumed run appends to the same log):
//   run         {time, config, adapter, parameters, resumedFrom?}            once per start or resume
//   step        {step, epoch, batch, x, loss, accuracy, samples, lr, time}   every logEvery steps
//   epoch       {epoch, x, loss, accuracy, valLoss?, valAccuracy?, seconds, samplesPerSecond,
//                partial?, resumedAt?}
//   loss-scale  {epoch, scale, streak, skipped, steps}                        mixed precision, per epoch
//   test        {loss, accuracy, count, tta, single?}                         after the last epoch
//               (tta: 'flip' or 'none'; with flip, loss and accuracy are of the two views' mean
//               and single holds the first view's {loss, accuracy}: src/engine/tta.ts)
// `x` is the position in epochs (epoch + fraction done), the curves' x axis. loss/accuracy in a
// step record are means over the `samples` rows since the previous step record.

import type { CheckpointInput, ModelInput } from './modelfile.js';

export type MetricRecord = Record<string, unknown> & { type: string };

export interface RunStore {
  /** The checkpoint's name in messages and resume advice: a file path, or a description. */
  readonly checkpointName: string;
  /** Replaces the checkpoint; a failed write must leave the previous one intact. */
  saveCheckpoint(checkpoint: CheckpointInput): Promise<void>;
  /** Stores the trained model (after the final evaluation). */
  saveModel(model: ModelInput): Promise<void>;
  /** Opens the metrics log of a run: `fresh` drops the records of an earlier run, else they stay. */
  openMetrics(fresh: boolean): Promise<void>;
  /** Appends one record; appends land in order, before `metrics()` answers. */
  appendMetric(record: MetricRecord): void;
  /** Every record of the log so far. */
  metrics(): Promise<MetricRecord[]>;
  /** The run stopped or finished; `caption` titles whatever the store draws from the records. */
  close(caption: string): Promise<void>;
}

/** A RunStore in memory: the latest checkpoint, the model and the metrics records as objects. */
export class MemoryRunStore implements RunStore {
  readonly checkpointName: string;
  checkpoint: CheckpointInput | undefined;
  model: ModelInput | undefined;
  records: MetricRecord[] = [];

  constructor(name = 'the in-memory run store') {
    this.checkpointName = name;
  }

  saveCheckpoint(checkpoint: CheckpointInput): Promise<void> {
    this.checkpoint = checkpoint;
    return Promise.resolve();
  }

  saveModel(model: ModelInput): Promise<void> {
    this.model = model;
    return Promise.resolve();
  }

  openMetrics(fresh: boolean): Promise<void> {
    if (fresh) this.records = [];
    return Promise.resolve();
  }

  appendMetric(record: MetricRecord): void {
    this.records.push(record);
  }

  metrics(): Promise<MetricRecord[]> {
    return Promise.resolve([...this.records]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
