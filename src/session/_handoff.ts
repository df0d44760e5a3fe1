/**
 * The hand-off of a resumable session to another server, on a graceful
 * shutdown with a shared store: the steps that make the next server's
 * takeover lose and double nothing, where a crash's may. Internal.
 *
 * @module
 */

import { CLOSED } from "../_ready_state.ts";
import type { Durable } from "./_durable.ts";
import type { SessionState } from "./_state.ts";

/** Why a session handed off to another server ends here. */
export const HANDED_OFF = "Server shutting down";
/** Why a session taken over by another server ends here. */
export const TAKEN = "Session resumed on another server";

/** What the hand-off needs of its session. */
export interface HandoffHost {
  /** The session's counters. */
  readonly state: SessionState;
  /** Whether the session is still open (not ended by something else). */
  open(): boolean;
  /** Whether a connection is open under it. */
  connected(): boolean;
  /** Has `changed` called at every acknowledgement and close (or not). */
  watch(changed: (() => void) | undefined): void;
  /** Makes the sends wait and drops what the handler's loop did not take. */
  freeze(): void;
  /**
   * Closes the connection, if any, and ends the session.
   *
   * @returns The connection that was closed.
   */
  finish(
    code: number,
    reason: string,
    wasClean: boolean,
  ): WebSocket | undefined;
}

/**
 * Hands a session off: waits (at most `wait` ms) until the handler's loop
 * is done with what it received (what the client sends meanwhile is the
 * session's to leave for the next server), freezes the sends, waits (at most
 * `wait / 2` ms more) until the client acknowledged everything sent, so
 * that however the connection ends nothing is missed, stores the state and
 * lets it go (not deleted), then closes the connection with 1012 (no `\0C`:
 * the client reconnects and resumes) and ends the session here; 4409 when
 * another server took it meanwhile.
 *
 * @param host The session.
 * @param durable Its link to the shared store.
 * @param wait The longest wait for the handler, in ms.
 * @param deadline When to give up (`Date.now()` time).
 * @returns Once the connection's close is done, or at `deadline`.
 */
export async function handOff(
  host: HandoffHost,
  durable: Durable,
  wait: number,
  deadline: number,
): Promise<void> {
  const state = host.state;
  await durable.settle(state.received, wait);
  if (!host.open()) return;
  host.freeze();
  await until(host, () => state.acked >= state.sent, wait / 2);
  if (!host.open()) return;
  const released = await durable.release(() => state.sent, deadline);
  if (!host.open()) return;
  const ws = released
    ? host.finish(1012, HANDED_OFF, true)
    : host.finish(4409, TAKEN, false);
  // The close goes out before the process may go: Deno's server, shut
  // down, would close the connection with 1001 in its place.
  if (ws !== undefined) await closedBy(ws, deadline);
}

/**
 * Waits until `done()` holds, the connection is gone, the session ended or
 * `ms` passed, checking at each acknowledgement and close.
 */
function until(
  host: HandoffHost,
  done: () => boolean,
  ms: number,
): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (done() || !host.connected() || !host.open()) finish();
    };
    const finish = (): void => {
      clearTimeout(timer);
      host.watch(undefined);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    host.watch(check);
    check();
  });
}

/** Resolves once `ws` has closed, or at `deadline` (`Date.now()` time). */
function closedBy(ws: WebSocket, deadline: number): Promise<void> {
  if (ws.readyState === CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      ws.removeEventListener("close", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(deadline - Date.now(), 0));
    ws.addEventListener("close", done);
  });
}
