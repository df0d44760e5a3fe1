/**
 * The reading side of {@linkcode RedisStreamsBackplane}: one connection
 * that blocks in `XREAD` on the streams of every room followed in this
 * process, from each one's cursor, and hands new entries to the room's
 * listeners. A room added while `XREAD` blocks wakes it through a stream of
 * the reader's own, so no round of waiting is lost. An entry of another
 * epoch means the stream was lost or reset: the room is read again from
 * the new epoch's start. Internal.
 *
 * @module
 */

import type { Client } from "./_redis_connect.ts";
import type { StreamEntry, StreamListener } from "./streams.ts";
import type { Position } from "../hub/wire.ts";
import { compareOffsets } from "../hub/wire.ts";
import { fromBase64 } from "../_base64.ts";

/** How long one `XREAD` blocks, in milliseconds, before it is made again. */
const BLOCK_MS = 5000;
/** The most entries one `XREAD` returns per stream. */
const COUNT = 1000;

/** A followed room. */
interface Followed {
  readonly listeners: Set<StreamListener>;
  /** Settles with where following started. */
  readonly started: Promise<void>;
  epoch: string;
  cursor: string;
  /** The next entries handed out are a new epoch's, from its start. */
  reset: boolean;
}

/** A raw stream entry: its id and its fields. */
type RawEntry = [string, string[]];

/** Reads the followed rooms' streams. */
export class Reader {
  readonly #client: Client;
  readonly #wakeKey: string;
  readonly #wake: (key: string) => Promise<unknown>;
  readonly #onError: (error: Error) => void;
  /** Followed rooms by stream key. */
  readonly #rooms = new Map<string, Followed>();
  #wakeCursor = "0-0";
  #idle: PromiseWithResolvers<void> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  /**
   * @param client A client of its own (it blocks), with an offline queue.
   * @param wakeKey The key of the reader's wake stream.
   * @param wake Adds an entry to the wake stream (on another connection).
   * @param onError Told about a failed read (the reader goes on).
   */
  constructor(
    client: Client,
    wakeKey: string,
    wake: (key: string) => Promise<unknown>,
    onError: (error: Error) => void,
  ) {
    this.#client = client;
    this.#wakeKey = wakeKey;
    this.#wake = wake;
    this.#onError = onError;
  }

  /**
   * Follows a room's stream.
   *
   * @param key The stream's key.
   * @param start Where a room not followed yet starts (its newest entry).
   * @param listener Called with each new entry.
   * @returns Where this listener starts, and how to stop.
   */
  async follow(
    key: string,
    start: () => Promise<Position>,
    listener: StreamListener,
  ): Promise<{ position: Position; stop(): void }> {
    let followed = this.#rooms.get(key);
    if (followed === undefined) {
      const pending: Followed = {
        listeners: new Set(),
        started: start().then((position) => {
          pending.epoch = position.epoch;
          pending.cursor = position.offset;
          if (this.#rooms.get(key) === pending) {
            this.#wake(this.#wakeKey).catch(() => {});
            this.#run();
          }
        }),
        epoch: "",
        cursor: "",
        reset: false,
      };
      followed = pending;
      this.#rooms.set(key, followed);
    }
    const own: StreamListener = (entries, epoch, reset) =>
      listener(entries, epoch, reset);
    followed.listeners.add(own);
    const current = followed;
    try {
      await current.started;
    } catch (error) {
      this.#forget(key, current, own);
      throw error;
    }
    return {
      position: { epoch: current.epoch, offset: current.cursor },
      stop: () => this.#forget(key, current, own),
    };
  }

  /** Stops reading; resolves once the loop has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#rooms.clear();
    this.#idle?.resolve();
    await this.#running;
  }

  #forget(key: string, followed: Followed, own: StreamListener): void {
    followed.listeners.delete(own);
    if (followed.listeners.size === 0 && this.#rooms.get(key) === followed) {
      this.#rooms.delete(key);
    }
  }

  #run(): void {
    if (this.#idle !== undefined) this.#idle.resolve();
    this.#running ??= this.#loop();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      const keys: string[] = [];
      const ids: string[] = [];
      for (const [key, followed] of this.#rooms) {
        if (followed.cursor === "") continue;
        keys.push(key);
        ids.push(followed.cursor);
      }
      if (keys.length === 0) {
        this.#idle = Promise.withResolvers();
        await this.#idle.promise;
        this.#idle = undefined;
        continue;
      }
      let reply: unknown;
      try {
        reply = await this.#client.sendCommand([
          "XREAD",
          "COUNT",
          String(COUNT),
          "BLOCK",
          String(BLOCK_MS),
          "STREAMS",
          this.#wakeKey,
          ...keys,
          this.#wakeCursor,
          ...ids,
        ]);
        failures = 0;
      } catch (error) {
        if (this.#closed) break;
        // Lost with the connection (the next one waits for it), or
        // refused: report, and do not spin.
        if (this.#client.isReady) this.#onError(error as Error);
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(50 * 2 ** failures++, 1000))
        );
        continue;
      }
      if (Array.isArray(reply)) this.#take(reply as [string, RawEntry[]][]);
    }
  }

  #take(reply: [string, RawEntry[]][]): void {
    for (const [key, raw] of reply) {
      if (key === this.#wakeKey) {
        this.#wakeCursor = raw.at(-1)?.[0] ?? this.#wakeCursor;
        continue;
      }
      const followed = this.#rooms.get(key);
      if (followed === undefined || followed.cursor === "") continue;
      const entries: StreamEntry[] = [];
      for (const [offset, fields] of raw) {
        if (compareOffsets(offset, followed.cursor) <= 0) continue;
        const entry = readEntry(offset, fields);
        if (entry.epoch !== followed.epoch) {
          // Lost or reset: hand out what came before, then read the new
          // epoch from its start.
          this.#hand(followed, entries.splice(0));
          followed.epoch = entry.epoch;
          followed.cursor = "0-0";
          followed.reset = true;
          break;
        }
        entries.push(entry.entry);
        followed.cursor = offset;
      }
      this.#hand(followed, entries);
    }
  }

  #hand(followed: Followed, entries: StreamEntry[]): void {
    if (entries.length === 0) return;
    const reset = followed.reset;
    followed.reset = false;
    for (const listener of followed.listeners) {
      try {
        listener(entries, followed.epoch, reset);
      } catch (error) {
        console.error("Switchboard: a stream follower threw:", error);
      }
    }
  }
}

/**
 * Reads a stream entry's fields: `e` epoch, `d` data (base64 when `b` is
 * set), `x` except.
 *
 * @param offset The entry's id.
 * @param fields Its fields and values, alternating.
 * @returns The entry and its epoch.
 */
export function readEntry(
  offset: string,
  fields: string[],
): { epoch: string; entry: StreamEntry } {
  let epoch = "";
  let data: string | Uint8Array = "";
  let binary = false;
  let except: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case "e":
        epoch = value;
        break;
      case "d":
        data = value;
        break;
      case "b":
        binary = true;
        break;
      case "x":
        except = value;
    }
  }
  if (binary) data = fromBase64(data as string);
  return {
    epoch,
    entry: except === undefined ? { offset, data } : { offset, data, except },
  };
}
