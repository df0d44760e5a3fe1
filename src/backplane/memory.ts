/**
 * The in-memory {@linkcode Backplane}, the default of a {@linkcode Hub}:
 * enough for one process, and for several hubs in one process that share it.
 *
 * @module
 */

import { checkListener, Listeners } from "./mod.ts";
import { MemoryStreams } from "./_memory_streams.ts";
import { checkHistory } from "./_history_options.ts";
import type { Position } from "../hub/wire.ts";
import type {
  Following,
  PresenceChange,
  PresenceMember,
  StreamBackplane,
  StreamListener,
  StreamMessage,
  StreamPage,
} from "./streams.ts";
import { positiveInteger } from "../_validate.ts";

/**
 * Options for {@linkcode MemoryBackplane}: how much history its rooms keep.
 *
 * @example A short history
 * ```ts
 * import type { MemoryBackplaneOptions } from "@switchboard/switchboard/hub";
 *
 * const options: MemoryBackplaneOptions = { history: 100, historyTtl: 60_000 };
 * console.log(options.history);
 * ```
 */
export interface MemoryBackplaneOptions {
  /**
   * The most messages kept per room (a ring: the oldest goes first).
   *
   * @default {1000}
   */
  history?: number;
  /**
   * Milliseconds a message is kept.
   *
   * @default {600000}
   */
  historyTtl?: number;
  /**
   * The most bytes of messages kept for all rooms together (UTF-16 code
   * units for text); past it the oldest messages of any room go first.
   *
   * @default {67108864}
   */
  maxHistoryBytes?: number;
}

/**
 * A {@linkcode StreamBackplane} inside one process: `publish` calls the
 * channel's listeners at once, in subscription order (a listener that
 * throws is reported to `console.error` and does not stop the others), and
 * every room keeps its recent messages in a ring buffer for
 * {@linkcode Hub}'s positions, history and recovery, with the same
 * semantics as {@linkcode RedisStreamsBackplane}. Presence covers the hubs
 * that share this backplane. A room whose history has emptied, and that no
 * hub has members in, is forgotten: used again, it starts a new epoch.
 *
 * @example Two subscribers on one channel
 * ```ts
 * import { MemoryBackplane } from "@switchboard/switchboard/hub";
 *
 * await using backplane = new MemoryBackplane();
 * const seen: string[] = [];
 * await backplane.subscribe("news", (m) => seen.push(`a:${m}`));
 * await backplane.subscribe("news", (m) => seen.push(`b:${m}`));
 * backplane.publish("news", "hello");
 * console.log(seen); // ["a:hello", "b:hello"]
 * ```
 */
export class MemoryBackplane implements StreamBackplane, AsyncDisposable {
  #channels = new Map<string, Listeners>();
  #streams: MemoryStreams;

