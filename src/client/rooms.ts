/**
 * `client.rooms`: joins a hub's rooms with positions and rejoins them after
 * every reconnect with the position of the last message each one gave, so
 * that a member gets every room message once and in order across
 * disconnects and servers (as far as the room's history reaches). The
 * server side reads the requests with `roomRequest()` and carries them out
 * with `hub.join(id, room, { since })`; the wire is in `docs/rooms.md`.
 * Runs in browsers.
 *
 * @module
 */

import { Inbox } from "../_inbox.ts";
import {
  compareOffsets,
  type Position,
  readNotice,
  type RoomMessage,
  writeRequest,
} from "../hub/wire.ts";
import type { Client } from "./client.ts";
import { TypedEventTarget } from "../_typed_event_target.ts";

/**
 * What a {@linkcode Room} dispatches when the server has joined it: after
 * the first join, after every rejoin, and when the room's stream was reset
 * under a live member (`recovered: false`).
 *
 * @example Resyncing when the gap could not be covered
 * ```ts ignore
 * room.addEventListener("joined", (event) => {
 *   if (!event.recovered) reloadTheRoom();
 * });
 * ```
 */
export class RoomEvent extends Event {
  /** The room's name. */
  readonly room: string;
  /**
   * Whether every message since the room's last position was delivered
   * (`false` on a first join, after a reset, or when the gap was older than
   * the history: then the app loads the room's state again).
   */
  readonly recovered: boolean;
  /** Where the room stands: later messages follow. */
  readonly position: Position;

  /**
   * Makes the event.
   *
   * @param type `"joined"`.
   * @param init The room, whether it recovered, and its position.
   */
  constructor(
    type: string,
    init: { room: string; recovered: boolean; position: Position },
  ) {
    super(type);
    this.room = init.room;
    this.recovered = init.recovered;
    this.position = init.position;
  }
}

/**
 * The events of a {@linkcode Room} by type.
 *
 * @example A typed listener
 * ```ts
 * import type { RoomEventMap } from "@switchboard/switchboard/client";
 *
 * const onJoined = (event: RoomEventMap["joined"]) => console.log(event.recovered);
 * console.log(typeof onJoined);
 * ```
 */
export interface RoomEventMap {
  /** The server has (re)joined the room, or its stream was reset. */
  joined: RoomEvent;
}

/**
 * One room joined through {@linkcode Rooms.join}: an async iterable of its
 * messages (each with its position), in order, across reconnects; a
 * `"joined"` {@linkcode RoomEvent} each time the server has (re)joined it.
 * Leaving the loop early leaves the room.
 *
 * @example Reading a room
 * ```ts ignore
 * const lobby = client.rooms.join("lobby");
 * lobby.addEventListener("joined", (e) => console.log(e.recovered));
 * for await (const { data, position } of lobby) console.log(position.offset, data);
 * ```
 */
export interface Room
  extends TypedEventTarget<RoomEventMap>, AsyncIterable<RoomMessage> {
  /** The room's name. */
  readonly name: string;
  /**
   * The position of the last message the room gave (or of the seam of its
   * last join); sent back when it rejoins. `undefined` before the first.
   */
  readonly position: Position | undefined;
  /** What the last `"joined"` said; `undefined` before it came. */
  readonly recovered: boolean | undefined;
}

/** A room of {@linkcode Rooms}: its inbox and position. */
class JoinedRoom extends TypedEventTarget<RoomEventMap> implements Room {
  readonly name: string;
  readonly #inbox: Inbox<RoomMessage>;
  readonly #onLeave: () => void;
  #position: Position | undefined;
  #recovered: boolean | undefined;

