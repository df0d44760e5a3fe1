/**
 * The {@linkcode Socket}: any web-standard `WebSocket` as an async iterable of
 * messages, with a settled-once `closed` promise, `send()` with backpressure
 * and a validating, idempotent `close()`.
 *
 * This file uses no Deno API, so it runs in browsers too.
 *
 * @module
 */

import {
  checkClose,
  type CloseInfo,
  type Message,
  reasonTooLong,
} from "./message.ts";
import { optionalSignal } from "./_validate.ts";
import { socketConfig } from "./_socket_config.ts";
import { capture, DONE, take } from "./_inbox.ts";
import { Receiver } from "./_receiver.ts";
import { CLOSED, CLOSING, CONNECTING, OPEN } from "./_ready_state.ts";
import { type Data, SendQueue } from "./_send_queue.ts";
import { SocketClosedError } from "./socket_closed_error.ts";
import { Closing } from "./_closing.ts";
import { internals, loopOver, SocketPort } from "./_socket_internals.ts";
import { guard, observeMessage } from "./_observer_calls.ts";

import type { SocketOptions } from "./socket_options.ts";
import type { SessionInfo } from "./session/options.ts";
import type { Principal } from "./auth/principal.ts";
import { principalOf } from "./auth/_principals.ts";
import type { ConnectionObserver } from "./observe.ts";

export { SocketClosedError } from "./socket_closed_error.ts";
export type { SocketOptions } from "./socket_options.ts";

const RESOLVED: Promise<void> = Promise.resolve();
// Deno keeps a copy of the options with each listener: given `false` (no
// capture) the copy is a field smaller than for an options object.
const LISTEN = false;
const ONCE: AddEventListenerOptions = Object.freeze({
  capture: false,
  once: true,
});

/**
 * A WebSocket connection as an `AsyncIterable<Message>`.
 *
 * Wraps any web-standard `WebSocket`: the server side from
 * `Deno.upgradeWebSocket` (usually through {@linkcode upgrade} or
 * {@linkcode route}) or a client `new WebSocket(url)`. Messages that arrive
 * before anyone iterates are kept, in order; the loop ends when the
 * connection closes, and {@linkcode Socket.closed} then tells why.
 *
 * @example Echo every message in kind
 * ```ts ignore
 * import { upgrade } from "@switchboard/switchboard";
 *
 * Deno.serve(async (request) => {
 *   const { socket, response } = upgrade(request);
 *   (async () => {
 *     for await (const msg of socket) await socket.send(msg.data);
 *     console.log("closed", await socket.closed);
 *   })();
 *   return response;
 * });
 * ```
 */
export class Socket implements AsyncIterable<Message>, AsyncDisposable {
  #ws: WebSocket;
  #state: number;
  /** Messages sent, for statistics. */
  #out = 0;
  /** Received messages, their bounds and counts, and the loop's inbox. */
  #rx: Receiver;

  /**
   * An upper bound on the runtime's bufferedAmount, read only when needed;
   * unknown (the high-water mark) until the first send reads it: what a
   * Socket wraps may hold sends from the start (a resumable session being
   * handed off).
   */
  #buffered: number;
  /** Sends waiting for the buffer to drain; made on the first that waits. */
  #sends: SendQueue | undefined;

  /** The close this side started, once it has. */
  #closing: Closing | undefined;
  #info: CloseInfo | undefined;
  #closed: Promise<CloseInfo> | undefined;
  #settle: ((info: CloseInfo) => void) | undefined;
  /** The route's bookkeeping, told of the close without a promise. */
  #onFinish: ((socket: Socket, info: CloseInfo) => void) | undefined;
  #error = "";
  #signal: AbortSignal | undefined;
  /** Made when `signal` is first read. */
  #abort: AbortController | undefined;
  /** The listener of the runtime's events and the loop's iterator. */
  #listener: SocketPort;
  /** Told of every message and the close, when the route observes. */
  #observer: ConnectionObserver | undefined;

