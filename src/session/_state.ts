/**
 * One side's half of a resumable session: the counters, the replay buffer
 * of what it sent and the peer has not acknowledged, and the batched acks
 * of what it received. The server's session and the client's links share
 * it; it knows nothing of WebSockets beyond `send`. Internal; runs in
 * browsers.
 *
 * @module
 */

import { CONTROL, escapeText } from "./wire.ts";
import { ByteQueue, MAX_POOLED } from "./_copies.ts";
import type { SessionInfo } from "./options.ts";

/** What may be sent: text, or bytes. */
export type Data = string | ArrayBuffer | ArrayBufferView;

/** Acknowledge after this many messages... */
export const ACK_EVERY = 64;
/**
 * ...or this many bytes (as {@linkcode sizeOf} counts them): a quarter of
 * the default `maxUnackedBytes`, so that a sender at the defaults is
 * acknowledged before its replay buffer fills...
 */
export const ACK_BYTES = 256 * 1024;
/** ...or this many milliseconds after the first unacknowledged one. */
export const ACK_DELAY = 50;

/**
 * A message's size as the replay buffer counts it against
 * `maxUnackedBytes`: bytes, or for text the most its UTF-8 can take.
 *
 * @param data The message.
 * @returns Its size.
 */
export function sizeOf(data: Data): number {
  return typeof data === "string" ? data.length * 3 : data.byteLength;
}

/** Marks a replay buffer's message whose bytes are in its ring. */
const IN_RING = 0;

/** What a replay buffer keeps of a message. */
type Kept = string | typeof IN_RING | Uint8Array;

/** The counters and buffers of one side of a session. */
export class SessionState {
  id = "";
  sent = 0;
  acked = 0;
  received = 0;
  resumes = 0;
  /** The session was taken over from another server (server side). */
  resumed = false;
  /**
   * Set by a session kept in a shared store: takes each due ack instead of
   * the connection, and acknowledges it once stored (`ackStored`).
   */
  hold: ((count: number) => void) | undefined;
  readonly maxUnacked: number;
  readonly maxUnackedBytes: number;
  /**
   * Sent and unacknowledged, oldest first from `#head`: text as it was
   * sent, `IN_RING` for bytes copied into `#ring`, or a copy of their own.
   */
  #items: Kept[] = [];
  /** The copies of the bytes sent, but for large ones. */
  readonly #ring = new ByteQueue();
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  /** The received count last acknowledged to the peer. */
  #ackSent = 0;
  /** Bytes received since then. */
  #ackBytes = 0;
  /** Waiting in `#due` for the next tick of the ack timer. */
  #ackDue = false;
  /** Where acks go: the connection in use, if any. */
  #ws: WebSocket | undefined;
  /** The connection `#buffered` is about. */
  #out: WebSocket | undefined;
  /**
   * An upper bound on `#out`'s `bufferedAmount`: its last reading plus what
   * was written since (reading it is a call into the runtime).
   */
  #buffered = 0;

  /**
   * @param maxUnacked Messages that may wait for an ack.
   * @param maxUnackedBytes Bytes that may wait for an ack.
   */
  constructor(maxUnacked: number, maxUnackedBytes: number) {
    this.maxUnacked = maxUnacked;
    this.maxUnackedBytes = maxUnackedBytes;
  }

  /** A snapshot of the counters. */
  info(): SessionInfo {
    const { id, sent, acked, received, resumes, resumed } = this;
    return { id, sent, acked, received, resumes, resumed };
  }