  constructor(
    name: string,
    since: Position | undefined,
    limits: { messages: number; bytes: number },
    onLeave: () => void,
  ) {
    super();
    this.name = name;
    this.#position = since;
    this.#inbox = new Inbox({
      limit: limits.messages,
      maxBytes: limits.bytes,
      sizeOf,
    });
    this.#onLeave = onLeave;
  }

  get position(): Position | undefined {
    return this.#position;
  }

  get recovered(): boolean | undefined {
    return this.#recovered;
  }

  [Symbol.asyncIterator](): AsyncIterator<RoomMessage> {
    this.#inbox.claim(`room "${this.name}"`);
    return {
      next: () => this.#inbox.next(),
      return: () => {
        this.#inbox.reading = false;
        this.#onLeave();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /**
   * Queues a message for the loop, unless it is one the room already gave.
   *
   * @returns `false` when the loop is too far behind (close with 1013).
   */
  take(message: RoomMessage): boolean {
    const last = this.#position;
    if (
      last !== undefined && last.epoch === message.position.epoch &&
      compareOffsets(message.position.offset, last.offset) <= 0
    ) return true;
    if (!this.#inbox.push(message)) return false;
    this.#position = message.position;
    return true;
  }

  joined(recovered: boolean, position: Position): void {
    this.#position = position;
    this.#recovered = recovered;
    this.dispatchEvent(
      new RoomEvent("joined", { room: this.name, recovered, position }),
    );
  }

  end(): void {
    this.#inbox.end();
  }
}

/**
 * The rooms a {@linkcode Client} is in, joined again with their positions
 * each time a connection opens (a resumed session needs nothing). Rooms
 * frames never reach the client's own loop. Get it as `client.rooms`.
 *
 * @example Chat with recovery
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("wss://chat.example/ws");
 * const lobby = client.rooms.join("lobby");
 * lobby.addEventListener("joined", (e) => e.recovered || showRecentHistory());
 * for await (const message of lobby) show(message.data);
 * ```
 */
export interface Rooms {
  /**
   * Joins a room (now if the client is open, else when it opens) and again,
   * with its last position, after every reconnect.
   *
   * @param name The room's name.
   * @param options `since`: a position to start after (say, one the app
   * kept across page loads).
   * @returns The room; the same one when it was already joined.
   * @throws {TypeError} When the name is not a non-empty string.
   *
   * @example Joining
   * ```ts ignore
   * const room = client.rooms.join("lobby");
   * ```
   */
  join(name: string, options?: { since?: Position }): Room;
  /**
   * Leaves a room: the server is told, and the room's loop ends.
   *
   * @param name The room's name.
   * @returns Whether it was joined.
   *
   * @example Leaving
   * ```ts ignore
   * client.rooms.leave("lobby");
   * ```
   */
  leave(name: string): boolean;
  /**
   * A joined room.
   *
   * @param name The room's name.
   * @returns The room, or `undefined`.
   *
   * @example Where a room stands
   * ```ts ignore
   * console.log(client.rooms.get("lobby")?.position);
   * ```
   */
  get(name: string): Room | undefined;
}

/** {@linkcode Rooms}, and the frames the client's connection diverts to it. */
export class ClientRooms implements Rooms {
  readonly #client: Client;
  readonly #rooms = new Map<string, JoinedRoom>();
  readonly #limits: { messages: number; bytes: number };

  /**
   * @param client The client.
   * @param limits How many messages and bytes may wait in each room.
   */
  constructor(client: Client, limits: { messages: number; bytes: number }) {
    this.#client = client;
    this.#limits = limits;
    client.addEventListener("open", () => {
      for (const room of this.#rooms.values()) this.#request(room);
    });
    // A session another server took over: that server's handler starts
    // afresh, so the rooms are joined again from their positions.
    client.addEventListener("resumed", (event) => {
      if (!event.moved) return;
      for (const room of this.#rooms.values()) this.#request(room);
    });
    client.addEventListener("close", () => {
      for (const room of this.#rooms.values()) room.end();
    });
  }

  join(name: string, options: { since?: Position } = {}): Room {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("Invalid room: expected a non-empty string");
    }
    let room = this.#rooms.get(name);
    if (room !== undefined) return room;
    room = new JoinedRoom(
      name,
      options.since,
      this.#limits,
      () => this.leave(name),
    );
    this.#rooms.set(name, room);
    if (this.#client.state === "open") this.#request(room);
    return room;
  }

  leave(name: string): boolean {
    const room = this.#rooms.get(name);
    if (room === undefined) return false;
    this.#rooms.delete(name);
    room.end();
    this.#send(writeRequest({ type: "leave", room: name }));
    return true;
  }

  get(name: string): Room | undefined {
    return this.#rooms.get(name);
  }

  /**
   * Takes a rooms frame the connection received.
   *
   * @param text A text message starting with U+0001.
   * @returns `undefined` when it is no rooms frame (the client's loop gets
   * it), `false` when the room's loop is too far behind, `true` otherwise.
   */
  receive(text: string): boolean | undefined {
    const notice = readNotice(text);
    if (notice === undefined) return undefined;
    if (notice.type === "joined") {
      this.#rooms.get(notice.room)?.joined(notice.recovered, notice.position);
      return true;
    }
    return this.#rooms.get(notice.message.room)?.take(notice.message) ?? true;
  }

  #request(room: JoinedRoom): void {
    const since = room.position;
    this.#send(
      writeRequest(
        since === undefined
          ? { type: "join", room: room.name }
          : { type: "join", room: room.name, since },
      ),
    );
  }

  #send(text: string): void {
    // A join lost with its connection is sent again on the next one.
    if (this.#client.state === "open") this.#client.send(text).catch(() => {});
  }
}

function sizeOf(message: RoomMessage): number {
  return typeof message.data === "string"
    ? message.data.length
    : message.data.byteLength;
}
