/**
 * How a {@linkcode Hub} hands messages to its members: at once while a
 * member's socket is below its `highWaterMark` and what the sockets hold
 * leaves room in the hub's byte budget (`maxBufferedBytes`) for Deno's
 * copy, otherwise into a queue of its own that a poll drains; a message
 * waiting in several queues is counted once. Only members that fell behind
 * (a queue in the hub, and their `highWaterMark` full without its newest
 * message) while the budget is over, or whose socket stalled (it wrote
 * none of what it holds for longer than its own pace explains, see
 * {@linkcode stalledSince}) while a reader's message waits for room, are closed
 * with 1013. Internal.
 *
 * @module
 */

import type { Socket } from "../socket.ts";
import {
  closeSocket,
  pendingBytes,
  sendsWaiting,
} from "../_socket_internals.ts";
import { utf8Length } from "../message.ts";
import { OPEN } from "../_ready_state.ts";
import { behind, byHeld, STALL_MS, stalledSince } from "./_slow.ts";

const MAX_POLL_MS = STALL_MS / 4;

/** What delivery keeps for one member of the hub. */
export interface Member {
  readonly socket: Socket;
  /** Its socket's `highWaterMark`. */
  readonly highWaterMark: number;
  /**
   * An upper bound on the bytes its socket holds (its `bufferedAmount`
   * when last read, plus what the hub handed it since), counted in the
   * hub's total until the socket closes.
   */
  held: number;
  /**
   * Since when, in `Date.now()` ms, its socket has been writing what it
   * holds: when it was last seen writing some of it, or handed bytes while
   * it held none.
   */
  movedAt: number;
  /**
   * The bytes per ms its socket wrote between `movedAt` and the last time
   * it was seen writing (a lower bound: Deno's `bufferedAmount` falls only
   * once a whole message is written); 0 until it was seen writing.
   */
  pace: number;
  /** Messages the hub keeps back while the socket is full; made on use. */
  queue: (Parcel | undefined)[] | undefined;
  head: number;
  /** The bytes of the messages in `queue`. */
  queued: number;
}

/** One message on its way to the members of a room, sized once. */
export interface Parcel {
  readonly data: string | Uint8Array;
  /** Its size on the wire: UTF-8 bytes for text. */
  readonly size: number;
  /**
   * How many members' queues hold it: its bytes count in the hub's total
   * once while any does (the queues share one string or array).
   */
  refs: number;
}

/**
 * Hands parcels to members under the hub's limits.
 *
 * @typeParam M The hub's record of a member.
 */
export class Delivery<M extends Member> {
  readonly #maxQueued: number;
  readonly #maxBytes: number;
  /** Every member the hub tracks. */
  readonly #members: ReadonlyMap<string, M>;
  /** Makes the hub forget a member that delivery closes. */
  readonly #remove: (member: M) => void;
  /**
   * An upper bound on the bytes the tracked members' sockets hold: every
   * one's `held` (Deno copies each message per connection). A message goes
   * to a socket only while this leaves room for it in the budget.
   */
  #handed = 0;
  /**
   * The bytes of the parcels in the hub's queues, each once. With
   * `#handed`, what the hub has in flight: past the budget, the members
   * that fell behind are closed.
   */
  #waiting = 0;
  /**
   * Set when a search found no member behind; cleared when a queued
   * message leaves one behind. Spares a broadcast to a room that waits
   * for the budget one search per member.
   */
  #noneBehind = false;
  /** Members with messages in the hub's queue. */
  readonly #backlogged = new Set<M>();
  /**
   * The members the last sweep found stalled (see {@linkcode stalledSince}),
   * those that hold the least first.
   */
  readonly #stalled: M[] = [];
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #pollDelay = 1;
  /** Whether every socket's bytes were read since the last poll. */
  #swept = false;
  #closed = false;
  /** Messages delivered to a member (handed over or queued), for stats. */
  delivered = 0;

  /**
   * @param maxQueuedMessages The hub's `maxQueuedMessages`.
   * @param maxBufferedBytes The hub's `maxBufferedBytes`.
   * @param members Every member the hub tracks, read to measure them all.
   * @param remove Makes the hub forget a member (then it calls
   * {@linkcode Delivery.forget}); called before the member is closed.
   */
  constructor(
    maxQueuedMessages: number,
    maxBufferedBytes: number,
    members: ReadonlyMap<string, M>,
    remove: (member: M) => void,
  ) {
    this.#maxQueued = maxQueuedMessages;
    this.#maxBytes = maxBufferedBytes;
    this.#members = members;
    this.#remove = remove;
  }

