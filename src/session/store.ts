/**
 * The in-memory session store: a route's resumable sessions by id. A server
 * restart loses them (a store shared by servers is later work, beside the
 * Redis backplane). Internal.
 *
 * @module
 */

import type { ServerSession } from "./server.ts";

/** The sessions of one route (or of every `upgrade()`), by id. */
export class SessionStore {
  readonly #sessions = new Map<string, ServerSession>();

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

  /** @param session A session that ended. */
  delete(session: ServerSession): void {
    if (this.#sessions.get(session.id) === session) {
      this.#sessions.delete(session.id);
    }
  }
}

/** The sessions every `upgrade()` without a route shares. */
export const defaultStore: SessionStore = new SessionStore();
