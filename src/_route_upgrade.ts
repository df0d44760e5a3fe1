/**
 * The WebSocket side of `route()`: a handshake admitted within the limits,
 * checked, authenticated and upgraded, and its handler started. Internal;
 * `route.ts` dispatches to it.
 *
 * @module
 */

import { HandshakeError } from "./handshake.ts";
import type { Routing } from "./_route_dispatch.ts";
import { acceptUpgrade, type Authenticated, checkUpgrade } from "./_accept.ts";

/**
 * Accepts a WebSocket handshake (within the limits, after `authenticate`)
 * and runs the handler.
 */
export function upgradeRequest(
  routing: Routing,
  request: Request,
): Response | Promise<Response> {
  const sessions = routing.sessions;
  const resume = sessions.offered(request);
  const refused = sessions.admit(resume);
  if (refused) return refused;
  let protocol: string | undefined;
  try {
    protocol = checkUpgrade(request, routing.checked);
  } catch (error) {
    if (error instanceof HandshakeError) return error.response;
    throw error;
  }
  const auth = routing.auth;
  if (auth === undefined) return accept(routing, request, protocol, resume);
  return auth.check(request).then((outcome) => {
    if (outcome instanceof Response) return outcome;
    // The limits again: connections may have opened while it ran.
    return sessions.admit(resume) ??
      accept(routing, request, protocol, resume, {
        authenticator: auth,
        principal: outcome,
      });
  });
}

/** Upgrades a checked (and authenticated) handshake; runs the handler. */
function accept(
  routing: Routing,
  request: Request,
  protocol: string | undefined,
  resume: boolean,
  auth?: Authenticated,
): Response {
  const sessions = routing.sessions;
  // Until it says which session it wants, it counts toward the limit.
  const held = resume ? routing.connections.hold() : undefined;
  let upgraded: ReturnType<typeof acceptUpgrade>;
  try {
    upgraded = acceptUpgrade(
      request,
      routing.checked,
      protocol,
      sessions.store,
      held && sessions.admitNew(held),
      auth,
    );
  } catch (error) {
    held?.();
    if (error instanceof HandshakeError) return error.response;
    throw error;
  }
  const { socket, response, session } = upgraded;
  if (session === undefined) {
    held?.();
    routing.start(socket, request);
  } else sessions.startWhenNew(socket, session, request, held!, "websocket");
  return response;
}
