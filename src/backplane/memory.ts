/**
 * The {@linkcode Backplane} contract and its in-memory implementation, the
 * default of a {@linkcode Hub}: enough for one process, and for several hubs
 * in one process that share it.
 *
 * @module
 */

/**
 * Carries a {@linkcode Hub}'s messages between servers: the hub publishes
 * what other servers must see and subscribes to what they publish.
 *
 * `publish` never throws and never waits: a backplane owns what happens to a
 * message it cannot deliver right now (buffer it, count it, report it) and
 * must not stay silent about a loss. Messages from one publisher reach each
 * subscriber in publish order.
 *
 * @example A backplane that logs what it carries
 * ```ts
 * import { type Backplane, MemoryBackplane } from "@switchboard/switchboard/hub";
 *
 * const inner = new MemoryBackplane();
 * const logging: Backplane = {
 *   publish(channel, message) {
 *     console.log(channel, message);
 *     inner.publish(channel, message);
 *   },
 *   subscribe: (channel, listener) => inner.subscribe(channel, listener),
 *   close: () => inner.close(),
 * };
 * await logging.close();
 * ```
 */
export interface Backplane {
  /**
   * Sends `message` to every subscriber of `channel`, in every process.
   *
   * @param channel The channel name.
   * @param message The message.
   */
  publish(channel: string, message: string): void;
  /**
   * Calls `listener` with every message published on `channel`.
   *
   * @param channel The channel name.
   * @param listener Called once per message, in publish order.
   * @returns A function that ends the subscription, resolved once the
   * subscription is active.
   */
  subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>>;
  /**
   * Ends every subscription and releases the backplane's resources.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void>;
}

/**
 * A {@linkcode Backplane} inside one process: `publish` calls the channel's
 * listeners at once, in subscription order. A listener that throws is
 * reported to `console.error` and does not stop the others.
 *
 * @example Two subscribers on one channel
 * ```ts
 * import { MemoryBackplane } from "@switchboard/switchboard/hub";
 *
 * await using backplane = new MemoryBackplane();
 * const seen: string[] = [];
 * await backplane.subscribe("news", (m) => seen.push(`a:${m}`));
 * await backplane.subscribe("news", (m) => seen.push(`b:${m}`));
 * backplane.publish("news", "hello");
 * console.log(seen); // ["a:hello", "b:hello"]
 * ```
 */
export class MemoryBackplane implements Backplane, AsyncDisposable {
  #channels = new Map<string, Set<(message: string) => void>>();

  /**
   * Calls every listener of `channel` with `message`, now.
   *
   * @param channel The channel name.
   * @param message The message.
   *
   * @example Publishing with nobody listening
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * new MemoryBackplane().publish("empty", "nobody hears this");
   * ```
   */
  publish(channel: string, message: string): void {
    const listeners = this.#channels.get(channel);
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        console.error("Switchboard: a backplane listener threw:", error);
      }
    }
  }

  /**
   * Adds a listener to `channel`.
   *
   * @param channel The channel name.
   * @param listener Called with each message published on `channel`.
   * @returns A function that removes the listener.
   * @throws {TypeError} When `listener` is not a function.
   *
   * @example Subscribing, then unsubscribing
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * const backplane = new MemoryBackplane();
   * const stop = await backplane.subscribe("c", console.log);
   * backplane.publish("c", "heard");
   * await stop();
   * backplane.publish("c", "not heard");
   * ```
   */
  subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>> {
    if (typeof listener !== "function") {
      return Promise.reject(
        new TypeError("Invalid listener: expected a function"),
      );
    }
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
    }
    // A listener added twice is wrapped so that both subscriptions count.
    const own = listeners.has(listener)
      ? (message: string) => listener(message)
      : listener;
    listeners.add(own);
    return Promise.resolve(() => {
      const current = this.#channels.get(channel);
      current?.delete(own);
      if (current?.size === 0) this.#channels.delete(channel);
      return Promise.resolve();
    });
  }

  /**
   * Removes every listener.
   *
   * @returns A resolved promise.
   *
   * @example Closing
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * await new MemoryBackplane().close();
   * ```
   */
  close(): Promise<void> {
    this.#channels.clear();
    return Promise.resolve();
  }

  /**
   * Same as {@linkcode MemoryBackplane.close}, for `await using`.
   *
   * @returns A resolved promise.
   *
   * @example Scoped
   * ```ts
   * import { MemoryBackplane } from "@switchboard/switchboard/hub";
   *
   * await using _backplane = new MemoryBackplane();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
