/**
 * The `resume` option of `route()`, `upgrade()` and `connect()`.
 *
 * @module
 */

import { MAX_TIMER_DELAY, positiveInteger } from "../_validate.ts";
import type { SessionStore } from "./session_store.ts";

/**
 * Options for resumable sessions: `resume: true` takes every default.
 *
 * @example A route whose sessions wait a minute for their client
 * ```ts
 * import type { ResumeOptions } from "@switchboard/switchboard";
 *
 * const resume: ResumeOptions = { window: 60_000, maxUnacked: 1000 };
 * console.log(resume.window);
 * ```
 */
export interface ResumeOptions {
  /**
   * Milliseconds a dropped session waits for its client to come back
   * (server only); past it the socket closes with 1001 "Session expired".
   *
   * @default {120000}
   */
  window?: number;
  /**
   * Messages a side may hold sent and not yet acknowledged; when full,
   * `send()` waits (backpressure), it never drops.
   *
   * @default {10000}
   */
  maxUnacked?: number;
  /**
   * Bytes (text counted as 3 per UTF-16 unit) a side may hold sent and
   * not yet acknowledged; when full, `send()` waits.
   *
   * @default {1048576}
   */
  maxUnackedBytes?: number;
  /**
   * Where sessions are kept for other servers (server only): with a shared
   * store (`RedisSessionStore` from `./redis`), a client whose server died
   * resumes on any other, whose handler runs again with
   * `socket.session.resumed === true`. Without one, sessions live in this
   * route's memory.
   *
   * @default {undefined}
   */
  store?: SessionStore;
}

/**
 * A resumable session's id and counters, as `socket.session` and
 * `client.session` show them.
 *
 * @example Logging a session's counters
 * ```ts
 * import type { SessionInfo } from "@switchboard/switchboard";
 *
 * const info: SessionInfo = { id: "", sent: 3, acked: 2, received: 5, resumes: 1, resumed: false };
 * console.log(`${info.sent - info.acked} unacknowledged`);
 * ```
 */
export interface SessionInfo {
  /** The session id: a secret, sent only to its client. */
  readonly id: string;
  /** Data messages this side has sent in the session. */
  readonly sent: number;
  /** Of those, how many the peer has acknowledged. */
  readonly acked: number;
  /** Data messages this side has received (each once). */
  readonly received: number;
  /** How many times the session resumed after a drop. */
  readonly resumes: number;
  /**
   * Whether this run of the handler took the session over from another
   * server (through `resume.store`): per-connection state is to be rebuilt.
   * Always `false` on the client.
   */
  readonly resumed: boolean;
  /**
   * With `resume.store` (server only): the rooms of the hub the session's
   * member is in, each with where it joined (`JSON` of the position, `""`
   * without positions), as stored; after a takeover, the rooms it was in on
   * the server that died, for the handler to know before the client joins
   * again.
   */
  readonly rooms?: Readonly<Record<string, string>>;
}

/** Resume options with their defaults applied. */
export interface CheckedResume {
  window: number;
  maxUnacked: number;
  maxUnackedBytes: number;
  store?: SessionStore;
}

/**
 * Checks a `resume` option.
 *
 * @param value `undefined`, a boolean or {@linkcode ResumeOptions}.
 * @returns The checked options, or `undefined` when resume is off.
 * @throws {TypeError} When it has the wrong type.
 * @throws {RangeError} When a number is out of range.
 */
export function checkResume(value: unknown): CheckedResume | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) value = {};
  if (value === null || typeof value !== "object") {
    throw new TypeError(
      "Invalid resume: expected a boolean or an object of resume options",
    );
  }
  const {
    window = 120_000,
    maxUnacked = 10_000,
    maxUnackedBytes = 1024 * 1024,
    store,
  } = value as ResumeOptions;
  if (
    store !== undefined &&
    (store === null || typeof store !== "object" ||
      typeof store.take !== "function" || typeof store.update !== "function")
  ) {
    throw new TypeError(
      "Invalid resume.store: expected a session store (MemorySessionStore, RedisSessionStore)",
    );
  }
  positiveInteger("resume.window", window);
  if (window > MAX_TIMER_DELAY) {
    throw new RangeError(
      `Invalid resume.window: ${window} is more than timers allow (${MAX_TIMER_DELAY} ms)`,
    );
  }
  return {
    ...(store === undefined ? {} : { store }),
    window,
    maxUnacked: positiveInteger("resume.maxUnacked", maxUnacked),
    maxUnackedBytes: positiveInteger(
      "resume.maxUnackedBytes",
      maxUnackedBytes,
    ),
  };
}
