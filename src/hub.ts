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

import { closeSocket, type Socket } from "./socket.ts";
import { positiveInteger } from "./_validate.ts";
import { type Backplane, MemoryBackplane } from "./backplane/memory.ts";

export { type Backplane, MemoryBackplane } from "./backplane/memory.ts";

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
   * How many messages may wait for one slow connection (beyond what its
   * socket's `highWaterMark` lets through). A connection that falls further
   * behind is closed with 1013 so that it cannot grow memory without bound;
   * the others are never held up by it.
   *
   * @default {1024}
   */
  maxQueuedMessages?: number;
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
  /** Sends handed to the socket whose promise has not settled yet. */
  waiting: number;
  /** Whether a check for a connection that fell behind is scheduled. */
  checking: boolean;
  readonly settled: () => void;
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

const OPEN_OR_CONNECTING = 1;

/** The promise `Socket.send()` returns for a message written at once. */
let alreadySent: Promise<void> | undefined;
let lastSent: Promise<void> | undefined;

/**
 * Rooms, broadcast, presence and sending by id over {@linkcode Socket}s, on
 * one server or many.
 *
 * A broadcast reaches this process's members of the room at once and is
 * published on the backplane for the other servers; a message from one
 * sender reaches every member in the order it was sent. Each connection has
 * its own queue (its socket's `send()`): a slow one waits on its own and is
 * closed with 1013 once `maxQueuedMessages` wait for it, so it never stalls
 * the others. A socket leaves every room when it closes.
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
  readonly #entries = new Map<string, Entry>();
  readonly #rooms = new Map<string, Set<Entry>>();
  readonly #ready: Promise<void>;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;

  /**
   * Makes a hub and subscribes it to its backplane channel (see
   * {@linkcode Hub.ready}).
   *
   * @param options The backplane, channel and slow-connection limit.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When `maxQueuedMessages` is not a positive integer.
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
    const { backplane, channel = "switchboard", maxQueuedMessages = 1024 } =
      options;
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
    if (socket.readyState > OPEN_OR_CONNECTING) return id;
    const entry: Entry = {
      id,
      socket,
      rooms: new Set(),
      waiting: 0,
      checking: false,
      settled: () => entry.waiting--,
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
    checkData(data);
    const { except } = options;
    this.#deliverToRoom(room, data, except);
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
   *
   * @example A private message
   * ```ts ignore
   * hub.send(otherId, "just for you");
   * ```
   */
  send(id: string, data: string | Uint8Array): void {
    checkData(data);
    const entry = this.#entries.get(id);
    if (entry !== undefined) this.#deliver(entry, data);
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
  }

  #leave(entry: Entry, room: string): void {
    const members = this.#rooms.get(room);
    members?.delete(entry);
    if (members?.size === 0) this.#rooms.delete(room);
  }

  #deliverToRoom(
    room: string,
    data: string | Uint8Array,
    except: string | undefined,
  ): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    for (const entry of members) {
      if (entry.id !== except) this.#deliver(entry, data);
    }
  }

  #deliver(entry: Entry, data: string | Uint8Array): void {
    const socket = entry.socket;
    if (socket.readyState > OPEN_OR_CONNECTING) return;
    const sent = socket.send(data);
    if (sent === alreadySent) return;
    if (sent === lastSent) {
      // Only a settled promise that send() shares between calls comes back
      // twice (a waiting send gets a promise of its own): that one means
      // "written at once" and needs no tracking, saving a reaction per
      // member and message.
      alreadySent = sent;
      return;
    }
    lastSent = sent;
    entry.waiting++;
    // Fire and track: a rejection only means the socket closed, and its
    // closed promise removes it; the handler keeps it from being unhandled.
    sent.then(entry.settled, entry.settled);
    if (entry.waiting > this.#maxQueued && !entry.checking) {
      entry.checking = true;
      // Sends that went straight out settle in the next microtasks; what is
      // still waiting after them is queued behind a full send buffer.
      setTimeout(() => this.#checkBehind(entry), 0);
    }
  }

  #checkBehind(entry: Entry): void {
    entry.checking = false;
    if (entry.waiting <= this.#maxQueued) return;
    this.#remove(entry);
    closeSocket(
      entry.socket,
      1013,
      `Too slow: more than ${this.#maxQueued} messages waiting`,
    );
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
    if (typeof envelope.r === "string") {
      this.#deliverToRoom(envelope.r, data, envelope.x);
    } else if (typeof envelope.c === "string") {
      const entry = this.#entries.get(envelope.c);
      if (entry !== undefined) this.#deliver(entry, data);
    }
  }
}

function checkData(data: unknown): void {
  if (typeof data !== "string" && !(data instanceof Uint8Array)) {
    throw new TypeError(
      "Cannot send message: expected a string or a Uint8Array",
    );
  }
}

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
