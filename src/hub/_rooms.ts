/**
 * A {@linkcode Hub}'s rooms in this process: who is in each, following the
 * rooms' streams while they have members here, handing each entry to the
 * members (as the app's data, or as a rooms frame with its position), and
 * a join's recovery: the history after `since` first, then the live
 * messages, with no gap and nothing twice at the seam. Internal.
 *
 * @module
 */

import type { Delivery, Member, Parcel } from "./_delivery.ts";
import {
  compareOffsets,
  type Position,
  type RoomMessage,
  writeJoined,
  writeMessage,
} from "./wire.ts";
import {
  MAX_READ,
  type PresenceMember,
  type StreamBackplane,
  type StreamEntry,
} from "../backplane/streams.ts";
import type { JoinResult } from "./options.ts";

/** What the rooms need of the hub's record of a connection. */
export interface RoomMember extends Member {
  readonly id: string;
  /** The rooms it is in, with its presence record in each. */
  readonly rooms: Map<string, PresenceMember>;
  /** Shown in presence. */
  readonly data: unknown;
}

/** Live entries kept for a member while its join reads the history. */
interface Pending {
  entries: StreamEntry[];
  /** The stream was reset meanwhile: `entries` are the new epoch's. */
  reset: boolean;
}

/** One room with members in this process. */
interface LocalRoom<M> {
  readonly name: string;
  /** Every member, in joining order. */
  readonly all: Set<M>;
  /** Members that get the app's data as it is. */
  readonly plain: Set<M>;
  /** Members that get rooms frames with positions. */
  readonly framed: Set<M>;
  /** Members whose join is reading the history. */
  readonly pending: Map<M, Pending>;
  /** The stream's epoch; `""` until following. */
  epoch: string;
  /** The offset of the last entry handed out; `""` until following. */
  cursor: string;
  /** Settles once following. */
  following: Promise<void>;
  stop: (() => void) | undefined;
  /** Every member left: stop following. */
  gone: boolean;
}

/** The rooms of one hub. */
export class Rooms<M extends RoomMember> {
  readonly #rooms = new Map<string, LocalRoom<M>>();
  readonly #streams: StreamBackplane;
  readonly #channel: string;
  readonly #serverId: string;
  readonly #delivery: Delivery<M>;

  /**
   * @param streams Where the rooms' streams and presence are.
   * @param channel The hub's channel.
   * @param serverId The hub's id.
   * @param delivery Hands messages to members.
   */
  constructor(
    streams: StreamBackplane,
    channel: string,
    serverId: string,
    delivery: Delivery<M>,
  ) {
    this.#streams = streams;
    this.#channel = channel;
    this.#serverId = serverId;
    this.#delivery = delivery;
  }

  /**
   * The members of a room here, in joining order.
   *
   * @param name The room.
   * @returns The members.
   */
  members(name: string): M[] {
    const room = this.#rooms.get(name);
    return room ? [...room.all] : [];
  }

  /**
   * How many members each room has here.
   *
   * @returns The member counts, by room.
   */
  sizes(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const [name, room] of this.#rooms) sizes[name] = room.all.size;
    return sizes;
  }

  /**
   * Puts a member in a room; it gets the app's data as it is.
   *
   * @param member The member.
   * @param name The room.
   */
  join(member: M, name: string): void {
    if (member.rooms.has(name)) return;
    const room = this.#enter(member, name);
    room.plain.add(member);
  }

