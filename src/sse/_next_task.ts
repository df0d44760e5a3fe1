/**
 * A way to wait for the next task of the event loop, after every microtask
 * of the current one, for the fallback's client: the sends that a burst of
 * received messages leads to come each some promise hops after the last,
 * and its POSTs wait for all of them to go together. `setTimeout(fn, 0)`
 * would do, but its timers have millisecond granularity (Deno) or a 4 ms
 * clamp (browsers); a `MessageChannel` message arrives within microseconds
 * everywhere. No Deno APIs.
 *
 * @module
 */

/** One connection's way to the next task; closed with the connection. */
export class NextTask {
  #channel: MessageChannel | undefined;
  #waiting: (() => void) | undefined;
  #closed = false;

  /**
   * Resolves in the next task (at once once closed). One wait at a time.
   *
   * @returns The promise.
   */
  wait(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#channel === undefined) {
      // Made on first use: a connection that never needs it opens no port
      // (in Deno a listened port keeps the process alive until closed).
      this.#channel = new MessageChannel();
      this.#channel.port1.onmessage = () => this.#wake();
    }
    this.#channel.port2.postMessage(null);
    return new Promise((resolve) => this.#waiting = resolve);
  }

  /** Closes the channel and lets a wait in progress go. */
  close(): void {
    this.#closed = true;
    this.#channel?.port1.close();
    this.#channel?.port2.close();
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}