  /** Whether the replay buffer is full: sends must wait. */
  get full(): boolean {
    const count = this.#items.length - this.#head;
    return count >= this.maxUnacked ||
      (count > 0 && this.#bytes >= this.maxUnackedBytes);
  }

  /**
   * What the wrapping Socket reads before each send (it has a
   * `highWaterMark` of 1): 0 while a message may go out, else how much
   * waits, in a full replay buffer or in a connection holding
   * `highWaterMark` bytes. The connection's `bufferedAmount` is read only
   * once what was written to it since the last reading could reach the mark.
   *
   * @param ws The connection, or `undefined` during a gap.
   * @param highWaterMark Bytes the connection's send buffer may hold.
   * @returns 0, or the bytes waiting.
   */
  waiting(ws: WebSocket | undefined, highWaterMark: number): number {
    if (this.full) return this.#bytes + 1;
    if (ws === undefined) return 0;
    if (ws === this.#out && this.#buffered < highWaterMark) return 0;
    this.#out = ws;
    const buffered = this.#buffered = ws.bufferedAmount;
    return buffered >= highWaterMark ? buffered : 0;
  }

  /**
   * Takes a sent message into the replay buffer (bytes are copied, the
   * caller may reuse its buffer) and writes it to `ws` if given.
   *
   * @param data The message.
   * @param ws The connection, or `undefined` during a gap.
   */
  send(data: Data, ws: WebSocket | undefined): void {
    const size = sizeOf(data);
    let kept: Kept = data as string;
    if (typeof data !== "string") {
      const bytes = data instanceof Uint8Array
        ? data
        : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (size > MAX_POOLED) kept = bytes.slice();
      else {
        this.#ring.push(bytes);
        kept = IN_RING;
      }
    }
    this.#items.push(kept);
    this.#sizes.push(size);
    this.#bytes += size;
    this.sent++;
    if (ws === undefined) return;
    // The caller's own bytes go out the first time (a WebSocket copies what
    // it is given at the call): Deno sends a whole ArrayBuffer through a
    // faster call than a view.
    write(ws, data);
    if (ws === this.#out) this.#buffered += size;
  }

  /**
   * The peer has received `count` messages: drops them from the buffer.
   *
   * @param count The peer's received count.
   * @returns `false` when the count is impossible (more than was sent).
   */
  ack(count: number): boolean {
    if (count > this.sent) return false;
    if (count <= this.acked) return true;
    const items = this.#items;
    const sizes = this.#sizes;
    let head = this.#head;
    let bytes = this.#bytes;
    for (let n = count - this.acked; n > 0; n--, head++) {
      bytes -= sizes[head] as number;
      // Nothing reads an acknowledged message again (replay starts after it).
      if (items[head] === IN_RING) this.#ring.shift();
      items[head] = "";
    }
    this.#head = head;
    this.#bytes = bytes;
    this.acked = count;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  /**
   * Writes every unacknowledged message to a new connection, in order.
   *
   * @param ws The connection.
   */
  replay(ws: WebSocket): void {
    let block = 0;
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as Kept;
      write(ws, item === IN_RING ? this.#ring.at(block++) : item);
    }
    if (ws === this.#out) this.#buffered += this.#bytes;
  }

  /**
   * The session is gone (the peer lost it): forgets what was sent.
   *
   * @returns How many sent messages were never acknowledged.
   */
  reset(): number {
    const lost = this.sent - this.acked;
    this.#forget();
    this.sent =
      this.acked =
      this.received =
      this.resumes =
        0;
    this.#ackSent = 0;
    this.#ackBytes = 0;
    this.id = "";
    return lost;
  }

  /**
   * Sets the connection acks go to (`undefined` during a gap). What the peer
   * is told on resume covers any ack still due.
   *
   * @param ws The connection.
   */
  use(ws: WebSocket | undefined): void {
    this.#ws = ws;
    // The next send reads the new connection's bufferedAmount; the old one
    // is not kept reachable through a gap.
    this.#out = undefined;
    this.#notDue();
    this.#ackSent = this.received;
    this.#ackBytes = 0;
  }

  /**
   * One data message was received: acknowledge in batches.
   *
   * @param data The message (its size counts toward ACK_BYTES).
   */
  received1(data?: Data): void {
    this.received++;
    if (data !== undefined) this.#ackBytes += sizeOf(data);
    if (
      this.received - this.#ackSent >= ACK_EVERY || this.#ackBytes >= ACK_BYTES
    ) this.#sendAck();
    else if (!this.#ackDue) {
      // Left due after an ack in between: the tick then comes sooner than
      // ACK_DELAY, never later.
      this.#ackDue = true;
      SessionState.#due.add(this);
      SessionState.#tick ??= setTimeout(SessionState.#onTick, ACK_DELAY);
    }
  }

  /** Stops the ack timer: the session ended. */
  stop(): void {
    this.#notDue();
    this.#ws = undefined;
    this.#forget();
  }

  /** Drops the replay buffer, and the connection `#buffered` is about. */
  #forget(): void {
    this.#items = [];
    this.#ring.clear();
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#out = undefined;
  }

  /**
   * The states with an ack due, and the one timer that sends them all: a
   * timer per session, made and cleared every ACK_EVERY messages, costs
   * more than the acks themselves.
   */
  static #due = new Set<SessionState>();
  static #tick: ReturnType<typeof setTimeout> | undefined;

  static #onTick = (): void => {
    SessionState.#tick = undefined;
    const due = SessionState.#due;
    for (const state of due) {
      state.#ackDue = false;
      state.#sendAck();
    }
    due.clear();
  };

  #notDue(): void {
    if (!this.#ackDue) return;
    this.#ackDue = false;
    const due = SessionState.#due;
    due.delete(this);
    if (due.size === 0) {
      clearTimeout(SessionState.#tick);
      SessionState.#tick = undefined;
    }
  }

  #sendAck(): void {
    if (this.received === this.#ackSent) return;
    // Held by the shared store, or sent on the connection there is one.
    if (this.hold === undefined && this.#ws === undefined) return;
    this.#ackSent = this.received;
    this.#ackBytes = 0;
    if (this.hold !== undefined) this.hold(this.received);
    else this.ackStored(this.received);
  }

  /**
   * Acknowledges `count` received messages on the connection in use.
   *
   * @param count The count.
   */
  ackStored(count: number): void {
    if (this.#ws === undefined) return;
    const body = `A${count}`;
    control(this.#ws, body);
    if (this.#ws === this.#out) this.#buffered += body.length + 1;
  }
}

/**
 * Writes a data message, escaping text that starts with U+0000.
 *
 * @param ws The connection.
 * @param data The message.
 */
export function write(ws: WebSocket, data: Data): void {
  try {
    ws.send(typeof data === "string" ? escapeText(data) : data);
  } catch {
    // The connection is going: the message stays in the replay buffer.
  }
}

/**
 * Writes a control message.
 *
 * @param ws The connection.
 * @param body The kind letter and its body.
 */
export function control(ws: WebSocket, body: string): void {
  try {
    ws.send(CONTROL + body);
  } catch {
    // The connection is going: the resume says it again.
  }
}

/**
 * What a text frame on a resume connection is.
 *
 * @param text The frame.
 * @returns The app's text, or the control body (kind letter first).
 */
export function readText(
  text: string,
): { data: string } | { control: string } {
  if (text.charCodeAt(0) !== 0) return { data: text };
  if (text.charCodeAt(1) === 0) return { data: text.slice(1) };
  return { control: text.slice(1) };
}