  /**
   * Puts a member in a room with positions: the messages after `since`
   * first, then a `joined` frame, then the live messages.
   *
   * @param member The member.
   * @param name The room.
   * @param since The position of the last message it got, if any.
   * @returns Whether the messages after `since` were sent, and the seam.
   */
  async recover(
    member: M,
    name: string,
    since: Position | undefined,
  ): Promise<JoinResult> {
    let room = this.#rooms.get(name);
    if (room !== undefined && member.rooms.has(name)) {
      // Already in (a client asking again): recover from `since` as on a
      // new join, keeping its presence; the client drops what it has.
      room.plain.delete(member);
      room.framed.delete(member);
    } else room = this.#enter(member, name);
    const pending: Pending = { entries: [], reset: false };
    room.pending.set(member, pending);
    try {
      await room.following;
    } catch (error) {
      this.leave(member, name);
      throw error;
    }
    const seam = room.cursor;
    let recovered = false;
    let given = seam;
    if (since !== undefined && since.epoch === room.epoch) {
      const replayed = await this.#replay(member, room, since, seam, pending);
      if (replayed !== undefined) {
        recovered = true;
        if (compareOffsets(replayed, seam) > 0) given = replayed;
      }
    }
    if (pending.reset) recovered = false;
    const position: Position = {
      epoch: room.epoch,
      offset: pending.reset ? "0-0" : given,
    };
    if (room.pending.get(member) !== pending) return { recovered, position };
    room.pending.delete(member);
    this.#hand(member, writeJoined(name, recovered, position));
    for (const entry of pending.entries) {
      if (compareOffsets(entry.offset, position.offset) > 0) {
        this.#hand(member, this.#frame(room, entry));
      }
    }
    room.framed.add(member);
    return { recovered, position };
  }

  /**
   * Takes a member out of a room.
   *
   * @param member The member.
   * @param name The room.
   * @returns Whether it was in the room.
   */
  leave(member: M, name: string): boolean {
    const presence = member.rooms.get(name);
    if (presence === undefined) return false;
    member.rooms.delete(name);
    const room = this.#rooms.get(name) as LocalRoom<M>;
    room.all.delete(member);
    room.plain.delete(member);
    room.framed.delete(member);
    room.pending.delete(member);
    this.#streams.exit(this.#channel, name, presence);
    if (room.all.size === 0) {
      room.gone = true;
      room.stop?.();
      this.#rooms.delete(name);
    }
    return true;
  }

