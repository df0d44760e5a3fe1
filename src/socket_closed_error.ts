/**
 * {@linkcode SocketClosedError}: what `send()` rejects with once a socket is
 * closing or closed. Runs in browsers.
 *
 * @module
 */

/**
 * Raised by {@linkcode Socket.send} once the socket is closing or closed.
 *
 * @example Telling a closed socket apart
 * ```ts
 * import { SocketClosedError } from "@switchboard/switchboard";
 *
 * const error = new SocketClosedError(1006, "");
 * console.log(error.message, error.code);
 * ```
 */
export class SocketClosedError extends Error {
  /** The close code of the socket. */
  readonly code: number;
  /** The close reason of the socket. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param code The close code the socket closed (or is closing) with.
   * @param reason The close reason.
   * @param options Standard error options, such as `cause`.
   * @param closing Whether the close handshake is still under way.
   */
  constructor(
    code: number,
    reason: string,
    options?: ErrorOptions,
    closing = false,
  ) {
    super(
      `Cannot send message: the socket ${
        closing ? "is closing" : "closed"
      } with code ${code}${reason ? ` (${reason})` : ""}`,
      options,
    );
    this.name = "SocketClosedError";
    this.code = code;
    this.reason = reason;
  }
}
