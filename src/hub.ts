/**
 * Rooms, broadcast and presence over any {@linkcode Socket}, across one or
 * many servers: the analog of SignalR's groups.
 *
 * A {@linkcode Hub} gives each socket an id, lets it join and leave rooms,
 * broadcasts to a room (optionally except the sender) and sends to one
 * connection by id. Every room message gets a position in its room's
 * stream: the hub keeps a history, and a member that rejoins with the
 * position of the last message it got receives what it missed first
 * ({@linkcode Hub.join} with `since`; `client.rooms` does it for browsers).
 * Presence ({@linkcode Hub.presence}, `"join"` and `"leave"` events) spans
 * the servers. A {@linkcode Backplane} carries it all between servers: the
 * default {@linkcode MemoryBackplane} needs nothing else;
 * `RedisStreamsBackplane` (durable rooms) and `RedisBackplane` (pub/sub)
 * live at `@switchboard/switchboard/redis`.
 *
 * @example A chat room per path
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { Hub } from "@switchboard/switchboard/hub";
 *
 * const hub = new Hub();
 * Deno.serve(route("/ws", async (socket, request) => {
 *   const room = new URL(request.url).searchParams.get("room") ?? "lobby";
 *   const id = hub.add(socket);
 *   hub.join(id, room);
 *   for await (const msg of socket) hub.broadcast(room, msg.data, { except: id });
 * }));
 * ```
 *
 * @module
 */

import type { Socket } from "./socket.ts";
import { socketLimits } from "./_socket_internals.ts";
import type { Backplane } from "./backplane/mod.ts";
import { MemoryBackplane } from "./backplane/memory.ts";
import {
  isStreamBackplane,
  type PresenceMember,
  type StreamBackplane,
} from "./backplane/streams.ts";
import { OPEN } from "./_ready_state.ts";
import { Delivery } from "./hub/_delivery.ts";
import { Channel } from "./hub/_channel.ts";
import { type RoomMember, Rooms } from "./hub/_rooms.ts";
import { type HubEventMap, PresenceEvent } from "./hub/events.ts";
import { TypedEventTarget } from "./_typed_event_target.ts";
import {
  type AddOptions,
  type BroadcastOptions,
  checkHistoryOptions,
  checkHubOptions,
  checkSince,
  type HistoryOptions,
  type HubOptions,
  type JoinOptions,
  type JoinResult,
} from "./hub/options.ts";
import type { Position, RoomMessage } from "./hub/wire.ts";
import type { Principal } from "./auth/principal.ts";
import { authorize } from "./hub/_authorize.ts";
import type { HubStats } from "./observe.ts";
import { guard } from "./_observer_calls.ts";
import { roomChanged } from "./session/_session_rooms.ts";

export type { Backplane } from "./backplane/mod.ts";
export type { Principal } from "./auth/principal.ts";
export { ForbiddenError } from "./auth/forbidden_error.ts";
export type { HubStats } from "./observe.ts";
export {
  MemoryBackplane,
  type MemoryBackplaneOptions,
} from "./backplane/memory.ts";
export type {
  Following,
  PresenceChange,
  PresenceMember,
  StreamBackplane,
  StreamEntry,
  StreamListener,
  StreamMessage,
  StreamPage,
} from "./backplane/streams.ts";
export type {
  AddOptions,
  BroadcastOptions,
  HistoryOptions,
  HubOptions,
  JoinOptions,
  JoinResult,
} from "./hub/options.ts";
export { type HubEventMap, PresenceEvent } from "./hub/events.ts";
export { TypedEventTarget } from "./_typed_event_target.ts";
export {
  type Position,
  type RoomMessage,
  type RoomRequest,
  roomRequest,
} from "./hub/wire.ts";

/** What the hub knows about one local connection. */
type Entry = RoomMember;

