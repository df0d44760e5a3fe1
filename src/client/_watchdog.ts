/**
 * The client's checks of `sendTimeout` and `idleTimeout` while a connection
 * is open. Internal; no Deno APIs.
 *
 * @module
 */

import type { Outbox } from "./_outbox.ts";

/**
 * Looks at an open connection four times per the shorter timeout: whether
 * anything arrived, and whether a send waiting in the socket was handed.
 */
export class Watchdog {
  readonly #sendTimeout: number;
  readonly #idleTimeout: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Something arrived since the watchdog last looked. */
  received = false;

  /**
   * @param sendTimeout Milliseconds sends may wait with none handed; 0 for
   * no bound.
   * @param idleTimeout Milliseconds with nothing arriving; 0 for no bound.
   */
  constructor(sendTimeout: number, idleTimeout: number) {
    this.#sendTimeout = sendTimeout;
    this.#idleTimeout = idleTimeout;
  }

  /**
   * Starts watching a connection that just opened.
   *
   * @param active Whether the connection is still the client's to use; the
   * watchdog stops once it is not.
   * @param outbox The client's outbox: whether sends wait in the socket,
   * and whether one was handed.
   * @param onTimeout Called once, with the reason, when a bound passes.
   */
  start(
    active: () => boolean,
    outbox: Outbox,
    onTimeout: (reason: string) => void,
  ): void {
    const send = this.#sendTimeout;
    const idle = this.#idleTimeout;
    if (send === 0 && idle === 0) return;
    const tick = Math.max(
      1,
      Math.floor(Math.min(send || Infinity, idle || Infinity) / 4),
    );
    let seen = Date.now();
    let stalled = seen;
    this.received = false;
    outbox.progressed = false;
    const check = (): void => {
      this.#timer = undefined;
      if (!active()) return;
      const now = Date.now();
      if (this.received) {
        this.received = false;
        seen = now;
      }
      if (outbox.progressed || !outbox.stalled) {
        outbox.progressed = false;
        stalled = now;
      }
      if (idle > 0 && now - seen >= idle) {
        return onTimeout(
          `Idle timeout: nothing arrived from the server for ${idle} ms`,
        );
      }
      if (send > 0 && now - stalled >= send) {
        return onTimeout(
          `Send timeout: the server read nothing for ${send} ms`,
        );
      }
      this.#timer = setTimeout(check, tick);
    };
    this.#timer = setTimeout(check, tick);
  }

  /** Stops watching. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
