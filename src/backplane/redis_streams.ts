/**
 * {@linkcode RedisStreamsBackplane}: durable rooms for {@linkcode Hub} on
 * Redis Streams (history, positions, recovery after any gap, presence
 * across servers); exported by `@switchboard/switchboard/redis`.
 *
 * @module
 */

import type { Position } from "../hub/wire.ts";
import {
  type Client,
  closeClient,
  connectAll,
  makeClient,
} from "./_redis_connect.ts";
import { Commands } from "./_redis_commands.ts";
import { Reader } from "./_redis_reader.ts";
import { Presence } from "./_redis_presence.ts";
import { RedisRooms } from "./_redis_rooms.ts";
import { newEpoch } from "./_history_options.ts";
import { RedisBackplane } from "./redis.ts";
import { watchBackplane } from "../_observer_calls.ts";
import { RedisBackplaneError } from "./redis_error.ts";
import {
  checkStreamsOptions,
  type RedisStreamsBackplaneOptions,
  type RedisStreamsSettings,
} from "./redis_streams_options.ts";
import type {
  Following,
  PresenceChange,
  PresenceMember,
  StreamBackplane,
  StreamListener,
  StreamMessage,
  StreamPage,
} from "./streams.ts";

/**
 * A {@linkcode StreamBackplane} on Redis Streams, after Centrifugo's
 * design: every room's messages go into a Redis Stream, each with an
 * offset (the entry id) in an epoch (a random id kept beside the stream),
 * and every server reads, with one blocking `XREAD`, the streams of the
 * rooms it has members in. So a {@linkcode Hub} on it gives every message
 * a position, keeps a history, lets a member that reconnects to any server
 * recover what it missed, and knows the members of every server.
 *
 * - **History**: `XADD` with `MAXLEN ~ history` (default 1,000), entries
 *   older than `historyTtl` (default 10 minutes) trimmed.
 * - **Writes**: a room message is appended by a Lua script that also checks
 *   an idempotency key (this backplane's id and the message's sequence
 *   number), so a message whose reply was lost is written once when it is
 *   sent again. While Redis is away, appends wait in a bounded buffer
 *   (`maxBuffered`, default 1,000) and go out again in order once it is
 *   back; past the bound they are dropped, counted and reported (the
 *   broadcast's promise rejects).
 * - **Redis restarts**: with `appendonly yes` and `appendfsync always` no
 *   acknowledged message is lost (the default `everysec` loses nothing on a
 *   killed Redis process either, unless a slow disk was still syncing: see
 *   `docs/rooms.md`). Without persistence the streams are gone: the next
 *   write starts a new epoch, live members get a `joined` frame with
 *   `recovered: false`, and a member that rejoins with a position of the
 *   old epoch gets `recovered: false`, never a silent gap.
 * - **Presence**: each server renews its registration every third of
 *   `presenceTtl` (default 30 s); the members of a server that stops
 *   renewing are removed within `presenceTtl`, with a `"leave"` everywhere.
 * - **Messages to one connection** (`hub.send`) go over pub/sub, as with
 *   {@linkcode RedisBackplane}, whose options and outage handling apply.
 *
 * Four connections: one for commands, one blocked in `XREAD`, and the
 * pub/sub pair. One Redis (or a primary), not Redis Cluster.
 *
 * @example Durable rooms across servers
 * ```ts ignore
 * import { Hub } from "@switchboard/switchboard/hub";
 * import { RedisStreamsBackplane } from "@switchboard/switchboard/redis";
 *
 * const backplane = await RedisStreamsBackplane.connect({
 *   url: "redis://127.0.0.1:6379",
 *   history: 1000,
 * });
 * const hub = new Hub({ backplane });
 * const position = await hub.broadcast("lobby", "hello");
 * ```
 */
export class RedisStreamsBackplane implements StreamBackplane, AsyncDisposable {
  readonly #pubsub: RedisBackplane;
  readonly #command: Client;
  readonly #readerClient: Client;
  readonly #commands: Commands;
  readonly #rooms: RedisRooms;
  readonly #presence: Presence;
  #closed = false;
  /** Told when the backplane closes, by the observer that watches it. */
  #unobserve: () => void = () => {};