/**
 * Rooms, broadcast, presence and sending by id over {@linkcode Socket}s, on
 * one server or many.
 *
 * Every broadcast goes into its room's stream on the backplane, which gives
 * it a position (`{ epoch, offset }`) and keeps it in the room's history;
 * each server hands a room's messages to its members in stream order (with
 * the in-memory backplane inside `broadcast()`, through Redis once the
 * server has read the stream). A member joined with
 * {@linkcode Hub.join}`(id, room)` gets the app's data as it is; one joined
 * with options (`{ since }`) gets rooms frames that carry each message's
 * position (`docs/rooms.md`; `client.rooms` reads them). A socket that
 * holds its `highWaterMark` gets no more messages: they wait in the hub's
 * queue for it, so a slow one never stalls the others; it is closed with
 * 1013 past `maxQueuedMessages`, or when `maxBufferedBytes` is full and it
 * fell furthest behind or its socket stalled. A socket leaves every room
 * when it closes.
 *
 * {@linkcode Hub.members} and {@linkcode Hub.rooms} cover this process;
 * {@linkcode Hub.presence} and the `"join"` and `"leave"` events cover every
 * hub on the backplane and channel (with a backplane that keeps no streams,
 * such as the pub/sub `RedisBackplane`, positions, history and presence are
 * this process's own).
 *
 * @example Two sockets in a room
 * ```ts ignore
 * import { Hub } from "@switchboard/switchboard/hub";
 *
 * await using hub = new Hub();
 * const alice = hub.add(aliceSocket);
 * const bob = hub.add(bobSocket);
 * hub.join(alice, "lobby");
 * hub.join(bob, "lobby");
 * hub.broadcast("lobby", "hello from alice", { except: alice }); // bob gets it
 * console.log(hub.members("lobby")); // [alice, bob]
 * ```
 */
