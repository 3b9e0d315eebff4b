// The loss/accuracy curves of a run as a standalone SVG, drawn from its metrics records
// (src/io/run-store.ts lists the record types): training loss and accuracy from the step
// records, smoothed to ~1/10 epoch, validation from the epoch records, and the test result.

import type { MetricRecord } from './run-store.js';
import { chartsSvg, type Series } from './plot.js';

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
