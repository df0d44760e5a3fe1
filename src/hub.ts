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

import {
  closeSocket,
  pendingBytes,
  type Socket,
  socketLimits,
} from "./socket.ts";
import { utf8Length } from "./message.ts";
import { positiveInteger } from "./_validate.ts";
import type { Backplane } from "./backplane/mod.ts";
import { MemoryBackplane } from "./backplane/memory.ts";

export type { Backplane } from "./backplane/mod.ts";
export { MemoryBackplane } from "./backplane/memory.ts";

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

/** What the hub knows about one local connection. */
interface Entry {
  readonly id: string;
  readonly socket: Socket;
  readonly rooms: Set<string>;
  /** Its socket's `highWaterMark`. */
  readonly highWaterMark: number;
  /**
   * An upper bound on the bytes its socket holds (its `bufferedAmount`
   * when last read, plus what the hub handed it since), counted in the
   * hub's total until the socket closes.
   */
  held: number;
  /** Messages the hub keeps back while the socket is full; made on use. */
  queue: (Parcel | undefined)[] | undefined;
  head: number;
  /** The bytes of the messages in `queue`. */
  queued: number;
}

/** One message on its way to the members of a room, sized once. */
interface Parcel {
  readonly data: string | Uint8Array;
  /** Its size on the wire: UTF-8 bytes for text. */
  readonly size: number;
}

/** A message between hubs. `b` marks base64-encoded binary data. */
interface Envelope {
  /** The publishing hub. */
  n: string;
  /** A room (`r`) or a connection id (`c`). */
  r?: string;
  c?: string;
  x?: string;
  d: string;
  b?: 1;
}

