/**
 * The rooms' streams of {@linkcode RedisStreamsBackplane}: appending once
 * per idempotency key (this backplane's id and a sequence number), reading
 * pages, and following from the join instant in Redis's clock, whose
 * offset to this one is measured at connect, on reconnect and every minute.
 * Internal.
 *
 * @module
 */

import type { Position } from "../hub/wire.ts";
import { toBase64 } from "../_base64.ts";
import type { Commands } from "./_redis_commands.ts";
import { readEntry, type Reader } from "./_redis_reader.ts";
import { APPEND, READ, roomKeys, TOP } from "./_redis_scripts.ts";
import { newEpoch } from "./_history_options.ts";
import type {
  Following,
  StreamListener,
  StreamMessage,
  StreamPage,
} from "./streams.ts";

/** How long a room's epoch and counter outlive its last message: a day. */
const META_TTL = String(24 * 60 * 60 * 1000);
/** How often the difference between this clock and Redis's is measured. */
const CLOCK_EVERY_MS = 60_000;
/** Round trips per measurement: the fastest bounds the error. */
const CLOCK_PROBES = 5;
/** Wakes the reader: an entry in its own stream, kept an hour at most. */
const WAKE = `redis.call('XADD', KEYS[1], 'MAXLEN', '1', '*', 'w', '1')
redis.call('PEXPIRE', KEYS[1], 3600000)`;

/** Appends, reads and follows rooms' streams. */
export class RedisRooms {
  readonly #commands: Commands;
  readonly #reader: Reader;
  readonly #history: string;
  readonly #historyTtl: string;
  /** The publisher part of the idempotency keys. */
  readonly #id: string;
  #seq = 0;
  /** Sequence numbers acknowledged, whose keys the next append forgets. */
  #acked: string[] = [];
  /** Redis's clock minus this process's, in ms. */
  #clockOffset = 0;
  readonly #clockTimer: ReturnType<typeof setInterval>;

  /**
   * @param commands The command connection.
   * @param makeReader Makes the reader, given how to wake it.
   * @param settings `history`, `historyTtl`, and the backplane's id.
   */
  constructor(
    commands: Commands,
    makeReader: (wake: (key: string) => Promise<unknown>) => Reader,
    settings: { history: number; historyTtl: number; id: string },
  ) {
    this.#commands = commands;
    this.#reader = makeReader((key) => commands.call(["EVAL", WAKE, "1", key]));
    this.#history = String(settings.history);
    this.#historyTtl = String(settings.historyTtl);
    this.#id = settings.id;
    this.#clockTimer = setInterval(() => this.measureClock(), CLOCK_EVERY_MS);
  }

  /** Appends a message once; see `RedisStreamsBackplane.append`. */
  async append(
    channel: string,
    room: string,
    message: StreamMessage,
  ): Promise<Position> {
    const { data, except = "", key } = message;
    const binary = typeof data !== "string";
    // A caller's key is a hash of its own (one field), living historyTtl;
    // otherwise this publisher's sequence number in the publisher's hash.
    const seq = key === undefined ? String(this.#seq++) : "k";
    const forget = key === undefined ? this.#acked.splice(0, 100) : [];
    let reply: string;
    try {
      reply = await this.#commands.call([
        "EVAL",
        APPEND,
        "3",
        ...roomKeys(channel, room),
        key === undefined
          ? `${channel}:pub:${this.#id}`
          : `${channel}:key:${room}:${key}`,
        newEpoch(),
        META_TTL,
        this.#history,
        this.#historyTtl,
        seq,
        binary ? toBase64(data) : data,
        binary ? "1" : "",
        except,
        ...forget,
      ], true) as string;
    } catch (error) {
      this.#acked.push(...forget);
      throw error;
    }
    if (key === undefined) this.#acked.push(seq);
    const space = reply.indexOf(" ");
    return { epoch: reply.slice(0, space), offset: reply.slice(space + 1) };
  }

  /** Reads a page; see `RedisStreamsBackplane.read`. */
  async read(
    channel: string,
    room: string,
    options: { since?: Position | undefined; limit: number },
  ): Promise<StreamPage> {
    const { since, limit } = options;
    const [epoch, top, recovered, raw] = await this.#commands.call([
      "EVAL",
      READ,
      "2",
      ...roomKeys(channel, room),
      newEpoch(),
      META_TTL,
      this.#historyTtl,
      String(limit),
      since?.epoch ?? "",
      since?.offset ?? "",
    ]) as [string, string, number, [string, string[]][]];
    const entries = raw.map(([offset, fields]) =>
      readEntry(offset, fields).entry
    );
    if (since === undefined) entries.reverse();
    return { entries, epoch, top, recovered: recovered === 1 };
  }

  /** Follows a room; see `RedisStreamsBackplane.follow`. */
  follow(
    channel: string,
    room: string,
    listener: StreamListener,
  ): Promise<Following> {
    const [meta, stream] = roomKeys(channel, room);
    // Everything written from this instant on, in Redis's time, is read,
    // however long the script takes to run.
    const since = String(Math.floor(Date.now() + this.#clockOffset));
    return this.#reader.follow(
      stream,
      async () => {
        const [epoch, offset] = await this.#commands.call([
          "EVAL",
          TOP,
          "2",
          meta,
          stream,
          newEpoch(),
          META_TTL,
          since,
        ]) as [string, string];
        return { epoch, offset };
      },
      listener,
    );
  }

  /**
   * Measures Redis's clock against this one, erring early: Redis read its
   * clock before its answer came, so its time minus the arrival time is at
   * most the true offset, and the largest of a few such bounds is the
   * closest. A join instant taken early can only add messages written just
   * before the join (within the fastest round trip), never miss one
   * written after it.
   */
  async measureClock(): Promise<void> {
    let best = -Infinity;
    for (let probe = 0; probe < CLOCK_PROBES; probe++) {
      try {
        const [seconds, micros] = await this.#commands.once(["TIME"]) as [
          string,
          string,
        ];
        const bound = Number(seconds) * 1000 + Number(micros) / 1000 -
          Date.now();
        if (bound > best) best = bound;
      } catch {
        // Away: measured again once it is back.
        break;
      }
    }
    if (best > -Infinity) this.#clockOffset = best;
  }

  /** Stops reading and measuring. */
  async close(): Promise<void> {
    clearInterval(this.#clockTimer);
    await this.#reader.close();
  }
}
