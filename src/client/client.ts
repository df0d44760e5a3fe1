/**
 * The reconnecting client: {@linkcode Client} and {@linkcode connect}.
 *
 * @module
 */

import {
  checkTransports,
  type CloseInfo,
  type Message,
  type Transport,
  utf8Length,
  validateClose,
} from "../message.ts";
import {
  closeSocket,
  messageCounts,
  Socket,
  SocketClosedError,
} from "../socket.ts";
import { optionalSignal, positiveInteger } from "../_validate.ts";
import { EventStreamSocket, type Fetch } from "../_sse_client.ts";

export {
  type BinaryMessage,
  CloseCode,
  type CloseInfo,
  type Message,
  type TextMessage,
  type Transport,
} from "../message.ts";
export { SocketClosedError } from "../socket.ts";
export type { Fetch } from "../_sse_client.ts";

/**
 * Where a {@linkcode Client} is: `"connecting"` until the first connection
 * opens, `"open"` while one is, `"reconnecting"` while it waits for or tries
 * the next connection, `"closed"` for good.
 *
 * @example Showing the state on a page
 * ```ts
 * import type { ClientState } from "@switchboard/switchboard/client";
 *
 * const labels: Record<ClientState, string> = {
 *   connecting: "Connecting...",
 *   open: "Connected",
 *   reconnecting: "Reconnecting...",
 *   closed: "Disconnected",
 * };
 * console.log(labels.reconnecting);
 * ```
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

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
   * A bound on count, not bytes: with large messages, lower it.
   *
   * @default {100000}
   */
  maxQueuedMessages?: number;
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
   * and later closed is not a reason to fall back. Reconnects start with the
   * transport that last opened. Without `WebSocket` in the runtime the
   * WebSocket is skipped.
   *
   * @default {["websocket"]}
   */
  transports?: readonly Transport[];
  /**
   * Milliseconds a connection may take to open: a WebSocket with another
   * transport after it (then the next one is tried at once), and the
   * fallback's stream (then the attempt fails with 1006 and is retried; a
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
}

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

/**
 * What a {@linkcode ClientEvent} carries besides its type.
 *
 * @example An event init for a retry
 * ```ts
 * import type { ClientEventInit } from "@switchboard/switchboard/client";
 *
 * const init: ClientEventInit = { state: "reconnecting", attempt: 1, delay: 120 };
 * console.log(init.delay);
 * ```
 */
export interface ClientEventInit {
  /** The client's state when the event fired. */
  state: ClientState;
  /** The retry number (1 for the first retry); `0` when not retrying. @default {0} */
  attempt?: number;
  /** Milliseconds before the retry; `0` when not retrying. @default {0} */
  delay?: number;
  /** Why the last connection (or attempt) ended. @default {undefined} */
  closeInfo?: CloseInfo;
}

/**
 * Every event a {@linkcode Client} dispatches:
 *
 * - `"statechange"` whenever {@linkcode Client.state} changes;
 * - `"open"` each time a connection opens (the first and every reconnect);
 * - `"reconnecting"` each time a retry is scheduled, with its `attempt`,
 *   `delay` and the `closeInfo` of what ended;
 * - `"close"` once, when the client is closed for good, with the final
 *   `closeInfo`.
 *
 * @example Listening for reconnects
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.addEventListener("reconnecting", (event) => {
 *   console.log(`retry ${event.attempt} in ${event.delay} ms`);
 * });
 * ```
 */
export class ClientEvent extends Event {
  /** The client's state when the event fired. */
  readonly state: ClientState;
  /** The retry number (1 for the first retry); `0` when not retrying. */
  readonly attempt: number;
  /** Milliseconds before the retry; `0` when not retrying. */
  readonly delay: number;
  /** Why the last connection ended (`"reconnecting"`, `"close"`). */
  readonly closeInfo: CloseInfo | undefined;

  /**
   * Makes the event.
   *
   * @param type The event type.
   * @param init The state, retry and close details.
   */
  constructor(type: string, init: ClientEventInit) {
    super(type);
    this.state = init.state;
    this.attempt = init.attempt ?? 0;
    this.delay = init.delay ?? 0;
    this.closeInfo = init.closeInfo;
  }
}