const OPEN = 1;
const MAX_POLL_MS = 32;

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
 * when the hub's `maxBufferedBytes` is full and it is the furthest behind.
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
  readonly #maxQueued: number;
  readonly #maxBytes: number;
  /**
   * An upper bound on the bytes in flight: the sum of every tracked
   * connection's `held` and `queued`.
   */
  #total = 0;
  /** Connections with messages in the hub's queue. */
  readonly #backlogged = new Set<Entry>();
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #pollDelay = 1;
  /** Whether every socket's bytes were read since the last poll. */
  #swept = false;
  readonly #entries = new Map<string, Entry>();
  readonly #rooms = new Map<string, Set<Entry>>();
  readonly #ready: Promise<void>;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;

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
    this.#maxQueued = positiveInteger("maxQueuedMessages", maxQueuedMessages);
    this.#maxBytes = positiveInteger("maxBufferedBytes", maxBufferedBytes);
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
   * Puts a connection of this process in a room.
   *
   * @param id The connection's id.
   * @param room The room's name.
   * @returns `false` when no open connection has that id (it may have just
   * closed), `true` otherwise.
   *
   * @example Joining
   * ```ts ignore
   * hub.join(id, "lobby");
   * ```
   */
  join(id: string, room: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
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
    const parcel = this.#parcel(data);
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
    const parcel = this.#parcel(data);
    const entry = this.#entries.get(id);
    if (entry !== undefined) this.#deliver(entry, parcel);
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
    for (const entry of [...this.#entries.values()]) this.#remove(entry);
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
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
    this.#backlogged.delete(entry);
    this.#total -= entry.queued + entry.held;
    entry.queue = undefined;
    entry.head = entry.queued = entry.held = 0;
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
      if (entry.id !== except) this.#deliver(entry, parcel);
    }
  }

  /** Sizes a message once, for all the members it goes to. */
  #parcel(data: string | Uint8Array): Parcel {
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
    return { data, size };
  }

  /**
   * The hot path: a socket below its `highWaterMark` (as far as the hub's
   * count of what it handed over tells, without reading `bufferedAmount`)
   * and room in the budget take the message at once.
   */
  #deliver(entry: Entry, parcel: Parcel): void {
    const state = entry.socket.readyState;
    if (state > OPEN) return;
    if (
      entry.queue === undefined && state === OPEN &&
      entry.held < entry.highWaterMark &&
      this.#total + parcel.size <= this.#maxBytes
    ) this.#hand(entry, parcel);
    else this.#hold(entry, parcel);
  }

  #hand(entry: Entry, parcel: Parcel): void {
    entry.held += parcel.size;
    this.#total += parcel.size;
    // Below its highWaterMark the socket writes at once and its promise
    // never rejects; one that waits (the app's own sends filled it) may
    // reject on close, which the socket's closed promise already reports.
    const sent = entry.socket.send(parcel.data);
    if (mayReject(entry.socket)) sent.catch(ignore);
  }

  /** The slow path: measure, then hand over, queue, or close. */
  #hold(entry: Entry, parcel: Parcel): void {
    const { size } = parcel;
    if (entry.queue === undefined) {
      this.#measure(entry);
      if (
        entry.socket.readyState === OPEN && entry.held < entry.highWaterMark
      ) {
        if (
          this.#total + size <= this.#maxBytes || this.#makeRoom(entry, size)
        ) return this.#hand(entry, parcel);
        return;
      }
    }
    const queue = entry.queue ??= [];
    if (queue.length - entry.head >= this.#maxQueued) {
      return this.#drop(
        entry,
        `Too slow: more than ${this.#maxQueued} messages waiting`,
      );
    }
    if (this.#total + size > this.#maxBytes && !this.#makeRoom(entry, size)) {
      return;
    }
    queue.push(parcel);
    entry.queued += size;
    this.#total += size;
    this.#backlogged.add(entry);
    this.#schedulePoll();
  }

  /** Replaces the bound on what a socket holds with what it reports. */
  #measure(entry: Entry): void {
    const held = entry.socket.bufferedAmount + pendingBytes(entry.socket);
    this.#total += held - entry.held;
    entry.held = held;
  }

  /**
   * Reads what every socket holds, once between polls: nothing drains
   * while a task runs, so a second sweep in the same one finds the same.
   */
  #sweep(): void {
    if (this.#swept) return;
    this.#swept = true;
    for (const entry of this.#entries.values()) {
      if (entry.held > 0) this.#measure(entry);
    }
    this.#schedulePoll();
  }

  /**
   * Frees room in the budget for `size` more bytes for `entry`: first by
   * reading what the sockets really hold, then by closing the connections
   * with the most bytes in the hub's queue (those are over their
   * `highWaterMark`: behind, not just busy) until it fits. When none has
   * more queued than `entry`, `entry` is the one closed.
   *
   * @returns Whether `entry` is still open and the bytes fit.
   */
  #makeRoom(entry: Entry, size: number): boolean {
    this.#sweep();
    while (this.#total + size > this.#maxBytes) {
      let slowest = entry;
      for (const other of this.#backlogged) {
        if (other.queued > slowest.queued) slowest = other;
      }
      this.#drop(
        slowest,
        `Too slow: the hub's buffers are full (maxBufferedBytes ${this.#maxBytes})`,
      );
      if (slowest === entry) return false;
    }
    return true;
  }

  /**
   * Closes a connection that fell behind with 1013 and forgets its bytes:
   * its socket frees them once it has closed (see `maxBufferedBytes`).
   */
  #drop(entry: Entry, reason: string): void {
    this.#remove(entry);
    closeSocket(entry.socket, 1013, reason);
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
    for (const entry of this.#backlogged) {
      if (entry.socket.readyState !== OPEN) continue;
      this.#measure(entry);
      const queue = entry.queue as (Parcel | undefined)[];
      while (entry.head < queue.length && entry.held < entry.highWaterMark) {
        const parcel = queue[entry.head] as Parcel;
        queue[entry.head++] = undefined;
        // Moves from the hub's queue to the socket: the total stays.
        entry.queued -= parcel.size;
        entry.held += parcel.size;
        const sent = entry.socket.send(parcel.data);
        if (mayReject(entry.socket)) sent.catch(ignore);
        moved = true;
      }
      if (entry.head === queue.length) {
        entry.queue = undefined;
        entry.head = 0;
        this.#backlogged.delete(entry);
      } else if (entry.head > 1024) {
        queue.splice(0, entry.head);
        entry.head = 0;
      }
    }
    if (this.#backlogged.size === 0) {
      this.#pollDelay = 1;
      return;
    }
    this.#pollDelay = moved ? 1 : Math.min(this.#pollDelay * 2, MAX_POLL_MS);
    this.#schedulePoll();
  }

  #publish(envelope: Envelope, data: string | Uint8Array): void {
    if (typeof data === "string") envelope.d = data;
    else {
      envelope.d = toBase64(data);
      envelope.b = 1;
    }
    this.#backplane.publish(this.#channel, JSON.stringify(envelope));
  }

  #receive(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message);
    } catch {
      return;
    }
    if (envelope.n === this.#id || typeof envelope.d !== "string") return;
    const data = envelope.b === 1 ? fromBase64(envelope.d) : envelope.d;
    let parcel: Parcel;
    try {
      parcel = this.#parcel(data);
    } catch (error) {
      // A server with a larger budget sent it: no member here can take it.
      console.error(`Switchboard: the hub dropped a message: ${error}`);
      return;
    }
    if (typeof envelope.r === "string") {
      this.#deliverToRoom(envelope.r, parcel, envelope.x);
    } else if (typeof envelope.c === "string") {
      const entry = this.#entries.get(envelope.c);
      if (entry !== undefined) this.#deliver(entry, parcel);
    }
  }
}

function ignore(): void {}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Whether the promise of the `send()` just made can still reject: a send
 * that went straight out (open socket, nothing queued in it) cannot, so it
 * needs no handler on the hot path.
 */
function mayReject(socket: Socket): boolean {
  return socket.readyState !== 1 || pendingBytes(socket) !== 0;
}