  static {
    internals.shutdown = (socket, code, reason) =>
      socket.#shutdown(code, reason);
    internals.dispatch = (socket, event) => socket.#dispatch(event);
    internals.next = (socket) => socket.#rx.next();
    internals.sink = (socket, sink) => socket.#rx.sink = sink;
    internals.leave = (socket) => {
      socket.#rx.reading = false;
      // Nobody reads what is left once the loop is gone: let it go now rather
      // than with the socket.
      socket.#rx.clear();
      socket.#shutdown(1000, "", true);
      return Promise.resolve(DONE);
    };
    internals.discard = (socket) => socket.#rx.clear();
    internals.counters = (socket) => ({
      in: socket.#rx.count,
      out: socket.#out,
      charged: socket.#rx.count + socket.#rx.extra,
    });
    internals.charge = (socket, count) => {
      if (socket.#info !== undefined || !socket.#rx.accepting) return false;
      const refused = socket.#rx.charge(count);
      if (refused === undefined) return true;
      socket.#shutdown(refused.code, refused.reason);
      return false;
    };
    internals.pending = (socket) => socket.#sends?.bytes ?? 0;
    internals.waiting = (socket) =>
      socket.#sends !== undefined && !socket.#sends.empty;
    internals.host = (socket) => ({
      get writable() {
        return socket.#isOpen();
      },
      measure: () => socket.#buffered = socket.#ws.bufferedAmount,
      sent: (data, size) => {
        socket.#buffered += size;
        socket.#out++;
        if (socket.#observer) observeMessage(socket.#observer, "out", data);
      },
      stuck: (reason) => socket.#shutdown(1008, reason),
    });
    internals.limits = (socket) => ({
      // A resumable session gates every send itself (the Socket's own mark
      // is 1) and tells the layers above the real one.
      highWaterMark: (socket.#ws as { highWaterMark?: number }).highWaterMark ??
        socket.#rx.bounds.highWaterMark,
      maxMessageSize: socket.#rx.maxMessageSize,
    });
    internals.limitInbound = (socket, limit) => socket.#rx.rateLimit = limit;
    internals.observe = (socket, observer) => {
      if (socket.#info) guard(() => observer.close(socket.#info!));
      else socket.#observer = observer;
    };
    internals.watch = (socket, onClose) => {
      if (socket.#info) onClose(socket, socket.#info);
      else socket.#onFinish = onClose;
    };
  }

  /**
   * Wraps a `WebSocket`. Its `binaryType` is set to `"arraybuffer"`.
   *
   * @param ws The WebSocket to wrap, in any state.
   * @param options Buffer and size limits, an abort signal, the protocol.
   * @throws {TypeError} When `ws` is not a WebSocket-like object or an option
   * has the wrong type.
   * @throws {RangeError} When a size option is not a positive integer.
   *
   * @example Wrapping a client WebSocket
   * ```ts ignore
   * import { Socket } from "@switchboard/switchboard";
   *
   * await using socket = new Socket(new WebSocket("wss://echo.example"));
   * await socket.send("hello");
   * for await (const msg of socket) console.log(msg);
   * ```
   */
  constructor(ws: WebSocket, options: SocketOptions = {}) {
    if (
      ws === null || typeof ws !== "object" ||
      typeof ws.send !== "function" || typeof ws.addEventListener !== "function"
    ) {
      throw new TypeError("Cannot wrap socket: expected a WebSocket object");
    }
    const { signal } = options;
    this.#rx = new Receiver(socketConfig(options));
    this.#buffered = this.#rx.bounds.highWaterMark;
    optionalSignal(signal);
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    this.#listener = new SocketPort(this);
    ws.addEventListener("message", this.#listener, LISTEN);
    ws.addEventListener("close", this.#listener, LISTEN);
    ws.addEventListener("error", this.#listener, LISTEN);
    // No "open" listener yet: the state is read from `ws` until something
    // has to wait for the open (see #isOpen and #awaitOpen).
    this.#state = ws.readyState;
    if (this.#state === CLOSED) {
      this.#finish(1006, "The WebSocket was already closed", false);
    }
    if (signal) {
      this.#signal = signal;
      if (signal.aborted) this.#shutdown(1001, "Going away");
      else signal.addEventListener("abort", this.#listener, ONCE);
    }
  }

  /**
   * The subprotocol in use, `""` when none was negotiated (or, on a client
   * socket, until it opens).
   */
  get protocol(): string {
    return this.#rx.bounds.protocol ?? this.#ws.protocol ?? "";
  }

  /**
   * The connection state, with the values of `WebSocket.readyState`:
   * 0 connecting, 1 open, 2 closing, 3 closed.
   */
  get readyState(): number {
    this.#isOpen();
    return this.#state;
  }

  /**
   * The resumable session this socket carries (its id and counters), or
   * `undefined` on a plain connection. See the `resume` option of
   * {@linkcode route} and docs/sessions.md.
   */
  get session(): SessionInfo | undefined {
    return (this.#ws as { session?: SessionInfo }).session;
  }

  /**
   * Who is on the other end: what the route's `authenticate` returned for
   * the handshake, replaced by each refresh in place (see
   * docs/auth.md); `undefined` without `authenticate`, and on a client
   * socket.
   */
  get principal(): Principal | undefined {
    return principalOf(this);
  }

  /** Bytes handed to the runtime and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * An `AbortSignal` that aborts once the socket starts closing or has
   * closed, by either side, with a {@linkcode SocketClosedError} naming the
   * close code as its reason. Pass it to `fetch`, timers and RPC calls so
   * that work for a connection stops with it.
   *
   * @example A push loop that stops when the client leaves
   * ```ts ignore
   * import { route } from "@switchboard/switchboard";
   *
   * export const ticks = route("/ticks", async (socket) => {
   *   while (!socket.signal.aborted) {
   *     await socket.send(new Date().toISOString());
   *     await new Promise((resolve) => setTimeout(resolve, 1000));
   *   }
   * });
   * ```
   */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      // A soft close (the loop left) is settled one task later, when a
      // handler's throw can still turn it into 1011: until then it is not
      // the close to report.
      const closing = this.#closing;
      const info = this.#info ??
        (closing !== undefined && (!closing.soft || closing.frameSent)
          ? closing
          : undefined);
      if (info !== undefined) {
        this.#abort.abort(
          new SocketClosedError(info.code, info.reason, undefined, !this.#info),
        );
      }
    }
    return this.#abort.signal;
  }

  /**
   * Settles once, when the connection has closed, with its code, reason and
   * whether the close was clean. Never rejects.
   */
  get closed(): Promise<CloseInfo> {
    if (this.#closed === undefined) {
      if (this.#info) this.#closed = Promise.resolve(this.#info);
      else {
        this.#closed = new Promise<CloseInfo>(capture);
        this.#settle = take();
      }
    }
    return this.#closed;
  }

  /**
   * Sends a text (string) or binary (Uint8Array, ArrayBuffer) message.
   *
   * Resolves at once while the send buffer holds less than `highWaterMark`
   * bytes; otherwise waits until it drains. Messages go out in call order.
   *
   * @param data The message: a string is sent as text, bytes as binary.
   * @returns A promise that resolves once the message is handed to the
   * runtime.
   * @throws {SocketClosedError} (as a rejection) when the socket is closing or
   * closed, naming the close code.
   * @throws {TypeError} (as a rejection) when `data` is of another type.
   *
   * @example Sending text and bytes
   * ```ts ignore
   * await socket.send("hello");
   * await socket.send(new Uint8Array([1, 2, 3]));
   * ```
   */
  send(data: string | Uint8Array | ArrayBuffer): Promise<void> {
    let size: number;
    if (typeof data === "string") size = data.length * 3;
    else if (data instanceof Uint8Array) {
      size = data.byteLength;
      // A view of a whole buffer goes out as the buffer itself: Deno sends an
      // ArrayBuffer through a fast call and a view through a slow one.
      const buffer = data.buffer;
      if (
        data.byteOffset === 0 && buffer instanceof ArrayBuffer &&
        buffer.byteLength === size
      ) data = buffer;
    } else if (data instanceof ArrayBuffer) size = data.byteLength;
    else {
      return Promise.reject(
        new TypeError(
          "Cannot send message: expected a string, Uint8Array or ArrayBuffer",
        ),
      );
    }
    if (
      this.#state !== OPEN ||
      (this.#sends !== undefined && !this.#sends.empty)
    ) {
      return this.#sendLater(data, size);
    }
    if (this.#buffered >= this.#rx.bounds.highWaterMark) {
      this.#buffered = this.#ws.bufferedAmount;
      if (this.#buffered >= this.#rx.bounds.highWaterMark) {
        return this.#sendLater(data, size);
      }
    }
    this.#ws.send(data);
    this.#buffered += size;
    this.#out++;
    if (this.#observer) observeMessage(this.#observer, "out", data);
    return RESOLVED;
  }

  /**
   * Starts the closing handshake. Calling it again, or after the peer closed,
   * does nothing, with one exception: it replaces the 1000 of a loop left
   * early whose close frame has not gone out yet (that waits one task).
   * Messages waiting for the send buffer to drain are written first.
   *
   * @param code The close code. A server-side socket (from `upgrade()` or
   * `route()`, over either transport) may close with any code RFC 6455 lets
   * travel: 1000-1003, 1007-1014 and 3000-4999 (1008 to refuse a bad token,
   * 1001 going away, 1011 an error). A client socket (a browser's or Deno's
   * `new WebSocket(url)`) may use only 1000 and 3000-4999, as those runtimes
   * refuse the others.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code is not allowed for this side (1004,
   * 1005, 1006 and 1015 never are) or the reason is over 123 bytes.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example Refusing a client with 1008
   * ```ts ignore
   * socket.close(1008, "Unauthorized");
   * console.log(await socket.closed);
   * ```
   */
  close(code = 1000, reason = ""): void {
    // A server-side WebSocket has no URL (Deno's, the fallback's session); a
    // client one has the URL it was opened with.
    checkClose(code, reason, !this.#ws.url);
    this.#shutdown(code, reason);
  }

  /**
   * Closes with 1000 if still open and waits for the connection to end.
   *
   * @returns A promise that resolves once the socket is closed.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using socket = new Socket(new WebSocket(url));
   *   await socket.send("bye");
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#shutdown(1000, "", true);
    await this.closed;
  }

  /**
   * Iterates the messages in arrival order. The loop ends when the
   * connection closes; leaving it early (`break`, `return`, a throw) closes
   * the socket with 1000. One loop at a time.
   *
   * @returns The iterator.
   * @throws {TypeError} When another loop is already reading this socket.
   *
   * @example Reading until the peer closes
   * ```ts ignore
   * for await (const msg of socket) {
   *   if (msg.type === "text") console.log(msg.data);
   * }
   * console.log(await socket.closed);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    this.#rx.claim("socket");
    return loopOver(this, this.#listener);
  }

  #dispatch(event: Event): void {
    switch (event.type) {
      case "message":
        return this.#onMessage((event as MessageEvent).data);
      case "close": {
        const { code, reason, wasClean } = event as CloseEvent;
        return this.#onClose(code, reason, wasClean);
      }
      case "error":
        this.#error = (event as ErrorEvent).message ?? "";
        return;
      case "open":
        return this.#opened();
      case "abort":
        return this.#shutdown(1001, "Going away");
    }
  }

  /**
   * Whether the connection is open. Until something waits for the open, no
   * "open" listener is kept (one listener list less per connection): while
   * this socket still says connecting, the runtime's `readyState` is read.
   */
  #isOpen(): boolean {
    if (this.#state === CONNECTING && this.#ws.readyState === OPEN) {
      this.#opened();
    }
    return this.#state === OPEN;
  }

  /** A send or a close waits for the open: listen for it, once. */
  #awaitOpen(): void {
    this.#ws.addEventListener("open", this.#listener, ONCE);
  }

  /** The open, from its event or read from the runtime's `readyState`. */
  #opened(): void {
    if (this.#state === CONNECTING) {
      this.#state = OPEN;
      this.#sends?.start();
    } else if (this.#state === CLOSING) this.#closeNow();
  }

  #onMessage(data: unknown): void {
    const refused = this.#rx.receive(data);
    if (refused !== undefined) this.#shutdown(refused.code, refused.reason);
    else if (this.#observer && this.#rx.accepting) {
      observeMessage(this.#observer, "in", data);
    }
  }

  #onClose(code: number, reason: string, wasClean: boolean): void {
    if (this.#info) return;
    if (code === 0 || code === 1006) {
      // Deno drops the connection when data arrives after its close frame:
      // the close this side asked for is still why the connection ended.
      const closing = this.#closing;
      if (closing?.frameSent) {
        this.#finish(closing.code, closing.reason, false);
      } else this.#finish(1006, reason || this.#error, false);
    } else if (reasonTooLong(reason)) {
      // Deno accepts a close frame over 125 bytes; RFC 6455 5.5 forbids it.
      this.#finish(1002, "Close frame over 125 bytes", false);
    } else this.#finish(code, reason, wasClean);
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    const info: CloseInfo = { code, reason, wasClean };
    this.#info = info;
    this.#state = CLOSED;
    this.#rx.accepting = false;
    if (this.#closing !== undefined) clearTimeout(this.#closing.timer);
    this.#signal?.removeEventListener("abort", this.#listener);
    this.#signal = undefined;
    // Deno keeps a connection that ended without a close frame until its
    // keepalive timer fires: the socket, and what its loop left unread, must
    // not stay reachable from it that long.
    const ws = this.#ws;
    ws.removeEventListener("message", this.#listener, LISTEN);
    ws.removeEventListener("close", this.#listener, LISTEN);
    ws.removeEventListener("error", this.#listener, LISTEN);
    ws.removeEventListener("open", this.#listener, ONCE);
    this.#abortSignal(info);
    this.#sends?.reject(code, reason);
    this.#rx.end();
    this.#settle?.(info);
    this.#settle = undefined;
    const onFinish = this.#onFinish;
    this.#onFinish = undefined;
    onFinish?.(this, info);
    const observer = this.#observer;
    this.#observer = undefined;
    if (observer) guard(() => observer.close(info));
  }

  /**
   * Starts the close. A soft close (leaving the loop, `await using`) waits
   * one task before the frame goes out, so that a handler's throw that left
   * the loop can still turn it into 1011; any other close overrides it.
   */
  #shutdown(code: number, reason: string, soft = false): void {
    if (this.#state >= CLOSING) {
      const closing = this.#closing;
      if (
        closing === undefined || !closing.soft || soft || closing.frameSent ||
        this.#state === CLOSED
      ) return;
      closing.soft = false;
      closing.code = code;
      closing.reason = reason;
      if (closing.timer !== undefined) {
        clearTimeout(closing.timer);
        closing.timer = undefined;
        this.#closeNow();
      }
      return;
    }
    const wasOpen = this.#isOpen();
    this.#state = CLOSING;
    const closing = this.#closing = new Closing(code, reason, soft);
    if (!soft) this.#abortSignal(closing, true);
    // Deno's server side ignores close() before the open event (the
    // connection then stays up), so a close asked for while connecting is
    // carried out on open, after the sends that were waiting for it.
    if (!wasOpen) return this.#awaitOpen();
    if (soft) {
      closing.timer = setTimeout(() => {
        closing.timer = undefined;
        this.#closeNow();
      }, 0);
    } else this.#closeNow();
  }

  #abortSignal(info: CloseInfo, closing = false): void {
    const abort = this.#abort;
    if (abort === undefined || abort.signal.aborted) return;
    abort.abort(
      new SocketClosedError(info.code, info.reason, undefined, closing),
    );
  }

  #closeNow(): void {
    // Accepted messages are not dropped: what waited for the buffer to
    // drain is written ahead of the close frame.
    this.#sends?.drain();
    const closing = this.#closing as Closing;
    const { code, reason } = closing;
    closing.frameSent = true;
    this.#abortSignal(closing, true);
    try {
      this.#ws.close(code, reason);
    } catch {
      // A browser's close() refuses codes other than 1000 and 3000-4999
      // (1001, 1008, 1009 ...): close with 1000 and keep the reason, rather
      // than leave the socket half closed.
      try {
        this.#ws.close(1000, reason);
      } catch {
        // Already closed underneath us: the close event settles the socket.
      }
    }
  }

  #sendLater(data: Data, size: number): Promise<void> {
    if (this.#state >= CLOSING) {
      const info = this.#info ?? this.#closing;
      return Promise.reject(
        new SocketClosedError(
          info?.code ?? 1006,
          info?.reason ?? "",
          undefined,
          this.#info === undefined,
        ),
      );
    }
    if (this.#state === CONNECTING) {
      if (this.#isOpen()) return this.send(data);
      this.#awaitOpen();
    }
    this.#sends ??= new SendQueue(
      this.#ws,
      this.#rx.bounds.highWaterMark,
      this.#rx.bounds.sendTimeout,
      internals.host(this),
    );
    return this.#sends.add(data, size);
  }
}
