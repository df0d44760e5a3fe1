/**
 * How the hub's delivery judges a member slow: behind (it let its
 * `highWaterMark` fill with messages waiting in the hub) or stalled (its
 * socket wrote none of what it holds for longer than its pace explains).
 * Internal.
 *
 * @module
 */

import type { Member, Parcel } from "./_delivery.ts";

/**
 * The least time a socket may hold bytes without writing any of them
 * before, while the sockets fill the budget, no member is behind and a
 * member that reads (its socket wrote some of what it was handed) waits
 * for room, the hub closes it to free the budget (see {@linkcode patience}
 * for the rest). A member that reads nothing may hold bytes below its
 * `highWaterMark`, or a full socket with nothing queued in the hub, and
 * neither makes it behind: without this, the reader's messages would wait
 * for ever. Members that have not written anything yet do not count as
 * readers: closing a member does not free what Deno holds for it, so
 * making room for them would let every member of a room that reads nothing
 * take a copy in turn.
 */
export const STALL_MS = 128;

/**
 * How many times as long as its own pace says a socket may take to write
 * what it holds before it counts as stalled.
 */
const PATIENCE = 2;

/**
 * The most time a socket that was seen writing may hold bytes without
 * writing any before it counts as stalled, however slow its pace: a pace
 * measured on a few small messages, long after they were written, says
 * little, and a reader's message must not wait for ever on it.
 */
export const MAX_STALL_MS = 16 * STALL_MS;

/**
 * How long, in ms, a member's socket may write none of what it holds
 * before it counts as stalled: {@linkcode PATIENCE} times what writing all
 * it holds takes at its pace, at least {@linkcode STALL_MS} and at most
 * {@linkcode MAX_STALL_MS}. Deno's `bufferedAmount` falls only once a
 * whole message is written, so a reader on a slow link shows no progress
 * for as long as one message takes; its pace, measured on what it wrote
 * before, tells how long that is. A socket never seen writing gets
 * {@linkcode STALL_MS}.
 *
 * @param member The member.
 * @returns The time in ms.
 */
function patience(member: Member): number {
  const { pace } = member;
  if (pace === 0) return STALL_MS;
  const needs = PATIENCE * member.held / pace;
  return Math.min(MAX_STALL_MS, Math.max(STALL_MS, needs));
}

/** Whether a member's socket holds bytes and wrote none for too long. */
export function stalledSince(member: Member, now: number): boolean {
  return member.held > 0 && now - member.movedAt >= patience(member);
}

/** Orders members by what their sockets hold, the least first. */
export function byHeld(a: Member, b: Member): number {
  return a.held - b.held;
}

/**
 * Whether a member fell behind: it has messages in the hub's queue, and
 * its socket and that queue held its `highWaterMark` or more before the
 * newest of them came. A member that keeps up is handed a message while
 * below its `highWaterMark`; one whose queue is only the budget's doing
 * (the hub's copies are full) is not behind.
 */
export function behind(member: Member): boolean {
  const queue = member.queue;
  if (queue === undefined) return false;
  const newest = queue[queue.length - 1] as Parcel;
  return member.held + member.queued - newest.size >= member.highWaterMark;
}
