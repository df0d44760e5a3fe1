/**
 * The {@linkcode StreamBackplane} contract: a {@linkcode Backplane} that also
 * keeps each room's messages in a stream (history, positions, recovery) and
 * the presence of every member on every server. {@linkcode MemoryBackplane}
 * (one process) and {@linkcode RedisStreamsBackplane} implement it; a
 * {@linkcode Hub} uses it when its backplane does.
 *
 * @module
 */

import type { Backplane } from "./mod.ts";
import type { Position } from "../hub/wire.ts";

export type { Position } from "../hub/wire.ts";

/**
 * A room message as a backplane stores it.
 *
 * @example A message for everyone but its sender
 * ```ts
 * import type { StreamMessage } from "@switchboard/switchboard/hub";
 *
 * const message: StreamMessage = { data: "hi", except: "sender-id" };
 * console.log(message.data);
 * ```
 */
export interface StreamMessage {
  /** Text (a string) or binary (a `Uint8Array`). */
  readonly data: string | Uint8Array;
  /** A connection id that does not receive it, if any. */
  readonly except?: string | undefined;
  /** An idempotency key: appended once per key (see `BroadcastOptions`). */
  readonly key?: string | undefined;
}

/**
 * A stored room message with its offset in the stream.
 *
 * @example An entry
 * ```ts
 * import type { StreamEntry } from "@switchboard/switchboard/hub";
 *
 * const entry: StreamEntry = { offset: "1767225600000-1", data: "hi" };
 * console.log(entry.offset);
 * ```
 */
export interface StreamEntry extends StreamMessage {
  /** The stream entry id. */
  readonly offset: string;
}

/**
 * What {@linkcode StreamBackplane.read} returns.
 *
 * @example An empty page of a fresh room
 * ```ts
 * import type { StreamPage } from "@switchboard/switchboard/hub";
 *
 * const page: StreamPage = {
 *   entries: [],
 *   epoch: "k3j9x2",
 *   top: "0-0",
 *   recovered: true,
 * };
 * console.log(page.recovered);
 * ```
 */
export interface StreamPage {
  /** The entries, oldest first. */
  readonly entries: readonly StreamEntry[];
  /** The stream's epoch. */
  readonly epoch: string;
  /** The offset of the stream's newest entry (`"0-0"` when it has none). */
  readonly top: string;
  /**
   * With `since`: whether every entry after it is still kept (same epoch,
   * nothing after it trimmed); `entries` is empty when not. Without: `true`.
   */
  readonly recovered: boolean;
}

/**
 * Called with new entries of a followed room, in order. `reset` is set when
 * the stream was found lost or reset: `entries` are then the new epoch's
 * from its start.
 */
export type StreamListener = (
  entries: readonly StreamEntry[],
  epoch: string,
  reset: boolean,
) => void;

/**
 * What {@linkcode StreamBackplane.follow} resolves to.
 *
 * @example Stopping
 * ```ts
 * import type { Following } from "@switchboard/switchboard/hub";
 *
 * const following: Following = {
 *   position: { epoch: "k3j9x2", offset: "0-0" },
 *   stop() {},
 * };
 * following.stop();
 * ```
 */
export interface Following {
  /** Where following started: the listener gets every entry after it. */
  readonly position: Position;
  /** Stops calling the listener. */
  stop(): void;
}

/**
 * One member of a room, on any server.
 *
 * @example A member
 * ```ts
 * import type { PresenceMember } from "@switchboard/switchboard/hub";
 *
 * const member: PresenceMember = {
 *   id: "c1",
 *   serverId: "s1",
 *   joinedAt: Date.now(),
 *   data: { name: "alice" },
 * };
 * console.log(member.id);
 * ```
 */
export interface PresenceMember {
  /** The connection's id. */
  readonly id: string;
  /** The id of the hub (server) that holds the connection. */
  readonly serverId: string;
  /** When it joined the room, in ms since the epoch (its server's clock). */
  readonly joinedAt: number;
  /** What the app gave `hub.add(socket, { data })`, if anything. */
  readonly data?: unknown;
}

