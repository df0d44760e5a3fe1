/**
 * A Redis pub/sub {@linkcode Backplane} for {@linkcode Hub}: run the same app
 * on several servers that share one Redis, and rooms span all of them.
 *
 * Built on the official Redis client for Node.js (`@redis/client`, the core
 * of the `redis` package), which Deno runs through npm. This is the only
 * entry point of the package with a dependency.
 *
 * **Redis outages.** The clients reconnect by themselves and resubscribe.
 * Messages published meanwhile wait in a bounded buffer (`maxBuffered`,
 * 1,000 by default) and are published again, in order, `resendDelay` ms
 * after the connection is back, so that the other servers have had time to
 * resubscribe. When the buffer is full, further messages are dropped: each
 * one is counted in {@linkcode RedisBackplane.dropped}, and `onError` hears
 * about it (once when dropping starts, and with the total once Redis is
 * back). The hub keeps serving its own connections throughout.
 *
 * @example A hub that spans servers
 * ```ts ignore
 * import { Hub } from "@switchboard/switchboard/hub";
 * import { RedisBackplane } from "@switchboard/switchboard/redis";
 *
 * const backplane = await RedisBackplane.connect({ url: "redis://127.0.0.1:6379" });
 * const hub = new Hub({ backplane });
 * ```
 *
 * @module
 */

import { createClient } from "npm:@redis/client@5";
import type { Backplane } from "./memory.ts";
import { positiveInteger } from "../_validate.ts";

export type { Backplane } from "./memory.ts";

type Client = ReturnType<typeof makeClient>;

function makeClient(
  url: string,
  maxReconnectDelay: number,
  disableOfflineQueue: boolean,
) {
  return createClient({
    url,
    disableOfflineQueue,
    socket: {
      reconnectStrategy: (retries: number) =>
        Math.min(50 * 2 ** Math.min(retries, 16), maxReconnectDelay),
    },
  });
}

/**
 * Options for {@linkcode RedisBackplane.connect}.
 *
 * @example Options for a local Redis
 * ```ts
 * import type { RedisBackplaneOptions } from "@switchboard/switchboard/redis";
 *
 * const options: RedisBackplaneOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   maxBuffered: 10_000,
 * };
 * console.log(options.url);
 * ```
 */
export interface RedisBackplaneOptions {
  /**
   * `redis[s]://[[username][:password]@][host][:port][/db-number]`.
   *
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * How many messages published while Redis is unreachable are kept to be
   * published once it is back. Beyond that they are dropped and counted.
   *
   * @default {1000}
   */
  maxBuffered?: number;
  /**
   * Milliseconds between getting the connection back and publishing the
   * buffered messages, for the other servers to resubscribe first.
   *
   * @default {500}
   */
  resendDelay?: number;
  /**
   * The longest wait between two reconnection attempts, in milliseconds (the
   * wait starts at 50 ms and doubles).
   *
   * @default {1000}
   */
  maxReconnectDelay?: number;
  /**
   * Told when the connection is lost, when messages start being dropped,
   * how many were dropped once Redis is back, and when Redis refuses a
   * message.
   *
   * @default {console.error}
   */
  onError?: (error: RedisBackplaneError) => void;
}

/**
 * What a {@linkcode RedisBackplane} reports to `onError`.
 *
 * @example Reading the count
 * ```ts
 * import { RedisBackplaneError } from "@switchboard/switchboard/redis";
 *
 * const error = new RedisBackplaneError("Redis is away", 3);
 * console.log(error.message, error.dropped);
 * ```
 */
export class RedisBackplaneError extends Error {
  /** How many messages the backplane has dropped so far. */
  readonly dropped: number;

  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param dropped How many messages were dropped so far.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, dropped: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisBackplaneError";
    this.dropped = dropped;
  }
}

/** A subscribed channel: its listeners, and Redis's confirmation. */
interface Channel {
  listeners: Set<(message: string) => void>;
  subscribed: Promise<void>;
}

interface Waiting {
  seq: number;
  channel: string;
  message: string;
}