  private constructor(
    pubsub: RedisBackplane,
    command: Client,
    reader: Client,
    settings: RedisStreamsSettings,
  ) {
    this.#pubsub = pubsub;
    this.#command = command;
    this.#readerClient = reader;
    this.#commands = new Commands(
      command,
      settings.maxBuffered,
      settings.onError,
    );
    const id = newEpoch();
    this.#rooms = new RedisRooms(
      this.#commands,
      (wake) =>
        new Reader(
          reader,
          `switchboard:wake:${id}`,
          wake,
          (error) => settings.onError(readError(error)),
        ),
      { ...settings, id },
    );
    this.#presence = new Presence(this.#commands, settings.presenceTtl);
    command.on("ready", () => {
      this.#presence.beat();
      this.#rooms.measureClock();
    });
  }

  /**
   * Connects to Redis (four connections), retrying until it answers, for at
   * most `connectTimeout` ms.
   *
   * @param options Where Redis is, the history and presence settings, the
   * buffer for outages, and the error listener.
   * @returns The connected backplane.
   * @throws {TypeError} When an option has the wrong type, or `url` is not a
   * `redis:` or `rediss:` URL.
   * @throws {RangeError} When a number option is out of range.
   * @throws {RedisBackplaneError} (as a rejection) When Redis could not be
   * reached within `connectTimeout` (no connection is left open); the
   * signal's reason when `signal` aborts first.
   *
   * @example Connecting
   * ```ts ignore
   * import { RedisStreamsBackplane } from "@switchboard/switchboard/redis";
   *
   * const backplane = await RedisStreamsBackplane.connect({
   *   url: "redis://10.0.0.5:6379",
   *   historyTtl: 5 * 60_000,
   *   presenceTtl: 15_000,
   * });
   * ```
   */
  static async connect(
    options: RedisStreamsBackplaneOptions = {},
  ): Promise<RedisStreamsBackplane> {
    const settings = checkStreamsOptions(options);
    const { url, maxReconnectDelay, signal } = settings;
    signal?.throwIfAborted();
    const giveUp = new AbortController();
    const command = makeClient(url, maxReconnectDelay, true, giveUp.signal);
    const reader = makeClient(url, maxReconnectDelay, false, giveUp.signal);
    // Errors before the backplane listens are connect()'s to report.
    for (const client of [command, reader]) client.on("error", () => {});
    // The observer watches this backplane (its buffer), not the pub/sub one.
    const { observe: _observe, ...pubsubOptions } = options;
    const [pubsub, connected] = await Promise.allSettled([
      RedisBackplane.connect(pubsubOptions),
      connectAll([command, reader], giveUp, settings),
    ]);
    if (pubsub.status === "rejected" || connected.status === "rejected") {
      if (pubsub.status === "fulfilled") await pubsub.value.close();
      else await Promise.allSettled([command, reader].map(closeClient));
      throw pubsub.status === "rejected"
        ? pubsub.reason
        : (connected as PromiseRejectedResult).reason;
    }
    const backplane = new RedisStreamsBackplane(
      pubsub.value,
      command,
      reader,
      settings,
    );
    await backplane.#rooms.measureClock();
    backplane.#unobserve = watchBackplane(
      settings.observe,
      backplane,
      "redis-streams",
    );
    return backplane;
  }

  /** Whether every connection to Redis is up. */
  get connected(): boolean {
    return this.#command.isReady && this.#readerClient.isReady &&
      this.#pubsub.connected;
  }

  /** How many room messages wait for Redis to come back. */
  get buffered(): number {
    return this.#commands.buffered;
  }

  /** How many room messages were dropped because the buffer was full. */
  get dropped(): number {
    return this.#commands.dropped;
  }

  /**
   * Publishes a message to one connection's hub, over pub/sub (see
   * {@linkcode RedisBackplane.publish}).
   *
   * @param channel The channel name.
   * @param message The message.
   *
   * @example Publishing
   * ```ts ignore
   * backplane.publish("news", "hello");
   * ```
   */
  publish(channel: string, message: string): void {
    this.#pubsub.publish(channel, message);
  }

  /**
   * Subscribes to a pub/sub channel (see {@linkcode RedisBackplane.subscribe}).
   *
   * @param channel The channel name.
   * @param listener Called with each message, in publish order.
   * @returns A function that removes the listener.
   *
   * @example Subscribing
   * ```ts ignore
   * const stop = await backplane.subscribe("news", console.log);
   * await stop();
   * ```
   */
  subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>> {
    return this.#pubsub.subscribe(channel, listener);
  }

  /**
   * Adds a message to a room's stream, once (see the class documentation).
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param message The message.
   * @returns Its position once Redis stored it.
   * @throws {RedisBackplaneError} (as a rejection) When the message was
   * dropped, Redis refused it, or the backplane is closed.
   *
   * @example Appending
   * ```ts ignore
   * const { epoch, offset } = await backplane.append("app", "lobby", { data: "hi" });
   * ```
   */
  append(
    channel: string,
    room: string,
    message: StreamMessage,
  ): Promise<Position> {
    return this.#rooms.append(channel, room, message);
  }

  /**
   * Reads a room's stream: the entries after `since`, or the newest ones.
   * Waits for Redis while it is away.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param options `since` and `limit`.
   * @returns The page.
   *
   * @example The newest ten
   * ```ts ignore
   * const page = await backplane.read("app", "lobby", { limit: 10 });
   * ```
   */
  read(
    channel: string,
    room: string,
    options: { since?: Position | undefined; limit: number },
  ): Promise<StreamPage> {
    return this.#rooms.read(channel, room, options);
  }

  /**
   * Follows a room's stream: every entry written from now on is read with
   * the process's blocking `XREAD` until every follower stopped. (For a
   * room new to this process, "now" is this instant in Redis's clock, whose
   * difference to this one is measured every minute: no round trip to
   * Redis can let a message written after the join slip by.)
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param listener Called with new entries, in order.
   * @returns Where following started, and how to stop.
   *
   * @example Following
   * ```ts ignore
   * const following = await backplane.follow("app", "lobby", (entries) => {
   *   for (const entry of entries) console.log(entry.offset, entry.data);
   * });
   * following.stop();
   * ```
   */
  follow(
    channel: string,
    room: string,
    listener: StreamListener,
  ): Promise<Following> {
    return this.#rooms.follow(channel, room, listener);
  }

  /**
   * Records that a member joined a room; every server hears a `"join"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member.
   *
   * @example Entering
   * ```ts ignore
   * backplane.enter("app", "lobby", { id: "c1", serverId: hub.serverId, joinedAt: Date.now() });
   * ```
   */
  enter(channel: string, room: string, member: PresenceMember): void {
    if (!this.#closed) this.#presence.enter(channel, room, member);
  }

  /**
   * Records that a member left a room; every server hears a `"leave"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member, as it entered.
   *
   * @example Exiting
   * ```ts ignore
   * backplane.exit("app", "lobby", member);
   * ```
   */
  exit(channel: string, room: string, member: PresenceMember): void {
    if (!this.#closed) this.#presence.exit(channel, room, member);
  }

  /**
   * The members of a room on every server that is alive.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @returns The members, by join time.
   *
   * @example Who is in the room
   * ```ts ignore
   * console.log(await backplane.presence("app", "lobby"));
   * ```
   */
  presence(channel: string, room: string): Promise<PresenceMember[]> {
    return this.#presence.members(channel, room);
  }

  /**
   * Calls `listener` with every join and leave on a channel, on every
   * server (over pub/sub).
   *
   * @param channel The hub's channel.
   * @param listener Called with each change.
   * @returns A function that stops the calls, once subscribed.
   *
   * @example Watching
   * ```ts ignore
   * const stop = await backplane.watch("app", (change) => console.log(change.type));
   * stop();
   * ```
   */
  async watch(
    channel: string,
    listener: (change: PresenceChange) => void,
  ): Promise<() => void> {
    const unsubscribe = await this.#pubsub.subscribe(
      `${channel}:presence`,
      (text) => {
        let change: PresenceChange;
        try {
          change = JSON.parse(text);
        } catch {
          return;
        }
        listener(change);
      },
    );
    return () => void unsubscribe().catch(() => {});
  }

  /**
   * Removes this process's members from presence (a `"leave"` each on the
   * other servers), then closes every connection. Room messages still
   * waiting for Redis are dropped.
   *
   * @returns A promise that resolves once closed.
   *
   * @example Closing
   * ```ts ignore
   * await backplane.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unobserve();
    await this.#presence.close();
    this.#readerClient.destroy();
    await this.#rooms.close();
    this.#commands.close();
    await closeClient(this.#command);
    await this.#pubsub.close();
  }

  /**
   * Same as {@linkcode RedisStreamsBackplane.close}, for `await using`.
   *
   * @returns A promise that resolves once closed.
   *
   * @example Scoped
   * ```ts ignore
   * await using backplane = await RedisStreamsBackplane.connect();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function readError(error: Error): RedisBackplaneError {
  return new RedisBackplaneError(
    `Reading the rooms' streams failed: ${error.message}`,
    0,
    { cause: error },
  );
}
