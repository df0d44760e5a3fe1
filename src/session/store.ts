/**
 * The in-memory session store: a route's resumable sessions by id. A server
 * restart loses them (a store shared by servers is later work, beside the
 * Redis backplane). Internal.
 *
 * @module
 */

import type { ServerSession } from "./server.ts";

/** The sessions of one route (or of every `upgrade()`), by id. */
export class LocalSessions {
  readonly #sessions = new Map<string, ServerSession>();
  /** New sessions by the client's claim, until the client has the id. */
  readonly #claims = new Map<string, ServerSession>();
  /**
   * How many sessions wait for their client (no connection): each keeps a
   * place under `maxConnections` for its resume. The sessions keep it.
   */
  waiting = 0;

  /** How many sessions are open or waiting for their client. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * @param id A session id.
   * @returns The open or waiting session with that id, if any.
   */
  get(id: string): ServerSession | undefined {
    return this.#sessions.get(id);
  }

  /** @param session A session that got its id. */
  add(session: ServerSession): void {
    this.#sessions.set(session.id, session);
  }

  /**
   * @param claim A claim a client sent with `\0N`.
   * @returns The session opened with it whose client has not yet shown it
   * knows the id, if any.
   */
  claimed(claim: string): ServerSession | undefined {
    return this.#claims.get(claim);
  }

  /**
   * Keeps a new session's claim until its client shows it knows the id.
   *
   * @param claim The claim.
   * @param session The session.
   */
  claim(claim: string, session: ServerSession): void {
    this.#claims.set(claim, session);
  }

  /** @param claim A claim no longer needed. */
  unclaim(claim: string): void {
    this.#claims.delete(claim);
  }

  /** @param session A session that ended. */
  delete(session: ServerSession): void {
    if (this.#sessions.get(session.id) === session) {
      this.#sessions.delete(session.id);
    }
  }
}

/** The sessions every `upgrade()` without a route shares. */
export const defaultStore: LocalSessions = new LocalSessions();