export class Hub extends TypedEventTarget<HubEventMap>
  implements AsyncDisposable {
  readonly #id = crypto.randomUUID();
  readonly #channel: string;
  readonly #backplane: Backplane;
  readonly #ownsBackplane: boolean;
  /** The backplane, or a stream store of this hub's own for one that keeps none. */
  readonly #streams: StreamBackplane;
  readonly #bridged: boolean;
  readonly #hubs: Channel;
  readonly #entries = new Map<string, Entry>();
  readonly #delivery: Delivery<Entry>;
  readonly #rooms: Rooms<Entry>;
  readonly #ready: Promise<void>;
  readonly #authorizeJoin:
    | ((principal: Principal | undefined, room: string) => boolean)
    | undefined;
  #unwatch: (() => void) | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;
  /** Told when the hub closes, by the observer that watches it. */
  #unobserve: (() => void) | void = undefined;

  /**
   * Makes a hub and subscribes it to its backplane channel (see
   * {@linkcode Hub.ready}).
   *
   * @param options The backplane, channel and slow-connection limits.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When `maxQueuedMessages` or `maxBufferedBytes` is
   * not a positive integer.
   *
   * @example A hub for one process
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using hub = new Hub();
   * await hub.ready;
   * console.log(hub.size); // 0
   * ```
   */
  constructor(options: HubOptions = {}) {
    super();
    const {
      backplane,
      channel,
      maxQueuedMessages,
      maxBufferedBytes,
      authorizeJoin,
      observe,
    } = checkHubOptions(options);
    this.#authorizeJoin = authorizeJoin;
    this.#delivery = new Delivery(
      maxQueuedMessages,
      maxBufferedBytes,
      this.#entries,
      (entry) => this.#remove(entry),
    );
    this.#channel = channel;
    this.#ownsBackplane = backplane === undefined;
    this.#backplane = backplane ?? new MemoryBackplane();
    this.#bridged = !isStreamBackplane(this.#backplane);
    this.#streams = this.#bridged
      ? new MemoryBackplane()
      : this.#backplane as StreamBackplane;
    this.#rooms = new Rooms(this.#streams, channel, this.#id, this.#delivery);
    this.#hubs = new Channel(
      this.#backplane,
      channel,
      this.#id,
      this.#bridged ? this.#streams : undefined,
      (id, data) => this.#deliverTo(id, data),
    );
    const watching = this.#streams.watch(
      channel,
      (change) => this.dispatchEvent(new PresenceEvent(change)),
    ).then((unwatch) => {
      if (this.#closed) return unwatch();
      this.#unwatch = unwatch;
    });
    const subscribed = this.#backplane.subscribe(
      channel,
      (message) => this.#hubs.receive(message),
    ).then((unsubscribe) => {
      if (this.#closed) return unsubscribe();
      this.#unsubscribe = unsubscribe;
    });
    this.#ready = Promise.all([subscribed, watching]).then(() => {});
    // Reported here so that a hub nobody awaits cannot end the process.
    this.#ready.catch((error) =>
      console.error("Switchboard: the hub could not subscribe:", error)
    );
    if (observe?.hub) this.#unobserve = guard(() => observe.hub?.(this));
  }

  /**
   * Resolves once the hub receives what other servers publish and their
   * presence changes; rejects when the backplane refused the subscription.
   * Local rooms work before that.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** How many connections of this process the hub tracks. */
  get size(): number {
    return this.#entries.size;
  }

  /** This hub's id: the `serverId` of its members in presence. */
  get serverId(): string {
    return this.#id;
  }

  /**
   * Tracks a socket under an id, until it closes (then it leaves every
   * room). Adding a socket that is already closed does nothing.
   *
   * @param socket The connection.
   * @param options The id to use, and what presence shows about it.
   * @returns The connection's id.
   * @throws {TypeError} When the id is not a non-empty string, or is taken.
   *
   * @example Tracking a socket
   * ```ts ignore
   * const id = hub.add(socket, { data: { name: "alice" } });
   * hub.join(id, "lobby");
   * ```
   */
  add(socket: Socket, options: AddOptions = {}): string {
    const { id = crypto.randomUUID(), data } = options;
    if (typeof id !== "string" || id === "") {
      throw new TypeError("Invalid id: expected a non-empty string");
    }
    if (this.#entries.has(id)) {
      throw new TypeError(`Cannot add socket: the id "${id}" is taken`);
    }
    if (socket.readyState > OPEN) return id;
    const entry: Entry = {
      id,
      socket,
      rooms: new Map(),
      data,
      highWaterMark: socketLimits(socket).highWaterMark,
      held: 0,
      movedAt: 0,
      pace: 0,
      queue: undefined,
      head: 0,
      queued: 0,
    };
    this.#entries.set(id, entry);
    socket.closed.then(() => this.#remove(entry));
    return id;
  }

  /**
   * Stops tracking a connection and takes it out of every room; the socket
   * stays open.
   *
   * @param id The connection's id.
   * @returns Whether the connection was tracked.
   *
   * @example Letting go of a connection
   * ```ts ignore
   * hub.remove(id);
   * ```
   */
  remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#remove(entry);
    return true;
  }

  /**
   * Puts a connection of this process in a room, when the hub's
   * `authorizeJoin` (if any) allows its principal in. It gets the room's
   * messages from now on, as the app broadcast them.
   *
   * @param id The connection's id.
   * @param room The room's name.
   * @returns `false` when no open connection has that id (it may have just
   * closed), `true` otherwise.
   * @throws {ForbiddenError} When `authorizeJoin` refuses: nothing changes.
   * @throws {TypeError} When `authorizeJoin` returns a promise (it must
   * decide synchronously).
   *
   * @example Joining
   * ```ts ignore
   * hub.join(id, "lobby");
   * ```
   *
   * @example Only admins in "admins"
   * ```ts ignore
   * import { ForbiddenError, Hub } from "@switchboard/switchboard/hub";
   *
   * const hub = new Hub({
   *   authorizeJoin: (principal, room) =>
   *     room !== "admins" || principal?.sub === "root",
   * });
   * try {
   *   hub.join(hub.add(socket), "admins");
   * } catch (error) {
   *   if (error instanceof ForbiddenError) socket.close(4003, "Forbidden");
   * }
   * ```
   */
  join(id: string, room: string): boolean;
  /**
   * Puts a connection of this process in a room with positions: it first
   * gets the room's messages after `since` (those the room's history still
   * has), then a `joined` frame, then every later message live, each in a
   * rooms frame that carries its position; no message is missing or sent
   * twice at the seam. `client.rooms` sends the join and reads the frames.
   *
   * @param id The connection's id.
   * @param room The room's name.
   * @param options `since`: the position of the last message it got.
   * @returns Whether the missed messages were recovered, and the position
   * the member stands at. When `recovered` is `false` (no `since`, a new
   * epoch, or `since` older than the history) nothing before that position
   * was sent: the app loads the room's state again.
   * @throws {TypeError} (as a rejection) When `since` is not a position, or
   * no open connection has that id.
   *
   * @example Rejoining where the client left off
   * ```ts ignore
   * const { recovered } = await hub.join(id, "lobby", { since });
   * if (!recovered) await socket.send(JSON.stringify(await loadState()));
   * ```
   */
  join(id: string, room: string, options: JoinOptions): Promise<JoinResult>;
  join(
    id: string,
    room: string,
    options?: JoinOptions,
  ): boolean | Promise<JoinResult> {
    const entry = this.#entries.get(id);
    if (options === undefined) {
      if (entry === undefined) return false;
      this.#authorize(entry, room);
      this.#rooms.join(entry, room);
      roomChanged(entry.socket, room, "");
      return true;
    }
    try {
      const since = checkSince(options?.since);
      if (entry === undefined) {
        throw new TypeError(
          `Cannot join "${room}": no open connection has the id "${id}"`,
        );
      }
      this.#authorize(entry, room);
      const joined = this.#rooms.recover(entry, room, since);
      joined.then(
        ({ position }) =>
          roomChanged(entry.socket, room, JSON.stringify(position)),
        () => {},
      );
      return joined;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes a connection out of a room.
   *
   * @param id The connection's id.
   * @param room The room's name.
   * @returns Whether it was in the room.
   *
   * @example Leaving
   * ```ts ignore
   * hub.leave(id, "lobby");
   * ```
   */
  leave(id: string, room: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined || !this.#rooms.leave(entry, room)) return false;
    roomChanged(entry.socket, room, undefined);
    return true;
  }

  /**
   * The ids of this process's connections in a room, in joining order.
   *
   * @param room The room's name.
   * @returns The ids; empty for an unknown room.
   *
   * @example Who is here
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using hub = new Hub();
   * console.log(hub.members("lobby")); // []
   * ```
   */
  members(room: string): string[] {
    return this.#rooms.members(room).map((entry) => entry.id);
  }

  /**
   * The rooms a connection of this process is in.
   *
   * @param id The connection's id.
   * @returns The room names; empty for an unknown id.
   *
   * @example A connection's rooms
   * ```ts ignore
   * console.log(hub.rooms(id)); // ["lobby"]
   * ```
   */
  rooms(id: string): string[] {
    const entry = this.#entries.get(id);
    return entry ? [...entry.rooms.keys()] : [];
  }

  /**
   * Every member of a room on every server of the channel: its id, the
   * `serverId` of its hub, when it joined and the `data` given to
   * {@linkcode Hub.add}. A server that dies has its members removed within
   * the backplane's `presenceTtl`.
   *
   * @param room The room's name.
   * @returns The members, by join time.
   *
   * @example Who is in the room, anywhere
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using hub = new Hub();
   * console.log(await hub.presence("lobby")); // []
   * ```
   */
  presence(room: string): Promise<PresenceMember[]> {
    return this.#streams.presence(this.#channel, room);
  }

  /**
   * The messages of a room's history: those after `since`, or the newest
   * ones, oldest first, with their positions.
   *
   * @param room The room's name.
   * @param options `since` and `limit` (1 to 1,000, default 100).
   * @returns The messages.
   * @throws {TypeError} (as a rejection) When `since` is not a position or
   * `limit` not a number.
   * @throws {RangeError} (as a rejection) When `limit` is out of range, or
   * the history no longer covers what follows `since` (its epoch changed,
   * or messages after it were trimmed).
   *
   * @example The last ten messages
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using hub = new Hub();
   * await hub.broadcast("lobby", "hello");
   * const recent = await hub.history("lobby", { limit: 10 });
   * console.log(recent.map((m) => m.data)); // ["hello"]
   * ```
   */
  history(
    room: string,
    options: HistoryOptions = {},
  ): Promise<RoomMessage[]> {
    try {
      const { since, limit } = checkHistoryOptions(options);
      return this.#rooms.history(room, since, limit);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a message to every member of a room, on every server, and adds it
   * to the room's history. Each member's socket sends on its own, with
   * backpressure.
   *
   * @param room The room's name.
   * @param data Text (a string) or binary (a `Uint8Array`).
   * @param options A connection id to leave out, usually the sender's.
   * @returns The message's position once the backplane stored it; it
   * rejects only when the backplane dropped the message (its buffer was
   * full during an outage, and `onError` was told) or was closed. Nothing
   * needs to await it: an unawaited rejection does not end the process.
   * @throws {TypeError} When `data` is neither a string nor a `Uint8Array`.
   * @throws {RangeError} When `data` is larger than `maxBufferedBytes`.
   *
   * @example Relaying a message to the rest of the room
   * ```ts ignore
   * for await (const msg of socket) {
   *   hub.broadcast("lobby", msg.data, { except: id });
   * }
   * ```
   */
  broadcast(
    room: string,
    data: string | Uint8Array,
    options: BroadcastOptions = {},
  ): Promise<Position> {
    this.#delivery.parcel(data);
    const { except, key } = options;
    const position = this.#streams.append(this.#channel, room, {
      data,
      ...(except === undefined ? {} : { except }),
      ...(key === undefined ? {} : { key }),
    });
    position.catch(() => {});
    this.#hubs.room(room, data, except);
    return position;
  }

  /**
   * Sends a message to one connection, on whichever server it is.
   *
   * @param id The connection's id.
   * @param data Text (a string) or binary (a `Uint8Array`).
   * @throws {TypeError} When `data` is neither a string nor a `Uint8Array`.
   * @throws {RangeError} When `data` is larger than `maxBufferedBytes`.
   *
   * @example A private message
   * ```ts ignore
   * hub.send(otherId, "just for you");
   * ```
   */
  send(id: string, data: string | Uint8Array): void {
    const parcel = this.#delivery.parcel(data);
    const entry = this.#entries.get(id);
    if (entry !== undefined) this.#delivery.deliver(entry, parcel);
    else this.#hubs.direct(id, data);
  }

  /**
   * Counters for a health endpoint or an observer: this process's
   * connections, its rooms with their member counts, and the messages
   * delivered to members since the hub was made.
   *
   * @returns A snapshot.
   *
   * @example Rooms and their sizes
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using hub = new Hub();
   * console.log(hub.stats()); // { connections: 0, rooms: {}, deliveries: 0 }
   * ```
   */
  stats(): HubStats {
    return {
      connections: this.#entries.size,
      rooms: this.#rooms.sizes(),
      deliveries: this.#delivery.delivered,
    };
  }

  /** Refuses (ForbiddenError) a join `authorizeJoin` does not allow. */
  #authorize(entry: Entry, room: string): void {
    if (this.#authorizeJoin !== undefined && !entry.rooms.has(room)) {
      authorize(this.#authorizeJoin, entry.socket.principal, entry.id, room);
    }
  }

  /**
   * Unsubscribes from the backplane, closes it when the hub made it, and
   * stops tracking every connection (they leave their rooms). The sockets
   * stay open.
   *
   * @returns A promise that resolves once the hub is closed.
   *
   * @example Closing
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * const hub = new Hub();
   * await hub.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const unobserve = this.#unobserve;
    if (unobserve) guard(unobserve);
    for (const entry of [...this.#entries.values()]) this.#remove(entry);
    this.#rooms.close();
    this.#unwatch?.();
    this.#delivery.close();
    try {
      await this.#ready;
    } catch {
      // Never subscribed: nothing to undo.
    }
    await this.#unsubscribe?.();
    if (this.#bridged) await this.#streams.close();
    if (this.#ownsBackplane) await this.#backplane.close();
  }

  /**
   * Same as {@linkcode Hub.close}, for `await using`.
   *
   * @returns A promise that resolves once the hub is closed.
   *
   * @example Scoped
   * ```ts
   * import { Hub } from "@switchboard/switchboard/hub";
   *
   * await using _hub = new Hub();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #remove(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    for (const room of [...entry.rooms.keys()]) this.#rooms.leave(entry, room);
    this.#delivery.forget(entry);
  }

  #deliverTo(id: string, data: string | Uint8Array): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    try {
      this.#delivery.deliver(entry, this.#delivery.parcel(data));
    } catch (error) {
      // A server with a larger budget sent it: no member here can take it.
      console.error(`Switchboard: the hub dropped a message: ${error}`);
    }
  }
}
