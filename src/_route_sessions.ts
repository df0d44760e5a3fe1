/**
 * The resumable sessions of one route (its `resume` option): the store they
 * are found in, the admission of connections that offer one, and the
 * handler, run once a session turns out new. Internal; `route.ts`
 * dispatches WebSocket handshakes and the fallback's streams to it.
 *
 * @module
 */

import type { Connections } from "./_route_connections.ts";
import type { Socket } from "./socket.ts";
import { LocalSessions, type ServerSession } from "./session/server.ts";
import { RESUME_PROTOCOL } from "./session/wire.ts";
import type { CheckedUpgradeOptions } from "./upgrade.ts";
import type { Transport } from "./message.ts";
import type { StartHandler } from "./_route_dispatch.ts";
import { authenticate, resumable } from "./_accept.ts";
import type { Authenticator } from "./auth/_authenticator.ts";
import type { Principal } from "./auth/principal.ts";

/** A route's resumable sessions, open or waiting for their client. */
export class RouteSessions {
  readonly store: LocalSessions = new LocalSessions();
  readonly #connections: Connections;
  readonly #checked: CheckedUpgradeOptions;
  readonly #start: StartHandler;
  readonly #auth: Authenticator | undefined;
  /** The sessions of the open sockets, with a shared store (hand-offs). */
  readonly #sessions = new WeakMap<Socket, ServerSession>();

  /**
   * @param connections The route's connections and limits.
   * @param checked The route's checked options.
   * @param start Runs the route's handler for a new session's Socket.
   * @param auth The route's authentication, when it has `authenticate`.
   */
  constructor(
    connections: Connections,
    checked: CheckedUpgradeOptions,
    start: StartHandler,
    auth: Authenticator | undefined,
  ) {
    this.#connections = connections;
    this.#checked = checked;
    this.#start = start;
    this.#auth = auth;
  }

  /**
   * Whether a WebSocket handshake offers a resumable session the route
   * accepts.
   *
   * @param request The handshake.
   * @returns Whether it does.
   */
  offered(request: Request): boolean {
    return this.#checked.resume !== undefined &&
      (request.headers.get("sec-websocket-protocol") ?? "").includes(
        RESUME_PROTOCOL,
      );
  }

  /**
   * Whether a new connection may open. At the limit, one that offers a
   * resumable session may still come back to its waiting session (which
   * holds its place); it is refused (1013) once it turns out to ask for a
   * new session.
   *
   * @param resume Whether it offers a resumable session.
   * @returns `undefined`, or the 503 that refuses it.
   */
  admit(resume: boolean): Response | undefined {
    const connections = this.#connections;
    return resume
      ? connections.admitResume(this.store.waiting)
      : connections.admit();
  }

  /**
   * Whether a held connection may open a new session: it no longer counts
   * as held, and must fit under the limit as a session.
   *
   * @param held Ends the connection's count as held.
   * @returns The check, for the session to call.
   */
  admitNew(held: () => void): () => boolean {
    return () => {
      held();
      return this.#connections.admit() === undefined;
    };
  }

  /**
   * Runs the handler once a resumable session turns out new; a connection
   * that resumes another session never opens this one. The connection
   * counts toward the limit until then (`held`).
   *
   * @param socket The session's Socket.
   * @param session The session.
   * @param request The request that opened its first connection.
   * @param held Ends the connection's count as held.
   * @param transport The transport of its first connection.
   */
  startWhenNew(
    socket: Socket,
    session: ServerSession,
    request: Request,
    held: () => void,
    transport: Transport,
  ): void {
    session.addEventListener("open", () => {
      held();
      if (this.#checked.resume?.store) this.#sessions.set(socket, session);
      this.#start(socket, request, transport, session);
    }, { once: true });
    session.addEventListener("close", held, { once: true });
  }

  /**
   * Hands the session of one of the route's sockets off to another server
   * (a graceful shutdown with a shared store): the handler gets half of
   * `timeout` to finish what it received, the store write the rest.
   *
   * @param socket An open socket of the route.
   * @param timeout The route's `shutdownTimeout`, in ms.
   * @returns The promise of the session's end, or `undefined` when the
   * socket has no session to hand off (close it as usual).
   */
  handOff(socket: Socket, timeout: number): Promise<void> | undefined {
    return this.#sessions.get(socket)?.handOff(
      timeout / 2,
      Date.now() + timeout,
    );
  }

  /**
   * Takes a fallback stream that negotiated a resumable session as a
   * connection of one: a new session, or one that resumes.
   *
   * @param connection The stream, shaped like a WebSocket.
   * @param protocol The application's subprotocol (`""` for none).
   * @param request The stream's request.
   * @param principal What `authenticate` returned, on a route with it.
   */
  stream(
    connection: WebSocket,
    protocol: string,
    request: Request,
    principal: Principal | undefined,
  ): void {
    const held = this.#connections.hold();
    const { socket, session } = resumable(
      connection,
      protocol,
      this.#checked,
      this.#checked.resume!,
      this.store,
      this.admitNew(held),
    );
    const authenticator = this.#auth;
    if (authenticator !== undefined && principal !== undefined) {
      authenticate(socket, request, { authenticator, principal }, session);
    }
    this.startWhenNew(socket, session, request, held, "sse");
  }
}