  /**
   * A room's history: the messages after `since`, or the newest ones.
   *
   * @param name The room.
   * @param since The position to read after, if any.
   * @param limit The most messages.
   * @returns The messages, oldest first.
   * @throws {RangeError} (as a rejection) When the history no longer covers
   * what follows `since`.
   */
  async history(
    name: string,
    since: Position | undefined,
    limit: number,
  ): Promise<RoomMessage[]> {
    const page = await this.#streams.read(this.#channel, name, {
      since,
      limit,
    });
    if (!page.recovered) {
      throw new RangeError(
        `Cannot read the history of "${name}" after ${since?.offset}: ${
          page.epoch === since?.epoch
            ? "the messages after it were trimmed"
            : "its stream was reset (a new epoch)"
        }`,
      );
    }
    return page.entries.map(({ data, offset }) => ({
      room: name,
      data,
      position: { epoch: page.epoch, offset },
    }));
  }

  /** Stops following every room. */
  close(): void {
    for (const room of this.#rooms.values()) {
      room.gone = true;
      room.stop?.();
    }
    this.#rooms.clear();
  }

  /** Adds a member to a room's set and presence; follows a new room. */
  #enter(member: M, name: string): LocalRoom<M> {
    let room = this.#rooms.get(name);
    if (room === undefined) {
      room = {
        name,
        all: new Set(),
        plain: new Set(),
        framed: new Set(),
        pending: new Map(),
        epoch: "",
        cursor: "",
        following: Promise.resolve(),
        stop: undefined,
        gone: false,
      };
      this.#rooms.set(name, room);
      this.#follow(room);
    }
    const presence: PresenceMember = member.data === undefined
      ? { id: member.id, serverId: this.#serverId, joinedAt: Date.now() }
      : {
        id: member.id,
        serverId: this.#serverId,
        joinedAt: Date.now(),
        data: member.data,
      };
    member.rooms.set(name, presence);
    room.all.add(member);
    this.#streams.enter(this.#channel, name, presence);
    return room;
  }

  #follow(room: LocalRoom<M>): void {
    room.following = this.#streams.follow(
      this.#channel,
      room.name,
      (entries, epoch, reset) => this.#receive(room, entries, epoch, reset),
    ).then((following) => {
      if (room.gone) return following.stop();
      room.stop = () => following.stop();
      // Entries handed over before this ran set the cursor already.
      if (room.cursor === "") {
        room.epoch = following.position.epoch;
        room.cursor = following.position.offset;
      }
    });
    // Joins waiting for it see the failure; nobody else must crash.
    room.following.catch((error) =>
      console.error(`Switchboard: cannot follow room "${room.name}":`, error)
    );
  }

  /**
   * Sends a member the history after `since` up to the seam.
   *
   * @returns The offset of the last message it has, or `undefined` when
   * the history could not cover the gap.
   */
  async #replay(
    member: M,
    room: LocalRoom<M>,
    since: Position,
    seam: string,
    pending: Pending,
  ): Promise<string | undefined> {
    let given = since.offset;
    for (;;) {
      const page = await this.#streams.read(this.#channel, room.name, {
        since: { epoch: since.epoch, offset: given },
        limit: MAX_READ,
      });
      if (room.pending.get(member) !== pending) return undefined;
      if (!page.recovered || page.epoch !== since.epoch || pending.reset) {
        return undefined;
      }
      for (const entry of page.entries) {
        // What comes after the seam is in `pending`.
        if (compareOffsets(entry.offset, seam) > 0) return given;
        if (entry.except !== member.id) {
          this.#hand(member, this.#frame(room, entry));
        }
        given = entry.offset;
      }
      if (page.entries.length < MAX_READ) return given;
    }
  }

  #receive(
    room: LocalRoom<M>,
    entries: readonly StreamEntry[],
    epoch: string,
    reset: boolean,
  ): void {
    if (room.gone) return;
    if (reset) {
      room.epoch = epoch;
      room.cursor = "0-0";
      const joined = this.#parcel(
        writeJoined(room.name, false, { epoch, offset: "0-0" }),
      );
      if (joined) {
        for (const member of room.framed) {
          this.#delivery.deliver(member, joined);
        }
      }
      for (const pending of room.pending.values()) {
        pending.entries = [];
        pending.reset = true;
      }
    } else if (room.epoch === "") room.epoch = epoch;
    for (const entry of entries) {
      room.cursor = entry.offset;
      this.#deliver(room, entry);
    }
  }

  /** Hands one entry to every member of the room but its `except`. */
  #deliver(room: LocalRoom<M>, entry: StreamEntry): void {
    const except = entry.except;
    if (room.plain.size > 0) {
      const parcel = this.#parcel(entry.data);
      if (parcel === undefined) return;
      for (const member of room.plain) {
        if (member.id !== except) this.#delivery.deliver(member, parcel);
      }
    }
    if (room.framed.size > 0) {
      const parcel = this.#parcel(this.#frame(room, entry));
      if (parcel === undefined) return;
      for (const member of room.framed) {
        if (member.id !== except) this.#delivery.deliver(member, parcel);
      }
    }
    if (room.pending.size > 0) {
      for (const [member, pending] of room.pending) {
        if (member.id !== except) pending.entries.push(entry);
      }
    }
  }

  #frame(room: LocalRoom<M>, entry: StreamEntry): string {
    return writeMessage({
      room: room.name,
      data: entry.data,
      position: { epoch: room.epoch, offset: entry.offset },
    });
  }

  #hand(member: M, text: string): void {
    const parcel = this.#parcel(text);
    if (parcel !== undefined) this.#delivery.deliver(member, parcel);
  }

  #parcel(data: string | Uint8Array): Parcel | undefined {
    try {
      return this.#delivery.parcel(data);
    } catch (error) {
      // A server with a larger budget sent it: no member here can take it.
      console.error(`Switchboard: the hub dropped a message: ${error}`);
      return undefined;
    }
  }
}
