/**
 * The options of {@linkcode Hub}, exported by
 * `@switchboard/switchboard/hub`, and their checks and defaults.
 *
 * @module
 */

import type { Backplane } from "../backplane/mod.ts";
import type { Principal } from "../auth/principal.ts";
import { checkObserve, type Observer } from "../observe.ts";
import { positiveInteger } from "../_validate.ts";
import { isPosition, type Position } from "./wire.ts";
import { MAX_READ } from "../backplane/streams.ts";

/**
 * Options for {@linkcode Hub}.
 *
 * @example A hub on a shared in-memory backplane
 * ```ts
 * import { type HubOptions, MemoryBackplane } from "@switchboard/switchboard/hub";
 *
 * const options: HubOptions = { backplane: new MemoryBackplane(), channel: "app" };
 * console.log(options.channel);
 * ```
 */
export interface HubOptions {
  /**
   * Carries messages to the hubs of other servers. A backplane given here is
   * not closed by {@linkcode Hub.close}; the default one is.
   *
   * @default {a new MemoryBackplane}
   */
  backplane?: Backplane;
  /**
   * The backplane channel. Hubs on the same channel form one group of
   * servers; use another channel to run separate apps on one Redis.
   *
   * @default {"switchboard"}
   */
  channel?: string;
  /**
   * How many messages may wait in the hub for one slow connection, whose
   * socket already holds `highWaterMark` bytes or more. A connection that
   * falls further behind is closed with 1013 ("Too slow: more than N
   * messages waiting") so that it cannot grow memory without bound; the
   * others are never held up by it.
   *
   * @default {1024}
   */
  maxQueuedMessages?: number;
  /**
   * The bytes the hub may have in flight for all its connections together:
   * what it handed to their sockets that they have not written to the
   * network yet (Deno copies a message into a native buffer per
   * connection), plus what waits in its per-connection queues, where a
   * message counts once however many queues hold it. The hub hands a
   * message to a connection only while its socket holds less than its
   * `highWaterMark` and what the sockets hold leaves room in the budget for
   * the copy; otherwise the message waits in that connection's queue, and
   * the hub hands it over as the sockets write (what waits does not hold
   * back its own hand-over). When the total passes the budget, or a
   * hand-over would take it past, the hub first reads what the sockets
   * really hold, then closes with 1013 ("Too slow: the hub's buffers are
   * full") the connections that fell behind, those with the most queued
   * first: a connection is behind when messages wait for it in the hub and
   * its socket and queue held its `highWaterMark` before the newest of them
   * came. While nobody is behind and a message waits for room in the
   * sockets for a connection that reads (its socket has written some of
   * what it was sent), a connection whose socket has written none of what
   * it holds for too long (it reads nothing, though it is below its
   * `highWaterMark` or has nothing queued in the hub) is closed the same
   * way, those that hold the most first, so that the budget frees. Too
   * long is twice what writing all it holds takes at the pace of the last
   * write the hub saw it finish (Deno shows progress only per whole
   * message), at least 128 ms and at most 2,048 ms; 128 ms for one never
   * seen writing. A connection that reads is never closed for the budget
   * while it keeps up: no message finds its `highWaterMark` full of
   * messages waiting for it, and its socket writes each message within
   * 2,048 ms and within twice what its last message's pace says. A message
   * larger than the whole budget is refused with a `RangeError`.
   *
   * The arithmetic, with `m` connections: what the hub hands to open
   * sockets stays within this budget. Messages wait past it only for
   * connections that are not behind, each of which has less than its
   * `highWaterMark` plus one message in its socket and queue together. A
   * connection the hub closed keeps what Deno already buffered for it (at
   * most its `highWaterMark` plus one message) until the connection ends.
   * So the worst case is
   * `maxBufferedBytes + m x (highWaterMark + the largest message)`, plus
   * what connections' own `send()` calls add. Of the second term, what
   * waits in the hub for members of one room that are not behind is
   * shared: every queue there holds the newest messages of the same
   * stream, so less than one `highWaterMark` plus a message. With the defaults (64 MiB, 1 MiB,
   * 16 MiB messages): one 16 MiB broadcast to 100 connections that read
   * nothing keeps 4 copies (64 MiB) and one waiting message instead of
   * 1.6 GB; a 70 KB broadcast to 1,000 connections that read is handed to
   * about 950 at once and to the rest as those copies are written, closing none.
   *
   * @default {67108864}
   */
  maxBufferedBytes?: number;
  /**
   * Decides whether a connection may join a room, from its socket's
   * `principal` (what the route's `authenticate` returned; `undefined`
   * without it) and the room's name. `hub.join()` calls it (not for a room
   * the connection is already in) and throws a `ForbiddenError`, changing
   * nothing, unless it returns `true`. Synchronous, as `join()` is: look up
   * what it needs at `authenticate` time and keep it in the principal.
   *
   * @default {undefined (every join is allowed)}
   */
  authorizeJoin?: (principal: Principal | undefined, room: string) => boolean;
  /**
   * Told of the hub, to read its counters ({@linkcode Hub.stats}) from:
   * `otel()` of `./otel` exports its deliveries, `dashboard()` of
   * `./dashboard` shows its rooms. One observer or a list.
   *
   * @default {undefined (none)}
   */
  observe?: Observer | readonly Observer[];
}

