/**
 * The benchmark's statistics: medians, nearest-rank percentiles, the spread
 * between runs and rounding for reports. Pure functions.
 *
 * @module
 */

/** The runs of one measurement, summarized. */
export interface Summary {
  readonly runs: number[];
  readonly median: number;
  /** (max - min) / median; 0 for a single run. */
  readonly spread: number;
}

/**
 * The median of some numbers (the mean of the middle two for an even count).
 *
 * @param values At least one number.
 * @returns The median.
 * @throws {RangeError} When there is no number.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new RangeError("Cannot take the median of nothing");
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid] as number
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The `p`-th percentile by the nearest-rank method.
 *
 * @param sorted Samples sorted in ascending order, at least one.
 * @param p The percentile, 0-100.
 * @returns The sample at that rank.
 * @throws {RangeError} When there is no sample.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    throw new RangeError("Cannot take a percentile of nothing");
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/**
 * Summarizes the runs of one measurement.
 *
 * @param runs The value of each run.
 * @returns The runs, their median and their spread.
 */
export function summarize(runs: readonly number[]): Summary {
  const m = median(runs);
  const spread = m === 0 ? 0 : (Math.max(...runs) - Math.min(...runs)) / m;
  return { runs: [...runs], median: m, spread };
}

/**
 * A number rounded to some decimals, for the JSON reports.
 *
 * @param value The number.
 * @param digits Digits after the decimal point.
 * @returns The rounded number.
 */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * A share of one core as a percentage.
 *
 * @param share 1 for a whole core.
 * @returns Text such as `42%`.
 */
export function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}
