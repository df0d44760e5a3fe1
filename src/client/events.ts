/**
 * The client's states and the events it dispatches: {@linkcode ClientState},
 * {@linkcode ClientEvent} and, by type, {@linkcode ClientEventMap}.
 *
 * @module
 */

import type { CloseInfo } from "../message.ts";

/**
 * Where a {@linkcode Client} is: `"connecting"` until the first connection
 * opens, `"open"` while one is, `"reconnecting"` while it waits for or tries
 * the next connection, `"closed"` for good.
 *
 * @example Showing the state on a page
 * ```ts
 * import type { ClientState } from "@switchboard/switchboard/client";
 *
 * const labels: Record<ClientState, string> = {
 *   connecting: "Connecting...",
 *   open: "Connected",
 *   reconnecting: "Reconnecting...",
 *   closed: "Disconnected",
 * };
 * console.log(labels.reconnecting);
 * ```
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * What a {@linkcode ClientEvent} carries besides its type.
 *
 * @example An event init for a retry
 * ```ts
 * import type { ClientEventInit } from "@switchboard/switchboard/client";
 *
 * const init: ClientEventInit = { state: "reconnecting", attempt: 1, delay: 120 };
 * console.log(init.delay);
 * ```
 */
export interface ClientEventInit {
  /** The client's state when the event fired. */
  state: ClientState;
  /** The retry number (1 for the first retry); `0` when not retrying. @default {0} */
  attempt?: number;
  /** Milliseconds before the retry; `0` when not retrying. @default {0} */
  delay?: number;
  /** Why the last connection (or attempt) ended. @default {undefined} */
  closeInfo?: CloseInfo;
  /** `"open"` of a resume client: `false` (a new session). @default {false} */
  resumed?: boolean;
  /**
   * `"open"` of a resume client whose server no longer had its session: how
   * many of its sent messages were never acknowledged (and may not have
   * arrived). @default {0}
   */
  unacknowledged?: number;
  /**
   * `"resumed"` of a session another server took over after its server
   * died: how many server-to-client positions it missed (messages that were
   * only in the dead server's memory; never a silent gap). @default {0}
   */
  missed?: number;
  /**
   * `"resumed"` of a session another server took over: its handler runs
   * again there (`client.rooms` joins its rooms again). @default {false}
   */
  moved?: boolean;
}

/**
 * Every event a {@linkcode Client} dispatches:
 *
 * - `"statechange"` whenever {@linkcode Client.state} changes;
 * - `"open"` each time a connection opens (the first and every reconnect);
 * - `"reconnecting"` each time a retry is scheduled, with its `attempt`,
 *   `delay` and the `closeInfo` of what ended;
 * - `"close"` once, when the client is closed for good, with the final
 *   `closeInfo`;
 * - with `resume`: `"resumed"` (`resumed: true`) instead of `"open"` when
 *   a connection came back to its session with nothing lost; `"open"` has
 *   `resumed: false` and, when the server no longer had the session,
 *   `unacknowledged`: how many sent messages may not have arrived.
 *
 * @example Listening for reconnects
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.addEventListener("reconnecting", (event) => {
 *   console.log(`retry ${event.attempt} in ${event.delay} ms`);
 * });
 * ```
 */
export class ClientEvent extends Event {
  /** The client's state when the event fired. */
  readonly state: ClientState;
  /** The retry number (1 for the first retry); `0` when not retrying. */
  readonly attempt: number;
  /** Milliseconds before the retry; `0` when not retrying. */
  readonly delay: number;
  /** Why the last connection ended (`"reconnecting"`, `"close"`). */
  readonly closeInfo: CloseInfo | undefined;
  /** Whether the session came back (`"resumed"`); `false` otherwise. */
  readonly resumed: boolean;
  /** Sent messages of a lost session never acknowledged (`"open"`). */
  readonly unacknowledged: number;
  /** Server-to-client positions lost with a dead server (`"resumed"`). */
  readonly missed: number;
  /** The session moved to another server (`"resumed"`). */
  readonly moved: boolean;

  /**
   * Makes the event.
   *
   * @param type The event type.
   * @param init The state, retry and close details.
   */
  constructor(type: string, init: ClientEventInit) {
    super(type);
    this.state = init.state;
    this.attempt = init.attempt ?? 0;
    this.delay = init.delay ?? 0;
    this.closeInfo = init.closeInfo;
    this.resumed = init.resumed ?? false;
    this.unacknowledged = init.unacknowledged ?? 0;
    this.missed = init.missed ?? 0;
    this.moved = init.moved ?? false;
  }
}

/**
 * The events of a {@linkcode Client} by type, so that
 * `client.addEventListener("reconnecting", (e) => e.attempt)` type-checks
 * without a cast.
 *
 * @example Typed listeners
 * ```ts
 * import type { ClientEventMap } from "@switchboard/switchboard/client";
 *
 * const onRetry = (event: ClientEventMap["reconnecting"]) =>
 *   console.log(`retry ${event.attempt} in ${event.delay} ms`);
 * console.log(typeof onRetry);
 * ```
 */
export interface ClientEventMap {
  /** {@linkcode Client.state} changed. */
  statechange: ClientEvent;
  /** A connection opened (the first and every reconnect but a resume). */
  open: ClientEvent;
  /** A resume client's connection came back to its session. */
  resumed: ClientEvent;
  /** A retry is scheduled: `attempt`, `delay`, `closeInfo`. */
  reconnecting: ClientEvent;
  /** The client closed for good: the final `closeInfo`. */
  close: ClientEvent;
}
