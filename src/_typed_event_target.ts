/**
 * {@linkcode TypedEventTarget}: an `EventTarget` whose listeners know the
 * event class of each type. Runs in browsers.
 *
 * @module
 */

/** A listener of any event type, typed or not. */
type Listener =
  | EventListenerOrEventListenerObject
  | ((event: never) => unknown)
  | null;

/**
 * An `EventTarget` whose `addEventListener` and `removeEventListener` know
 * the event class of each of its types (`M` maps types to classes), so that
 * `target.addEventListener("join", (e) => e.member)` type-checks without a
 * cast; other types work as on any `EventTarget`.
 *
 * @typeParam M The event classes by type.
 *
 * @example A target of one typed event
 * ```ts
 * import { TypedEventTarget } from "@switchboard/switchboard/hub";
 *
 * class Ticks extends TypedEventTarget<{ tick: CustomEvent<number> }> {}
 * const ticks = new Ticks();
 * ticks.addEventListener("tick", (e) => console.log(e.detail + 1));
 * ticks.dispatchEvent(new CustomEvent("tick", { detail: 41 }));
 * ```
 */
export class TypedEventTarget<M extends { [K in keyof M]: Event }>
  extends EventTarget {
  /**
   * Listens for one of the target's typed events.
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends keyof M & string>(
    type: K,
    listener: (this: this, event: M[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Listens for an event of any other type, as `EventTarget` does.
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: Listener,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListener | null, options);
  }

  /**
   * Removes a listener of one of the target's typed events.
   *
   * @param type The event type.
   * @param listener The listener given to `addEventListener`.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends keyof M & string>(
    type: K,
    listener: (this: this, event: M[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of any other type, as `EventTarget` does.
   *
   * @param type The event type.
   * @param listener The listener to remove.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: Listener,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListener | null, options);
  }
}
