/**
 * The receiving side of a `Socket`: turns the runtime's message events into
 * {@linkcode Message}s, enforces `maxMessageSize`, the rate limit and the
 * inbox bound, and keeps the counts. It closes nothing itself: it tells the
 * socket which close the connection needs. Internal; runs in browsers.
 *
 * @module
 */

import { type Message, utf8Length } from "./message.ts";
import type { SocketConfig } from "./_socket_config.ts";
import { Inbox } from "./_inbox.ts";

/** A close the receiver asks for: code and reason. */
export interface Refusal {
  code: number;
  reason: string;
}

const RATE_LIMITED: Refusal = Object.freeze({
  code: 1008,
  reason: "Message rate limit exceeded",
});

/**
 * What a socket has received, and the bounds it receives under: the inbox of
 * its loop (one object, not two, per connection) with the checks in front.
 */
export class Receiver extends Inbox<Message> {
  /** The socket's limits, shared with the other sockets of its route. */
  declare readonly bounds: SocketConfig;
  /** Messages received. */
  count = 0;
  /**
   * Units charged against the rate limit beyond one per message (the
   * entries of an RPC batch past the first).
   */
  extra = 0;
  /**
   * Past this many charged units the connection closes with 1008; 0 for no
   * limit (a small integer, unlike Infinity, takes no heap box per socket).
   */
  rateLimit = 0;
  /** Cleared once the connection is refused or closed: later data is dropped. */
  accepting = true;

  /**
   * @param limits The socket's limits: the largest message, and how many
   * messages and bytes may wait for the loop.
   */
  constructor(limits: SocketConfig) {
    super(limits);
  }

  /** The largest message accepted, in bytes. */
  get maxMessageSize(): number {
    return this.bounds.maxMessageSize;
  }

  /**
   * Takes one message event's data.
   *
   * @param data A string (text) or an ArrayBuffer (binary); other data is
   * ignored.
   * @returns `undefined` when the message was taken (or ignored), or the
   * close the connection needs: 1009 too big, 1008 over the rate limit, 1013
   * too many waiting for the loop.
   */
  receive(data: unknown): Refusal | undefined {
    if (!this.accepting) return undefined;
    const bounds = this.bounds;
    let msg: Message;
    if (typeof data === "string") {
      if (
        data.length > bounds.maxChars &&
        utf8Length(data) > bounds.maxMessageSize
      ) {
        return this.#refuse(this.#tooBig(utf8Length(data)));
      }
      msg = { type: "text", data };
    } else if (data instanceof ArrayBuffer) {
      if (data.byteLength > bounds.maxMessageSize) {
        return this.#refuse(this.#tooBig(data.byteLength));
      }
      msg = { type: "binary", data: new Uint8Array(data) };
    } else return undefined;
    this.count++;
    if (this.#overRate()) return this.#refuse(RATE_LIMITED);
    if (!this.push(msg)) return this.#refuse(queueFull(this));
    return undefined;
  }

  /** Whether the units charged passed the rate limit (0: none). */
  #overRate(): boolean {
    return this.rateLimit !== 0 && this.count + this.extra > this.rateLimit;
  }

  /**
   * Charges `units` more against the rate limit.
   *
   * @param units Units beyond the one per message already counted.
   * @returns The close the connection needs when that passes the limit.
   */
  charge(units: number): Refusal | undefined {
    this.extra += units;
    return this.#overRate() ? this.#refuse(RATE_LIMITED) : undefined;
  }

  #tooBig(size: number): Refusal {
    return {
      code: 1009,
      reason:
        `Message of ${size} bytes exceeds the limit of ${this.maxMessageSize}`,
    };
  }

  #refuse(refusal: Refusal): Refusal {
    this.accepting = false;
    return refusal;
  }
}

/**
 * The 1013 for a message that did not fit in the inbox, naming the bound it
 * hit. Internal; the client's inbox closes its connection with it too.
 *
 * @param inbox The full inbox.
 * @returns The close to make.
 */
export function queueFull(inbox: Inbox<Message>): Refusal {
  return {
    code: 1013,
    reason: inbox.size >= inbox.limit
      ? `More than ${inbox.limit} messages waiting for the loop`
      : `More than ${inbox.maxBytes} bytes waiting for the loop`,
  };
}
