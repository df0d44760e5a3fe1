/**
 * The share of `deno task bench`'s budget a scenario gets
 * (`BENCH_SECONDS`), and the window length that fits its rounds in it.
 *
 * @module
 */

/**
 * The seconds `deno task bench` gives this script (`BENCH_SECONDS`).
 *
 * @returns The budget, `Infinity` when the script runs by itself.
 */
export function benchBudget(): number {
  return Number(Deno.env.get("BENCH_SECONDS") ?? Infinity);
}

/** How a scenario's time is spent, for {@linkcode windowSeconds}. */
export interface WindowPlan {
  /** Whether it is a quick run (windows of 1 s at the most, else 2 s). */
  quick: boolean;
  /** The shortest window, whatever the budget. */
  least: number;
  /** Seconds spent besides the windows (starting, readings, stopping). */
  fixed: number;
  /** How many windows. */
  windows: number;
  /** Seconds each window costs besides its length (warm-up, drain). */
  perWindow?: number;
}

/**
 * Each measured window's length: 1 s with `--quick`, 2 s in a full run, less
 * (`least` at the least) when the budget would not hold the windows.
 *
 * @param plan How the scenario spends its time.
 * @returns The window's length, in seconds (not rounded).
 */
export function windowSeconds(plan: WindowPlan): number {
  const { quick, least, fixed, windows, perWindow = 0 } = plan;
  return Math.max(
    least,
    Math.min(quick ? 1 : 2, (benchBudget() - fixed) / windows - perWindow),
  );
}
