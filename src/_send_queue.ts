/**
 * The sends of a `Socket` that wait for its send buffer to drain: Deno has
 * no drain event, so the queue polls `bufferedAmount`, backing off while
 * nothing drains, and reports a peer that read nothing for `sendTimeout` ms.
 * Made on the first send that has to wait; internal; runs in browsers.
 *
 * @module
 */

import { SocketClosedError } from "./socket_closed_error.ts";

/** What may be sent: text, or bytes as a view or a whole buffer. */
export type Data = string | Uint8Array | ArrayBuffer;

interface PendingSend {
  data: Data;
  size: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The socket a queue writes for, told of what happens without closures. */
export interface SendHost {
  /** Whether queued messages may go out now (the socket is open). */
  readonly writable: boolean;
  /** Reads the runtime's `bufferedAmount` and keeps it as the socket's bound. */
  measure(): number;
  /** A queued message of `size` bytes was handed to the runtime. */
  sent(data: Data, size: number): void;
  /** Nothing drained for `sendTimeout` ms: the socket closes with 1008. */
  stuck(reason: string): void;
}

const MAX_POLL_MS = 32;

/** The queue of sends waiting for the send buffer, in call order. */
export class SendQueue {
  #ws: WebSocket;
  #highWaterMark: number;
  #sendTimeout: number;
  #host: SendHost;
  #items: PendingSend[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delay = 1;
  #stalledSince = 0;

  /**
   * @param ws The runtime's socket.
   * @param highWaterMark Bytes the send buffer may hold.
   * @param sendTimeout Milliseconds without progress before `host.stuck()`;
   * 0 for never.
   * @param host The socket, told of sends and of a stuck peer.
   */
  constructor(
    ws: WebSocket,
    highWaterMark: number,
    sendTimeout: number,
    host: SendHost,
  ) {
    this.#ws = ws;
    this.#highWaterMark = highWaterMark;
    this.#sendTimeout = sendTimeout;
    this.#host = host;
  }

  /** Whether no send waits. */
  get empty(): boolean {
    return this.#items.length === 0;
  }

  /** The bytes of the sends that wait. */
  get bytes(): number {
    let bytes = 0;
    for (const send of this.#items) bytes += send.size;
    return bytes;
  }

  /**
   * Queues a send behind the others.
   *
   * @param data The message.
   * @param size Its size as the socket counts it.
   * @returns Settles when it is handed to the runtime, or rejects on close.
   */
  add(data: Data, size: number): Promise<void> {
    if (this.#items.length === 0) this.#stalledSince = Date.now();
    return new Promise((resolve, reject) => {
      this.#items.push({ data, size, resolve, reject });
      if (this.#host.writable && this.#timer === undefined) this.#poll();
    });
  }

  /** The socket opened: write what fits, then poll for the rest. */
  start(): void {
    this.#flush();
    if (this.#items.length > 0 && this.#timer === undefined) this.#poll();
  }

  /**
   * Writes every waiting send at once, ahead of a close frame: accepted
   * messages are not dropped.
   */
  drain(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items;
    this.#items = [];
    for (const send of items) {
      try {
        this.#ws.send(send.data);
        this.#host.sent(send.data, send.size);
        send.resolve();
      } catch (error) {
        send.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /**
   * Rejects every waiting send with a {@linkcode SocketClosedError}.
   *
   * @param code The close code to name.
   * @param reason The close reason to name.
   */
  reject(code: number, reason: string): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items;
    this.#items = [];
    for (const send of items) send.reject(new SocketClosedError(code, reason));
  }

  #poll(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const waiting = this.#items.length;
      this.#flush();
      if (this.#items.length === 0) {
        this.#delay = 1;
        return;
      }
      if (this.#items.length < waiting) {
        this.#stalledSince = Date.now();
        this.#delay = 1;
      } else if (
        this.#sendTimeout > 0 &&
        Date.now() - this.#stalledSince >= this.#sendTimeout
      ) {
        const reason =
          `Send timeout: the peer read nothing for ${this.#sendTimeout} ms`;
        // A stuck peer's backlog is refused, not pushed into the runtime.
        this.reject(1008, reason);
        return this.#host.stuck(reason);
      } else {
        // No drain event: poll, backing off while nothing drains.
        this.#delay = Math.min(this.#delay * 2, MAX_POLL_MS);
      }
      this.#poll();
    }, this.#delay);
  }

  #flush(): void {
    if (!this.#host.writable || this.#items.length === 0) return;
    let buffered = this.#host.measure();
    const items = this.#items;
    let i = 0;
    while (i < items.length && buffered < this.#highWaterMark) {
      const send = items[i++] as PendingSend;
      this.#ws.send(send.data);
      buffered += send.size;
      this.#host.sent(send.data, send.size);
      send.resolve();
    }
    if (i === items.length) this.#items = [];
    else items.splice(0, i);
  }
}
