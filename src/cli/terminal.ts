// Where the commands write, and what a caller can inject (tests run commands in-process with
// captured output and a shared GPU device). Results go to `out` (stdout); progress, notices and
// errors go to `err` (stderr), so `predict --json > result.json` stays clean.

import type { RunControl } from '../engine/run.js';
import type { GpuDevice } from '../gpu/device.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when `err` is an interactive terminal (live progress bar with carriage returns). */
  errIsTTY: boolean;
  /** Terminal width for the progress bar. */
  columns: number;
}

export interface CliContext {
  io: CliIo;
  /** Supplies the GPU instead of acquiring (and later destroying) one per command. */
  gpu?: () => Promise<GpuDevice>;
  /** Subscribes to Ctrl-C; returns the unsubscribe function. Default: process 'SIGINT'. */
  onInterrupt?: (handler: () => void) => () => void;
  /**
   * Hooks into `train`'s run, for tests only (e.g. test/cli/faults.test.ts destroys the device
   * mid-run to exercise the device-loss stop). The installed command never sets them.
   */
  runHooks?: Pick<RunControl, 'afterStep'>;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    errIsTTY: Boolean(process.stderr.isTTY),
    columns: process.stderr.columns || 100,
  };
}

export function processInterrupt(handler: () => void): () => void {
  process.on('SIGINT', handler);
  return () => void process.off('SIGINT', handler);
}

/** Pads the columns of `rows` (first row = header) into an aligned plain-text table. */
export function table(rows: (string | number)[][], align: ('l' | 'r')[] = []): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) =>
        (align[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? cell.padEnd(widths[c]) : cell.padStart(widths[c]),
      )
      .join('  ')
      .trimEnd();
  const out = [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells.slice(1)) out.push(line(r));
  return out.join('\n') + '\n';
}

export const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)}%`;

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
