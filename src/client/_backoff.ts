/**
 * The client's retry delay: exponential backoff with full jitter, as a pure
 * function. Internal.
 *
 * @module
 */

/** The backoff options of a client, checked. */
export interface Backoff {
  /** The upper bound of the first retry's delay, in milliseconds. */
  initialDelay: number;
  /** The largest delay, in milliseconds. */
  maxDelay: number;
  /** How much the upper bound grows per retry, at least 1. */
  factor: number;
}

/**
 * The delay before retry `attempt`: a random time between 0 and
 * `min(maxDelay, initialDelay * factor ** (attempt - 1))` (full jitter),
 * rounded to a whole millisecond.
 *
 * @param attempt The retry number, 1 for the first retry.
 * @param backoff The initial delay, largest delay and growth factor.
 * @param random Where in the range to land: a number from 0 to 1, as
 * `Math.random()` returns.
 * @returns The delay in milliseconds.
 *
 * @example The bound doubles up to maxDelay
 * ```ts
 * import { backoff } from "./_backoff.ts";
 *
 * const policy = { initialDelay: 500, maxDelay: 30_000, factor: 2 };
 * console.log(backoff(3, policy, 1)); // 2000
 * console.log(backoff(20, policy, 1)); // 30000
 * console.log(backoff(3, policy, 0.5)); // 1000
 * ```
 */
export function backoff(
  attempt: number,
  { initialDelay, maxDelay, factor }: Backoff,
  random: number,
): number {
  // 0 * Infinity is NaN: with no initial delay, the bound stays 0.
  const cap = initialDelay === 0
    ? 0
    : Math.min(maxDelay, initialDelay * factor ** (attempt - 1));
  return Math.round(random * cap);
}
