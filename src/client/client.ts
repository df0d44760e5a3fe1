/**
 * The reconnecting client's state machine: {@linkcode Client} (connecting,
 * open, reconnecting, closed) and {@linkcode connect}.
 *
 * @module
 */

import {
  type CloseInfo,
  type Message,
  type Transport,
  utf8Length,
  validateClose,
} from "../message.ts";
import { closeSocket, Socket, SocketClosedError } from "../socket.ts";
import { DONE, Inbox } from "../_inbox.ts";
import { backoff } from "./_backoff.ts";
import { Outbox } from "./_outbox.ts";
import { abandon, refusedStatus, Transports } from "./_transport.ts";
import { Watchdog } from "./_watchdog.ts";
import {
  ClientEvent,
  type ClientEventMap,
  type ClientState,
} from "./events.ts";
import {
  checkClientOptions,
  type CheckedClientOptions,
  type ClientOptions,
} from "./options.ts";

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
  #options: CheckedClientOptions;
  #transports: Transports;
  #outbox: Outbox;
  /** Received messages of every connection, in order, for the loop. */
  #inbox: Inbox<Message>;
  /** Checks sendTimeout and idleTimeout while a connection is open. */
  #watchdog: Watchdog;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => this.#shutdown(1000, "Aborted");
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  /** What the current Socket wraps: a WebSocket or the fallback's stream. */
  #raw: WebSocket | undefined;
  #openedAt = 0;

  #state: ClientState = "connecting";
  #socket: Socket | undefined;
  #retries = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: { code: number; reason: string } | undefined;

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
    if (typeof url !== "string" && !(url instanceof URL)) {
      throw new TypeError("Invalid url: expected a string or a URL");
    }
    this.#url = String(url);
    const checked = checkClientOptions(options);
    this.#options = checked;
    this.#transports = new Transports(checked.transports);
    this.#outbox = new Outbox(checked.maxQueued, checked.maxQueuedBytes);
    this.#inbox = new Inbox(checked.maxQueuedMessages);
    this.#watchdog = new Watchdog(checked.sendTimeout, checked.idleTimeout);
    const signal = checked.signal;
    if (signal?.aborted) {
      this.#closing = { code: 1000, reason: "Aborted" };
      this.#finish({ code: 1000, reason: "Aborted", wasClean: false });
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
    return this.#transports.current;
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
      return this.#outbox.send(socket, data, size);
    }
    return this.#outbox.queue(data, size);
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
    if (this.#inbox.reading) {
      throw new TypeError(
        "Cannot iterate client: another loop is already reading it",
      );
    }
    this.#inbox.reading = true;
    return {
      next: () => this.#inbox.next(),
      return: () => {
        this.#inbox.reading = false;
        this.#shutdown(1000, "");
        return Promise.resolve(DONE);
      },
    };
  }

  #push(socket: Socket, msg: Message): void {
    this.#watchdog.received = true;
    if (!this.#inbox.push(msg)) {
      this.#drop(
        socket,
        1013,
        `More than ${this.#inbox.limit} messages waiting for the loop`,
      );
    }
  }

  #open(first: boolean): void {
    const options = this.#options;
    let socket: Socket;
    try {
      const ws = this.#transports.open(
        this.#url,
        options.protocols,
        options.fetch,
      );
      socket = new Socket(ws, {
        highWaterMark: options.highWaterMark,
        maxMessageSize: options.maxMessageSize,
        // No send timeout: the Socket would close itself with 1008, which
        // reads as the server's "don't come back" and browsers refuse.
        sendTimeout: 0,
      });
      // Registered after the Socket's own listener, so the Socket is open
      // by the time this runs.
      ws.addEventListener("open", () => this.#onOpen(socket), { once: true });
      this.#raw = ws;
      const transport = this.#transports.current;
      const next = transport === "websocket" && this.#transports.hasNext;
      // A WebSocket with a fallback after it, and the fallback's stream (a
      // buffering proxy can hold its open event back for ever), get
      // openTimeout to open.
      if (next || transport === "sse") {
        this.#openTimer = setTimeout(() => {
          if (this.#socket !== socket || socket.readyState !== 0) return;
          const reason = `No open within ${options.openTimeout} ms`;
          if (next) {
            // Leave this attempt and try the next transport now.
            this.#socket = undefined;
            abandon(ws, reason);
            this.#fallBack();
          } else abandon(ws, reason); // ends with 1006: a retry follows
        }, options.openTimeout);
      }
    } catch (error) {
      if (first) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return this.#finish({ code: 1006, reason, wasClean: false });
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
    if (!this.#isCurrent(socket)) return;
    // The wire gets 1000 where the runtime refuses the code (browsers and
    // Deno's client refuse 1013); closeInfo keeps the code.
    closeSocket(socket, code === 1006 ? 1000 : code, reason);
    this.#outbox.leave();
    this.#onDrop(socket, { code, reason, wasClean: false });
  }

  /** Whether the socket is the client's open connection, still in use. */
  #isCurrent(socket: Socket): boolean {
    return this.#socket === socket && !this.#closing &&
      socket.readyState === 1;
  }

  #onOpen(socket: Socket): void {
    if (!this.#isCurrent(socket)) return;
    clearTimeout(this.#openTimer);
    this.#openedAt = Date.now();
    this.#outbox.flush(socket);
    this.#watchdog.start(
      () => this.#socket === socket && !this.#closing,
      this.#outbox,
      (reason) => this.#drop(socket, 1006, reason),
    );
    this.#setState("open");
    this.dispatchEvent(new ClientEvent("open", { state: "open" }));
  }

  /** Opens the next transport after the current one failed to open. */
  #fallBack(): void {
    clearTimeout(this.#openTimer);
    // Sends given to the attempt that never opened go first on the next.
    this.#outbox.requeue();
    this.#transports.next();
    this.#open(false);
  }

  #onDrop(socket: Socket, info: CloseInfo): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    const opened = this.#state === "open";
    if (
      !opened && !this.#closing && this.#transports.current === "websocket" &&
      this.#transports.hasNext
    ) {
      // A refused upgrade: fall back now, without counting a retry.
      return this.#fallBack();
    }
    clearTimeout(this.#openTimer);
    this.#watchdog.stop();
    // When no transport opened, the next attempt starts again with the
    // first (a server that was down is no reason to stay on the fallback);
    // otherwise it starts with the one that opened.
    const status = opened || this.#closing
      ? undefined
      : refusedStatus(info.reason);
    if (!opened && status === undefined) this.#transports.restart();
    const options = this.#options;
    if (opened && Date.now() - this.#openedAt >= options.minUptime) {
      this.#retries = 0;
    }
    // Never handed to the dropped connection: they go first, in order, on
    // the next one (or are rejected below when the client ends).
    this.#outbox.requeue();
    if (this.#closing) {
      return this.#finish(
        opened ? info : { ...this.#closing, wasClean: false },
      );
    }
    if (status !== undefined) {
      // A wrong path, a refused origin or credentials: retrying cannot help.
      return this.#finish({
        code: 1006,
        reason: `Handshake refused: ${status}`,
        wasClean: false,
      });
    }
    if (
      info.code === 1008 || options.isFinal(info.code) ||
      this.#retries >= options.maxRetries
    ) {
      return this.#finish(info);
    }
    const attempt = ++this.#retries;
    const delay = backoff(attempt, options.backoff, Math.random());
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
    } else this.#finish({ code, reason, wasClean: false });
  }

  #finish(info: CloseInfo): void {
    if (this.#info) return;
    this.#info = info;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watchdog.stop();
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