  /**
   * Sizes a message once, for all the members it goes to.
   *
   * @param data The message.
   * @returns The sized message.
   * @throws {TypeError} When `data` is neither a string nor a `Uint8Array`.
   * @throws {RangeError} When `data` is larger than `maxBufferedBytes`.
   */
  parcel(data: string | Uint8Array): Parcel {
    let size: number;
    if (typeof data === "string") size = utf8Length(data);
    else if (data instanceof Uint8Array) size = data.byteLength;
    else {
      throw new TypeError(
        "Cannot send message: expected a string or a Uint8Array",
      );
    }
    if (size > this.#maxBytes) {
      throw new RangeError(
        `Cannot send message: its ${size} bytes exceed maxBufferedBytes (${this.#maxBytes})`,
      );
    }
    return { data, size, refs: 0 };
  }

  /**
   * The hot path: a socket below its `highWaterMark` (as far as the hub's
   * count of what it handed over tells, without reading `bufferedAmount`)
   * and room in the budget take the message at once.
   *
   * @param member The member.
   * @param parcel The message.
   */
  deliver(member: M, parcel: Parcel): void {
    const state = member.socket.readyState;
    if (state > OPEN) return;
    this.delivered++;
    if (
      member.queue === undefined && state === OPEN &&
      member.held < member.highWaterMark &&
      this.#handed + parcel.size <= this.#maxBytes
    ) {
      if (this.#waiting !== 0) this.#trim(parcel.size);
      this.#hand(member, parcel);
    } else this.#hold(member, parcel);
  }

  /**
   * Drops what the hub holds for a member it no longer tracks.
   *
   * @param member The member.
   */
  forget(member: M): void {
    this.#backlogged.delete(member);
    this.#handed -= member.held;
    const queue = member.queue;
    if (queue !== undefined) {
      for (let i = member.head; i < queue.length; i++) {
        this.#release(queue[i] as Parcel);
      }
    }
    member.queue = undefined;
    member.head = member.queued = member.held = 0;
  }

  /** Stops polling, for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #hand(member: M, parcel: Parcel): void {
    // Only a socket last measured empty: rare on the hot path.
    if (member.held === 0) member.movedAt = Date.now();
    member.held += parcel.size;
    this.#handed += parcel.size;
    // Below its highWaterMark the socket writes at once and its promise
    // never rejects; one that waits (the app's own sends filled it) may
    // reject on close, which the socket's closed promise already reports.
    const sent = member.socket.send(parcel.data);
    if (mayReject(member.socket)) sent.catch(ignore);
  }

  /**
   * The slow path: measure, then hand over (making room by closing members
   * that fell behind or stalled), or queue; a member that falls behind
   * while the hub is over its budget is closed.
   */
  #hold(member: M, parcel: Parcel): void {
    const { size } = parcel;
    if (member.queue === undefined) {
      this.#measure(member);
      if (
        member.socket.readyState === OPEN &&
        member.held < member.highWaterMark &&
        (this.#handed + size <= this.#maxBytes || this.#makeRoom(member, size))
      ) {
        this.#trim(size);
        return this.#hand(member, parcel);
      }
    }
    const queue = member.queue ??= [];
    if (queue.length - member.head >= this.#maxQueued) {
      return this.#drop(
        member,
        `Too slow: more than ${this.#maxQueued} messages waiting`,
      );
    }
    queue.push(parcel);
    member.queued += size;
    const added = parcel.refs++ === 0;
    if (added) this.#waiting += size;
    this.#backlogged.add(member);
    this.#schedulePoll();
    const late = behind(member);
    if (late) this.#noneBehind = false;
    if (added || late) this.#trim(0);
  }

  /**
   * Closes the members that fell behind, those with the most queued first,
   * while what the sockets hold and what waits in the hub's queues, with
   * `more` bytes, are over the budget. Over the budget with nobody behind,
   * the messages wait anyway: it is the `members x highWaterMark` term of
   * the documented bound. The member to be handed `more` is not behind
   * (it has no queue) or is closed first if it is furthest behind.
   */
  #trim(more: number): void {
    const max = this.#maxBytes - more;
    if (this.#noneBehind || this.#handed + this.#waiting <= max) return;
    this.#sweep();
    while (this.#handed + this.#waiting > max) {
      const slowest = this.#furthestBehind();
      if (slowest === undefined) return;
      this.#drop(slowest, this.#fullReason());
    }
  }

