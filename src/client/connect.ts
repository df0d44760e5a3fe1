/**
 * {@linkcode connect}: opens a reconnecting client.
 *
 * @module
 */

import { Client } from "./client.ts";
import type { ClientOptions } from "./options.ts";

/**
 * Opens a reconnecting WebSocket client: the client side of Switchboard,
 * for browsers and Deno.
 *
 * The connection is opened at once. When it drops (or an attempt fails) the
 * client retries after a random delay between 0 and
 * `min(maxDelay, initialDelay * factor ** (retry - 1))`, up to `maxRetries`
 * failures in a row. It does not come back after {@linkcode Client.close},
 * after `signal` aborts, or after the server closes with 1008 or one of
 * `finalCodes` (4000-4999 by default); the loop then ends and
 * {@linkcode Client.closed} tells why. Any other close (1000 and 1001
 * included) is retried.
 *
 * A handshake the server answers with a 4xx status other than 408 and 429
 * (a wrong path, a refused origin or token) ends the client too, with
 * `closeInfo` 1006 "Handshake refused: 404" (say), where the status is
 * known: in Deno, and for the fallback transport everywhere. A browser's
 * `WebSocket` does not tell scripts the status (only that the connection
 * failed, as 1006), so there a refused WebSocket handshake is retried like
 * any failed attempt, up to `maxRetries`.
 *
 * With a `token`, a handshake refused with 401 or 403 and a close with 4001
 * ("Token expired") or 4003 end the client unless the token function then
 * returns another token: one retry follows at once. While open, the token
 * is refreshed in place (`refreshBefore` ahead of its expiry, when the
 * server asks, and on {@linkcode Client.refreshToken}). See docs/auth.md.
 *
 * @param url The `ws:` or `wss:` URL, or a function returning it, called
 * before every connection attempt (for a URL that needs more than a token).
 * @param options Backoff, outbox and socket options, a token, an abort
 * signal.
 * @returns The client, already connecting.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
 *
 * @example Echo across server restarts
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   initialDelay: 250,
 *   maxDelay: 5000,
 *   signal: AbortSignal.timeout(60_000),
 * });
 * client.addEventListener("reconnecting", () => console.log("Reconnecting..."));
 * await client.send("hello");
 * for await (const msg of client) console.log("got", msg.data);
 * ```
 *
 * @example With a token that expires
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("wss://example.com/ws", {
 *   // Called before every attempt and for every refresh in place.
 *   token: async () => (await fetch("/token")).text(),
 *   refreshBefore: 30_000, // ms before the token expires
 * });
 * for await (const msg of client) console.log(msg.data);
 * ```
 *
 * @example Options are checked at once
 * ```ts
 * import { connect } from "@switchboard/switchboard/client";
 *
 * try {
 *   connect("ws://127.0.0.1:1", { factor: 0.5 });
 * } catch (error) {
 *   console.log((error as RangeError).message);
 * }
 * ```
 */
export function connect(
  url: string | URL | (() => string | Promise<string>),
  options?: ClientOptions,
): Client {
  return new Client(url, options);
}
