/**
 * Accepting a WebSocket handshake: checked, then upgraded with the
 * subprotocol, resume or the control channel it negotiated, and wrapped in
 * a {@linkcode Socket} that holds its principal. What `upgrade()` and
 * `route()` share. Internal.
 *
 * @module
 */

import { discardQueued, onTaken } from "./_socket_internals.ts";
import { recordRooms } from "./session/_session_rooms.ts";
import { checkHandshake, HandshakeError } from "./handshake.ts";
import { Socket, type SocketOptions } from "./socket.ts";
import { DEFAULT_HIGH_WATER_MARK } from "./_validate.ts";
import { withConfig } from "./_socket_config.ts";
import {
  defaultStore,
  type LocalSessions,
  ServerSession,
} from "./session/server.ts";
import { acceptProtocol, CONTROL_PROTOCOL } from "./session/wire.ts";
import type { Principal } from "./auth/principal.ts";
import type { Authenticator } from "./auth/_authenticator.ts";
import { SocketAuth } from "./auth/_socket_auth.ts";
import { ControlLink } from "./auth/_control_link.ts";
import { bearerMarker } from "./auth/_token.ts";
import type { CheckedUpgradeOptions, UpgradeResult } from "./upgrade.ts";
import type { CheckedResume } from "./session/options.ts";

/** A handshake's accepted authentication: the route's hook and its verdict. */
export interface Authenticated {
  authenticator: Authenticator;
  principal: Principal;
}

/**
 * {@linkcode upgrade} with options already checked, without authentication.
 *
 * @param request The incoming request.
 * @param options Options from {@linkcode checkUpgradeOptions}.
 * @returns The socket and the 101 response.
 * @throws {HandshakeError} When the handshake is refused.
 */
export function upgradeChecked(
  request: Request,
  options: CheckedUpgradeOptions,
  sessions: LocalSessions = defaultStore,
  admit?: () => boolean,
): UpgradeResult & { session?: ServerSession } {
  return acceptUpgrade(
    request,
    options,
    checkUpgrade(request, options),
    sessions,
    admit,
  );
}

/**
 * Checks a handshake and chooses the application's subprotocol.
 *
 * @param request The incoming request.
 * @param options Options from {@linkcode checkUpgradeOptions}.
 * @returns The application's subprotocol, `undefined` for none.
 * @throws {HandshakeError} When the handshake is refused.
 * @throws {TypeError} When `request` is not a `Request`.
 */
export function checkUpgrade(
  request: Request,
  options: CheckedUpgradeOptions,
): string | undefined {
  if (!(request instanceof Request)) {
    throw new TypeError("Invalid request: expected a Request");
  }
  return checkHandshake(request, options.allowedOrigins, options.protocols);
}

/**
 * Upgrades a checked handshake: negotiates resume or the control channel,
 * wraps the connection, and gives an authenticated socket its principal.
 *
 * @param request The incoming request, checked by {@linkcode checkUpgrade}.
 * @param options Options from {@linkcode checkUpgradeOptions}.
 * @param protocol The application's subprotocol.
 * @param sessions Where resumable sessions are found.
 * @param admit Asked before a new resumable session opens.
 * @param auth The handshake's authentication, when the route has one.
 * @returns The socket and the 101 response.
 * @throws {HandshakeError} When Deno refuses the upgrade.
 */