/**
 * A {@linkcode Backplane} on Redis pub/sub: one connection publishes, one
 * subscribes. See the module documentation for what happens during an
 * outage.
 *
 * @example Publishing through Redis
 * ```ts ignore
 * import { RedisBackplane } from "@switchboard/switchboard/redis";
 *
 * await using backplane = await RedisBackplane.connect();
 * await backplane.subscribe("news", (message) => console.log(message));
 * backplane.publish("news", "hello");
 * ```
 */
export class RedisBackplane implements Backplane, AsyncDisposable {
  #pub: Client;
  #sub: Client;
  #maxBuffered: number;
  #resendDelay: number;
  #onError: (error: RedisBackplaneError) => void;
  #channels = new Map<string, Channel>();
  #buffer: Waiting[] = [];
  #seq = 0;
  #dropped = 0;
  #droppedThisOutage = 0;
  #down = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(
    pub: Client,
    sub: Client,
    maxBuffered: number,
    resendDelay: number,
    onError: (error: RedisBackplaneError) => void,
  ) {
    this.#pub = pub;
    this.#sub = sub;
    this.#maxBuffered = maxBuffered;
    this.#resendDelay = resendDelay;
    this.#onError = onError;
    for (const client of [pub, sub]) {
      client.on("error", (error: Error) => this.#lost(error));
      client.on("ready", () => this.#back());
    }
  }

  /**
   * Connects to Redis (waiting and retrying until it answers).
   *
   * @param options The URL, buffer size, delays and error listener.
   * @returns The connected backplane.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When a number option is out of range.
   *
   * @example Connecting
   * ```ts ignore
   * import { RedisBackplane } from "@switchboard/switchboard/redis";
   *
   * const backplane = await RedisBackplane.connect({ url: "redis://10.0.0.5:6379" });
   * ```
   */
  static async connect(
    options: RedisBackplaneOptions = {},
  ): Promise<RedisBackplane> {
    const {
      url = "redis://127.0.0.1:6379",
      maxBuffered = 1000,
      resendDelay = 500,
      maxReconnectDelay = 1000,
      onError = report,
    } = options;
    if (typeof url !== "string") {
      throw new TypeError("Invalid url: expected a redis:// URL string");
    }
    positiveInteger("maxBuffered", maxBuffered);
    if (!Number.isFinite(resendDelay) || resendDelay < 0) {
      throw new RangeError(
        `Invalid resendDelay: expected milliseconds (0 or more), got ${resendDelay}`,
      );
    }
    positiveInteger("maxReconnectDelay", maxReconnectDelay);
    if (typeof onError !== "function") {
      throw new TypeError("Invalid onError: expected a function");
    }
    // Publishing while offline must fail fast so the backplane's own bounded
    // buffer decides; subscriptions may wait for the connection.
    const pub = makeClient(url, maxReconnectDelay, true);
    const sub = makeClient(url, maxReconnectDelay, false);
    const backplane = new RedisBackplane(
      pub,
      sub,
      maxBuffered,
      resendDelay,
      onError,
    );
    await Promise.all([pub.connect(), sub.connect()]);
    return backplane;
  }

  /** Whether both connections to Redis are up. */
  get connected(): boolean {
    return this.#pub.isReady && this.#sub.isReady;
  }

  /** How many messages wait for Redis to come back. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** How many messages were dropped because the buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Publishes `message` on `channel`; while Redis is unreachable, buffers it
   * (or drops and counts it when the buffer is full).
   *
   * @param channel The channel name.
   * @param message The message.
   *
   * @example Publishing
   * ```ts ignore
   * backplane.publish("news", JSON.stringify({ title: "hello" }));
   * ```
   */
  publish(channel: string, message: string): void {
    const waiting = { seq: this.#seq++, channel, message };
    if (this.#closed) return this.#drop(waiting);
    if (this.#buffer.length === 0 && this.#pub.isReady) this.#send(waiting);
    else this.#hold(waiting);
  }

  /**
   * Calls `listener` with every message published on `channel` by any
   * server; the subscription survives reconnections.
   *
   * @param channel The channel name.
   * @param listener Called with each message, in publish order.
   * @returns A function that removes the listener, once Redis confirmed the
   * subscription.
   * @throws {TypeError} (as a rejection) When `listener` is not a function.
   *
   * @example Subscribing
   * ```ts ignore
   * const stop = await backplane.subscribe("news", console.log);
   * await stop();
   * ```
   */
  async subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>> {
    if (typeof listener !== "function") {
      throw new TypeError("Invalid listener: expected a function");
    }
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const listeners = new Set<(message: string) => void>();
      const created: Channel = {
        listeners,
        subscribed: this.#sub.subscribe(channel, (message: string) => {
          for (const listener of listeners) {
            try {
              listener(message);
            } catch (error) {
              console.error("Switchboard: a backplane listener threw:", error);
            }
          }
        }),
      };
      entry = created;
      this.#channels.set(channel, created);
      // Forget a refused channel so that the next subscribe tries again.
      created.subscribed.catch(() => {
        if (this.#channels.get(channel) === created) {
          this.#channels.delete(channel);
        }
      });
    }
    await entry.subscribed;
    const listeners = entry.listeners;
    const own = listeners.has(listener)
      ? (message: string) => listener(message)
      : listener;
    listeners.add(own);
    return async () => {
      const current = this.#channels.get(channel);
      if (current?.listeners !== listeners || !listeners.delete(own)) return;
      if (listeners.size === 0) {
        this.#channels.delete(channel);
        if (this.#sub.isReady) await this.#sub.unsubscribe(channel);
      }
    };
  }

  /**
   * Closes both connections. Messages still buffered are dropped and
   * counted.
   *
   * @returns A promise that resolves once the connections are closed.
   *
   * @example Closing
   * ```ts ignore
   * await backplane.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    const buffer = this.#buffer;
    this.#buffer = [];
    for (const waiting of buffer) this.#drop(waiting);
    this.#channels.clear();
    await Promise.all([this.#pub, this.#sub].map(async (client) => {
      if (!client.isOpen) return;
      if (client.isReady) {
        try {
          return await client.close();
        } catch {
          // Lost while closing: destroy below.
        }
      }
      client.destroy();
    }));
  }

  /**
   * Same as {@linkcode RedisBackplane.close}, for `await using`.
   *
   * @returns A promise that resolves once closed.
   *
   * @example Scoped
   * ```ts ignore
   * await using backplane = await RedisBackplane.connect();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #send(waiting: Waiting): void {
    this.#pub.publish(waiting.channel, waiting.message).then(
      undefined,
      (error: Error) => {
        // Lost with the connection: publish again once it is back. Refused
        // by a live Redis: publishing again would fail again.
        if (!this.#pub.isReady && !this.#closed) return this.#hold(waiting);
        this.#dropped++;
        this.#onError(
          new RedisBackplaneError(
            `Redis refused a message on "${waiting.channel}": ${error.message}`,
            this.#dropped,
            { cause: error },
          ),
        );
      },
    );
  }

  #hold(waiting: Waiting): void {
    if (this.#buffer.length >= this.#maxBuffered) return this.#drop(waiting);
    this.#buffer.push(waiting);
    // During an outage, #back() schedules the resend once both connections
    // are up again.
    if (this.#pub.isReady && !this.#down) this.#scheduleFlush(0);
  }

  #drop(waiting: Waiting): void {
    this.#dropped++;
    if (this.#droppedThisOutage++ === 0 && !this.#closed) {
      this.#onError(
        new RedisBackplaneError(
          `Dropping messages: Redis is unreachable and ${this.#maxBuffered} messages already wait (first dropped on "${waiting.channel}")`,
          this.#dropped,
        ),
      );
    }
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
    if (!this.connected) return;
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
    if (this.#buffer.length > 0) this.#scheduleFlush(this.#resendDelay);
  }

  #scheduleFlush(delay: number): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (!this.#pub.isReady) return;
      const buffer = this.#buffer.sort((a, b) => a.seq - b.seq);
      this.#buffer = [];
      // Sent in one go, these are pipelined on one connection: order holds.
      for (const waiting of buffer) this.#send(waiting);
    }, delay);
  }
}

function report(error: RedisBackplaneError): void {
  console.error(`Switchboard: ${error.message}`);
}
