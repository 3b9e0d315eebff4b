// The training metrics log (JSON lines, one object per line, appended as training goes, so a
// resumed run continues the same file) and the loss/accuracy curves drawn from it.
//
// Records, by "type":
//   run    {time, config, adapter, parameters, resumedFrom?}               once per start or resume
//   step   {step, epoch, batch, x, loss, accuracy, samples, lr, time}     every --log-every steps
//   epoch  {epoch, x, loss, accuracy, valLoss?, valAccuracy?, seconds, samplesPerSecond, partial?}
//   test   {loss, accuracy, count, tta, single?}                            after the last epoch
//          (tta: 'flip' or 'none'; with flip, loss and accuracy are of the two views' mean and
//          single holds the first view's {loss, accuracy}: src/cli/tta.ts)
// `x` is the position in epochs (epoch + fraction done), the curves' x axis. loss/accuracy in a
// step record are means over the `samples` rows since the previous step record.

import { appendFile, readFile } from 'node:fs/promises';
import { chartsSvg, type Series } from './plot.js';

export type MetricRecord = Record<string, unknown> & { type: string };

export class MetricsLog {
  private queue: Promise<void> = Promise.resolve();
  constructor(readonly file: string) {}

  /** Appends one record; writes are serialised, await flush() before reading the file. */
  write(record: MetricRecord): void {
    const line = JSON.stringify(record) + '\n';
    this.queue = this.queue.then(() => appendFile(this.file, line));
  }

  flush(): Promise<void> {
    return this.queue;
  }
}

export async function readMetrics(file: string): Promise<MetricRecord[]> {
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
      // A line cut short by a crash mid-append: skip it, keep the rest of the history.
    }
  }
  return out;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);

/** Smooths step records into one point per ~1/10 epoch so the curve is readable. */
function binned(steps: MetricRecord[], key: 'loss' | 'accuracy'): [number, number][] {
  const bins = new Map<number, { x: number; sum: number; n: number }>();
  for (const r of steps) {
    const x = num(r.x);
    const n = num(r.samples);
    const v = num(r[key]);
    if (!Number.isFinite(x) || !Number.isFinite(v) || !(n > 0)) continue;
    const k = Math.ceil(x * 10 - 1e-9);
    const b = bins.get(k) ?? { x, sum: 0, n: 0 };
    b.x = Math.max(b.x, x);
    b.sum += v * n;
    b.n += n;
    bins.set(k, b);
  }
  return [...bins.values()].sort((a, b) => a.x - b.x).map((b) => [b.x, b.sum / b.n]);
}

/** The SVG of loss and accuracy against epochs: training (smoothed steps) and validation. */
export function curvesSvg(records: MetricRecord[], caption?: string): string {
  // A resumed run repeats the steps after its checkpoint; the latest record for an x wins.
  const lastRun = new Map<string, MetricRecord>();
  for (const r of records) if (r.type === 'step') lastRun.set(String(r.step), r);
  const steps = [...lastRun.values()];
  const epochs = new Map<number, MetricRecord>();
  for (const r of records) if (r.type === 'epoch' && !r.partial) epochs.set(num(r.epoch), r);
  const ep = [...epochs.values()].sort((a, b) => num(a.epoch) - num(b.epoch));
  const val = (key: string): [number, number][] =>
    ep.filter((r) => typeof r[key] === 'number').map((r) => [num(r.x), num(r[key])]);
  const trainColor = '#1f77b4';
  const valColor = '#d62728';
  const loss: Series[] = [
    { name: 'train (running)', color: trainColor, points: binned(steps, 'loss') },
    { name: 'validation', color: valColor, points: val('valLoss'), dots: true },
  ];
  const acc: Series[] = [
    { name: 'train (running)', color: trainColor, points: binned(steps, 'accuracy') },
    { name: 'validation', color: valColor, points: val('valAccuracy'), dots: true },
  ];
  const test = records.filter((r) => r.type === 'test').pop();
  if (test && ep.length > 0) {
    const x = num(ep[ep.length - 1].x);
    loss.push({ name: 'test', color: '#2ca02c', points: [[x, num(test.loss)]], dots: true });
    acc.push({ name: 'test', color: '#2ca02c', points: [[x, num(test.accuracy)]], dots: true });
  }
  return chartsSvg(
    [
      { title: 'Loss', series: loss },
      { title: 'Accuracy', series: acc, yFormat: (v) => `${+(v * 100).toFixed(1)}%` },
    ],
    'epoch',
    caption,
  );
}