export function acceptUpgrade(
  request: Request,
  options: CheckedUpgradeOptions,
  protocol: string | undefined,
  sessions: LocalSessions = defaultStore,
  admit?: () => boolean,
  auth?: Authenticated,
): UpgradeResult & { session?: ServerSession } {
  const offered = request.headers.get("sec-websocket-protocol");
  const resume = options.resume;
  const echo = resume === undefined
    ? undefined
    : acceptProtocol(offered, protocol);
  // An authenticated connection without resume may still carry the
  // control channel (expiry, refresh in place), when its client offers it.
  const control = echo === undefined && auth !== undefined
    ? acceptProtocol(offered, protocol, CONTROL_PROTOCOL)
    : undefined;
  // A browser fails a handshake that offered subprotocols and got none: a
  // client that offered a token gets the marker (even from a route without
  // authenticate, which then ignores the token).
  const chosen = echo ?? control ?? protocol ?? bearerMarker(offered);
  let upgraded: { socket: WebSocket; response: Response };
  try {
    // The chosen protocol is set on the response here, not passed to Deno:
    // Deno looks for it in the offer split at ", " only, and refuses "a,b"
    // (what npm:ws sends), which HTTP allows.
    upgraded = Deno.upgradeWebSocket(request, {
      idleTimeout: options.idleTimeout,
    });
    if (chosen !== undefined) {
      upgraded.response.headers.set("sec-websocket-protocol", chosen);
    }
  } catch (error) {
    throw new HandshakeError(
      400,
      `Bad WebSocket handshake: ${
        error instanceof Error ? error.message : String(error)
      }`,
      {},
      { cause: error },
    );
  }
  if (echo !== undefined && resume !== undefined) {
    const { socket, session } = resumable(
      upgraded.socket,
      protocol ?? "",
      options,
      resume,
      sessions,
      admit,
    );
    authenticate(socket, request, auth, session);
    return {
      socket: socket as UpgradeResult["socket"],
      response: upgraded.response,
      session,
    };
  }
  const link = control === undefined
    ? undefined
    : new ControlLink(upgraded.socket, true);
  const socket = new Socket(
    (link as unknown as WebSocket | undefined) ?? upgraded.socket,
    withProtocol(options, protocol),
  );
  authenticate(socket, request, auth, link);
  return {
    socket: socket as UpgradeResult["socket"],
    response: upgraded.response,
  };
}

/** A route's socket options with each subprotocol it chose, made once. */
const protocolOptions = new WeakMap<
  SocketOptions,
  Map<string, SocketOptions>
>();

/**
 * The socket options with `protocol`, made once per protocol (one of the
 * route's own `protocols`), so that its sockets share their limits.
 *
 * @param options The route's checked options.
 * @param protocol The subprotocol chosen, or `undefined` for none.
 * @returns The route's socket options, with `protocol` when given.
 */
export function withProtocol(
  options: CheckedUpgradeOptions,
  protocol: string | undefined,
): SocketOptions {
  if (protocol === undefined) return options.socket;
  let made = protocolOptions.get(options.socket);
  if (made === undefined) {
    protocolOptions.set(options.socket, made = new Map());
  }
  let socketOptions = made.get(protocol);
  if (socketOptions === undefined) {
    socketOptions = withConfig({ ...options.socket, protocol });
    made.set(protocol, socketOptions);
  }
  return socketOptions;
}

/**
 * The Socket of a resumable session whose first connection is `ws` (a
 * WebSocket, or the fallback's stream): the connection goes to a
 * `ServerSession`, which a Socket wraps. The Socket asks the session before
 * every send (highWaterMark 1): the session applies the real one and holds
 * sends while maxUnacked is reached. A gap is no reason to give up on a send
 * (no sendTimeout).
 *
 * @param ws The connection, with the resume protocol negotiated.
 * @param protocol The application's subprotocol (`""` for none).
 * @param options The checked options.
 * @param resume The resume options.
 * @param sessions Where sessions are found by id.
 * @param admit Asked before a new session opens (the connection limit).
 * @returns The Socket and its session.
 */
export function resumable(
  ws: WebSocket,
  protocol: string,
  options: CheckedUpgradeOptions,
  resume: CheckedResume,
  sessions: LocalSessions,
  admit?: () => boolean,
): { socket: Socket; session: ServerSession } {
  const session = new ServerSession(
    ws,
    protocol,
    sessions,
    resume,
    options.socket.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    admit,
  );
  const socket = new Socket(session as unknown as WebSocket, {
    ...options.socket,
    highWaterMark: 1,
    sendTimeout: 0,
    protocol,
  });
  if (resume.store !== undefined) {
    onTaken(socket, () => session.taken());
    session.addEventListener("handoff", () => discardQueued(socket));
    recordRooms(socket, (room, position) => session.room(room, position));
  }
  return { socket, session };
}

/** Gives an accepted socket its authentication, if the handshake had one. */
export function authenticate(
  socket: Socket,
  request: Request,
  auth: Authenticated | undefined,
  port: ControlLink | ServerSession | undefined,
): void {
  if (auth === undefined) return;
  new SocketAuth(socket, auth.principal, auth.authenticator, request, port);
}
