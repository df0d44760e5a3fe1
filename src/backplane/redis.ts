/**
 * A Redis pub/sub {@linkcode Backplane} for {@linkcode Hub}: run the same app
 * on several servers that share one Redis, and rooms span all of them.
 *
 * Built on the official Redis client for Node.js (`@redis/client`, the core
 * of the `redis` package), which Deno runs through npm. This is the only
 * entry point of the package with a dependency.
 *
 * **Connecting.** {@linkcode RedisBackplane.connect} retries until Redis
 * answers, for at most `connectTimeout` ms (5,000 by default) or until its
 * `signal` aborts; then it rejects, leaving no connection open.
 *
 * **Redis outages.** The clients reconnect by themselves and resubscribe.
 * Messages published meanwhile wait in a bounded buffer (`maxBuffered`,
 * 1,000 by default) and are published again, in order, `resendDelay` ms
 * after the connection is back, so that the other servers have had time to
 * reconnect and resubscribe (by default `maxReconnectDelay` + 1,000 ms, longer
 * than any server's wait between two attempts). When the buffer is full,
 * further messages are dropped until the resend: each one is counted in
 * {@linkcode RedisBackplane.dropped}, and `onError` hears about it once when
 * dropping starts, and with the outage's total once the buffer is resent.
 * The hub keeps serving its own connections throughout.
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

import { type Backplane, checkListener, Listeners } from "./mod.ts";
import { RedisBackplaneError } from "./redis_error.ts";
import {
  type Client,
  closeClient,
  connectAll,
  makeClient,
} from "./_redis_connect.ts";
import {
  checkRedisOptions,
  type RedisBackplaneOptions,
} from "./redis_options.ts";
import { watchBackplane } from "../_observer_calls.ts";

export type { Backplane } from "./mod.ts";
export { RedisBackplaneError } from "./redis_error.ts";
export type { RedisBackplaneOptions } from "./redis_options.ts";
export { RedisSessionStore } from "./redis_session_store.ts";
export type { RedisSessionStoreOptions } from "./redis_session_store.ts";
export { RedisStreamsBackplane } from "./redis_streams.ts";
export type { RedisStreamsBackplaneOptions } from "./redis_streams_options.ts";
export type {
  Following,
  Position,
  PresenceChange,
  PresenceMember,
  StreamBackplane,
  StreamEntry,
  StreamListener,
  StreamMessage,
  StreamPage,
} from "./streams.ts";

/** A subscribed channel: its listeners, and Redis's confirmation. */
interface Channel {
  listeners: Listeners;
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
  #starting = true;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #unobserve: () => void = () => {};

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
   * Connects to Redis, retrying until it answers, for at most
   * `connectTimeout` ms.
   *
   * @param options The URL, connect timeout and signal, buffer size, delays
   * and error listener.
   * @returns The connected backplane.
   * @throws {TypeError} When an option has the wrong type, or `url` is not a
   * `redis:` or `rediss:` URL.
   * @throws {RangeError} When a number option is out of range.
   * @throws {RedisBackplaneError} (as a rejection) When Redis could not be
   * reached within `connectTimeout`: `Cannot reach Redis at <url without its
   * password> within <n> ms: <the last error>`, with that error as `cause`.
   * Also the signal's reason when `signal` aborts first. Either way no
   * connection is left open.
   *
   * @example Connecting
   * ```ts ignore
   * import { RedisBackplane } from "@switchboard/switchboard/redis";
   *
   * const backplane = await RedisBackplane.connect({
   *   url: "redis://10.0.0.5:6379",
   *   connectTimeout: 10_000,
   * });
   * ```
   *
   * @example When Redis is not there
   * ```ts
   * import { RedisBackplane } from "@switchboard/switchboard/redis";
   *
   * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const url = `redis://127.0.0.1:${listener.addr.port}`;
   * listener.close(); // nothing listens there now
   * try {
   *   await RedisBackplane.connect({ url, connectTimeout: 200 });
   * } catch (error) {
   *   // Cannot reach Redis at redis://127.0.0.1:… within 200 ms: connect ECONNREFUSED …
   *   console.log((error as Error).message);
   * }
   * ```
   */
  static async connect(
    options: RedisBackplaneOptions = {},
  ): Promise<RedisBackplane> {
    const settings = checkRedisOptions(options);
    const { url, maxReconnectDelay, signal } = settings;
    signal?.throwIfAborted();
    // Aborted to give up: ends the attempt under way, socket included.
    const giveUp = new AbortController();
    // Publishing while offline must fail fast so the backplane's own bounded
    // buffer decides; subscriptions may wait for the connection.
    const pub = makeClient(url, maxReconnectDelay, true, giveUp.signal);
    const sub = makeClient(url, maxReconnectDelay, false, giveUp.signal);
    const backplane = new RedisBackplane(
      pub,
      sub,
      settings.maxBuffered,
      settings.resendDelay,
      settings.onError,
    );
    await connectAll([pub, sub], giveUp, settings);
    backplane.#starting = false;
    // One connection may have dropped while the other was still connecting.
    if (!backplane.connected) {
      backplane.#lost(new Error("Socket closed unexpectedly"));
    }
    backplane.#unobserve = watchBackplane(settings.observe, backplane, "redis");
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
    checkListener(listener);
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const listeners = new Listeners();
      const created: Channel = {
        listeners,
        subscribed: this.#sub.subscribe(
          channel,
          (message: string) => listeners.deliver(message),
        ),
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
    const own = listeners.add(listener);
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
    this.#unobserve();
    clearTimeout(this.#flushTimer);
    const buffer = this.#buffer;
    this.#buffer = [];
    for (const waiting of buffer) this.#drop(waiting);
    this.#channels.clear();
    await Promise.all([this.#pub, this.#sub].map(closeClient));
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
      // After a reconnection, drops go on until the buffer is resent.
      const why = this.#down
        ? `Redis is unreachable and ${this.#maxBuffered} messages already wait`
        : `${this.#maxBuffered} messages already wait to be resent to Redis`;
      this.#onError(
        new RedisBackplaneError(
          `Dropping messages: ${why} (first dropped on "${waiting.channel}")`,
          this.#dropped,
        ),
      );
    }
  }

  #lost(error: Error): void {
    // While connecting, connect() itself reports the failure.
    if (this.#down || this.#closed || this.#starting) return;
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
    if (!this.connected || this.#starting) return;
    this.#down = false;
    if (this.#buffer.length > 0) this.#scheduleFlush(this.#resendDelay);
  }

  #scheduleFlush(delay: number): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (!this.#pub.isReady) return;
      const buffer = this.#buffer.sort((a, b) => a.seq - b.seq);
      this.#buffer = [];
      // Messages go on being dropped behind a full buffer until now: the
      // outage's total is known only once the buffer is resent.
      if (this.#droppedThisOutage > 0) {
        this.#onError(
          new RedisBackplaneError(
            `Reconnected to Redis; ${this.#droppedThisOutage} messages were dropped while it was unreachable (${buffer.length} resent)`,
            this.#dropped,
          ),
        );
        this.#droppedThisOutage = 0;
      }
      // Sent in one go, these are pipelined on one connection: order holds.
      for (const waiting of buffer) this.#send(waiting);
    }, delay);
  }
}
