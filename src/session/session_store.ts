/**
 * The shared session store behind `route(path, handler, { resume: { store }
 * })`: what a resumable session must keep beyond its process, so that
 * another server can take it over after a crash. {@linkcode
 * MemorySessionStore} keeps it in this process (routes given the same
 * instance share their sessions); `RedisSessionStore` (`./redis`) keeps it in
 * Redis for servers on several machines.
 *
 * @module
 */

/**
 * What outlives a session's process. Counts are positions in the session's
 * numbering (every data message counts 1 in its direction, from 1).
 */
export interface SessionRecord {
  /** The session id. */
  readonly id: string;
  /** The principal's subject, on an authenticated route (`""` otherwise). */
  readonly subject: string;
  /** The server that owns the session (its store's `server`). */
  readonly owner: string;
  /** The ownership's fencing token: every take makes a larger one. */
  readonly epoch: number;
  /** Client-to-server messages received, stored and acknowledged. */
  readonly received: number;
  /**
   * Server-to-client positions the owner may have used: an upper bound of
   * what it sent. A new owner tells the client how many of them, past what
   * it received, it missed.
   */
  readonly sent: number;
  /** Server-to-client messages the client acknowledged. */
  readonly acked: number;
  /** The rooms the session is in, each with its position (app-defined). */
  readonly rooms: Readonly<Record<string, string>>;
}

/** Who resumes a session: a takeover must fit the stored session. */
export interface TakeCheck {
  /** The principal's subject (`""` on a route without authentication). */
  readonly subject: string;
  /** The server-to-client messages the client received. */
  readonly received: number;
}

/**
 * Whether a client fits a stored session.
 *
 * @param record The session.
 * @param client The client.
 * @returns Whether it may take the session over.
 */
export function fits(record: SessionRecord, client: TakeCheck): boolean {
  return record.subject === client.subject &&
    client.received >= record.acked && client.received <= record.sent;
}

/**
 * A fenced write's changes: only the fields given change. A store that no
 * longer has the session (it expired, or the store lost it) takes it again
 * from its owner, with the fields given.
 */
export type SessionUpdate = Partial<
  Pick<SessionRecord, "subject" | "received" | "sent" | "acked" | "rooms">
>;

/**
 * Where a route's resumable sessions are kept for other servers. Every
 * write names the epoch it was made under and is refused once another
 * server took the session (a larger epoch): a server that comes back and
 * still thinks it owns a session cannot write for it.
 *
 * @example A store given to two routes of one process
 * ```ts
 * import { MemorySessionStore, type SessionStore } from "@switchboard/switchboard";
 *
 * const store: SessionStore = new MemorySessionStore();
 * console.log(store.server.length > 0);
 * ```
 */
export interface SessionStore {
  /** This server's name, stored as the owner of the sessions it takes. */
  readonly server: string;
  /**
   * Stores a new session, owned by this server at epoch 1.
   *
   * @param record The session's first state.
   * @param ttl Milliseconds it lives without a write (the route's `window`).
   */
  create(
    record: Omit<SessionRecord, "owner" | "epoch">,
    ttl: number,
  ): Promise<void>;
  /**
   * Takes a session over, atomically: a larger epoch, this server as owner;
   * only for a client that fits it (the same subject, and a received count
   * from `acked` to `sent`), else it stays as it is.
   *
   * @param id The session id.
   * @param ttl Milliseconds it lives without a write.
   * @param client The resuming client's subject and received count.
   * @returns The session as stored, with the new epoch, or `undefined` when
   * the store does not have it or the client does not fit.
   */
  take(
    id: string,
    ttl: number,
    client: TakeCheck,
  ): Promise<SessionRecord | undefined>;
  /**
   * A fenced write. A session the store no longer has is stored again,
   * owned by the writer at its epoch.
   *
   * @param id The session id.
   * @param epoch The epoch the writer owns the session under.
   * @param update The changes.
   * @param ttl Milliseconds it lives without a write.
   * @returns `false` when another server took the session (a larger epoch).
   */
  update(
    id: string,
    epoch: number,
    update: SessionUpdate,
    ttl: number,
  ): Promise<boolean>;
  /**
   * Forgets a session that ended, if the epoch still owns it.
   *
   * @param id The session id.
   * @param epoch The epoch of its owner.
   */
  delete(id: string, epoch: number): Promise<void>;
  /**
   * Optional, for the fallback transport without sticky sessions: takes the
   * requests other servers send this one on `topic` (a route's path), and
   * answers each.
   *
   * @param topic What the requests are about.
   * @param handler Answers one request.
   */
  listen?(
    topic: string,
    handler: (request: string) => Promise<string>,
  ): Promise<void>;
  /**
   * Optional, with `listen`: sends a request to another server's `listen`.
   *
   * @param server The server's name.
   * @param topic What it is about.
   * @param request The request.
   * @param timeout Milliseconds to wait for the answer.
   * @returns The answer, or `undefined` when the server is not there or did
   * not answer in time.
   */
  ask?(
    server: string,
    topic: string,
    request: string,
    timeout: number,
  ): Promise<string | undefined>;
}

