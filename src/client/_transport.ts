/**
 * Which transport a client's connection uses, and how it is opened: a
 * `WebSocket`, or the fallback (a Server-Sent Events stream and POSTs) with
 * the surface a `Socket` uses. Internal; no Deno APIs.
 *
 * @module
 */

import type { Transport } from "../message.ts";
import { EventStreamSocket, type Fetch } from "../sse/client.ts";
import type { Hello } from "../session/wire.ts";

/**
 * The transports a client tries, in order, and the one the current or next
 * connection uses.
 */
export class Transports {
  readonly #list: readonly Transport[];
  #index = 0;

  /**
   * @param list The transports to try, in order (checked, not empty).
   */
  constructor(list: readonly Transport[]) {
    this.#list = list;
  }

  /** The transport the current or next connection uses. */
  get current(): Transport {
    return this.#list[this.#index] as Transport;
  }

  /** Whether another transport follows the current one. */
  get hasNext(): boolean {
    return this.#index < this.#list.length - 1;
  }

  /** Moves on to the next transport (after the current failed to open). */
  next(): void {
    this.#index++;
  }

  /** Starts again with the first transport. */
  restart(): void {
    this.#index = 0;
  }

  /**
   * Opens a connection with the current transport; a WebSocket is skipped
   * for the next transport when the runtime has no `WebSocket`.
   *
   * @param url The `ws:` or `wss:` URL.
   * @param protocols The subprotocols to offer.
   * @param fetchFn The `fetch` of the fallback's stream and POSTs.
   * @param hello What a resumable session's connection asks for: the
   * fallback's stream asks in its request (a WebSocket, in its first
   * message).
   * @returns The new connection, still connecting.
   * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
   */
  open(
    url: string,
    protocols: string[],
    fetchFn: Fetch,
    hello?: () => Hello,
  ): WebSocket {
    if (
      this.current === "websocket" && typeof WebSocket === "undefined" &&
      this.hasNext
    ) this.next();
    if (this.current === "websocket") return new WebSocket(url, protocols);
    return new EventStreamSocket(
      url,
      protocols,
      fetchFn,
      undefined,
      hello?.(),
    ) as unknown as WebSocket;
  }
}

/**
 * The HTTP status of a refused handshake that retrying cannot fix: a 4xx
 * other than 408 (request timeout) and 429 (too many requests), read from
 * the reason of a connection that never opened. Deno's `WebSocket` reports
 * "failed to connect to WebSocket: Invalid status code: 404" in its error
 * event; the fallback's stream "The event stream was refused: 404 ...". A
 * browser's `WebSocket` tells scripts nothing of the status.
 *
 * @param reason The close reason of the attempt.
 * @returns The status, or `undefined` when a retry may succeed.
 */
export function refusedStatus(reason: string): number | undefined {
  const match = /(?:status code|was refused):?\s*(\d{3})\b/i.exec(reason);
  if (match === null) return undefined;
  const status = Number(match[1]);
  return status >= 400 && status <= 499 && status !== 408 && status !== 429
    ? status
    : undefined;
}

/**
 * Stops a connection attempt that has not opened (it then closes as 1006).
 *
 * @param ws The connection.
 * @param reason The reason given to `close()`.
 */
export function abandon(ws: WebSocket, reason: string): void {
  try {
    ws.close(1000, reason);
  } catch {
    // Already closed.
  }
}
