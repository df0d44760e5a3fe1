/**
 * The client's outbox: the messages sent while no connection is open, and
 * those an open connection's `Socket` holds while its send buffer is full.
 * Internal; no Deno APIs.
 *
 * @module
 */

import type { CloseInfo } from "../message.ts";
import { type Socket, SocketClosedError } from "../socket.ts";
import { sendsWaiting } from "../_socket_internals.ts";
import { OPEN } from "../_ready_state.ts";
import { OutboxFullError } from "./errors.ts";

type Data = string | Uint8Array | ArrayBuffer;

/** A message and the promise its `send()` returned. */
interface Outgoing {
  data: Data;
  size: number;
  /** Given to the runtime: it may or may not reach the server, never again. */
  handed: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Sends in call order across connections, none twice: what waits for a
 * connection (`maxQueued` messages, `maxQueuedBytes` bytes at most) goes
 * out first when one opens, and what a connection held but never handed to
 * the runtime goes back to the front when it drops.
 */
export class Outbox {
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  /** Sends waiting for a connection, in order. */
  #waiting: Outgoing[] = [];
  #waitingBytes = 0;
  /** Sends waiting in the open Socket for its send buffer, in order. */
  #inSocket: Outgoing[] = [];
  #inSocketBytes = 0;
  /** A send waiting in the Socket was handed since the watchdog last looked. */
  progressed = false;

  /**
   * @param maxQueued How many messages may wait, for a connection or in it.
   * @param maxQueuedBytes How many bytes may wait, counted the same way.
   */
  constructor(maxQueued: number, maxQueuedBytes: number) {
    this.#maxQueued = maxQueued;
    this.#maxQueuedBytes = maxQueuedBytes;
  }

  /** How many messages wait for a connection. */
  get size(): number {
    return this.#waiting.length;
  }

  /** Whether sends wait in the open Socket for its send buffer to drain. */
  get stalled(): boolean {
    return this.#inSocket.length > 0;
  }

  /**
   * Keeps a message (bytes are copied) for the next connection.
   *
   * @param data The message.
   * @param size Its size in bytes (UTF-8 for text).
   * @returns Resolves once a connection takes it; an unawaited rejection
   * raises no unhandled rejection.
   * @throws {OutboxFullError} (as a rejection) past the limits.
   */
  queue(data: Data, size: number): Promise<void> {
    const full = this.#full(this.#waiting.length, this.#waitingBytes, size);
    if (full) return Promise.reject(full);
    const copy = typeof data === "string"
      ? data
      : data instanceof Uint8Array
      ? data.slice()
      : data.slice(0);
    const promise = new Promise<void>((resolve, reject) => {
      this.#waiting.push({ data: copy, size, handed: false, resolve, reject });
    });
    this.#waitingBytes += size;
    promise.catch(() => {});
    return promise;
  }

  /**
   * Sends a message over the open socket. While sends wait in it for a
   * send buffer that does not drain (a server that reads nothing), they are
   * bounded like the queue; the first that has to wait is always taken.
   *
   * @param socket The open connection.
   * @param data The message.
   * @param size Its size in bytes (UTF-8 for text).
   * @returns Resolves once the socket has handed it to the runtime.
   * @throws {OutboxFullError} (as a rejection) past the limits.
   */
  send(socket: Socket, data: Data, size: number): Promise<void> {
    if (this.#inSocket.length > 0) {
      const full = this.#full(
        this.#inSocket.length,
        this.#inSocketBytes,
        size,
      );
      if (full) return Promise.reject(full);
    }
    return new Promise((resolve, reject) =>
      this.#hand(socket, { data, size, handed: false, resolve, reject })
    );
  }

  /**
   * Hands every waiting message, in order, to a connection that just opened.
   *
   * @param socket The open connection.
   */
  flush(socket: Socket): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#waitingBytes = 0;
    for (const entry of waiting) this.#hand(socket, entry);
  }

  /**
   * The client leaves the open socket without waiting for its close
   * handshake: the sends waiting in it go out ahead of its close frame, so
   * they count as handed.
   */
  leave(): void {
    for (const entry of this.#inSocket) entry.handed = true;
  }

  /**
   * The connection is gone: what it never handed to the runtime goes first,
   * in order, on the next one, even past the limits (it was accepted).
   */
  requeue(): void {
    const unsent = this.#inSocket.filter((entry) => !entry.handed);
    this.#inSocket = [];
    this.#inSocketBytes = 0;
    for (const entry of unsent) this.#waitingBytes += entry.size;
    this.#waiting = unsent.concat(this.#waiting);
  }

  /**
   * The client closed for good: every message no connection took rejects
   * with a {@linkcode SocketClosedError}.
   *
   * @param info How the client closed.
   */
  reject(info: CloseInfo): void {
    this.requeue();
    const dropped = this.#waiting;
    this.#waiting = [];
    this.#waitingBytes = 0;
    for (const entry of dropped) {
      entry.reject(new SocketClosedError(info.code, info.reason));
    }
  }

  #full(count: number, bytes: number, size: number): Error | undefined {
    if (count >= this.#maxQueued) {
      return new OutboxFullError("maxQueued", this.#maxQueued);
    }
    if (bytes + size > this.#maxQueuedBytes) {
      return new OutboxFullError("maxQueuedBytes", this.#maxQueuedBytes);
    }
    return undefined;
  }

  #hand(socket: Socket, entry: Outgoing): void {
    const sent = socket.send(entry.data);
    if (socket.readyState === OPEN && !sendsWaiting(socket)) {
      // Handed at once: nothing waits.
      entry.handed = true;
      entry.resolve();
      return;
    }
    // It waits in the Socket (in order, after any other waiting send).
    this.#inSocket.push(entry);
    this.#inSocketBytes += entry.size;
    sent.then(() => {
      entry.handed = true;
      this.progressed = true;
      while (this.#inSocket[0]?.handed) {
        this.#inSocketBytes -= (this.#inSocket.shift() as Outgoing).size;
      }
      entry.resolve();
    }, () => {
      // Not handed to the runtime: requeue() puts it back in the queue, or
      // reject() rejects it when the client closes.
    });
  }
}