/**
 * Options for {@linkcode Hub.broadcast}.
 *
 * @example Everyone but the sender
 * ```ts
 * import type { BroadcastOptions } from "@switchboard/switchboard/hub";
 *
 * const options: BroadcastOptions = { except: "a-connection-id" };
 * console.log(options.except);
 * ```
 */
export interface BroadcastOptions {
  /** A connection id that does not receive the message. @default {undefined} */
  except?: string;
  /**
   * An idempotency key: a broadcast whose key the room's stream already
   * holds (for the history's `historyTtl`) is not added again and resolves
   * to the first one's position. For a client's message on a resumable
   * session, `${socket.session.id}:${sequence}` makes a message that a dead
   * server already broadcast, replayed on another server, enter the room
   * once. Only with a backplane that keeps streams.
   *
   * @default {undefined}
   */
  key?: string;
}

/**
 * Options for {@linkcode Hub.add}.
 *
 * @example Choosing the id
 * ```ts
 * import type { AddOptions } from "@switchboard/switchboard/hub";
 *
 * const options: AddOptions = { id: "user-42" };
 * console.log(options.id);
 * ```
 */
export interface AddOptions {
  /**
   * The connection's id; it must be unique across all servers.
   *
   * @default {crypto.randomUUID()}
   */
  id?: string;
  /**
   * What {@linkcode Hub.presence} shows about the connection on every
   * server, for example the public fields of its principal. It must survive
   * `JSON.stringify` (the Redis backplane stores it so).
   *
   * @default {undefined}
   */
  data?: unknown;
}

/**
 * Options for {@linkcode Hub.join} with positions.
 *
 * @example Rejoining after a disconnect
 * ```ts
 * import type { JoinOptions } from "@switchboard/switchboard/hub";
 *
 * const options: JoinOptions = {
 *   since: { epoch: "k3j9x2", offset: "1767225600000-41" },
 * };
 * console.log(options.since?.offset);
 * ```
 */
export interface JoinOptions {
  /**
   * The position of the last room message the member got: the messages
   * after it are sent first (when the room's stream still has them), then
   * the live ones. Without it the member starts with the live messages.
   *
   * @default {undefined}
   */
  since?: Position | undefined;
}

/**
 * What {@linkcode Hub.join} with options resolves to.
 *
 * @example Resyncing when the history could not cover the gap
 * ```ts
 * import type { JoinResult } from "@switchboard/switchboard/hub";
 *
 * function after(result: JoinResult): void {
 *   if (!result.recovered) console.log("load the room's state again");
 * }
 * after({ recovered: false, position: { epoch: "k3j9x2", offset: "0-0" } });
 * ```
 */
