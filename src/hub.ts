/**
 * Rooms, broadcast and presence over any {@linkcode Socket}, across one or
 * many servers: the analog of SignalR's groups.
 *
 * A {@linkcode Hub} gives each socket an id, lets it join and leave rooms,
 * broadcasts to a room (optionally except the sender) and sends to one
 * connection by id. Sockets connected to this process are served directly;
 * a {@linkcode Backplane} carries the same messages to the other servers.
 * The default {@linkcode MemoryBackplane} needs nothing else; the Redis one
 * lives at `@switchboard/switchboard/redis`.
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
import type { Principal } from "./auth/principal.ts";
import { authorize } from "./hub/_authorize.ts";
import { socketLimits } from "./_socket_internals.ts";
import type { Backplane } from "./backplane/mod.ts";
import { MemoryBackplane } from "./backplane/memory.ts";
import { OPEN } from "./_ready_state.ts";
import { Delivery, type Member, type Parcel } from "./hub/_delivery.ts";
import { type Envelope, readEnvelope, writeEnvelope } from "./hub/_envelope.ts";
import {
  type AddOptions,
  type BroadcastOptions,
  checkHubOptions,
  type HubOptions,
} from "./hub/options.ts";
import type { HubStats } from "./observe.ts";
import { guard } from "./_observer_calls.ts";

export type { Backplane } from "./backplane/mod.ts";
export type { Principal } from "./auth/principal.ts";
export { ForbiddenError } from "./auth/forbidden_error.ts";
export { MemoryBackplane } from "./backplane/memory.ts";
export type {
  AddOptions,
  BroadcastOptions,
  HubOptions,
} from "./hub/options.ts";
export type { HubStats } from "./observe.ts";

/** What the hub knows about one local connection. */
interface Entry extends Member {
  readonly id: string;
  readonly rooms: Set<string>;
}

