/**
 * One server session's link to a shared {@linkcode SessionStore}: its writes,
 * batched with the acknowledgements (an ack goes to the client only once the
 * count it acknowledges is stored, so a new owner never knows less than the
 * client was told), the reservation of server-to-client positions, and the
 * fencing: a write refused because another server took the session ends it
 * here. Internal.
 *
 * @module
 */

import type {
  SessionRecord,
  SessionStore,
  SessionUpdate,
  TakeCheck,
} from "./session_store.ts";

/** Server-to-client positions reserved at a time. */
export const RESERVE = 1024;
/**
 * Milliseconds without a send after which the reservation shrinks to what
 * was sent: a crash while quiet then reports exactly what was missed.
 */
const QUIET = 100;

/**
 * Milliseconds a hand-off keeps before its deadline for the connection's
 * close to go out.
 */
const CLOSE_TIME = 100;

/** Whether the last write failed: one report per outage. */
let outage = false;

/** What the link tells its session. */
export interface DurableHost {
  /** A received count is stored: acknowledge it to the client. */
  stored(count: number): void;
  /** Another server took the session: end it here. */
  fenced(): void;
  /** The client's acknowledgement of server-to-client messages. */
  readonly acked: number;
}

/** A session's writes to the shared store, one at a time, in order. */
export class Durable {
  readonly store: SessionStore;
  readonly #ttl: number;
  #host: DurableHost | undefined;
  id = "";
  epoch = 0;
  /** Client-to-server messages stored, hence acknowledged. */
  stored = 0;
  /** Server-to-client positions reserved in the store. */
  #storedLimit = 0;
  #wantReceived = 0;
  #wantLimit = 0;
  /**
   * Server-to-client positions the session may use: reserved in the store,
   * and not given back (quiet). Sends past it wait.
   */
  get limit(): number {
    return Math.min(this.#storedLimit, this.#wantLimit);
  }
  #writing = false;
  /** The write under way, if any; it settles (never rejects) when done. */
  #inflight: Promise<void> | undefined;
  #ended = false;
  /** Being handed off: no write but the last one. */
  #releasing = false;
  /** Told once the handler's loop is done with `count` messages. */
  #settled: { count: number; resolve: () => void } | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;
  #quiet: ReturnType<typeof setTimeout> | undefined;
  #again: ReturnType<typeof setTimeout> | undefined;
  #subject = "";
  /** The rooms the session is in, with where it joined. */
  rooms: Record<string, string> = {};
  /** How many messages the handler's loop asked for (from `#base`). */
  #asked = 0;
  /** The received count when this run of the handler started. */
  #base = 0;
  #lag: ReturnType<typeof setTimeout> | undefined;
  /** The session's sent count, as last told. */
  #sent = 0;
  /** `#sent` when the quiet timer was set. */
  #sentAtTimer = 0;

  /**
   * @param store The shared store.
   * @param ttl How long the stored session lives without a write (the
   * route's `window`).
   */
  constructor(store: SessionStore, ttl: number) {
    this.store = store;
    this.#ttl = ttl;
  }

  /**
   * Stores a new session, owned here at epoch 1.
   *
   * @param id The session id.
   * @param subject The principal's subject (`""` for none).
   * @param host The session.
   */
  create(id: string, subject: string, host: DurableHost): void {
    this.id = id;
    this.#subject = subject;
    this.epoch = 1;
    this.#storedLimit = this.#wantLimit = RESERVE;
    this.#start(host);
    this.#write(
      this.store.create(
        { id, subject, received: 0, sent: RESERVE, acked: 0, rooms: {} },
        this.#ttl,
      ).then(() => true),
    );
  }