/**
 * The events of a {@linkcode Client} by type, so that
 * `client.addEventListener("reconnecting", (e) => e.attempt)` type-checks
 * without a cast.
 *
 * @example Typed listeners
 * ```ts
 * import type { ClientEventMap } from "@switchboard/switchboard/client";
 *
 * const onRetry = (event: ClientEventMap["reconnecting"]) =>
 *   console.log(`retry ${event.attempt} in ${event.delay} ms`);
 * console.log(typeof onRetry);
 * ```
 */
export interface ClientEventMap {
  /** {@linkcode Client.state} changed. */
  statechange: ClientEvent;
  /** A connection opened (the first and every reconnect). */
  open: ClientEvent;
  /** A retry is scheduled: `attempt`, `delay`, `closeInfo`. */
  reconnecting: ClientEvent;
  /** The client closed for good: the final `closeInfo`. */
  close: ClientEvent;
}

type Data = string | Uint8Array | ArrayBuffer;

interface Outgoing {
  data: Data;
  size: number;
  handed: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The longest delay `setTimeout` honours; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

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
  if ((value as number) > MAX_TIMER_MS) {
    throw new RangeError(
      `Invalid ${name}: ${value} is more than timers allow (${MAX_TIMER_MS} ms)`,
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

/**
 * A WebSocket connection that comes back: an `AsyncIterable<Message>` over
 * every connection in turn, an `EventTarget` for its state, and `send()`
 * with an outbox for the time the connection is away. Made by
 * {@linkcode connect}.
 *
 * Delivery: messages are sent in call order, none twice. A message sent
 * while the client is not open waits in the outbox and goes out once, in
 * order, when a connection opens. A message already handed to a connection
 * that then drops may or may not have reached the server and is not sent
 * again (at most once); so the server sees the messages in order, with at
 * most a gap where a connection dropped. Received messages are yielded in
 * arrival order, connection after connection.
 *
 * @example A page showing "Reconnecting..."
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect(`ws://${location.host}/ws`);
 * const status = document.querySelector("#status")!;
 * client.addEventListener("statechange", () => {
 *   status.textContent = client.state === "reconnecting"
 *     ? "Reconnecting..."
 *     : client.state;
 * });
 * for await (const msg of client) console.log(msg.data);
 * ```
 */
export class Client extends EventTarget
  implements AsyncIterable<Message>, AsyncDisposable {
  #url: string;
  #protocols: string[];
  #initialDelay: number;
  #maxDelay: number;
  #factor: number;
  #maxRetries: number;
  #minUptime: number;
  #openedAt = 0;
  #isFinal: (code: number) => boolean;
  #maxQueued: number;
  #maxQueuedBytes: number;
  #highWaterMark: number;
  #sendTimeout: number;
  #idleTimeout: number;
  #maxQueuedMessages: number;
  /** Checks sendTimeout and idleTimeout while a connection is open. */
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Something arrived since the watchdog last looked. */
  #received = false;
  /** A waiting send was handed since the watchdog last looked. */
  #progressed = false;
  #maxMessageSize: number;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => this.#shutdown(1000, "Aborted");
  #transports: readonly Transport[];
  /** The transport the current or next connection uses. */
  #transportIndex = 0;
  #openTimeout: number;
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  /** What the current Socket wraps: a WebSocket or the fallback's stream. */
  #raw: WebSocket | undefined;
  #fetch: Fetch;

  #state: ClientState = "connecting";
  #socket: Socket | undefined;
  /** Sends waiting in the open Socket for its send buffer, in order. */
  #inflight: Outgoing[] = [];
  #inflightBytes = 0;
  #outbox: Outgoing[] = [];
  #outboxBytes = 0;
  #retries = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: { code: number; reason: string } | undefined;

  #queue: (Message | undefined)[] = [];
  #head = 0;
  #waiters: ((result: IteratorResult<Message>) => void)[] = [];
  #reading = false;

  #info: CloseInfo | undefined;
  #closed: Promise<CloseInfo> | undefined;
  #settle: ((info: CloseInfo) => void) | undefined;

  /**
   * Checks the options and opens the first connection. Prefer
   * {@linkcode connect}.
   *
   * @param url The `ws:` or `wss:` URL.
   * @param options Backoff, outbox and socket options, an abort signal.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
   *
   * @example Constructing directly
   * ```ts ignore
   * import { Client } from "@switchboard/switchboard/client";
   *
   * const client = new Client("ws://127.0.0.1:8000/ws", { maxRetries: 3 });
   * ```
   */
  constructor(url: string | URL, options: ClientOptions = {}) {
    super();
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
      highWaterMark = 1024 * 1024,
      maxMessageSize = 16 * 1024 * 1024,
      sendTimeout = 30_000,
      idleTimeout = 0,
      maxQueuedMessages = 100_000,
      signal,
      transports = ["websocket"],
      openTimeout = 1500,
      fetch: fetchFn,
    } = options;
    if (typeof url !== "string" && !(url instanceof URL)) {
      throw new TypeError("Invalid url: expected a string or a URL");
    }
    this.#url = String(url);
    this.#protocols = protocolList(protocols);
    this.#initialDelay = nonNegative("initialDelay", initialDelay);
    this.#maxDelay = nonNegative("maxDelay", maxDelay);
    if (this.#maxDelay > MAX_TIMER_MS) {
      throw new RangeError(
        `Invalid maxDelay: ${maxDelay} is more than timers allow (${MAX_TIMER_MS} ms)`,
      );
    }
    if (this.#maxDelay < this.#initialDelay) {
      throw new RangeError(
        `Invalid maxDelay: ${maxDelay} is less than initialDelay (${initialDelay})`,
      );
    }
    this.#factor = nonNegative("factor", factor, 1);
    this.#maxRetries = count("maxRetries", maxRetries, true);
    this.#minUptime = nonNegative("minUptime", minUptime);
    this.#isFinal = finalCodeTest(finalCodes);
    this.#maxQueued = count("maxQueued", maxQueued);
    this.#maxQueuedBytes = count("maxQueuedBytes", maxQueuedBytes);
    this.#highWaterMark = positiveInteger("highWaterMark", highWaterMark);
    this.#maxMessageSize = positiveInteger("maxMessageSize", maxMessageSize);
    this.#sendTimeout = timeout("sendTimeout", sendTimeout);
    this.#idleTimeout = timeout("idleTimeout", idleTimeout);
    this.#maxQueuedMessages = positiveInteger(
      "maxQueuedMessages",
      maxQueuedMessages,
    );
    optionalSignal(signal);
    this.#transports = checkTransports(transports);
    this.#openTimeout = nonNegative("openTimeout", openTimeout);
    if (fetchFn !== undefined && typeof fetchFn !== "function") {
      throw new TypeError("Invalid fetch: expected a function");
    }
    this.#fetch = fetchFn ?? ((input, init) => fetch(input, init));
    if (signal?.aborted) {
      this.#closing = { code: 1000, reason: "Aborted" };
      this.#finish({ code: 1000, reason: "Aborted", wasClean: false }, []);
      return;
    }
    this.#open(true);
    if (signal) {
      this.#signal = signal;
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** The URL the client connects to. */
  get url(): string {
    return this.#url;
  }

  /** The client's state; a `"statechange"` event fires when it changes. */
  get state(): ClientState {
    return this.#state;
  }

  /**
   * The transport of the connection that is open, or being tried:
   * `"websocket"`, or `"sse"` after a fallback.
   *
   * @example Showing the transport once open
   * ```ts ignore
   * const client = connect(url, { transports: ["websocket", "sse"] });
   * client.addEventListener("open", () => console.log(client.transport));
   * ```
   */
  get transport(): Transport {
    return this.#transports[this.#transportIndex] as Transport;
  }

  /** How many messages wait in the outbox for a connection. */
  get queued(): number {
    return this.#outbox.length;
  }

  /**
   * Settles once, when the client is closed for good, with the final
   * connection's code, reason and whether it closed cleanly. When no
   * connection was open at the end (closed or aborted while waiting to
   * retry), it is the code and reason given to `close()` (1000 "Aborted" for
   * the signal) with `wasClean: false`. Never rejects.
   */
  get closed(): Promise<CloseInfo> {
    if (this.#closed === undefined) {
      this.#closed = this.#info
        ? Promise.resolve(this.#info)
        : new Promise((resolve) => this.#settle = resolve);
    }
    return this.#closed;
  }

  /**
   * Listens for one of the client's events; the listener gets a
   * {@linkcode ClientEvent} (see {@linkcode ClientEventMap}).
   *
   * @param type `"statechange"`, `"open"`, `"reconnecting"` or `"close"`.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   *
   * @example Typed listeners, no cast
   * ```ts
   * import { connect } from "@switchboard/switchboard/client";
   *
   * const client = connect("ws://127.0.0.1:9/", { maxRetries: 0 });
   * client.addEventListener("reconnecting", (e) => console.log(e.attempt));
   * client.addEventListener("close", (e) => console.log(e.closeInfo?.code));
   * await client.closed;
   * ```
   */
  override addEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (this: Client, event: ClientEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Listens for an event of any other type, as `EventTarget` does.
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with {@linkcode Client.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener given to `addEventListener`.
   * @param options As for `EventTarget.removeEventListener`.
   *
   * @example Listening once for a reconnect
   * ```ts
   * import { connect } from "@switchboard/switchboard/client";
   *
   * const client = connect("ws://127.0.0.1:9/", { maxRetries: 0 });
   * const onRetry = (e: { attempt: number }) => console.log(e.attempt);
   * client.addEventListener("reconnecting", onRetry);
   * client.removeEventListener("reconnecting", onRetry);
   * await client.closed;
   * ```
   */
  override removeEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (this: Client, event: ClientEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of any other type, as `EventTarget` does.
   *
   * @param type The event type.
   * @param listener The listener to remove.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /**
   * Sends a text (string) or binary (Uint8Array, ArrayBuffer) message.
   *
   * While the client is open this is {@linkcode Socket.send}: it resolves
   * once the message is handed to the connection, waiting while the send
   * buffer is full (at most `maxQueued` messages and `maxQueuedBytes` bytes
   * wait so, for at most `sendTimeout`). Otherwise the message (bytes are
   * copied) waits in the outbox and the promise resolves when a connection
   * takes it. If the
   * client closes for good first, the promise rejects with a
   * {@linkcode SocketClosedError}; an unawaited send rejected that way does
   * not raise an unhandled rejection.
   *
   * @param data The message: a string is sent as text, bytes as binary.
   * @returns A promise that resolves once a connection has the message.
   * @throws {OutboxFullError} (as a rejection) when the outbox already holds
   * `maxQueued` messages or would exceed `maxQueuedBytes`: while the client
   * is not open, or while it is open and that much waits for the send
   * buffer to drain.
   * @throws {SocketClosedError} (as a rejection) when the client is closed.
   * @throws {TypeError} (as a rejection) when `data` is of another type.
   *
   * @example Sending while the server is away
   * ```ts ignore
   * client.send("saved for later").catch((error) => console.warn(error));
   * ```
   */
  send(data: string | Uint8Array | ArrayBuffer): Promise<void> {
    let size: number;
    if (typeof data === "string") size = utf8Length(data);
    else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
      size = data.byteLength;
    } else {
      return Promise.reject(
        new TypeError(
          "Cannot send message: expected a string, Uint8Array or ArrayBuffer",
        ),
      );
    }
    if (this.#state === "closed" || this.#closing) {
      const info = this.#info ?? { ...this.#closing!, wasClean: false };
      return Promise.reject(
        new SocketClosedError(
          info.code,
          info.reason,
          undefined,
          this.#info === undefined,
        ),
      );
    }
    const socket = this.#socket;
    if (this.#state === "open" && socket) {
      // Messages waiting for a send buffer that does not drain (a server
      // that reads nothing) are bounded like the outbox.
      if (this.#inflight.length > 0) {
        if (this.#inflight.length >= this.#maxQueued) {
          return Promise.reject(
            new OutboxFullError("maxQueued", this.#maxQueued),
          );
        }
        if (this.#inflightBytes + size > this.#maxQueuedBytes) {
          return Promise.reject(
            new OutboxFullError("maxQueuedBytes", this.#maxQueuedBytes),
          );
        }
      }
      return new Promise((resolve, reject) =>
        this.#hand(socket, { data, size, handed: false, resolve, reject })
      );
    }
    if (this.#outbox.length >= this.#maxQueued) {
      return Promise.reject(new OutboxFullError("maxQueued", this.#maxQueued));
    }
    if (this.#outboxBytes + size > this.#maxQueuedBytes) {
      return Promise.reject(
        new OutboxFullError("maxQueuedBytes", this.#maxQueuedBytes),
      );
    }
    const copy = typeof data === "string"
      ? data
      : data instanceof Uint8Array
      ? data.slice()
      : data.slice(0);
    const promise = new Promise<void>((resolve, reject) => {
      this.#outbox.push({ data: copy, size, handed: false, resolve, reject });
    });
    this.#outboxBytes += size;
    promise.catch(() => {});
    return promise;
  }

  /**
   * Closes the client for good: no more reconnects. Closes the connection
   * if one is open (messages waiting for its send buffer are written first),
   * cancels a pending retry, and rejects what is still in the outbox. The
   * loop ends and {@linkcode Client.closed} settles. Calling it again does
   * nothing.
   *
   * @param code The close code: 1000 or 3000-4999.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code or the reason is out of range.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example Closing when the page is done
   * ```ts ignore
   * client.close(1000, "bye");
   * console.log(await client.closed);
   * ```
   */
  close(code = 1000, reason = ""): void {
    validateClose(code, reason);
    this.#shutdown(code, reason);
  }

  /**
   * Closes with 1000 and waits until the client is closed.
   *
   * @returns A promise that resolves once the client is closed.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using client = connect("ws://127.0.0.1:8000/ws");
   *   await client.send("bye");
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#shutdown(1000, "");
    await this.closed;
  }

  /**
   * Iterates the messages of every connection in arrival order. The loop
   * ends when the client is closed for good; leaving it early (`break`,
   * `return`, a throw) closes the client with 1000. One loop at a time.
   *
   * @returns The iterator.
   * @throws {TypeError} When another loop is already reading this client.
   *
   * @example Reading until the client gives up
   * ```ts ignore
   * for await (const msg of client) console.log(msg.data);
   * console.log(await client.closed);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    if (this.#reading) {
      throw new TypeError(
        "Cannot iterate client: another loop is already reading it",
      );
    }
    this.#reading = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.#reading = false;
        this.#shutdown(1000, "");
        return Promise.resolve(DONE);
      },
    };
  }

  #next(): Promise<IteratorResult<Message>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head] as Message;
      this.#queue[this.#head++] = undefined;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#info) {
      this.#reading = false;
      return Promise.resolve(DONE);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #push(socket: Socket, msg: Message): void {
    this.#received = true;
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: msg, done: false });
    else if (this.#queue.length - this.#head < this.#maxQueuedMessages) {
      this.#queue.push(msg);
    } else {
      this.#drop(
        socket,
        1013,
        `More than ${this.#maxQueuedMessages} messages waiting for the loop`,
      );
    }
  }

  #open(first: boolean): void {
    let socket: Socket;
    try {
      let transport = this.transport;
      if (
        transport === "websocket" && typeof WebSocket === "undefined" &&
        this.#transportIndex < this.#transports.length - 1
      ) {
        transport = this.#transports[++this.#transportIndex] as Transport;
      }
      const ws = transport === "websocket"
        ? new WebSocket(this.#url, this.#protocols)
        : new EventStreamSocket(
          this.#url,
          this.#protocols,
          this.#fetch,
        ) as unknown as WebSocket;
      socket = new Socket(ws, {
        highWaterMark: this.#highWaterMark,
        maxMessageSize: this.#maxMessageSize,
        // No send timeout: the Socket would close itself with 1008, which
        // reads as the server's "don't come back" and browsers refuse.
        sendTimeout: 0,
      });
      // Registered after the Socket's own listener, so the Socket is open
      // by the time this runs.
      ws.addEventListener("open", () => this.#onOpen(socket), { once: true });
      this.#raw = ws;
      const next = transport === "websocket" &&
        this.#transportIndex < this.#transports.length - 1;
      // A WebSocket with a fallback after it, and the fallback's stream (a
      // buffering proxy can hold its open event back for ever), get
      // openTimeout to open.
      if (next || transport === "sse") {
        this.#openTimer = setTimeout(() => {
          if (this.#socket !== socket || socket.readyState !== 0) return;
          const reason = `No open within ${this.#openTimeout} ms`;
          if (next) {
            // Leave this attempt and try the next transport now.
            this.#socket = undefined;
            abandon(ws, reason);
            this.#fallBack();
          } else abandon(ws, reason); // ends with 1006: a retry follows
        }, this.#openTimeout);
      }
    } catch (error) {
      if (first) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return this.#finish({ code: 1006, reason, wasClean: false }, []);
    }
    this.#socket = socket;
    this.#pump(socket);
  }

  async #pump(socket: Socket): Promise<void> {
    for await (const msg of socket) {
      // What a connection the client left (#drop) still delivers before its
      // close completes is read and dropped, so that it waits nowhere.
      if (this.#socket === socket) this.#push(socket, msg);
    }
    this.#onDrop(socket, await socket.closed);
  }

  /**
   * Leaves an open connection the client gave up on (a full inbox, a send
   * or idle timeout) without waiting for its close handshake: a server that
   * reads nothing never completes it. The sends waiting in the Socket go
   * out ahead of its close frame, so they count as handed.
   */
  #drop(socket: Socket, code: number, reason: string): void {
    if (this.#socket !== socket || this.#closing || socket.readyState !== 1) {
      return;
    }
    // The wire gets 1000 where the runtime refuses the code (browsers and
    // Deno's client refuse 1013); closeInfo keeps the code.
    closeSocket(socket, code === 1006 ? 1000 : code, reason);
    for (const entry of this.#inflight) entry.handed = true;
    this.#onDrop(socket, { code, reason, wasClean: false });
  }

  /** Starts the checks of sendTimeout and idleTimeout for an open socket. */
  #watch(socket: Socket): void {
    const send = this.#sendTimeout;
    const idle = this.#idleTimeout;
    if (send === 0 && idle === 0) return;
    const tick = Math.max(
      1,
      Math.floor(Math.min(send || Infinity, idle || Infinity) / 4),
    );
    let seen = Date.now();
    let stalled = seen;
    this.#received = false;
    this.#progressed = false;
    const check = (): void => {
      this.#watchdog = undefined;
      if (this.#socket !== socket || this.#closing) return;
      const now = Date.now();
      if (this.#received) {
        this.#received = false;
        seen = now;
      }
      if (this.#progressed || this.#inflight.length === 0) {
        this.#progressed = false;
        stalled = now;
      }
      if (idle > 0 && now - seen >= idle) {
        return this.#drop(
          socket,
          1006,
          `Idle timeout: nothing arrived from the server for ${idle} ms`,
        );
      }
      if (send > 0 && now - stalled >= send) {
        return this.#drop(
          socket,
          1006,
          `Send timeout: the server read nothing for ${send} ms`,
        );
      }
      this.#watchdog = setTimeout(check, tick);
    };
    this.#watchdog = setTimeout(check, tick);
  }

  #onOpen(socket: Socket): void {
    if (this.#socket !== socket || this.#closing || socket.readyState !== 1) {
      return;
    }
    clearTimeout(this.#openTimer);
    this.#openedAt = Date.now();
    const outbox = this.#outbox;
    this.#outbox = [];
    this.#outboxBytes = 0;
    for (const entry of outbox) this.#hand(socket, entry);
    this.#watch(socket);
    this.#setState("open");
    this.dispatchEvent(new ClientEvent("open", { state: "open" }));
  }

  #hand(socket: Socket, entry: Outgoing): void {
    const out = messageCounts(socket).out;
    const sent = socket.send(entry.data);
    if (messageCounts(socket).out !== out) {
      // Handed at once: nothing waits.
      entry.handed = true;
      entry.resolve();
      return;
    }
    // It waits in the Socket (in order, after any other waiting send).
    this.#inflight.push(entry);
    this.#inflightBytes += entry.size;
    sent.then(() => {
      entry.handed = true;
      this.#progressed = true;
      while (this.#inflight[0]?.handed) {
        this.#inflightBytes -= (this.#inflight.shift() as Outgoing).size;
      }
      entry.resolve();
    }, () => {
      // Not handed to the runtime: #onDrop puts it back in the outbox or
      // rejects it when the client closes.
    });
  }

  /** Opens the next transport after the current one failed to open. */
  #fallBack(): void {
    clearTimeout(this.#openTimer);
    // Sends given to the attempt that never opened go first on the next.
    const unsent = this.#inflight.filter((entry) => !entry.handed);
    this.#inflight = [];
    this.#inflightBytes = 0;
    for (const entry of unsent) this.#outboxBytes += entry.size;
    this.#outbox = unsent.concat(this.#outbox);
    this.#transportIndex++;
    this.#open(false);
  }

  #onDrop(socket: Socket, info: CloseInfo): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    const opened = this.#state === "open";
    if (
      !opened && !this.#closing && this.transport === "websocket" &&
      this.#transportIndex < this.#transports.length - 1
    ) {
      // A refused upgrade: fall back now, without counting a retry.
      return this.#fallBack();
    }
    clearTimeout(this.#openTimer);
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    // When no transport opened, the next attempt starts again with the
    // first (a server that was down is no reason to stay on the fallback);
    // otherwise it starts with the one that opened.
    const status = opened || this.#closing
      ? undefined
      : refusedStatus(info.reason);
    if (!opened && status === undefined) this.#transportIndex = 0;
    if (opened && Date.now() - this.#openedAt >= this.#minUptime) {
      this.#retries = 0;
    }
    const unsent = this.#inflight.filter((entry) => !entry.handed);
    this.#inflight = [];
    this.#inflightBytes = 0;
    if (this.#closing) {
      return this.#finish(
        opened ? info : { ...this.#closing, wasClean: false },
        unsent,
      );
    }
    if (status !== undefined) {
      // A wrong path, a refused origin or credentials: retrying cannot help.
      return this.#finish(
        { code: 1006, reason: `Handshake refused: ${status}`, wasClean: false },
        unsent,
      );
    }
    if (
      info.code === 1008 || this.#isFinal(info.code) ||
      this.#retries >= this.#maxRetries
    ) {
      return this.#finish(info, unsent);
    }
    // Never handed to the dropped connection: they go first, in order, on
    // the next one, even past the outbox limits (they were accepted).
    for (const entry of unsent) this.#outboxBytes += entry.size;
    this.#outbox = unsent.concat(this.#outbox);
    const attempt = ++this.#retries;
    // 0 * Infinity is NaN: with no initial delay, the bound stays 0.
    const cap = this.#initialDelay === 0 ? 0 : Math.min(
      this.#maxDelay,
      this.#initialDelay * this.#factor ** (attempt - 1),
    );
    const delay = Math.round(Math.random() * cap);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#open(false);
    }, delay);
    this.#setState("reconnecting");
    this.dispatchEvent(
      new ClientEvent("reconnecting", {
        state: "reconnecting",
        attempt,
        delay,
        closeInfo: info,
      }),
    );
  }

  #shutdown(code: number, reason: string): void {
    if (this.#closing || this.#state === "closed") return;
    this.#closing = { code, reason };
    clearTimeout(this.#openTimer);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#socket) {
      const connecting = this.#socket.readyState === 0;
      this.#socket.close(code, reason);
      // A Socket carries out a close asked for while connecting once open;
      // the client stops the attempt instead of waiting for it.
      if (connecting && this.#raw) abandon(this.#raw, reason);
    } else this.#finish({ code, reason, wasClean: false }, []);
  }

  #finish(info: CloseInfo, unsent: Outgoing[]): void {
    if (this.#info) return;
    this.#info = info;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
    const dropped = unsent.concat(this.#outbox);
    this.#outbox = [];
    this.#outboxBytes = 0;
    for (const entry of dropped) {
      entry.reject(new SocketClosedError(info.code, info.reason));
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter(DONE);
    if (waiters.length > 0) this.#reading = false;
    this.#settle?.(info);
    this.#settle = undefined;
    this.#setState("closed");
    this.dispatchEvent(
      new ClientEvent("close", { state: "closed", closeInfo: info }),
    );
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.dispatchEvent(new ClientEvent("statechange", { state }));
  }
}

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
 * @param url The `ws:` or `wss:` URL.
 * @param options Backoff, outbox and socket options, an abort signal.
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
export function connect(url: string | URL, options?: ClientOptions): Client {
  return new Client(url, options);
}

/**
 * The HTTP status of a refused handshake that retrying cannot fix: a 4xx
 * other than 408 (request timeout) and 429 (too many requests), read from
 * the reason of a connection that never opened. Deno's `WebSocket` reports
 * "failed to connect to WebSocket: Invalid status code: 404" in its error
 * event; the fallback's stream "The event stream was refused: 404 ...". A
 * browser's `WebSocket` tells scripts nothing of the status.
 */
function refusedStatus(reason: string): number | undefined {
  const match = /(?:status code|was refused):?\s*(\d{3})\b/i.exec(reason);
  if (match === null) return undefined;
  const status = Number(match[1]);
  return status >= 400 && status <= 499 && status !== 408 && status !== 429
    ? status
    : undefined;
}

/** Stops a connection attempt that has not opened (it then closes as 1006). */
function abandon(ws: WebSocket, reason: string): void {
  try {
    ws.close(1000, reason);
  } catch {
    // Already closed.
  }
}
