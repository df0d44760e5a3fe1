/**
 * The in-memory {@linkcode Backplane}, the default of a {@linkcode Hub}:
 * enough for one process, and for several hubs in one process that share it.
 *
 * @module
 */

import { type Backplane, checkListener, Listeners } from "./mod.ts";

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
  #channels = new Map<string, Listeners>();

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
    this.#channels.get(channel)?.deliver(message);
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
    try {
      checkListener(listener);
    } catch (error) {
      return Promise.reject(error);
    }
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Listeners();
      this.#channels.set(channel, listeners);
    }
    const own = listeners.add(listener);
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