  /**
   * Takes a stored session over (a larger epoch, owned here).
   *
   * @param id The session id.
   * @param client The resuming client's subject and received count.
   * @returns The record, or `undefined` when the store does not have it,
   * the client does not fit it, or the store cannot be reached.
   */
  async take(
    id: string,
    client: TakeCheck,
  ): Promise<SessionRecord | undefined> {
    try {
      return await this.store.take(id, this.#ttl, client);
    } catch (error) {
      console.error("Switchboard: cannot load a session", error);
      return undefined;
    }
  }

  /**
   * The session is now owned here under the record's epoch.
   *
   * @param record What {@linkcode take} returned.
   * @param sent The position the client received up to: sends continue
   * after it, once more positions are reserved.
   * @param host The session.
   */
  adopt(record: SessionRecord, sent: number, host: DurableHost): void {
    this.id = record.id;
    this.#subject = record.subject;
    this.rooms = { ...record.rooms };
    this.epoch = record.epoch;
    this.stored = this.#wantReceived = this.#base = record.received;
    this.#storedLimit = record.sent;
    this.#wantLimit = this.#sent = sent;
    this.#start(host);
    this.reserve(sent);
  }

  /**
   * The session received `count` messages: store the count, then ack it.
   *
   * @param count The received count.
   */
  received(count: number): void {
    if (count <= this.#wantReceived) return;
    this.#wantReceived = count;
    this.#next();
  }

  /**
   * The handler's loop asks for its next message: the ones before it are
   * done with (their effects made), and only those are acknowledged, so a
   * crash replays any message whose effects may be missing.
   */
  taken(): void {
    this.#asked++;
    const settled = this.#settled;
    if (settled !== undefined && this.done >= settled.count) settled.resolve();
    if (this.#wantReceived > this.stored && this.#lag === undefined) {
      this.#lag = setTimeout(() => {
        this.#lag = undefined;
        this.#next();
      }, 50);
    }
  }

  /** Messages the handler is done with: its loop asked for the next. */
  get done(): number {
    return this.#base + Math.max(this.#asked - 1, 0);
  }

