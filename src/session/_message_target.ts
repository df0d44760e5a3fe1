/**
 * {@linkcode MessageTarget}: the `EventTarget` the session objects that a
 * `Socket` wraps in place of a `WebSocket` extend. It hands their
 * `"message"` events to the listeners without building a `MessageEvent` or
 * running the dispatch algorithm: in Deno those two cost more than the rest
 * of a message's way through a resumable session. Every other event goes
 * the usual way. Internal; runs in browsers.
 *
 * @module
 */

/** What a `"message"` listener is given: the parts of a `MessageEvent` read. */
interface MessageLike {
  readonly type: "message";
  readonly data: unknown;
  readonly target: EventTarget;
  readonly currentTarget: EventTarget;
}

type Listener = EventListenerOrEventListenerObject;

/** No listeners: shared, since the lists are replaced, never changed. */
const NONE: readonly Listener[] = Object.freeze([]);

/** An `EventTarget` whose `"message"` events take a short way. */
export class MessageTarget extends EventTarget {
  /** `"message"` listeners added without `once` or `signal`, in order. */
  #listeners: readonly Listener[] = NONE;
  /** A `"message"` listener with `once` or `signal` went the usual way. */
  #dispatching = false;

  /**
   * Adds a listener, as `EventTarget.addEventListener` does.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: Listener | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (type === "message" && listener !== null) {
      if (
        typeof options !== "object" ||
        (!options.once && options.signal === undefined)
      ) {
        if (!this.#listeners.includes(listener)) {
          // A new array: a dispatch under way goes on over the old one.
          this.#listeners = [...this.#listeners, listener];
        }
        return;
      }
      this.#dispatching = true;
    }
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener, as `EventTarget.removeEventListener` does.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: Listener | null,
    options?: boolean | EventListenerOptions,
  ): void {
    if (type === "message" && listener !== null) {
      const listeners = this.#listeners;
      if (listeners.includes(listener)) {
        this.#listeners = listeners.filter((other) => other !== listener);
        return;
      }
    }
    super.removeEventListener(type, listener, options);
  }

  /**
   * Hands a message's data to the `"message"` listeners, in the order they
   * were added (those with `once` or `signal` last, as a `MessageEvent`). A
   * listener removed meanwhile is not called; what a listener throws goes
   * to the caller.
   *
   * @param data The message's data.
   */
  protected emitMessage(data: unknown): void {
    const listeners = this.#listeners;
    if (listeners.length > 0) {
      const event: MessageLike = {
        type: "message",
        data,
        target: this,
        currentTarget: this,
      };
      for (const listener of listeners) {
        if (
          this.#listeners !== listeners && !this.#listeners.includes(listener)
        ) continue;
        if (typeof listener === "function") {
          listener.call(this, event as unknown as Event);
        } else listener.handleEvent(event as unknown as Event);
      }
    }
    if (this.#dispatching) {
      this.dispatchEvent(new MessageEvent("message", { data }));
    }
  }
}
