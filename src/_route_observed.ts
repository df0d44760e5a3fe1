/**
 * What a route tells its observer of the handshakes it answers: which
 * requests on its path asked to open a connection, over which transport,
 * and the status of the answer. Internal.
 *
 * @module
 */

import { asksForUpgrade } from "./handshake.ts";
import type { Transport } from "./message.ts";
import { now, observeHandshake, type Observer } from "./observe.ts";
import { wantsEventStream } from "./sse/server.ts";

/** What a route's handshakes are told by. */
export interface RouteShape {
  /** The route's path. */
  readonly path: string;
  /** The fallback's server, `undefined` when the fallback is off. */
  readonly sse: unknown;
}

/** A handshake a request asks for: the route, transport and start time. */
export interface Asked {
  readonly route: string;
  readonly transport: Transport;
  readonly startTime: number;
}

/**
 * The handshake a request asks the route for, read before the route
 * answers (Deno lets no header of an upgraded request be read). As the
 * route dispatches: an `Upgrade` header on its path is a WebSocket
 * handshake (with the fallback on, only `Upgrade: websocket` with
 * `Connection: upgrade`), a GET accepting `text/event-stream` opens the
 * fallback; other paths, POSTs of the fallback and plain GETs ask for none.
 *
 * @param route The route's path and fallback.
 * @param request The request.
 * @returns What it asks for, or `undefined`.
 */
export function handshakeAsked(
  route: RouteShape,
  request: Request,
): Asked | undefined {
  if (new URL(request.url).pathname !== route.path) return undefined;
  const sse = route.sse !== undefined;
  const transport: Transport | undefined =
    request.headers.get("upgrade") !== null && (!sse || asksForUpgrade(request))
      ? "websocket"
      : sse && wantsEventStream(request)
      ? "sse"
      : undefined;
  return transport && { route: route.path, transport, startTime: now() };
}

/**
 * Tells `observer` of a handshake the route answered.
 *
 * @param observer The route's observer.
 * @param request The request.
 * @param asked What {@linkcode handshakeAsked} read from it.
 * @param response The route's answer.
 */
export function reportHandshake(
  observer: Observer,
  request: Request,
  asked: Asked,
  response: Response | Promise<Response>,
): void {
  const report = (answer: Response) =>
    observeHandshake(observer, { request, ...asked, status: answer.status });
  // An authenticated route answers once `authenticate` has decided.
  if (response instanceof Response) report(response);
  else response.then(report, () => {});
}