  /**
   * Waits until the handler's loop is done with `count` messages (it asks
   * for the next), at most `ms`.
   *
   * @param count The received count.
   * @param ms The longest wait.
   * @returns Once done, or after `ms`.
   */
  settle(count: number, ms: number): Promise<void> {
    if (this.done >= count || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#settled = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.#settled = { count, resolve: finish };
    });
  }

  /**
   * The session joined (`position`) or left (`undefined`) a room.
   *
   * @param room The room.
   * @param position Where it joined.
   */
  room(room: string, position: string | undefined): void {
    if (position === undefined) delete this.rooms[room];
    else this.rooms[room] = position;
    this.#next();
  }

  /**
   * Reserves more positions once half of the reservation is used.
   *
   * @param sent The session's sent count.
   */
  reserve(sent: number): void {
    this.#sent = sent;
    if (this.#quiet === undefined && this.#host !== undefined) {
      this.#sentAtTimer = sent;
      this.#quiet = setTimeout(this.#onQuiet, QUIET);
    }
    if (sent + RESERVE / 2 < this.#wantLimit) return;
    this.#wantLimit = sent + RESERVE;
    this.#next();
  }

  #onQuiet = (): void => {
    this.#quiet = undefined;
    const sent = this.#sent;
    if (sent !== this.#sentAtTimer) return this.reserve(sent);
    if (this.#wantLimit === sent || this.#host === undefined) return;
    // Nothing goes out past what is about to be stored.
    this.#wantLimit = sent;
    this.#next();
  };

  /**
   * Writes now and again a second later (a drop): a takeover by the
   * client's next connection is noticed.
   */
  touch(): void {
    this.#next();
    clearTimeout(this.#again);
    this.#again = setTimeout(() => this.#next(), 1000);
  }

  /** The session ended here: forget it in the store (unless taken). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopTimers();
    const host = this.#host;
    this.#host = undefined;
    if (host === undefined) return;
    this.store.delete(this.id, this.epoch).catch(() => {});
  }

  /**
   * Hands the session off (a graceful shutdown): waits for the write under
   * way, stores the session's last state, with `sent` exactly what was
   * sent and `received` what the handler is done with, and lets it go
   * without deleting it, so that another server takes it over as after a
   * crash, with nothing to replay twice or report missed. A store that
   * cannot be reached is tried again every 100 ms until `deadline`, and
   * one that does not answer is waited for until then (less the time the
   * close takes); the record then keeps its last stored state (as after a
   * crash).
   *
   * @param sent The session's sent count, read when the write goes out.
   * @param deadline When to give up writing (`Date.now()` time).
   * @returns Once stored, or given up; `false` when the session ended here
   * first, or another server took it (the write was refused).
   */
  async release(sent: () => number, deadline: number): Promise<boolean> {
    if (this.#ended || this.#host === undefined) return false;
    this.#releasing = true;
    this.#stopTimers();
    // A store that does not answer (a hung Redis) must not keep the
    // connection open past the shutdown: each wait ends in time for the
    // close to go out.
    const giveUp = deadline - CLOSE_TIME;
    await by(this.#inflight, giveUp);
    const host = this.#host;
    if (this.#ended || host === undefined) return false;
    this.#ended = true;
    this.#host = undefined;
    const update = this.#update(host, Math.max(this.done, this.stored), sent());
    for (;;) {
      try {
        const write = this.store.update(this.id, this.epoch, update, this.#ttl);
        const ok = await by(write, giveUp);
        if (ok !== undefined) return ok;
        write.catch(() => {});
        console.error(
          "Switchboard: cannot hand a session off: the store did not answer in time",
        );
        return true;
      } catch (error) {
        if (Date.now() + 100 > giveUp) {
          console.error("Switchboard: cannot hand a session off:", error);
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  #stopTimers(): void {
    clearInterval(this.#refresh);
    clearTimeout(this.#quiet);
    clearTimeout(this.#again);
    clearTimeout(this.#lag);
    this.#settled?.resolve();
  }

  #start(host: DurableHost): void {
    this.#host = host;
    // Keeps the record alive while nothing changes, and notices a takeover.
    this.#refresh = setInterval(() => {
      if (!this.#writing) this.#next();
    }, Math.min(Math.max(this.#ttl / 3, 100), 10_000));
  }

  #next(): void {
    const host = this.#host;
    if (this.#writing || this.#releasing || host === undefined) return;
    const received = Math.max(
      Math.min(this.#wantReceived, this.done),
      this.stored,
    );
    const limit = this.#wantLimit;
    // The whole state, so that a store that lost the session (a Redis
    // restart without persistence) gets it back from its owner.
    const update = this.#update(host, received, limit);
    this.#write(
      this.store.update(this.id, this.epoch, update, this.#ttl),
      received,
      limit,
    );
  }

  /** A write of the session's whole state, with these counts. */
  #update(host: DurableHost, received: number, sent: number): SessionUpdate {
    return {
      subject: this.#subject,
      rooms: this.rooms,
      acked: host.acked,
      received,
      sent,
    };
  }

  #write(
    write: Promise<boolean>,
    received = this.stored,
    limit = this.#storedLimit,
  ): void {
    this.#writing = true;
    this.#inflight = write.then((ok) => {
      this.#writing = false;
      outage = false;
      const host = this.#host;
      if (host === undefined) return;
      if (!ok) {
        this.end();
        return host.fenced();
      }
      this.#storedLimit = limit;
      if (received > this.stored) {
        this.stored = received;
        host.stored(received);
      }
      if (
        Math.min(this.#wantReceived, this.done) > this.stored ||
        this.#wantLimit !== this.#storedLimit
      ) {
        this.#next();
      }
    }, (error) => {
      // Redis is away: the acks wait; try again a little later.
      this.#writing = false;
      if (!outage) console.error("Switchboard: cannot store sessions:", error);
      outage = true;
      const retry = setTimeout(() => this.#next(), 100);
      Deno.unrefTimer(retry);
    });
  }
}

/**
 * Settles like `promise`, or with `undefined` at `deadline` (`Date.now()`
 * time), whichever comes first.
 */
function by<T>(
  promise: Promise<T> | undefined,
  deadline: number,
): Promise<T | undefined> {
  if (promise === undefined) return Promise.resolve(undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    const ms = Math.max(deadline - Date.now(), 0);
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
