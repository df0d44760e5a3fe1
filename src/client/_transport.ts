/**
 * Which transport a client's connection uses, and how it is opened: a
 * `WebSocket`, or the fallback (a Server-Sent Events stream and POSTs) with
 * the surface a `Socket` uses. Internal; no Deno APIs.
 *
 * @module
 */

import type { Transport } from "../message.ts";
import { EventStreamSocket, type Fetch } from "../sse/client.ts";
import { type Hello, offerProtocols } from "../session/wire.ts";
import type { ClientAuth } from "./_auth.ts";

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
   * Moves past a WebSocket when the runtime has none and another transport
   * follows, so that {@linkcode Transports.current} is the one to open.
   */
  skipMissing(): void {
    if (
      this.current === "websocket" && typeof WebSocket === "undefined" &&
      this.hasNext
    ) this.next();
  }

  /**
   * Opens a connection with the current transport (see
   * {@linkcode Transports.skipMissing}).
   *
   * @param attempt What to open: the URL, the subprotocols (the app's, and
   * the features to offer over a WebSocket), the fallback's `fetch`, and
   * the token and where it goes.
   * @returns The new connection, still connecting.
   * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
   */
  open(attempt: Attempt): WebSocket {
    const { url, protocols, auth, token } = attempt;
    const offer = attempt.features.length > 0
      ? offerProtocols(protocols, attempt.features)
      : [...protocols];
    if (this.current === "sse") {
      return new EventStreamSocket(
        url,
        offer,
        attempt.fetch,
        attempt.maxMessageSize,
        attempt.hello?.(),
        auth && token !== undefined ? auth.authorization(token) : undefined,
      ) as unknown as WebSocket;
    }
    if (auth === undefined || token === undefined) {
      return new WebSocket(url, offer);
    }
    const placed = auth.place(url, offer, token);
    return placed.headers === undefined
      ? new WebSocket(placed.url, placed.protocols)
      // Deno's WebSocket takes headers (tokenIn "header" is Deno only).
      : new WebSocket(placed.url, {
        protocols: placed.protocols,
        headers: placed.headers,
      });
  }
}

/** One connection attempt, as {@linkcode Transports.open} makes it. */
export interface Attempt {
  url: string;
  /** The application's subprotocols. */
  protocols: readonly string[];
  /** Feature tokens offered beside them (resume, control). */
  features: readonly string[];
  /**
   * What a resumable session's connection asks for: the fallback's stream
   * asks in its request (a WebSocket, in its first message).
   */
  hello?: (() => Hello) | undefined;
  fetch: Fetch;
  maxMessageSize: number;
  auth: ClientAuth | undefined;
  /** The token for this attempt, when the client has one. */
  token: string | undefined;
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