  /**
   * Makes the backplane.
   *
   * @param options How much history the rooms keep.
   * @throws {TypeError} When an option is not a number.
   * @throws {RangeError} When an option is out of range.
   *
   * @example A backplane two hubs share
   * ```ts
   * import { Hub, MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * await using backplane = new MemoryBackplane({ history: 100 });
   * await using one = new Hub({ backplane });
   * await using two = new Hub({ backplane });
   * ```
   */
  constructor(options: MemoryBackplaneOptions = {}) {
    const { maxHistoryBytes = 64 * 1024 * 1024 } = options;
    this.#streams = new MemoryStreams({
      ...checkHistory(options),
      maxHistoryBytes: positiveInteger("maxHistoryBytes", maxHistoryBytes),
    });
  }

  /**
   * Calls every listener of `channel` with `message`, now.
   *
   * @param channel The channel name.
   * @param message The message.
   *
   * @example Publishing with nobody listening
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * new MemoryBackplane().publish("empty", "nobody hears this");
   * ```
   */
  publish(channel: string, message: string): void {
    this.#channels.get(channel)?.deliver(message);
  }

  /**
   * Adds a listener to `channel`.
   *
   * @param channel The channel name.
   * @param listener Called with each message published on `channel`.
   * @returns A function that removes the listener.
   * @throws {TypeError} When `listener` is not a function.
   *
   * @example Subscribing, then unsubscribing
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const stop = await backplane.subscribe("c", console.log);
   * backplane.publish("c", "heard");
   * await stop();
   * backplane.publish("c", "not heard");
   * ```
   */
  subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>> {
    try {
      checkListener(listener);
    } catch (error) {
      return Promise.reject(error);
    }
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Listeners();
      this.#channels.set(channel, listeners);
    }
    const own = listeners.add(listener);
    return Promise.resolve(() => {
      const current = this.#channels.get(channel);
      current?.delete(own);
      if (current?.size === 0) this.#channels.delete(channel);
      return Promise.resolve();
    });
  }

  /**
   * Adds a message to a room's stream and hands it to the room's followers
   * at once.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param message The message.
   * @returns Its position.
   *
   * @example Appending
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const { offset } = await backplane.append("app", "lobby", { data: "hi" });
   * console.log(offset);
   * ```
   */
  append(
    channel: string,
    room: string,
    message: StreamMessage,
  ): Promise<Position> {
    return Promise.resolve(this.#streams.append(channel, room, message));
  }

  /**
   * Reads a room's stream: the entries after `since`, or the newest ones.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param options `since` and `limit`.
   * @returns The page.
   *
   * @example The newest two
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * for (const data of ["a", "b", "c"]) {
   *   await backplane.append("app", "r", { data });
   * }
   * const page = await backplane.read("app", "r", { limit: 2 });
   * console.log(page.entries.map((e) => e.data)); // ["b", "c"]
   * ```
   */
  read(
    channel: string,
    room: string,
    options: { since?: Position | undefined; limit: number },
  ): Promise<StreamPage> {
    return Promise.resolve(this.#streams.read(channel, room, options));
  }

  /**
   * Calls `listener` with each message appended to a room from now on,
   * synchronously inside {@linkcode MemoryBackplane.append}.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param listener Called with new entries.
   * @returns Where following started, and how to stop.
   *
   * @example Following
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const following = await backplane.follow("app", "r", (entries) => {
   *   console.log(entries[0]?.data);
   * });
   * await backplane.append("app", "r", { data: "heard" });
   * following.stop();
   * ```
   */
  follow(
    channel: string,
    room: string,
    listener: StreamListener,
  ): Promise<Following> {
    return Promise.resolve(this.#streams.follow(channel, room, listener));
  }

  /**
   * Adds a member to a room's presence; every hub on the channel hears a
   * `"join"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member.
   *
   * @example Entering
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * backplane.enter("app", "r", { id: "c1", serverId: "s1", joinedAt: 0 });
   * console.log((await backplane.presence("app", "r")).length); // 1
   * ```
   */
  enter(channel: string, room: string, member: PresenceMember): void {
    this.#streams.enter(channel, room, member);
  }

  /**
   * Takes a member out of a room's presence; every hub on the channel
   * hears a `"leave"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member.
   *
   * @example Exiting
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const member = { id: "c1", serverId: "s1", joinedAt: 0 };
   * backplane.enter("app", "r", member);
   * backplane.exit("app", "r", member);
   * ```
   */
  exit(channel: string, room: string, member: PresenceMember): void {
    this.#streams.exit(channel, room, member);
  }

  /**
   * The members of a room, on every hub that shares this backplane.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @returns The members, by join time.
   *
   * @example Nobody
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * console.log(await new MemoryBackplane().presence("app", "r")); // []
   * ```
   */
  presence(channel: string, room: string): Promise<PresenceMember[]> {
    return Promise.resolve(this.#streams.presence(channel, room));
  }

  /**
   * Calls `listener` with every join and leave on a channel.
   *
   * @param channel The hub's channel.
   * @param listener Called with each change.
   * @returns A function that stops the calls.
   *
   * @example Watching
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const stop = await backplane.watch("app", (c) => console.log(c.type));
   * backplane.enter("app", "r", { id: "c1", serverId: "s1", joinedAt: 0 });
   * stop();
   * ```
   */
  watch(
    channel: string,
    listener: (change: PresenceChange) => void,
  ): Promise<() => void> {
    return Promise.resolve(this.#streams.watch(channel, listener));
  }

  /**
   * Removes every listener and forgets every room's history and members.
   *
   * @returns A resolved promise.
   *
   * @example Closing
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * await new MemoryBackplane().close();
   * ```
   */
  close(): Promise<void> {
    this.#channels.clear();
    this.#streams.clear();
    return Promise.resolve();
  }

  /**
   * Same as {@linkcode MemoryBackplane.close}, for `await using`.
   *
   * @returns A resolved promise.
   *
   * @example Scoped
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * await using _backplane = new MemoryBackplane();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