/**
 * A member joined or left a room, on any server.
 *
 * @example A change
 * ```ts
 * import type { PresenceChange } from "@switchboard/switchboard/hub";
 *
 * const change: PresenceChange = {
 *   type: "join",
 *   room: "lobby",
 *   member: { id: "c1", serverId: "s1", joinedAt: 0 },
 * };
 * console.log(change.type);
 * ```
 */
export interface PresenceChange {
  /** `"join"` or `"leave"`. */
  readonly type: "join" | "leave";
  /** The room. */
  readonly room: string;
  /** Who. */
  readonly member: PresenceMember;
}

/**
 * A {@linkcode Backplane} that keeps every room's messages in a stream and
 * the presence of every member, for {@linkcode Hub}'s positions, history,
 * recovery and cluster-wide presence. Every method takes the hub's
 * `channel` first: hubs on one channel share rooms.
 *
 * Offsets are `"<ms>-<n>"` with `n` counting the room's messages from 1, so
 * that a gap is visible; an epoch is a random id made when a room's stream
 * is created, and replaced when it is found lost.
 *
 * @example Is a backplane one?
 * ```ts
 * import { MemoryBackplane, type StreamBackplane } from "@switchboard/switchboard/hub";
 *
 * const backplane: StreamBackplane = new MemoryBackplane();
 * const position = await backplane.append("app", "lobby", { data: "hi" });
 * console.log(position.offset.endsWith("-1")); // true
 * await backplane.close();
 * ```
 */
export interface StreamBackplane extends Backplane {
  /**
   * Adds a message to a room's stream.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param message The message.
   * @returns Its position, once stored. Rejects only when the message is
   * dropped (reported too) or the backplane is closed.
   */
  append(
    channel: string,
    room: string,
    message: StreamMessage,
  ): Promise<Position>;
  /**
   * Reads a room's stream.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param options `since`: the entries after it, oldest first; without
   * it, the newest ones. At most `limit` entries.
   * @returns The page.
   */
  read(
    channel: string,
    room: string,
    options: { since?: Position | undefined; limit: number },
  ): Promise<StreamPage>;
  /**
   * Calls `listener` with every entry added to a room's stream from now on.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param listener Called with new entries, in order.
   * @returns Where following started, and how to stop.
   */
  follow(
    channel: string,
    room: string,
    listener: StreamListener,
  ): Promise<Following>;
  /**
   * Records that a member joined a room; every server hears a `"join"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member.
   */
  enter(channel: string, room: string, member: PresenceMember): void;
  /**
   * Records that a member left a room; every server hears a `"leave"`.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @param member The member, as it entered.
   */
  exit(channel: string, room: string, member: PresenceMember): void;
  /**
   * The members of a room on every live server.
   *
   * @param channel The hub's channel.
   * @param room The room.
   * @returns The members, by join time.
   */
  presence(channel: string, room: string): Promise<PresenceMember[]>;
  /**
   * Calls `listener` with every join and leave on the channel, on every
   * server.
   *
   * @param channel The hub's channel.
   * @param listener Called with each change.
   * @returns A function that stops the calls, once the changes are heard.
   */
  watch(
    channel: string,
    listener: (change: PresenceChange) => void,
  ): Promise<() => void>;
}

/**
 * Whether a backplane keeps streams.
 *
 * @param backplane The backplane.
 * @returns Whether it has the methods of {@linkcode StreamBackplane}.
 */
export function isStreamBackplane(
  backplane: Backplane,
): backplane is StreamBackplane {
  const candidate = backplane as Partial<StreamBackplane>;
  return typeof candidate.append === "function" &&
    typeof candidate.read === "function" &&
    typeof candidate.follow === "function" &&
    typeof candidate.presence === "function" &&
    typeof candidate.watch === "function";
}

/** The most entries one read returns (`limit` of `hub.history()`). */
export const MAX_READ = 1000;

/**
 * Orders presence members by join time, then id.
 *
 * @param members The members.
 * @returns The same array, sorted.
 */
export function byJoinTime(members: PresenceMember[]): PresenceMember[] {
  return members.sort((a, b) =>
    a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}
