/**
 * The rooms' streams and presence of {@linkcode MemoryBackplane}: a ring of
 * at most `history` messages per room, none older than `historyTtl`, and at
 * most `maxHistoryBytes` in all (the oldest go first). Internal.
 *
 * @module
 */

import { type Position, sequenceOf } from "../hub/wire.ts";
import { newEpoch } from "./_history_options.ts";
import {
  byJoinTime,
  type Following,
  type PresenceChange,
  type PresenceMember,
  type StreamListener,
  type StreamMessage,
  type StreamPage,
} from "./streams.ts";

/** A message in a ring. */
interface Stored {
  readonly offset: string;
  /** Emptied once removed, so that the bounds free what they count. */
  data: string | Uint8Array;
  readonly except: string | undefined;
  readonly seq: number;
  readonly at: number;
  readonly size: number;
  stream: Stream;
  removed: boolean;
}

/** One room's stream. */
interface Stream {
  readonly key: string;
  readonly epoch: string;
  /** The last sequence number given. */
  seq: number;
  /** The time part of the last offset given. */
  ms: number;
  entries: (Stored | undefined)[];
  head: number;
  readonly followers: Set<StreamListener>;
  /** The offsets of keyed appends, by key (see `StreamMessage.key`). */
  readonly keys: Map<string, string>;
}

/** The settings of {@linkcode MemoryStreams}. */
export interface MemoryStreamSettings {
  history: number;
  historyTtl: number;
  maxHistoryBytes: number;
}

/** Every room's stream and presence, in this process. */
export class MemoryStreams {
  readonly #settings: MemoryStreamSettings;
  readonly #streams = new Map<string, Stream>();
  /** Every stored message, oldest first, for the time and byte bounds. */
  #all: (Stored | undefined)[] = [];
  #allHead = 0;
  #bytes = 0;
  /** channel -> room -> id -> member. */
  readonly #presence = new Map<
    string,
    Map<string, Map<string, PresenceMember>>
  >();
  readonly #watchers = new Map<string, Set<(change: PresenceChange) => void>>();

  /**
   * @param settings The bounds of the history.
   */
  constructor(settings: MemoryStreamSettings) {
    this.#settings = settings;
  }

  /** Stores a message and hands it to the room's followers now. */
  append(channel: string, room: string, message: StreamMessage): Position {
    const stream = this.#stream(channel, room);
    const key = message.key;
    const done = key === undefined ? undefined : stream.keys.get(key);
    if (done !== undefined) return { epoch: stream.epoch, offset: done };
    const at = Date.now();
    stream.ms = Math.max(stream.ms, at);
    const seq = ++stream.seq;
    const offset = `${stream.ms}-${seq}`;
    const { data, except } = message;
    const size = typeof data === "string" ? data.length : data.byteLength;
    const stored: Stored = {
      offset,
      data,
      except,
      seq,
      at,
      size,
      stream,
      removed: false,
    };
    stream.entries.push(stored);
    if (key !== undefined) {
      stream.keys.set(key, offset);
      // As many keys as the history holds messages.
      if (stream.keys.size > this.#settings.history) {
        stream.keys.delete(stream.keys.keys().next().value as string);
      }
    }
    this.#all.push(stored);
    this.#bytes += size;
    if (stream.entries.length - stream.head > this.#settings.history) {
      this.#remove(stream.entries[stream.head] as Stored);
    }
    this.#trim(at);
    const entries = [{ offset, data, except }];
    for (const follower of stream.followers) {
      try {
        follower(entries, stream.epoch, false);
      } catch (error) {
        console.error("Switchboard: a stream follower threw:", error);
      }
    }
    return { epoch: stream.epoch, offset };
  }

  /** Reads a room's stream (see `StreamBackplane.read`). */
  read(
    channel: string,
    room: string,
    options: { since?: Position | undefined; limit: number },
  ): StreamPage {
    this.#trim(Date.now());
    const stream = this.#stream(channel, room);
    const { since, limit } = options;
    const kept = stream.entries.length - stream.head;
    const first = stream.entries[stream.head];
    const epoch = stream.epoch;
    const top = stream.seq === 0 ? "0-0" : `${stream.ms}-${stream.seq}`;
    let start: number;
    let recovered = true;
    if (since === undefined) {
      start = Math.max(stream.head, stream.head + kept - limit);
    } else {
      const after = sequenceOf(since.offset);
      recovered = since.epoch === epoch && after <= stream.seq &&
        (first === undefined ? after === stream.seq : first.seq <= after + 1);
      if (!recovered) {
        this.#forgetIfIdle(stream);
        return { entries: [], epoch, top, recovered };
      }
      start = first === undefined
        ? stream.head
        : stream.head + after + 1 - first.seq;
    }
    const end = Math.min(stream.entries.length, start + limit);
    const entries = stream.entries.slice(start, end).map((stored) => {
      const { offset, data, except } = stored as Stored;
      return { offset, data, except };
    });
    this.#forgetIfIdle(stream);
    return { entries, epoch, top, recovered };
  }

