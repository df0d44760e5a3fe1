/**
 * Presence for {@linkcode RedisStreamsBackplane}: each hub (server) of this
 * process that has members registers in its channel's set of servers and
 * renews that every third of `presenceTtl`; a server not renewed for two
 * thirds of it is dead, and the next live server to renew removes its
 * members (a `"leave"` each). So a dead server's members are gone within
 * `presenceTtl`. Presence written while Redis was away, or lost with it, is
 * written again from what this process knows. Internal.
 *
 * @module
 */

import type { Commands } from "./_redis_commands.ts";
import {
  ENTER,
  EXIT,
  HEARTBEAT,
  PRESENCE,
  RECONCILE,
  UNREGISTER,
} from "./_redis_scripts.ts";
import { byJoinTime, type PresenceMember } from "./streams.ts";

/** A member of a room on a server of this process. */
interface Local {
  readonly room: string;
  readonly id: string;
  readonly json: string;
}

/** The presence of this process's servers. */
export class Presence {
  readonly #commands: Commands;
  readonly #ttl: number;
  /** channel -> server id -> field -> member. */
  readonly #channels = new Map<string, Map<string, Map<string, Local>>>();
  /** Channels whose presence must be written again. */
  readonly #dirty = new Set<string>();
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /**
   * @param commands The command connection.
   * @param presenceTtl The backplane's `presenceTtl`.
   */
  constructor(commands: Commands, presenceTtl: number) {
    this.#commands = commands;
    this.#ttl = presenceTtl;
    this.#timer = setInterval(() => this.beat(), presenceTtl / 3);
  }

  /** Records that a member of a server here entered a room. */
  enter(channel: string, room: string, member: PresenceMember): void {
    let servers = this.#channels.get(channel);
    if (servers === undefined) this.#channels.set(channel, servers = new Map());
    let fields = servers.get(member.serverId);
    if (fields === undefined) {
      servers.set(member.serverId, fields = new Map());
      // Registered before its first member is written (one connection).
      this.#heartbeat(channel, [member.serverId], true);
    }
    const field = JSON.stringify([room, member.id]);
    const json = JSON.stringify(member);
    fields.set(field, { room, id: member.id, json });
    this.#write(channel, [
      "EVAL",
      ENTER,
      "2",
      `${channel}:p:${room}`,
      `${channel}:server:${member.serverId}`,
      channel,
      room,
      member.id,
      json,
      field,
    ]);
  }

  /** Records that a member of a server here left a room. */
  exit(channel: string, room: string, member: PresenceMember): void {
    const servers = this.#channels.get(channel);
    const fields = servers?.get(member.serverId);
    const field = JSON.stringify([room, member.id]);
    if (fields === undefined || !fields.delete(field)) return;
    const server = `${channel}:server:${member.serverId}`;
    this.#write(channel, [
      "EVAL",
      EXIT,
      "1",
      server,
      channel,
      member.serverId,
      field,
    ]);
    if (fields.size > 0) return;
    servers!.delete(member.serverId);
    if (servers!.size === 0) this.#channels.delete(channel);
    this.#write(channel, [
      "EVAL",
      UNREGISTER,
      "2",
      `${channel}:servers`,
      server,
      channel,
      member.serverId,
    ]);
  }

  /** The members of a room whose servers are alive, by join time. */
  async members(channel: string, room: string): Promise<PresenceMember[]> {
    const reply = await this.#commands.call([
      "EVAL",
      PRESENCE,
      "2",
      `${channel}:p:${room}`,
      `${channel}:servers`,
    ]) as string[];
    return byJoinTime(reply.map((json) => JSON.parse(json)));
  }

  /**
   * Renews every server of this process and removes dead ones; writes
   * presence again where it was lost. Runs every third of `presenceTtl`,
   * and when the connection comes back.
   */
  beat(): void {
    for (const [channel, servers] of this.#channels) {
      this.#heartbeat(channel, [...servers.keys()], false);
    }
  }

  /** Removes this process's servers and their members; stops renewing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const done: Promise<unknown>[] = [];
    for (const [channel, servers] of this.#channels) {
      for (const id of servers.keys()) {
        done.push(this.#commands.once([
          "EVAL",
          UNREGISTER,
          "2",
          `${channel}:servers`,
          `${channel}:server:${id}`,
          channel,
          id,
        ]));
      }
    }
    this.#channels.clear();
    await Promise.allSettled(done);
  }

  #write(channel: string, args: string[]): void {
    this.#commands.call(args).catch(() => {
      if (!this.#closed) this.#dirty.add(channel);
    });
  }

  /**
   * Renews servers; writes their presence again when Redis did not know
   * them (they were found dead, or Redis lost its data) or a write failed.
   */
  #heartbeat(channel: string, ids: string[], queued: boolean): void {
    if (this.#closed || ids.length === 0) return;
    const args = [
      "EVAL",
      HEARTBEAT,
      "1",
      `${channel}:servers`,
      channel,
      String(Math.round(this.#ttl * 2 / 3)),
      ...ids,
    ];
    // The first heartbeat of a server waits for Redis like its first
    // member does; the periodic ones are not worth queueing.
    const beat = queued ? this.#commands.call(args) : this.#commands.once(args);
    beat.then((fresh) => {
      if (this.#dirty.delete(channel)) {
        const all = this.#channels.get(channel)?.keys() ?? [];
        for (const id of all) this.#reconcile(channel, id);
      } else if (!queued) {
        for (const id of fresh as string[]) this.#reconcile(channel, id);
      }
    }, () => {});
  }

  #reconcile(channel: string, id: string): void {
    const fields = this.#channels.get(channel)?.get(id);
    if (fields === undefined) return;
    const args = [
      "EVAL",
      RECONCILE,
      "1",
      `${channel}:server:${id}`,
      channel,
      id,
    ];
    for (const [field, { room, id: member, json }] of fields) {
      args.push(field, room, member, json);
    }
    this.#write(channel, args);
  }
}
