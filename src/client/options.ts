/**
 * The client's options, {@linkcode ClientOptions}, and
 * {@linkcode checkClientOptions}, which checks them once and applies their
 * defaults (as `checkUpgradeOptions` does for the server).
 *
 * @module
 */

import { checkTransports, type Transport } from "../message.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_QUEUED_MESSAGES,
  DEFAULT_SEND_TIMEOUT,
  MAX_TIMER_DELAY,
  optionalSignal,
  positiveInteger,
  queuedBytes,
} from "../_validate.ts";
import type { Fetch } from "../sse/client.ts";
import type { Backoff } from "./_backoff.ts";
import { checkToken, checkTokenIn, hasHeaders } from "./_auth.ts";
import {
  type CheckedResume,
  checkResume,
  type ResumeOptions,
} from "../session/options.ts";

/**
 * Options for {@linkcode connect}. Each is checked when given: a `TypeError`
 * for a wrong type, a `RangeError` for a value out of range.
 *
 * @example Fast retries for a local server
 * ```ts
 * import type { ClientOptions } from "@switchboard/switchboard/client";
 *
 * const options: ClientOptions = {
 *   initialDelay: 100,
 *   maxDelay: 2000,
 *   maxRetries: 20,
 *   maxQueued: 100,
 * };
 * console.log(options.maxDelay);
 * ```
 */
