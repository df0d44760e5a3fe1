/**
 * The WebSocket side of `route()`: a handshake admitted within the limits,
 * checked, authenticated and upgraded, and its handler started. Internal;
 * `route.ts` dispatches to it.
 *
 * @module
 */

import { HandshakeError } from "./handshake.ts";
import type { Routing } from "./route.ts";
import { RESUME_PROTOCOL } from "./session/wire.ts";
import { acceptUpgrade, type Authenticated, checkUpgrade } from "./_accept.ts";

/**
 * Accepts a WebSocket handshake (within the limits, after `authenticate`)
 * and runs the handler.
 */
export function upgradeRequest(
  routing: Routing,
  request: Request,
): Response | Promise<Response> {
  const refused = admit(routing, request);
  if (refused) return refused;
  let protocol: string | undefined;
  try {
    protocol = checkUpgrade(request, routing.checked);
  } catch (error) {
    if (error instanceof HandshakeError) return error.response;
    throw error;
  }
  const auth = routing.auth;
  if (auth === undefined) return accept(routing, request, protocol);
  return auth.check(request).then((outcome) => {
    if (outcome instanceof Response) return outcome;
    // The limits again: connections may have opened while it ran.
    return admit(routing, request) ??
      accept(routing, request, protocol, {
        authenticator: auth,
        principal: outcome,
      });
  });
}

/** The 503 that refuses a handshake at the connection limit, if any. */
function admit(routing: Routing, request: Request): Response | undefined {
  const connections = routing.connections;
  const refused = connections.admit();
  // At the connection limit a resume may still come back to its waiting
  // session (which holds its place): a new session is refused (1013) once
  // its first message shows it is new.
  if (refused && !(offersResume(routing, request) && !connections.stopping)) {
    return refused;
  }
  return undefined;
}

/** Upgrades a checked (and authenticated) handshake; runs the handler. */
function accept(
  routing: Routing,
  request: Request,
  protocol: string | undefined,
  auth?: Authenticated,
): Response {
  let upgraded: ReturnType<typeof acceptUpgrade>;
  try {
    upgraded = acceptUpgrade(
      request,
      routing.checked,
      protocol,
      routing.sessions,
      routing.admitSession,
      auth,
    );
  } catch (error) {
    if (error instanceof HandshakeError) return error.response;
    throw error;
  }
  const { socket, response, session } = upgraded;
  if (session === undefined) routing.start(socket, request);
  else {
    // The handler runs once the session turns out new; a connection that
    // resumes another session never opens this one.
    session.addEventListener(
      "open",
      () => routing.start(socket, request),
      { once: true },
    );
  }
  return response;
}

/** Whether a handshake offers a resumable session the route accepts. */
function offersResume(routing: Routing, request: Request): boolean {
  return routing.checked.resume !== undefined &&
    (request.headers.get("sec-websocket-protocol") ?? "").includes(
      RESUME_PROTOCOL,
    );
}
