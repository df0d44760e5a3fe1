/**
 * {@linkcode RedisBackplaneError}, what a {@linkcode RedisBackplane} reports;
 * exported by `@switchboard/switchboard/redis`.
 *
 * @module
 */

/**
 * What a {@linkcode RedisBackplane} reports to `onError`, and why
 * {@linkcode RedisBackplane.connect} failed to reach Redis (then the client's
 * error is the `cause`).
 *
 * @example Reading the count
 * ```ts
 * import { RedisBackplaneError } from "@switchboard/switchboard/redis";
 *
 * const error = new RedisBackplaneError("Redis is away", 3);
 * console.log(error.message, error.dropped);
 * ```
 */
export class RedisBackplaneError extends Error {
  /** How many messages the backplane has dropped so far. */
  readonly dropped: number;

  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param dropped How many messages were dropped so far.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, dropped: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisBackplaneError";
    this.dropped = dropped;
  }
}
