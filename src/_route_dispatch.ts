/**
 * How `route()` sends each request where it belongs, and what it dispatches
 * by. Internal; `route.ts` builds the {@linkcode Routing}.
 *
 * @module
 */

import { asksForUpgrade } from "./handshake.ts";
import type { Transport } from "./message.ts";
import type { Socket } from "./socket.ts";
import type { EventStreamServer } from "./sse/server.ts";
import { plain } from "./_plain.ts";
import type { Connections } from "./_route_connections.ts";
import { serveClientScript } from "./_route_client_script.ts";
import type { RouteSessions } from "./_route_sessions.ts";
import type { CheckedUpgradeOptions } from "./upgrade.ts";
import { upgradeRequest } from "./_route_upgrade.ts";
import type { Authenticator } from "./auth/_authenticator.ts";
import type { RequestHandler } from "./route.ts";

/** What one route dispatches by. */
export interface Routing {
  path: string;
  /** `<path>/client.js` when the route serves the browser client. */
  scriptPath: string | undefined;
  fallback: RequestHandler;
  checked: CheckedUpgradeOptions;
  websocket: boolean;
  /** The fallback's server, when `transports` include `"sse"`. */
  sse: EventStreamServer | undefined;
  connections: Connections;
  /** The route's resumable sessions, open or waiting for their client. */
  sessions: RouteSessions;
  /** The route's authentication, when it has `authenticate`. */
  auth: Authenticator | undefined;
  /** Runs the handler for an accepted socket. */
  start: StartHandler;
}

/**
 * Runs the handler for an accepted socket (a resumable session's, once it
 * turns out new), and tells the route's observer of the connection.
 */
export type StartHandler = (
  socket: Socket,
  request: Request,
  transport?: Transport,
  session?: EventTarget,
) => void;

/**
 * Sends a request where it belongs: another path to `fallback` (or the
 * browser client), a WebSocket handshake to the upgrade, anything else on
 * the path to the fallback's server, or a 400 with a plain reason.
 */
export function dispatch(
  routing: Routing,
  request: Request,
  info?: Deno.ServeHandlerInfo,
): Response | Promise<Response> {
  const pathname = new URL(request.url).pathname;
  if (pathname !== routing.path) {
    if (pathname === routing.scriptPath) return serveClientScript(request);
    return info === undefined
      ? routing.fallback(request)
      : routing.fallback(request, info);
  }
  const sse = routing.sse;
  // With the fallback on, an Upgrade to something else (curl's h2c) is
  // ignored, as HTTP allows, rather than taken for a WebSocket handshake.
  if (
    request.headers.get("upgrade") === null ||
    (sse && !asksForUpgrade(request))
  ) {
    if (sse) {
      return sse.handle(request) ?? plain(
        400,
        "Bad request: this path accepts WebSocket connections, event streams (GET with Accept: text/event-stream) and POSTs to a session",
      );
    }
    return plain(
      400,
      "Bad request: this path only accepts WebSocket connections",
    );
  }
  if (!routing.websocket) {
    return plain(
      400,
      "Bad request: this path does not accept WebSocket upgrades; open an event stream (GET with Accept: text/event-stream)",
    );
  }
  return upgradeRequest(routing, request);
}
