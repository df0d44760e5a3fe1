/**
 * {@linkcode SocketOptions}: the buffer and size limits of a `Socket`.
 *
 * @module
 */

/**
 * Options for {@linkcode Socket}.
 *
 * @example Wrapping with a smaller send buffer
 * ```ts
 * import type { SocketOptions } from "@switchboard/switchboard";
 *
 * const options: SocketOptions = { highWaterMark: 64 * 1024 };
 * console.log(options.highWaterMark);
 * ```
 */
export interface SocketOptions {
  /**
   * How many bytes may wait in the runtime's send buffer before `send()`
   * waits for it to drain.
   *
   * @default {1048576}
   */
  highWaterMark?: number;
  /**
   * The largest message accepted, in bytes. A larger one closes the
   * connection with 1009 and never reaches the loop.
   *
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * How many received messages may wait for the loop. Deno cannot stop
   * reading a connection, so past this bound the socket closes with 1013
   * rather than let memory grow.
   *
   * @default {100000}
   */
  maxQueuedMessages?: number;
  /**
   * How many bytes of received messages may wait for the loop (text counts
   * its length in characters, binary its bytes); past it the socket closes
   * with 1013, as for `maxQueuedMessages`. At least `maxMessageSize`.
   *
   * @default {67108864 (64 MiB), or 4 × maxMessageSize when larger}
   */
  maxQueuedMessageBytes?: number;
  /**
   * Milliseconds a `send()` may wait for the send buffer to drain before the
   * peer is taken as stuck and the socket closes with 1008. 0 waits forever.
   *
   * @default {30000}
   */
  sendTimeout?: number;
  /** Closes the socket with 1001 when aborted. @default {undefined} */
  signal?: AbortSignal;
  /**
   * The negotiated subprotocol, for runtimes whose server-side `WebSocket`
   * does not report it (Deno's reads `""`).
   *
   * @default {the wrapped WebSocket's `protocol`}
   */
  protocol?: string;
}
