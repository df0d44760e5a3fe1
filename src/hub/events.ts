/**
 * The events a {@linkcode Hub} dispatches: {@linkcode PresenceEvent} and, by
 * type, {@linkcode HubEventMap}.
 *
 * @module
 */

import type { PresenceChange, PresenceMember } from "../backplane/streams.ts";

/**
 * A member joined (`"join"`) or left (`"leave"`) a room, on any server of
 * the hub's channel.
 *
 * @example Logging who comes and goes
 * ```ts
 * import { Hub } from "@switchboard/switchboard/hub";
 *
 * await using hub = new Hub();
 * hub.addEventListener("join", (event) => {
 *   console.log(`${event.member.id} joined ${event.room}`);
 * });
 * ```
 */
export class PresenceEvent extends Event {
  /** The room. */
  readonly room: string;
  /** Who joined or left, and on which server. */
  readonly member: PresenceMember;

  /**
   * Makes the event.
   *
   * @param change What happened.
   */
  constructor(change: PresenceChange) {
    super(change.type);
    this.room = change.room;
    this.member = change.member;
  }
}

/**
 * The events of a {@linkcode Hub} by type, so that
 * `hub.addEventListener("join", (e) => e.member)` type-checks without a
 * cast.
 *
 * @example Typed listeners
 * ```ts
 * import type { HubEventMap } from "@switchboard/switchboard/hub";
 *
 * const onLeave = (event: HubEventMap["leave"]) => console.log(event.room);
 * console.log(typeof onLeave);
 * ```
 */
export interface HubEventMap {
  /** A member joined a room, on any server. */
  join: PresenceEvent;
  /** A member left a room (or its server died), on any server. */
  leave: PresenceEvent;
}

/**
 * An `EventTarget` whose `addEventListener` knows the hub's events: the
 * base of {@linkcode Hub}.
 *
 * @example Typed listeners
 * ```ts
 * import { Hub } from "@switchboard/switchboard/hub";
 *
 * await using hub = new Hub();
 * hub.addEventListener("leave", (e) => console.log(e.member.serverId));
 * ```
 */
export class HubEvents extends EventTarget {
  /**
   * Listens for `"join"` and `"leave"` of any member in any room, on every
   * server; the listener gets a {@linkcode PresenceEvent}.
   *
   * @param type `"join"` or `"leave"`.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends keyof HubEventMap>(
    type: K,
    listener: (this: HubEvents, event: HubEventMap[K]) => unknown,
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
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with {@linkcode HubEvents.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener given to `addEventListener`.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends keyof HubEventMap>(
    type: K,
    listener: (this: HubEvents, event: HubEventMap[K]) => unknown,
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
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}
