// The per-epoch progress display. On a terminal it is one line redrawn with a carriage return:
//   epoch 3/10 [##########..........]  52%  244/469  1830 samples/s  ETA 0:07  loss 0.3811  acc 86.41%
// Without a terminal (CI logs, pipes) the same text is printed as a plain line about every tenth
// of the epoch, so logs stay short but still show the run is alive. After each epoch, one line:
//   epoch 3/10  loss 0.3811  acc 86.41%  val_loss 0.4012  val_acc 85.90%  12.3 s  4877 samples/s

import type { EpochInfo, RunControl } from '../engine/run.js';
import type { EpochLog, StepLog } from '../engine/trainer.js';
import { duration, pct, type CliIo } from './terminal.js';

export type ProgressMode = 'bar' | 'lines' | 'none';

export class EpochProgress {
  private samples = 0;
  private lossSum = 0;
  private correct = 0;
  private lastLine = -1;
  private drawn = false;

  constructor(
    private readonly io: CliIo,
    private readonly mode: ProgressMode,
    private readonly label: string,
    /** Steps in the epoch and the index of the first one this run takes (non-zero on resume). */
    private readonly steps: number,
    private readonly firstStep: number,
    /** performance.now() when the epoch's first step was submitted. */
    private readonly t0: number,
  ) {}

  /** `batch` is the index of the last finished step; loss/accuracy are means over `samples` rows. */
  update(batch: number, loss: number, accuracy: number, samples: number): void {
    this.samples += samples;
    this.lossSum += loss * samples;
    this.correct += accuracy * samples;
    if (this.mode === 'none') return;
    const done = batch + 1;
    const text = this.text(done);
    if (this.mode === 'bar') {
      this.io.err(`\r${text.slice(0, Math.max(20, this.io.columns - 1))}\x1b[K`);
      this.drawn = true;
    } else {
      const tenth = Math.floor((10 * done) / this.steps);
      if (tenth > this.lastLine && done < this.steps) {
        this.lastLine = tenth;
        this.io.err(`${text}\n`);
      }
    }
  }

  private text(done: number): string {
    const seconds = (performance.now() - this.t0) / 1000;
    const taken = done - this.firstStep;
    const rate = this.samples / Math.max(seconds, 1e-9);
    const eta = taken > 0 ? ((this.steps - done) * seconds) / taken : 0;
    const width = 20;
    const filled = Math.round((width * done) / this.steps);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const loss = this.samples > 0 ? (this.lossSum / this.samples).toFixed(4) : '-';
    const acc = this.samples > 0 ? pct(this.correct / this.samples) : '-';
    const frac = `${Math.floor((100 * done) / this.steps)}%`.padStart(4);
    return (
      `${this.label} ${bar} ${frac}  ${done}/${this.steps}  ${Math.round(rate)} samples/s  ` +
      `ETA ${duration(eta)}  loss ${loss}  acc ${acc}`
    );
  }

  /** Clears the bar so the epoch summary line can take its place. */
  end(): void {
    if (this.drawn) this.io.err('\r\x1b[K');
    this.drawn = false;
  }
}

/** `train`'s progress for a run (src/engine/run.ts): a bar per epoch, then the epoch's line. */
export function runProgress(
  io: CliIo,
  mode: ProgressMode,
  o: { epochs: number; stepsPerEpoch: number; start?: { epoch: number; batch: number } },
): Required<Pick<RunControl, 'onStep' | 'onEpoch'>> {
  let bar: EpochProgress | undefined;
  let barEpoch = -1;
  // Steps are reported after their loss is read back, so the epoch's clock starts when the
  // previous epoch (or the run) handed over, not at its first report.
  let epochStart = performance.now();
  const label = (e: number) => `epoch ${e + 1}/${o.epochs}`;
  return {
    onStep(s: StepLog) {
      if (s.epoch !== barEpoch) {
        bar?.end();
        barEpoch = s.epoch;
        const first = o.start && s.epoch === o.start.epoch ? o.start.batch : 0;
        bar = new EpochProgress(io, mode, label(s.epoch), o.stepsPerEpoch, first, epochStart);
      }
      bar!.update(s.batch, s.loss, s.accuracy, s.samples);
    },
    onEpoch(e: EpochLog, info: EpochInfo) {
      bar?.end();
      barEpoch = -1;
      const val =
        e.valLoss !== undefined
          ? `  val_loss ${e.valLoss.toFixed(4)}  val_acc ${pct(e.valAccuracy ?? 0)}`
          : '';
      const note = info.complete ? '' : `  (stopped at step ${info.position.batch}/${o.stepsPerEpoch})`;
      // Mixed precision: the loss scale, and steps skipped for overflowing gradients so far.
      const amp = info.lossScale;
      const ampText = amp ? `  loss scale 2^${Math.log2(amp.scale)}, ${amp.skipped} skipped` : '';
      io.err(
        `${label(e.epoch)}  loss ${e.loss.toFixed(4)}  acc ${pct(e.accuracy)}${val}  ` +
          `${e.seconds.toFixed(1)} s  ${Math.round(e.samplesPerSecond)} samples/s${ampText}${note}\n`,
      );
      epochStart = performance.now();
    },
  };
}