  /**
   * Replaces the bound on what a socket holds with what it reports; less
   * than the bound means that it wrote some since it was last measured,
   * at a pace of at least the bytes written over the time since `movedAt`.
   */
  #measure(member: M): void {
    const held = member.socket.bufferedAmount + pendingBytes(member.socket);
    if (held < member.held) {
      const now = Date.now();
      member.pace = (member.held - held) / Math.max(1, now - member.movedAt);
      member.movedAt = now;
    }
    this.#handed += held - member.held;
    member.held = held;
  }

  /** Takes one queue's hold on a parcel away. */
  #release(parcel: Parcel): void {
    if (--parcel.refs === 0) this.#waiting -= parcel.size;
  }

  /**
   * Reads what every socket holds, once between polls: nothing drains
   * while a task runs, so a second sweep in the same one finds the same.
   */
  #sweep(): void {
    if (this.#swept) return;
    this.#swept = true;
    const stalled = this.#stalled;
    stalled.length = 0;
    const now = Date.now();
    for (const member of this.#members.values()) {
      if (member.held === 0) continue;
      this.#measure(member);
      if (stalledSince(member, now)) stalled.push(member);
    }
    if (stalled.length > 1) stalled.sort(byHeld);
    this.#schedulePoll();
  }

  /**
   * Frees room in the budget for a socket to take `size` more bytes: first
   * by reading what the sockets really hold, then by closing the members
   * that fell behind (see {@linkcode behind}), those with the most bytes in
   * the hub's queue first, then, when `member` reads, those whose socket
   * stalled (see {@linkcode stalledSince}), those that hold the most first,
   * until it fits. A member that is neither behind nor stalled is never
   * closed: when only such members are left, the bytes do not fit (yet).
   * What waits in the hub's queues does not count here: it is counted
   * already, and handing it over is what lets it go.
   *
   * @param member The member the room is for; it too is closed if it is
   * furthest behind or stalled.
   * @param size The bytes wanted.
   * @returns Whether `member` is still open and the bytes fit.
   */
  #makeRoom(member: M, size: number): boolean {
    this.#sweep();
    while (this.#handed + size > this.#maxBytes) {
      const slowest = this.#furthestBehind() ??
        (member.pace > 0 ? this.#mostStalled() : undefined);
      if (slowest === undefined) return false;
      this.#drop(slowest, this.#fullReason());
      if (slowest === member) return false;
    }
    return true;
  }

  #fullReason(): string {
    return `Too slow: the hub's buffers are full (maxBufferedBytes ${this.#maxBytes})`;
  }

  /** The backlogged member that is behind with the most queued, if any. */
  #furthestBehind(): M | undefined {
    if (this.#noneBehind) return undefined;
    let slowest: M | undefined;
    for (const other of this.#backlogged) {
      if (
        (slowest === undefined || other.queued > slowest.queued) &&
        behind(other)
      ) slowest = other;
    }
    if (slowest === undefined) this.#noneBehind = true;
    return slowest;
  }

  /**
   * The member found stalled by the last sweep that holds the most and
   * still wrote nothing, measured again (a sweep may be a few tasks old).
   */
  #mostStalled(): M | undefined {
    const stalled = this.#stalled;
    const now = Date.now();
    for (let member = stalled.pop(); member; member = stalled.pop()) {
      if (member.held === 0 || member.socket.readyState !== OPEN) continue;
      this.#measure(member);
      if (stalledSince(member, now)) return member;
    }
    return undefined;
  }

  /**
   * Closes a member that fell behind with 1013 and forgets its bytes:
   * its socket frees them once it has closed (see `maxBufferedBytes`).
   */
  #drop(member: M, reason: string): void {
    this.#remove(member);
    closeSocket(member.socket, 1013, reason);
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined || this.#closed) return;
    this.#pollTimer = setTimeout(() => this.#poll(), this.#pollDelay);
  }

  /**
   * Hands queued messages to the sockets that drained below their
   * `highWaterMark`. Deno has no drain event: poll, backing off while
   * nothing drains.
   */
  #poll(): void {
    this.#pollTimer = undefined;
    this.#swept = false;
    let moved = false;
    for (const member of this.#backlogged) {
      if (member.socket.readyState !== OPEN) continue;
      this.#measure(member);
      const queue = member.queue as (Parcel | undefined)[];
      while (member.head < queue.length && member.held < member.highWaterMark) {
        const parcel = queue[member.head] as Parcel;
        if (
          this.#handed + parcel.size > this.#maxBytes &&
          !this.#makeRoom(member, parcel.size)
        ) break;
        // The last queue to let a parcel go moves its bytes to the socket.
        this.#trim(parcel.refs === 1 ? 0 : parcel.size);
        if (member.queue !== queue) break;
        queue[member.head++] = undefined;
        member.queued -= parcel.size;
        this.#release(parcel);
        this.#hand(member, parcel);
        moved = true;
      }
      if (member.queue !== queue) continue;
      if (member.head === queue.length) {
        member.queue = undefined;
        member.head = 0;
        this.#backlogged.delete(member);
      } else if (member.head > 1024) {
        queue.splice(0, member.head);
        member.head = 0;
      }
    }
    if (this.#backlogged.size === 0) {
      this.#pollDelay = 1;
      return;
    }
    this.#pollDelay = moved ? 1 : Math.min(this.#pollDelay * 2, MAX_POLL_MS);
    this.#schedulePoll();
  }
}

function ignore(): void {}

/**
 * Whether the promise of the `send()` just made can still reject: a send
 * that went straight out (open socket, nothing queued in it) cannot, so it
 * needs no handler on the hot path.
 */
function mayReject(socket: Socket): boolean {
  return socket.readyState !== OPEN || sendsWaiting(socket);
}
