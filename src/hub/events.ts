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
