/**
 * The reconnecting client's state machine, {@linkcode Client}: connecting,
 * open, reconnecting, closed.
 *
 * @module
 */

import {
  type CloseInfo,
  type Message,
  messageSize,
  type Transport,
  utf8Length,
  validateClose,
} from "../message.ts";
import { SocketClosedError } from "../socket.ts";
import { TypedEventTarget } from "../_typed_event_target.ts";
import { DONE, Inbox } from "../_inbox.ts";
import { Connection, type UrlSource } from "./_connection.ts";
import { ClientAuth } from "./_auth.ts";
import { Outbox } from "./_outbox.ts";
import { RetryPolicy } from "./_retry.ts";
import {
  ClientEvent,
  type ClientEventMap,
  type ClientState,
} from "./events.ts";
import { checkClientOptions, type ClientOptions } from "./options.ts";
import { ClientSession } from "../session/client.ts";
import { ClientRooms, type Rooms } from "./rooms.ts";
import type { SessionInfo } from "../session/options.ts";

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
export class Client extends TypedEventTarget<ClientEventMap>
  implements AsyncIterable<Message>, AsyncDisposable {
  #outbox: Outbox;
  /** Received messages of every connection, in order, for the loop. */
  #inbox: Inbox<Message>;
  #connection: Connection;
  #session: ClientSession | undefined;
  #auth: ClientAuth | undefined;
  #rooms: ClientRooms | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => this.#shutdown(1000, "Aborted");

  #state: ClientState = "connecting";
  #retries: RetryPolicy;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: { code: number; reason: string } | undefined;

  #info: CloseInfo | undefined;
  #closed: Promise<CloseInfo> | undefined;
  #settle: ((info: CloseInfo) => void) | undefined;

  /**
   * Checks the options and opens the first connection. Prefer
   * {@linkcode connect}.
   *
   * @param url The `ws:` or `wss:` URL, or a function giving it, called
   * before every connection attempt.
   * @param options Backoff, outbox and socket options, a token, an abort
   * signal.
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
  constructor(
    url: string | URL | (() => string | Promise<string>),
    options: ClientOptions = {},
  ) {
    super();
    if (
      typeof url !== "string" && !(url instanceof URL) &&
      typeof url !== "function"
    ) {
      throw new TypeError(
        "Invalid url: expected a string, a URL or a function returning one",
      );
    }
    const source: UrlSource = typeof url === "function" ? url : String(url);
    const checked = checkClientOptions(options);
    this.#retries = new RetryPolicy(checked);
    this.#outbox = new Outbox(checked.maxQueued, checked.maxQueuedBytes);
    this.#inbox = new Inbox({
      limit: checked.maxQueuedMessages,
      maxBytes: checked.maxQueuedMessageBytes,
      sizeOf: messageSize,
    });
    if (checked.resume) this.#session = new ClientSession(checked.resume);
    if (checked.token !== undefined) {
      this.#auth = new ClientAuth(
        checked.token,
        checked.tokenIn,
        checked.refreshBefore,
      );
    }
    this.#connection = new Connection(
      source,
      checked,
      this.#outbox,
      this.#inbox,
      {
        closing: () => this.#closing !== undefined,
        opened: () => this.#onOpen(),
        closed: (info, opened, refused) => this.#onClose(info, opened, refused),
        failed: (info) => this.#finish(info),
        divert: (text) => this.#rooms?.receive(text),
      },
      this.#session,
      this.#auth,
    );
    const signal = checked.signal;
    if (signal?.aborted) {
      this.#closing = { code: 1000, reason: "Aborted" };
      this.#finish({ code: 1000, reason: "Aborted", wasClean: false });
      return;
    }
    this.#connection.open(true);
    if (signal) {
      this.#signal = signal;
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /**
   * The URL the client connects to (of the last attempt, when `url` is a
   * function: `""` before the first), without an `access_token` parameter.
   */
  get url(): string {
    return this.#connection.url;
  }

  /**
   * When the principal of the open connection expires, in milliseconds
   * since the epoch by the server's clock, as the server told it (and
   * refreshes move it); `undefined` without a token, before the server
   * told it, or when it never expires.
   */
  get expiresAt(): number | undefined {
    return this.#auth?.expiresAt;
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
    return this.#connection.transport;
  }

  /**
   * The resumable session (its id and counters) with the `resume` option;
   * `undefined` without it. The id is `""` until the first connection opens.
   */
  get session(): SessionInfo | undefined {
    return this.#session?.info();
  }

  /**
   * The hub rooms this client is in with positions: `rooms.join(name)`
   * joins one and rejoins it after every reconnect with the position of the
   * last message it gave, so that nothing is missed or doubled as long as
   * the room's history covers the gap. Rooms frames never reach the
   * client's own loop.
   *
   * @example Chat with recovery
   * ```ts ignore
   * const lobby = client.rooms.join("lobby");
   * for await (const message of lobby) console.log(message.data);
   * ```
   */
  get rooms(): Rooms {
    return this.#rooms ??= new ClientRooms(this, {
      messages: this.#inbox.limit,
      bytes: this.#inbox.maxBytes,
    });
  }

  /** How many messages wait in the outbox for a connection. */
  get queued(): number {
    return this.#outbox.size;
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
    const socket = this.#connection.socket;
    if (this.#state === "open" && socket) {
      return this.#outbox.send(socket, data, size);
    }
    return this.#outbox.queue(data, size);
  }

  /**
   * Refreshes the token in place: gets a token (calls the `token`
   * function), sends it over the open connection, and resolves once the
   * server's `authenticate` accepted it; the connection, its rooms and the
   * calls in flight stay. The client does it by itself `refreshBefore` ms
   * before the principal expires, and when the server asks. The server
   * closes with 4001 when it refuses the token, 4003 when the subject
   * changed (then the promise rejects with that close).
   *
   * @returns A promise that resolves once the server accepted the token.
   * @throws {TypeError} (as a rejection) When the client has no `token`
   * option, or the token function returns no string.
   * @throws {Error} (as a rejection) When the client is not open, or its
   * server does not take refreshes (a route without `authenticate`).
   * @throws {SocketClosedError} (as a rejection) When the connection closes
   * before the server answers.
   *
   * @example Refreshing after a login elsewhere
   * ```ts ignore
   * import { connect } from "@switchboard/switchboard/client";
   *
   * const client = connect("wss://example.com/ws", { token: () => getToken() });
   * await client.refreshToken();
   * console.log("valid until", new Date(client.expiresAt!));
   * ```
   */
  refreshToken(): Promise<void> {
    const auth = this.#auth;
    if (auth === undefined) {
      return Promise.reject(
        new TypeError(
          "Cannot refresh the token: the client was made without a token option",
        ),
      );
    }
    if (this.#state !== "open") {
      return Promise.reject(
        new Error(
          `Cannot refresh the token: the client is ${this.#state}, not open`,
        ),
      );
    }
    return auth.refresh();
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
    this.#inbox.claim("client");
    return {
      next: () => this.#inbox.next(),
      return: () => {
        this.#inbox.reading = false;
        this.#shutdown(1000, "");
        return Promise.resolve(DONE);
      },
    };
  }

  #onOpen(): void {
    this.#setState("open");
    const opened = this.#session?.opened;
    if (opened?.resumed) {
      this.dispatchEvent(
        new ClientEvent("resumed", {
          state: "open",
          resumed: true,
          missed: opened.missed ?? 0,
          moved: opened.moved ?? false,
        }),
      );
    } else {
      this.dispatchEvent(
        new ClientEvent("open", {
          state: "open",
          resumed: false,
          unacknowledged: opened?.unacknowledged ?? 0,
        }),
      );
    }
  }

  /** A connection ended: give up, or retry after a backoff delay. */
  #onClose(
    info: CloseInfo,
    opened: boolean,
    refused: number | undefined,
  ): void {
    if (this.#closing) {
      return this.#finish(
        opened ? info : { ...this.#closing, wasClean: false },
      );
    }
    const uptime = opened ? Date.now() - this.#connection.openedAt : -1;
    const auth = this.#auth;
    if (
      auth !== undefined &&
      (refused === 401 || refused === 403 || info.code === 4001 ||
        info.code === 4003)
    ) {
      // Final, unless the token function now gives another token.
      auth.renew().then((renewed) => {
        if (this.#closing || this.#info) return;
        this.#retry(info, uptime, refused, renewed);
      });
      return;
    }
    this.#retry(info, uptime, refused, false);
  }

  /** Gives up, or schedules the next attempt. */
  #retry(
    info: CloseInfo,
    uptime: number,
    refused: number | undefined,
    renewed: boolean,
  ): void {
    const next = this.#retries.next(info, uptime, refused, renewed);
    if ("code" in next) return this.#finish(next);
    const { attempt, delay } = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connection.open(false);
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
    if (this.#session) this.#session.ending = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#connection.close(code, reason)) {
      this.#finish({ code, reason, wasClean: false });
    }
  }

  #finish(info: CloseInfo): void {
    if (this.#info) return;
    this.#info = info;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#connection.stop();
    this.#session?.stop();
    this.#auth?.stop();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
    this.#outbox.reject(info);
    this.#inbox.end();
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