  /** Follows a room's stream from its newest entry on. */
  follow(channel: string, room: string, listener: StreamListener): Following {
    const stream = this.#stream(channel, room);
    const own: StreamListener = (entries, epoch, reset) =>
      listener(entries, epoch, reset);
    stream.followers.add(own);
    return {
      position: {
        epoch: stream.epoch,
        offset: stream.seq === 0 ? "0-0" : `${stream.ms}-${stream.seq}`,
      },
      stop: () => {
        stream.followers.delete(own);
        this.#forgetIfIdle(stream);
      },
    };
  }

  /** Adds a member to a room's presence and tells the channel's watchers. */
  enter(channel: string, room: string, member: PresenceMember): void {
    let rooms = this.#presence.get(channel);
    if (rooms === undefined) this.#presence.set(channel, rooms = new Map());
    let members = rooms.get(room);
    if (members === undefined) rooms.set(room, members = new Map());
    members.set(member.id, member);
    this.#tell(channel, { type: "join", room, member });
  }

  /** Takes a member out of a room's presence and tells the watchers. */
  exit(channel: string, room: string, member: PresenceMember): void {
    const rooms = this.#presence.get(channel);
    const members = rooms?.get(room);
    const known = members?.get(member.id);
    if (known === undefined || known.serverId !== member.serverId) return;
    members!.delete(member.id);
    if (members!.size === 0) rooms!.delete(room);
    if (rooms!.size === 0) this.#presence.delete(channel);
    this.#tell(channel, { type: "leave", room, member: known });
  }

  /** The members of a room, by join time. */
  presence(channel: string, room: string): PresenceMember[] {
    const members = this.#presence.get(channel)?.get(room);
    return byJoinTime(members ? [...members.values()] : []);
  }

  /** Calls `listener` with the channel's joins and leaves. */
  watch(
    channel: string,
    listener: (change: PresenceChange) => void,
  ): () => void {
    let watchers = this.#watchers.get(channel);
    if (watchers === undefined) {
      this.#watchers.set(channel, watchers = new Set());
    }
    const own = (change: PresenceChange) => listener(change);
    watchers.add(own);
    return () => {
      const current = this.#watchers.get(channel);
      current?.delete(own);
      if (current?.size === 0) this.#watchers.delete(channel);
    };
  }

  /** Forgets every stream, member and watcher. */
  clear(): void {
    this.#streams.clear();
    this.#all = [];
    this.#allHead = this.#bytes = 0;
    this.#presence.clear();
    this.#watchers.clear();
  }

  #tell(channel: string, change: PresenceChange): void {
    for (const watcher of this.#watchers.get(channel) ?? []) {
      try {
        watcher(change);
      } catch (error) {
        console.error("Switchboard: a presence listener threw:", error);
      }
    }
  }

  #stream(channel: string, room: string): Stream {
    const key = `${channel}\u0000${room}`;
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      stream = {
        key,
        epoch: newEpoch(),
        seq: 0,
        ms: 0,
        entries: [],
        head: 0,
        followers: new Set(),
        keys: new Map(),
      };
      this.#streams.set(key, stream);
    }
    return stream;
  }

  /**
   * Drops a stream nobody follows once its history is empty: a room used
   * again later starts a new epoch.
   */
  #forgetIfIdle(stream: Stream): void {
    if (
      stream.followers.size === 0 && stream.head === stream.entries.length &&
      this.#streams.get(stream.key) === stream
    ) this.#streams.delete(stream.key);
  }

  /** Drops messages older than `historyTtl`, then past `maxHistoryBytes`. */
  #trim(now: number): void {
    const { historyTtl, maxHistoryBytes } = this.#settings;
    const all = this.#all;
    while (this.#allHead < all.length) {
      const oldest = all[this.#allHead] as Stored;
      if (
        !oldest.removed && oldest.at > now - historyTtl &&
        this.#bytes <= maxHistoryBytes
      ) break;
      all[this.#allHead++] = undefined;
      if (!oldest.removed) {
        this.#remove(oldest);
        this.#forgetIfIdle(oldest.stream);
      }
    }
    if (this.#allHead > 1024 && this.#allHead * 2 > all.length) {
      this.#all = all.slice(this.#allHead);
      this.#allHead = 0;
    }
  }

  /** Removes the oldest message of its stream. */
  #remove(stored: Stored): void {
    const stream = stored.stream;
    stored.removed = true;
    stored.data = "";
    this.#bytes -= stored.size;
    stream.entries[stream.head++] = undefined;
    if (stream.head === stream.entries.length) {
      stream.entries = [];
      stream.head = 0;
    } else if (stream.head > 1024 && stream.head * 2 > stream.entries.length) {
      stream.entries = stream.entries.slice(stream.head);
      stream.head = 0;
    }
  }
}