/**
 * A random server name: 96 bits, base64url.
 *
 * @returns The name.
 */
export function serverName(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(12)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * The in-memory {@linkcode SessionStore}: the sessions of this process only
 * (a process that ends loses them). Routes given the same instance share
 * them, with the same takeover and fencing as through Redis.
 *
 * @example Two routes that can resume each other's sessions
 * ```ts
 * import { MemorySessionStore, route } from "@switchboard/switchboard";
 *
 * const store = new MemorySessionStore();
 * const handler = async (socket: import("@switchboard/switchboard").Socket) => {
 *   for await (const msg of socket) await socket.send(msg.data);
 * };
 * const a = route("/ws", handler, { resume: { store } });
 * const b = route("/ws", handler, { resume: { store } });
 * console.log(typeof a, typeof b);
 * ```
 */
export class MemorySessionStore implements SessionStore {
  readonly server: string;
  readonly #records = new Map<
    string,
    { record: SessionRecord; timer: ReturnType<typeof setTimeout> }
  >();

  /**
   * Makes an empty store.
   *
   * @param server This server's name (a random one by default).
   */
  constructor(server: string = serverName()) {
    this.server = server;
  }

  /**
   * Stores a new session.
   *
   * @param record Its first state.
   * @param ttl Milliseconds it lives without a write.
   * @returns Once stored.
   */
  create(
    record: Omit<SessionRecord, "owner" | "epoch">,
    ttl: number,
  ): Promise<void> {
    this.#set({ ...record, owner: this.server, epoch: 1 }, ttl);
    return Promise.resolve();
  }

  /**
   * Takes a session over.
   *
   * @param id The session id.
   * @param ttl Milliseconds it lives without a write.
   * @param client The resuming client's subject and received count.
   * @returns The record with its new epoch, or `undefined`.
   */
  take(
    id: string,
    ttl: number,
    client: TakeCheck,
  ): Promise<SessionRecord | undefined> {
    const old = this.#records.get(id)?.record;
    if (old === undefined || !fits(old, client)) {
      return Promise.resolve(undefined);
    }
    const record = { ...old, owner: this.server, epoch: old.epoch + 1 };
    this.#set(record, ttl);
    return Promise.resolve(record);
  }

  /**
   * A fenced write.
   *
   * @param id The session id.
   * @param epoch The writer's epoch.
   * @param update The changes.
   * @param ttl Milliseconds it lives without a write.
   * @returns Whether the write was made.
   */
  update(
    id: string,
    epoch: number,
    update: SessionUpdate,
    ttl: number,
  ): Promise<boolean> {
    const old = this.#records.get(id)?.record ?? {
      id,
      subject: "",
      owner: this.server,
      epoch,
      received: 0,
      sent: 0,
      acked: 0,
      rooms: {},
    };
    if (old.epoch !== epoch) return Promise.resolve(false);
    this.#set({ ...old, ...update }, ttl);
    return Promise.resolve(true);
  }

  /**
   * Forgets an ended session.
   *
   * @param id The session id.
   * @param epoch Its owner's epoch.
   * @returns Once forgotten.
   */
  delete(id: string, epoch: number): Promise<void> {
    const entry = this.#records.get(id);
    if (entry?.record.epoch === epoch) {
      clearTimeout(entry.timer);
      this.#records.delete(id);
    }
    return Promise.resolve();
  }

  #set(record: SessionRecord, ttl: number): void {
    const records = this.#records;
    clearTimeout(records.get(record.id)?.timer);
    const timer = setTimeout(() => records.delete(record.id), ttl);
    Deno.unrefTimer(timer);
    records.set(record.id, { record, timer });
  }
}