/**
 * Rooms, broadcast, presence and sending by id over {@linkcode Socket}s, on
 * one server or many.
 *
 * A broadcast reaches this process's members of the room at once and is
 * published on the backplane for the other servers; a message from one
 * sender reaches every member in the order it was sent. A connection whose
 * socket holds its `highWaterMark` gets no more messages: they wait in the
 * hub's queue for it, so a slow one waits on its own and never stalls the
 * others. It is closed with 1013 once `maxQueuedMessages` wait for it, or
 * when the hub's `maxBufferedBytes` is full and it fell furthest behind; a
 * connection that keeps up is never closed for the budget.
 * A socket leaves every room when it closes.
 *
 * Presence ({@linkcode Hub.members}, {@linkcode Hub.rooms}) covers the
 * connections of this process.
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
export class Hub implements AsyncDisposable {
  readonly #id = crypto.randomUUID();
  readonly #channel: string;
  readonly #backplane: Backplane;
  readonly #ownsBackplane: boolean;
  readonly #entries = new Map<string, Entry>();
  readonly #delivery: Delivery<Entry>;
  readonly #rooms = new Map<string, Set<Entry>>();
  readonly #ready: Promise<void>;
  readonly #authorizeJoin:
    | ((principal: Principal | undefined, room: string) => boolean)
    | undefined;
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
    this.#ready = this.#backplane.subscribe(
      channel,
      (message) => this.#receive(message),
    ).then((unsubscribe) => {
      if (this.#closed) return unsubscribe();
      this.#unsubscribe = unsubscribe;
    });
    // Reported here so that a hub nobody awaits cannot end the process.
    this.#ready.catch((error) =>
      console.error("Switchboard: the hub could not subscribe:", error)
    );
    if (observe?.hub) this.#unobserve = guard(() => observe.hub?.(this));
  }

  /**
   * Resolves once the hub receives what other servers publish; rejects when
   * the backplane refused the subscription. Local rooms work before that.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** How many connections of this process the hub tracks. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Tracks a socket under an id, until it closes (then it leaves every
   * room). Adding a socket that is already closed does nothing.
   *
   * @param socket The connection.
   * @param options The id to use.
   * @returns The connection's id.
   * @throws {TypeError} When the id is not a non-empty string, or is taken.
   *
   * @example Tracking a socket
   * ```ts ignore
   * const id = hub.add(socket);
   * hub.join(id, "lobby");
   * ```
   */
  add(socket: Socket, options: AddOptions = {}): string {
    const { id = crypto.randomUUID() } = options;
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
      rooms: new Set(),
      highWaterMark: socketLimits(socket).highWaterMark,
      held: 0,
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
   * `authorizeJoin` (if any) allows its principal in.
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
  join(id: string, room: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    if (this.#authorizeJoin !== undefined && !entry.rooms.has(room)) {
      authorize(this.#authorizeJoin, entry.socket.principal, id, room);
    }
    let members = this.#rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.#rooms.set(room, members);
    }
    members.add(entry);
    entry.rooms.add(room);
    return true;
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
    if (entry === undefined || !entry.rooms.delete(room)) return false;
    this.#leave(entry, room);
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
    const members = this.#rooms.get(room);
    return members ? Array.from(members, (entry) => entry.id) : [];
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
    return entry ? [...entry.rooms] : [];
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
    const rooms: Record<string, number> = {};
    for (const [room, members] of this.#rooms) rooms[room] = members.size;
    return {
      connections: this.#entries.size,
      rooms,
      deliveries: this.#delivery.delivered,
    };
  }

  /**
   * Sends a message to every member of a room, on every server. Returns at
   * once: each member's socket sends on its own, with backpressure.
   *
   * @param room The room's name.
   * @param data Text (a string) or binary (a `Uint8Array`).
   * @param options A connection id to leave out, usually the sender's.
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
  ): void {
    const parcel = this.#delivery.parcel(data);
    const { except } = options;
    this.#deliverToRoom(room, parcel, except);
    const envelope: Envelope = { n: this.#id, r: room, d: "" };
    if (except !== undefined) envelope.x = except;
    this.#publish(envelope, data);
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
    else this.#publish({ n: this.#id, c: id, d: "" }, data);
  }

  /**
   * Unsubscribes from the backplane, closes it when the hub made it, and
   * stops tracking every connection. The sockets stay open.
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
    this.#delivery.close();
    try {
      await this.#ready;
    } catch {
      // Never subscribed: nothing to undo.
    }
    await this.#unsubscribe?.();
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
    for (const room of entry.rooms) this.#leave(entry, room);
    entry.rooms.clear();
    this.#delivery.forget(entry);
  }

  #leave(entry: Entry, room: string): void {
    const members = this.#rooms.get(room);
    members?.delete(entry);
    if (members?.size === 0) this.#rooms.delete(room);
  }

  #deliverToRoom(
    room: string,
    parcel: Parcel,
    except: string | undefined,
  ): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    for (const entry of members) {
      if (entry.id !== except) this.#delivery.deliver(entry, parcel);
    }
  }

  #publish(envelope: Envelope, data: string | Uint8Array): void {
    this.#backplane.publish(this.#channel, writeEnvelope(envelope, data));
  }

  #receive(message: string): void {
    const received = readEnvelope(message, this.#id);
    if (received === undefined) return;
    const { envelope, data } = received;
    let parcel: Parcel;
    try {
      parcel = this.#delivery.parcel(data);
    } catch (error) {
      // A server with a larger budget sent it: no member here can take it.
      console.error(`Switchboard: the hub dropped a message: ${error}`);
      return;
    }
    if (typeof envelope.r === "string") {
      this.#deliverToRoom(envelope.r, parcel, envelope.x);
    } else if (typeof envelope.c === "string") {
      const entry = this.#entries.get(envelope.c);
      if (entry !== undefined) this.#delivery.deliver(entry, parcel);
    }
  }
}