export interface ClientOptions {
  /** Subprotocols to offer, as for `new WebSocket(url, protocols)`. @default {[]} */
  protocols?: string | readonly string[];
  /**
   * The upper bound, in milliseconds, of the first retry's delay. Retry `n`
   * waits a random time between 0 and
   * `min(maxDelay, initialDelay * factor ** (n - 1))` (full jitter).
   *
   * @default {500}
   */
  initialDelay?: number;
  /** The largest delay before a retry, in milliseconds. @default {30000} */
  maxDelay?: number;
  /** How much the delay's upper bound grows per retry, at least 1. @default {2} */
  factor?: number;
  /**
   * How many retries in a row may fail before the client gives up. A retry
   * fails when its connection does not open or closes within `minUptime`.
   * `0` never reconnects.
   *
   * @default {Infinity}
   */
  maxRetries?: number;
  /**
   * Milliseconds a connection must stay open to count as a success, which
   * starts the retry count and the backoff again. A server that accepts and
   * at once closes is therefore retried with growing delays, and counts
   * against `maxRetries`.
   *
   * @default {5000}
   */
  minUptime?: number;
  /**
   * Close codes from the server that mean "don't come back": a list, or a
   * test. 1008 (policy violation) always ends the client.
   *
   * @default {codes 4000-4999}
   */
  finalCodes?: readonly number[] | ((code: number) => boolean);
  /**
   * How many messages may wait in the outbox: while the client is not open,
   * and while it is open, those waiting for the connection's send buffer to
   * drain (a server that reads slowly or not at all). Past it `send()`
   * rejects with {@linkcode OutboxFullError} rather than let memory grow;
   * while open, the first message that has to wait is always taken. `0`
   * makes every send while disconnected reject.
   *
   * @default {1000}
   */
  maxQueued?: number;
  /**
   * How many bytes (UTF-8 for text) may wait in the outbox, counted as for
   * `maxQueued`.
   *
   * @default {1048576}
   */
  maxQueuedBytes?: number;
  /**
   * Bytes in the runtime's send buffer before `send()` waits for it to
   * drain (see {@linkcode Socket}); `sendTimeout` bounds the wait.
   *
   * @default {1048576}
   */
  highWaterMark?: number;
  /**
   * Milliseconds a `send()` may wait for the send buffer to drain while the
   * client is open (nothing of it drained meanwhile) before the server is
   * taken as stuck: the client closes that connection and reconnects (the
   * `"reconnecting"` event's `closeInfo` is 1006 "Send timeout: ..."). The
   * messages waiting then go out ahead of the close frame and are not sent
   * again. `0` waits forever. Checked four times per period, so the close
   * comes within 1.25 times of it.
   *
   * @default {30000}
   */
  sendTimeout?: number;
  /**
   * Milliseconds the client may stay open with nothing at all arriving from
   * the server; then it closes that connection and reconnects (the
   * `"reconnecting"` event's `closeInfo` is 1006 "Idle timeout: ..."). A
   * WebSocket ping is invisible to scripts, so this only suits a server
   * that sends something (a heartbeat message) more often than this. `0`
   * turns it off. Checked four times per period, so the close comes within
   * 1.25 times of it.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * How many received messages may wait for the loop. Past it the client
   * closes that connection with 1013 (as a server's `Socket` does) and
   * reconnects with backoff; the messages already received stay readable.
   * `maxQueuedMessageBytes` bounds their bytes.
   *
   * @default {100000}
   */
  maxQueuedMessages?: number;
  /**
   * How many bytes of received messages may wait for the loop (text counts
   * its length in characters, binary its bytes). Past it the client closes
   * that connection with 1013 and reconnects, as for `maxQueuedMessages`.
   * At least `maxMessageSize`.
   *
   * @default {67108864 (64 MiB), or 4 × maxMessageSize when larger}
   */
  maxQueuedMessageBytes?: number;
  /**
   * The largest message accepted from the server, in bytes; a larger one
   * closes that connection with 1009 (and the client reconnects).
   *
   * @default {16777216}
   */
  maxMessageSize?: number;
  /** Closes the client for good when aborted. @default {undefined} */
  signal?: AbortSignal;
  /**
   * The transports to try, in order. With `["websocket", "sse"]` a
   * WebSocket that is refused, or does not open within `openTimeout`, is
   * followed at once by the fallback (a Server-Sent Events stream and POSTs,
   * served by `route()` with the same `transports`); a WebSocket that opened
   * and later closed is not a reason to fall back. The order is the caller's:
   * with `["sse", "websocket"]` a refused stream, or one that does not open
   * within `openTimeout`, is followed by a WebSocket. Reconnects start with the
   * transport that last opened. Without `WebSocket` in the runtime the
   * WebSocket is skipped.
   *
   * @default {["websocket"]}
   */
  transports?: readonly Transport[];
  /**
   * Milliseconds a connection may take to open: a transport with another
   * after it (then the next one is tried at once), and the fallback's
   * stream (with nothing after it the attempt fails with 1006 and is retried; a
   * buffering proxy can hold its first event back for ever). A WebSocket
   * with nothing after it is left to the runtime's own handshake timeout.
   *
   * @default {1500}
   */
  openTimeout?: number;
  /**
   * The `fetch` the fallback transport uses for its stream and POSTs (to add
   * credentials or headers, say).
   *
   * @default {globalThis.fetch}
   */
  fetch?: Fetch;
  /**
   * Resumable sessions, when the server's route has `resume` on (else the
   * connection is plain, as without this option): a dropped connection
   * comes back to the same session and every message is delivered exactly
   * once, in order, both ways. The client then dispatches `"resumed"`, or
   * `"open"` with `resumed: false` and the count of its `unacknowledged`
   * messages when the server no longer had the session. `maxUnacked` and
   * `maxUnackedBytes` bound what it holds unacknowledged (`window` is the
   * server's). WebSocket transport only for now. See docs/sessions.md.
   *
   * @default {false}
   */
  resume?: boolean | ResumeOptions;
  /**
   * The credential for a route with `authenticate`: a string, or a function
   * called before every connection attempt (so a reconnect uses a fresh
   * token) and for every refresh in place. Where it travels: see
   * `tokenIn`; over the fallback transport, in the `Authorization` header of
   * the stream and of every POST. A handshake refused with 401 or 403, and
   * a close with 4001 or 4003, end the client, unless this function then
   * returns a token other than the one refused: then the client retries
   * once, at once. See docs/auth.md.
   *
   * @default {undefined (no token)}
   */
  token?: string | (() => string | Promise<string>);
  /**
   * Where a WebSocket carries the token: `"header"` (`Authorization:
   * Bearer`, which only Deno's `WebSocket` can send), `"protocol"` (a
   * `switchboard.bearer.<base64url>` entry of the subprotocol offer, which
   * the server never chooses) or `"query"` (an `access_token` query
   * parameter, SignalR's convention: it can show in proxies' logs).
   *
   * @default {"header" in Deno, "protocol" elsewhere}
   */
  tokenIn?: "header" | "protocol" | "query";
  /**
   * Milliseconds before the principal's `expiresAt` (which the server tells
   * the client) at which the client refreshes its token in place, or
   * halfway through the time left when that is later. `0`: only when the
   * server asks (shortly before expiry).
   *
   * @default {30000}
   */
  refreshBefore?: number;
}

/** Where a WebSocket carries the token. */
export type TokenIn = "header" | "protocol" | "query";

