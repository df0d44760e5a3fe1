/**
 * The options of {@linkcode Hub}, exported by
 * `@switchboard/switchboard/hub`, and their checks and defaults.
 *
 * @module
 */

import type { Backplane } from "../backplane/mod.ts";
import { positiveInteger } from "../_validate.ts";

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
   * connection), plus what waits in its per-connection queues, each
   * message counted once per connection. When a message would take the
   * total past this budget, the hub first reads what the sockets really
   * hold, then closes with 1013 ("Too slow: the hub's buffers are full")
   * the connections with the most messages queued, and the one being
   * served when none has more: memory stays bounded instead of growing
   * with room size x message size. A message larger than the whole budget
   * is refused with a `RangeError`.
   *
   * The arithmetic, with `m` connections: the hub hands a connection no
   * message while its socket holds its `highWaterMark` or more, and never
   * past this budget, so what open connections hold through the hub stays
   * under `maxBufferedBytes`. A connection it closed keeps what Deno
   * already buffered for it (at most its `highWaterMark` plus one message)
   * until the connection ends, so the worst case is
   * `maxBufferedBytes + m x (highWaterMark + the largest message)`, plus
   * what connections' own `send()` calls add. With the defaults (64 MiB,
   * 1 MiB, 16 MiB messages), one 16 MiB broadcast to 100 connections that
   * read nothing keeps 64 MiB of copies instead of 1.6 GB.
   *
   * @default {67108864}
   */
  maxBufferedBytes?: number;
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
}

/** {@linkcode HubOptions} checked, with their defaults. */
export interface HubSettings {
  /** `undefined` when the hub makes its own. */
  backplane: Backplane | undefined;
  channel: string;
  maxQueuedMessages: number;
  maxBufferedBytes: number;
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
  } = options;
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
  };
}
