/**
 * The history options both stream backplanes take, `history` and
 * `historyTtl`, with their checks and defaults. Internal.
 *
 * @module
 */

import { milliseconds, positiveInteger } from "../_validate.ts";

/** The default `history`: messages kept per room. */
export const DEFAULT_HISTORY = 1000;
/** The default `historyTtl`: 10 minutes, in milliseconds. */
export const DEFAULT_HISTORY_TTL = 10 * 60 * 1000;

/** `history` and `historyTtl`, checked. */
export interface HistorySettings {
  history: number;
  historyTtl: number;
}

/**
 * Checks `history` and `historyTtl` and fills in their defaults.
 *
 * @param options The options given.
 * @returns The settings.
 * @throws {TypeError} When one is not a number.
 * @throws {RangeError} When `history` is not a positive whole number or
 * `historyTtl` is not 1 ms to about 24.8 days.
 */
export function checkHistory(
  options: { history?: number; historyTtl?: number },
): HistorySettings {
  const { history = DEFAULT_HISTORY, historyTtl = DEFAULT_HISTORY_TTL } =
    options;
  return {
    history: positiveInteger("history", history),
    historyTtl: milliseconds("historyTtl", historyTtl, 1),
  };
}

/**
 * A new random epoch: 16 base-36 characters.
 *
 * @returns The epoch.
 */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let epoch = "";
  for (const byte of bytes) epoch += (byte % 36).toString(36);
  return epoch;
}