function nonNegative(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Invalid ${name}: expected a finite number of at least ${min}, got ${value}`,
    );
  }
  return value;
}

function count(name: string, value: unknown, infinite = false): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (
    !(infinite && value === Infinity) &&
    (!Number.isSafeInteger(value) || value < 0)
  ) {
    throw new RangeError(
      `Invalid ${name}: expected a whole number of at least 0${
        infinite ? " or Infinity" : ""
      }, got ${value}`,
    );
  }
  return value;
}

function timeout(name: string, value: unknown): number {
  nonNegative(name, value);
  if ((value as number) > MAX_TIMER_DELAY) {
    throw new RangeError(
      `Invalid ${name}: ${value} is more than timers allow (${MAX_TIMER_DELAY} ms)`,
    );
  }
  return value as number;
}

function finalCodeTest(
  value: unknown,
): (code: number) => boolean {
  if (typeof value === "function") return value as (code: number) => boolean;
  if (Array.isArray(value)) {
    for (const code of value) {
      if (typeof code !== "number" || !Number.isInteger(code)) {
        throw new TypeError(
          `Invalid finalCodes: expected whole numbers, got ${String(code)}`,
        );
      }
    }
    const codes = new Set<number>(value);
    return (code) => codes.has(code);
  }
  throw new TypeError(
    "Invalid finalCodes: expected an array of close codes or a function",
  );
}

function isDefaultFinal(code: number): boolean {
  return code >= 4000 && code <= 4999;
}

function protocolList(value: unknown): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) || !list.every((p) => typeof p === "string")
  ) {
    throw new TypeError(
      "Invalid protocols: expected a string or an array of strings",
    );
  }
  return [...list];
}

/** Options checked once, with their defaults applied. */
export interface CheckedClientOptions {
  protocols: string[];
  backoff: Backoff;
  maxRetries: number;
  minUptime: number;
  isFinal: (code: number) => boolean;
  maxQueued: number;
  maxQueuedBytes: number;
  highWaterMark: number;
  maxMessageSize: number;
  sendTimeout: number;
  idleTimeout: number;
  maxQueuedMessages: number;
  maxQueuedMessageBytes: number;
  signal: AbortSignal | undefined;
  transports: readonly Transport[];
  openTimeout: number;
  fetch: Fetch;
  resume: CheckedResume | undefined;
  token: string | (() => string | Promise<string>) | undefined;
  tokenIn: TokenIn;
  refreshBefore: number;
}

/**
 * Validates client options and applies their defaults.
 *
 * @param options The options as given.
 * @returns The checked options.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 */
export function checkClientOptions(
  options: ClientOptions,
): CheckedClientOptions {
  const {
    protocols = [],
    initialDelay = 500,
    maxDelay = 30_000,
    factor = 2,
    maxRetries = Infinity,
    minUptime = 5000,
    finalCodes = isDefaultFinal,
    maxQueued = 1000,
    maxQueuedBytes = 1024 * 1024,
    highWaterMark = DEFAULT_HIGH_WATER_MARK,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
    idleTimeout = 0,
    maxQueuedMessages = DEFAULT_MAX_QUEUED_MESSAGES,
    maxQueuedMessageBytes,
    signal,
    transports = ["websocket"],
    openTimeout = 1500,
    fetch: fetchFn,
    resume,
    token,
    tokenIn = hasHeaders() ? "header" : "protocol",
    refreshBefore = 30_000,
  } = options;
  const checkedProtocols = protocolList(protocols);
  nonNegative("initialDelay", initialDelay);
  nonNegative("maxDelay", maxDelay);
  if (maxDelay > MAX_TIMER_DELAY) {
    throw new RangeError(
      `Invalid maxDelay: ${maxDelay} is more than timers allow (${MAX_TIMER_DELAY} ms)`,
    );
  }
  if (maxDelay < initialDelay) {
    throw new RangeError(
      `Invalid maxDelay: ${maxDelay} is less than initialDelay (${initialDelay})`,
    );
  }
  const checked = {
    protocols: checkedProtocols,
    backoff: {
      initialDelay,
      maxDelay,
      factor: nonNegative("factor", factor, 1),
    },
    maxRetries: count("maxRetries", maxRetries, true),
    minUptime: nonNegative("minUptime", minUptime),
    isFinal: finalCodeTest(finalCodes),
    maxQueued: count("maxQueued", maxQueued),
    maxQueuedBytes: count("maxQueuedBytes", maxQueuedBytes),
    highWaterMark: positiveInteger("highWaterMark", highWaterMark),
    maxMessageSize: positiveInteger("maxMessageSize", maxMessageSize),
    sendTimeout: timeout("sendTimeout", sendTimeout),
    idleTimeout: timeout("idleTimeout", idleTimeout),
    maxQueuedMessages: positiveInteger("maxQueuedMessages", maxQueuedMessages),
    maxQueuedMessageBytes: queuedBytes(
      maxQueuedMessageBytes,
      positiveInteger("maxMessageSize", maxMessageSize),
    ),
    signal: optionalSignal(signal),
    transports: checkTransports(transports),
    openTimeout: nonNegative("openTimeout", openTimeout),
    resume: checkResume(resume),
    token: checkToken(token),
    tokenIn: checkTokenIn(tokenIn),
    refreshBefore: timeout("refreshBefore", refreshBefore),
  };
  if (fetchFn !== undefined && typeof fetchFn !== "function") {
    throw new TypeError("Invalid fetch: expected a function");
  }
  return {
    ...checked,
    fetch: fetchFn ?? ((input, init) => fetch(input, init)),
  };
}
