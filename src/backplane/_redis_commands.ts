/**
 * The command connection of {@linkcode RedisStreamsBackplane}: commands go
 * out in call order on one connection that fails fast while Redis is away;
 * those that failed with the connection, and those made meanwhile, wait and
 * go out again, in call order, once it is back. Appends wait in a bounded
 * buffer (`maxBuffered`; past it they are dropped, counted and reported);
 * other commands are few (one per join, history read or heartbeat) and wait
 * without a bound. Whatever goes out twice is idempotent (the append script
 * checks the publisher's sequence number). Internal.
 *
 * @module
 */

import type { Client } from "./_redis_connect.ts";
import { RedisBackplaneError } from "./redis_error.ts";

type Reply = unknown;

interface Job {
  readonly seq: number;
  readonly args: string[];
  /** Counts against `maxBuffered` while waiting. */
  readonly append: boolean;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: unknown) => void;
}

/** One connection's commands, with the wait for reconnection. */
export class Commands {
  readonly #client: Client;
  readonly #maxBuffered: number;
  readonly #onError: (error: RedisBackplaneError) => void;
  #seq = 0;
  /** Commands to send again (or for the first time) once Redis is back. */
  #waiting: Job[] = [];
  #waitingAppends = 0;
  #dropped = 0;
  #droppedThisOutage = 0;
  #down = false;
  #flushing = false;
  #closed = false;

  /**
   * @param client A client made with `disableOfflineQueue`.
   * @param maxBuffered How many appends may wait for Redis.
   * @param onError Told about losses and drops.
   */
  constructor(
    client: Client,
    maxBuffered: number,
    onError: (error: RedisBackplaneError) => void,
  ) {
    this.#client = client;
    this.#maxBuffered = maxBuffered;
    this.#onError = onError;
    client.on("error", (error: Error) => this.#lost(error));
    client.on("ready", () => this.#back());
  }

  /** How many appends wait for Redis. */
  get buffered(): number {
    return this.#waitingAppends;
  }

  /** How many appends were dropped because the buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the connection is up. */
  get ready(): boolean {
    return this.#client.isReady;
  }

  /**
   * Sends a command now, or once Redis is back.
   *
   * @param args The command and its arguments.
   * @param append Whether it is an append (bounded while waiting).
   * @returns Redis's reply.
   * @throws {RedisBackplaneError} (as a rejection) When an append is
   * dropped, Redis refuses the command, or the connection closed for good.
   */
  call(args: string[], append = false): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const job: Job = { seq: this.#seq++, args, append, resolve, reject };
      if (this.#closed) return reject(closedError());
      if (this.#waiting.length === 0 && this.#client.isReady) this.#send(job);
      else this.#hold(job);
    });
  }

  /**
   * Sends a command once, now: no waiting for Redis.
   *
   * @param args The command and its arguments.
   * @returns Redis's reply.
   */
  once(args: string[]): Promise<Reply> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#client.sendCommand(args);
  }

  /** Rejects what waits; nothing more is sent. */
  close(): void {
    this.#closed = true;
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#waitingAppends = 0;
    for (const job of waiting) job.reject(closedError());
  }

  #send(job: Job): void {
    this.#client.sendCommand(job.args).then(job.resolve, (error: Error) => {
      // Lost with the connection: it may or may not have run; send it
      // again once Redis is back. Refused by a live Redis: it would be
      // refused again.
      if (!this.#client.isReady && !this.#closed) return this.#hold(job);
      job.reject(
        this.#closed ? closedError() : new RedisBackplaneError(
          `Redis refused a command (${job.args[0]}): ${error.message}`,
          this.#dropped,
          { cause: error },
        ),
      );
    });
  }

  #hold(job: Job): void {
    if (job.append && this.#waitingAppends >= this.#maxBuffered) {
      return this.#drop(job);
    }
    if (job.append) this.#waitingAppends++;
    this.#waiting.push(job);
    if (this.#client.isReady && !this.#down) this.#flush();
  }

  #drop(job: Job): void {
    this.#dropped++;
    const error = new RedisBackplaneError(
      `Dropping messages: Redis is unreachable and ${this.#maxBuffered} messages already wait`,
      this.#dropped,
    );
    if (this.#droppedThisOutage++ === 0) this.#onError(error);
    job.reject(error);
  }

  #lost(error: Error): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#onError(
      new RedisBackplaneError(
        `Lost the connection to Redis, reconnecting: ${error.message}`,
        this.#dropped,
        { cause: error },
      ),
    );
  }

  #back(): void {
    this.#down = false;
    if (this.#droppedThisOutage > 0) {
      this.#onError(
        new RedisBackplaneError(
          `Reconnected to Redis; ${this.#droppedThisOutage} messages were dropped while it was unreachable`,
          this.#dropped,
        ),
      );
      this.#droppedThisOutage = 0;
    }
    this.#flush();
  }

  /**
   * Sends what waits, in call order, once the commands that failed with the
   * connection have all come back (a task later).
   */
  #flush(): void {
    if (this.#flushing || this.#closed) return;
    this.#flushing = true;
    setTimeout(() => {
      this.#flushing = false;
      if (!this.#client.isReady || this.#closed) return;
      const waiting = this.#waiting.sort((a, b) => a.seq - b.seq);
      this.#waiting = [];
      this.#waitingAppends = 0;
      // Pipelined on one connection: Redis runs them in this order.
      for (const job of waiting) this.#send(job);
    }, 0);
  }
}

function closedError(): RedisBackplaneError {
  return new RedisBackplaneError("The backplane is closed", 0);
}