export interface JoinResult {
  /**
   * Whether every message after `since` was sent to the member: `false`
   * without `since`, when the room's stream was reset since (a new epoch),
   * or when messages after `since` were already trimmed from its history.
   */
  readonly recovered: boolean;
  /**
   * Where the member stands: it has (or had before `since`) every message
   * up to here, and gets every later one live.
   */
  readonly position: Position;
}

/**
 * Options for {@linkcode Hub.history}.
 *
 * @example The next page
 * ```ts
 * import type { HistoryOptions } from "@switchboard/switchboard/hub";
 *
 * const options: HistoryOptions = {
 *   since: { epoch: "k3j9x2", offset: "1767225600000-100" },
 *   limit: 50,
 * };
 * console.log(options.limit);
 * ```
 */
export interface HistoryOptions {
  /**
   * Return the messages after this position, oldest first. Without it, the
   * newest `limit` messages, oldest first.
   *
   * @default {undefined}
   */
  since?: Position | undefined;
  /**
   * The most messages returned: 1 to 1,000.
   *
   * @default {100}
   */
  limit?: number;
}

/** {@linkcode HubOptions} checked, with their defaults. */
export interface HubSettings {
  /** `undefined` when the hub makes its own. */
  backplane: Backplane | undefined;
  channel: string;
  maxQueuedMessages: number;
  maxBufferedBytes: number;
  authorizeJoin:
    | ((principal: Principal | undefined, room: string) => boolean)
    | undefined;
  observe: Observer | undefined;
}

/**
 * Checks the options of {@linkcode Hub} and fills in the defaults.
 *
 * @param options The options given.
 * @returns Every setting.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When `maxQueuedMessages` or `maxBufferedBytes` is not
 * a positive integer.
 */
export function checkHubOptions(options: HubOptions): HubSettings {
  const {
    backplane,
    channel = "switchboard",
    maxQueuedMessages = 1024,
    maxBufferedBytes = 64 * 1024 * 1024,
    authorizeJoin,
    observe,
  } = options;
  if (authorizeJoin !== undefined && typeof authorizeJoin !== "function") {
    throw new TypeError(
      `Invalid authorizeJoin: expected a function, got ${typeof authorizeJoin}`,
    );
  }
  if (typeof channel !== "string" || channel === "") {
    throw new TypeError("Invalid channel: expected a non-empty string");
  }
  if (
    backplane !== undefined &&
    (backplane === null || typeof backplane.publish !== "function" ||
      typeof backplane.subscribe !== "function")
  ) {
    throw new TypeError(
      "Invalid backplane: expected an object with publish and subscribe",
    );
  }
  return {
    backplane,
    channel,
    maxQueuedMessages: positiveInteger("maxQueuedMessages", maxQueuedMessages),
    maxBufferedBytes: positiveInteger("maxBufferedBytes", maxBufferedBytes),
    authorizeJoin,
    observe: checkObserve(observe),
  };
}

/**
 * Checks a `since` option.
 *
 * @param since The value given.
 * @returns It, or `undefined`.
 * @throws {TypeError} When it is neither `undefined` nor a position.
 */
export function checkSince(since: unknown): Position | undefined {
  if (since === undefined) return undefined;
  if (!isPosition(since)) {
    throw new TypeError(
      'Invalid since: expected a position { epoch, offset } with an offset like "1767225600000-42"',
    );
  }
  return { epoch: since.epoch, offset: since.offset };
}

/**
 * Checks the options of {@linkcode Hub.history}.
 *
 * @param options The options given.
 * @returns `since` and `limit`.
 * @throws {TypeError} When `since` is not a position or `limit` not a
 * number.
 * @throws {RangeError} When `limit` is not a whole number from 1 to 1,000.
 */
export function checkHistoryOptions(
  options: HistoryOptions,
): { since: Position | undefined; limit: number } {
  const { since, limit = 100 } = options;
  positiveInteger("limit", limit);
  if (limit > MAX_READ) {
    throw new RangeError(
      `Invalid limit: expected at most ${MAX_READ}, got ${limit}`,
    );
  }
  return { since: checkSince(since), limit };
}
