/**
 * The client's own error: {@linkcode OutboxFullError}.
 *
 * @module
 */

/**
 * Raised (as a rejection) by {@linkcode Client.send} when the outbox is full:
 * while the client is not open, or while it is open and that many messages
 * (or bytes) already wait for the connection's send buffer to drain.
 *
 * @example Telling a full outbox apart
 * ```ts
 * import { OutboxFullError } from "@switchboard/switchboard/client";
 *
 * const error = new OutboxFullError("maxQueued", 1000);
 * console.log(error.message, error.limit);
 * ```
 */
export class OutboxFullError extends Error {
  /** The option whose limit was reached. */
  readonly limit: "maxQueued" | "maxQueuedBytes";
  /** That option's value. */
  readonly max: number;

  /**
   * Makes the error.
   *
   * @param limit The option whose limit was reached.
   * @param max That option's value.
   * @param options Standard error options, such as `cause`.
   */
  constructor(
    limit: "maxQueued" | "maxQueuedBytes",
    max: number,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot queue message: the outbox is full (${limit} is ${max}${
        limit === "maxQueued" ? " messages" : " bytes"
      }): the client is not connected or the server reads too slowly`,
      options,
    );
    this.name = "OutboxFullError";
    this.limit = limit;
    this.max = max;
  }
}
