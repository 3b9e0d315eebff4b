// Small summaries for benchmark timings and loss curves.

export interface TimingSummary {
  median: number;
  p10: number;
  p90: number;
  count: number;
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function summarize(values: readonly number[]): TimingSummary {
  return {
    median: quantile(values, 0.5),
    p10: quantile(values, 0.1),
    p90: quantile(values, 0.9),
    count: values.length,
  };
}

export interface LossTrend {
  firstMean: number;
  lastMean: number;
  fell: boolean;
}

/**
 * Compares the mean of the first `window` losses with the mean of the last `window`. A trainer
 * "learns" when the later mean is lower and everything is finite.
 */
export function lossTrend(losses: readonly number[], window = 5): LossTrend {
  const w = Math.max(1, Math.min(window, Math.floor(losses.length / 2)));
  const mean = (a: readonly number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  const firstMean = mean(losses.slice(0, w));
  const lastMean = mean(losses.slice(-w));
  const fell = losses.length >= 2 && losses.every(Number.isFinite) && lastMean < firstMean;
  return { firstMean, lastMean, fell };
}

/** Timed windows per matmul measurement, ours and the peers'; the best one is reported. */
export const MATMUL_ROUNDS = 3;
