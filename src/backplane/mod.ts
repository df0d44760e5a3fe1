/**
 * The {@linkcode Backplane} contract that {@linkcode Hub} talks to, and the
 * pieces every backplane shares: the listeners of one channel (fan-out, and
 * a listener subscribed twice counting twice) and the listener check.
 *
 * Implementations: {@linkcode MemoryBackplane} in `memory.ts` (the default,
 * one process) and {@linkcode RedisBackplane} in `redis.ts`.
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

/** Called with each message published on a channel. */
export type Listener = (message: string) => void;

/**
 * Checks a listener given to {@linkcode Backplane.subscribe}.
 *
 * @param listener The value given.
 * @throws {TypeError} When it is not a function.
 */
export function checkListener(listener: unknown): asserts listener is Listener {
  if (typeof listener !== "function") {
    throw new TypeError("Invalid listener: expected a function");
  }
}

/**
 * The listeners of one channel, in subscription order. A listener added
 * twice is wrapped so that both subscriptions count; a listener that throws
 * is reported to `console.error` and does not stop the others.
 */
export class Listeners {
  readonly #listeners = new Set<Listener>();

  /** How many subscriptions there are. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a subscription.
   *
   * @param listener The subscriber's function.
   * @returns What was registered for it: pass it to
   * {@linkcode Listeners.delete} to end this subscription.
   */
  add(listener: Listener): Listener {
    const own = this.#listeners.has(listener)
      ? (message: string) => listener(message)
      : listener;
    this.#listeners.add(own);
    return own;
  }

  /**
   * Ends a subscription.
   *
   * @param own What {@linkcode Listeners.add} returned.
   * @returns Whether it was still there.
   */
  delete(own: Listener): boolean {
    return this.#listeners.delete(own);
  }

  /**
   * Calls every listener with `message`, now.
   *
   * @param message The message.
   */
  deliver(message: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (error) {
        console.error("Switchboard: a backplane listener threw:", error);
      }
    }
  }
}
