/**
 * `route()`: a `Deno.serve` handler that serves WebSockets on one path, the
 * analog of ASP.NET Core's `UseWebSockets` middleware.
 *
 * @module
 */

import { checkTransports, type Transport } from "./message.ts";
import type { Socket } from "./socket.ts";
import { EventStreamServer } from "./sse/server.ts";
import { PostRelay } from "./sse/_relay.ts";
import { nonNegative, optionalSignal, positiveInteger } from "./_validate.ts";
import { Connections } from "./_route_connections.ts";
import { RouteSessions } from "./_route_sessions.ts";
import { handshakeAsked, reportHandshake } from "./_route_observed.ts";
import { checkUpgradeOptions, type UpgradeOptions } from "./upgrade.ts";
import {
  dispatch,
  type Routing,
  type StartHandler,
} from "./_route_dispatch.ts";
import type { Principal } from "./auth/principal.ts";
import { Authenticator, logAuthError } from "./auth/_authenticator.ts";
import { redactRequest } from "./auth/_token.ts";
import { notFound } from "./_plain.ts";

/**
 * Runs once per accepted connection, with the socket and the request that
 * opened it. The connection lives until either side closes it; returning does
 * not close it. A throw (or a rejection) closes it with 1011.
 *
 * On a route with `authenticate`, `socket.principal` is what it returned
 * (typed `P`), and the request's URL has no `access_token` parameter.
 *
 * @typeParam P The principal the route's `authenticate` returns.
 *
 * @example A handler that greets and echoes
 * ```ts
 * import type { SocketHandler } from "@switchboard/switchboard";
 *
 * const handler: SocketHandler = async (socket, request) => {
 *   await socket.send(`hello from ${new URL(request.url).pathname}`);
 *   for await (const msg of socket) await socket.send(msg.data);
 * };
 * console.log(typeof handler);
 * ```
 */
export type SocketHandler<P extends Principal = Principal> = (
  socket: Socket & { readonly principal: P },
  request: Request,
) => void | Promise<void>;

/**
 * A request handler as `Deno.serve` takes it; `info` may be left out.
 *
 * @example Calling a route directly
 * ```ts
 * import { route, type RequestHandler } from "@switchboard/switchboard";
 *
 * const handler: RequestHandler = route("/ws", () => {});
 * console.log((await handler(new Request("http://localhost/"))).status); // 404
 * ```
 */
export type RequestHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

/**
 * Options for {@linkcode route}: the {@linkcode UpgradeOptions} plus what to
 * do with other paths and handler errors, server-level limits and shutdown.
 * The `signal` option here shuts the whole route down (see
 * {@linkcode Route.shutdown}).
 *
 * @typeParam P The principal `authenticate` returns.
 *
 * @example Serving a page beside the socket, with limits
 * ```ts
 * import type { RouteOptions } from "@switchboard/switchboard";
 *
 * const options: RouteOptions = {
 *   fallback: () => new Response("<h1>hello</h1>", {
 *     headers: { "content-type": "text/html" },
 *   }),
 *   onError: (error) => console.error("handler failed", error),
 *   maxConnections: 10_000,
 *   maxMessagesPerSecond: 100,
 * };
 * console.log(options.maxConnections);
 * ```
 */
export interface RouteOptions<P extends Principal = Principal>
  extends UpgradeOptions<P> {
  /**
   * Answers requests for other paths.
   *
   * @default {a 404 Not Found}
   */
  fallback?: RequestHandler;
  /**
   * Called when the handler throws or rejects; the socket has been closed
   * with 1011 by then. A `SocketClosedError` or `RpcClosedError` thrown
   * once the handler's own socket is closing or closed is a normal end (the
   * peer left during a `send()` or a call): it is not reported and the close
   * code stays the peer's. Also called when `authenticate` throws (the
   * handshake got 500; a refresh in place closed with 1011), and once when
   * it read the Cookie header of a browser's request on a route without
   * `allowedOrigins` (refused with 403). The request's URL never holds an
   * `access_token` parameter.
   *
   * @default {logs the error's stack as text with console.error (for
   * authentication, with the method and URL)}
   */
  onError?: (error: unknown, request: Request) => void;
  /**
   * Open connections at most; past it a handshake gets 503 with
   * `Retry-After: 1`.
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Messages a connection may send per second (counted in one-second
   * windows); past it the socket closes with 1008 "Message rate limit
   * exceeded".
   *
   * @default {Infinity}
   */
  maxMessagesPerSecond?: number;
  /**
   * Milliseconds {@linkcode Route.shutdown} waits for handlers to finish and
   * sockets to close (and sessions in a shared store to be handed off).
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * How clients may connect on `path`. `"websocket"` is the WebSocket
   * upgrade; `"sse"` adds the fallback for networks that break upgrades: a
   * GET with `Accept: text/event-stream` opens a Server-Sent Events stream
   * (server to client) and POSTs to `path?session=<id>` carry the client's
   * messages. The handler gets the same {@linkcode Socket} either way; the
   * limits, origin checks and `maxMessageSize` (413 on a POST, then 1009)
   * apply to both. See the README's "Fallback transport" section.
   *
   * @default {["websocket"]}
   */
  transports?: readonly Transport[];
  /**
   * Serves the browser build of the reconnecting client (`./client`, with
   * both transports) at `<path>/client.js` as a JavaScript module, with an
   * `ETag` and `Cache-Control`, so a page can
   * `import { connect } from "/ws/client.js"` without a build step. The
   * file ships in the package.
   *
   * @default {false}
   */
  clientScript?: boolean;
}

/**
 * Counters for a health endpoint, from {@linkcode Route.stats}.
 *
 * @example Serving the stats as JSON
 * ```ts
 * import { route } from "@switchboard/switchboard";
 *
 * const ws = route("/ws", () => {});
 * const body = JSON.stringify(ws.stats());
 * console.log(body);
 * ```
 */
export interface RouteStats {
  /** Connections open now (including those still opening). */
  readonly connections: number;
  /** Connections accepted since the route was made. */
  readonly accepted: number;
  /** Handshakes refused with 503 (connection limit or shutting down). */
  readonly refused: number;
  /** Messages received, over all connections. */
  readonly messagesIn: number;
  /** Messages sent, over all connections. */
  readonly messagesOut: number;
  /** Closed connections by close code. */
  readonly closes: Readonly<Record<string, number>>;
}

/**
 * What {@linkcode route} returns: a `Deno.serve` handler with statistics and
 * a graceful shutdown.
 *
 * @example Shutting down on SIGTERM
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 *
 * const ws = route("/ws", async (socket) => {
 *   for await (const msg of socket) await socket.send(msg.data);
 * });
 * const server = Deno.serve(ws);
 * Deno.addSignalListener("SIGTERM", async () => {
 *   await ws.shutdown();
 *   await server.shutdown();
 * });
 * ```
 */
export interface Route {
  /**
   * Handles one request, as `Deno.serve` calls it.
   *
   * @param request The request.
   * @param info Connection info from `Deno.serve`, if any.
   * @returns The response.
   */
  (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | Promise<Response>;
  /**
   * Stops accepting (new handshakes get 503), closes every socket with 1001
   * "Server shutting down", and resolves once the handlers have finished and
   * the sockets have closed, or `shutdownTimeout` has passed. Calling it again
   * returns the same promise. With `resume.store`, a resumable session is
   * handed off instead of ended: once its handler is done with what it
   * received (at most half of `shutdownTimeout`), its state is stored and
   * its connection closed with 1012 "Server shutting down", and its client
   * resumes it on another server.
   *
   * @returns A promise that resolves when the route is down.
   */
  shutdown(): Promise<void>;
  /**
   * Counters for a health endpoint.
   *
   * @returns A snapshot of the counters.
   */
  stats(): RouteStats;
}

/**
 * Makes a `Deno.serve` handler that runs `handler` for each WebSocket opened
 * on `path`. Other requests on `path` get 400 with a plain reason; a refused
 * handshake gets its {@linkcode HandshakeError} response (400, 403, 426);
 * other paths go to `fallback`. A handler that throws closes its socket with
 * 1011, is reported to `onError`, and the server keeps serving.
 *
 * With `authenticate`, each handshake (and each fallback stream) is
 * decided by it before the upgrade: refused with its `Response`, 401 for
 * `undefined`, 500 when it throws; the handler's `socket.principal` is what
 * it returned. See docs/auth.md.
 *
 * @typeParam P The principal `authenticate` returns.
 * @param path The exact path to serve WebSockets on, such as `"/ws"`.
 * @param handler Runs once per connection.
 * @param options Upgrade options, a fallback handler, an error reporter,
 * limits and shutdown.
 * @returns A handler for `Deno.serve`, with `shutdown()` and `stats()`.
 * @throws {TypeError} When `path` does not start with `/`, `handler` is not a
 * function, or an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example An echo server on /ws
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 *
 * Deno.serve(route("/ws", async (socket) => {
 *   for await (const msg of socket) await socket.send(msg.data);
 * }));
 * ```
 *
 * @example Who is on the other end
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 *
 * interface User {
 *   sub: string;
 *   name: string;
 *   expiresAt: number;
 * }
 * declare function verify(token: string): Promise<User | undefined>;
 *
 * Deno.serve(route<User>("/ws", async (socket) => {
 *   await socket.send(`hello ${socket.principal.name}`);
 *   for await (const msg of socket) await socket.send(msg.data);
 * }, {
 *   authenticate: (_request, { token }) =>
 *     token === undefined ? undefined : verify(token),
 * }));
 * ```
 */
export function route<P extends Principal = Principal>(
  path: string,
  handler: SocketHandler<P>,
  options: RouteOptions<P> = {},
): Route {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new TypeError(`Invalid path: expected a path starting with "/"`);
  }
  if (typeof handler !== "function") {
    throw new TypeError("Invalid handler: expected a function");
  }
  const {
    fallback = notFound,
    onError = logError,
    maxConnections = Infinity,
    maxMessagesPerSecond = Infinity,
    shutdownTimeout = 10_000,
    transports = ["websocket"],
    clientScript = false,
    signal,
    ...upgradeOptions
  } = options;
  if (typeof fallback !== "function") {
    throw new TypeError("Invalid fallback: expected a function");
  }
  if (typeof onError !== "function") {
    throw new TypeError("Invalid onError: expected a function");
  }
  if (typeof clientScript !== "boolean") {
    throw new TypeError(
      `Invalid clientScript: expected a boolean, got ${typeof clientScript}`,
    );
  }
  limit("maxConnections", maxConnections);
  limit("maxMessagesPerSecond", maxMessagesPerSecond);
  nonNegative("shutdownTimeout", shutdownTimeout);
  optionalSignal(signal);
  const checked = checkUpgradeOptions(upgradeOptions as UpgradeOptions);
  const enabled = checkTransports(transports);
  const auth = checked.authenticate === undefined
    ? undefined
    : new Authenticator(
      checked.authenticate,
      checked.allowedOrigins,
      options.onError ?? logAuthError,
    );
  const connections = new Connections({
    handler: handler as unknown as ConnectionsHandler,
    onError,
    maxConnections,
    maxMessagesPerSecond,
    shutdownTimeout,
    path,
    observe: checked.observe,
    handOff: (socket: Socket, timeout: number): Promise<void> | undefined =>
      sessions.handOff(socket, timeout),
  });
  // The handler of an authenticated route never sees the token in the URL.
  const start: StartHandler = auth === undefined
    ? (socket, request, transport, session) =>
      connections.start(socket, request, transport, session)
    : (socket, request, transport, session) =>
      connections.start(socket, redactRequest(request), transport, session);
  const sessions: RouteSessions = new RouteSessions(
    connections,
    checked,
    start,
    auth,
  );
  const sse = enabled.includes("sse")
    ? new EventStreamServer({
      checked,
      admit: (resume) => sessions.admit(resume),
      start: (socket, request) => start(socket, request, "sse"),
      ...checked.resume && {
        resume: (connection, protocol, request, principal) =>
          sessions.stream(connection, protocol, request, principal),
      },
      ...(auth === undefined ? {} : { authenticator: auth }),
      ...(PostRelay.can(checked.resume?.store) &&
        { relay: new PostRelay(checked.resume.store, path) }),
    })
    : undefined;
  const routing: Routing = {
    path,
    scriptPath: clientScript
      ? `${path.endsWith("/") ? path : `${path}/`}client.js`
      : undefined,
    fallback,
    checked,
    websocket: enabled.includes("websocket"),
    sse,
    connections,
    sessions,
    auth,
    start,
  };
  const shutdown = (): Promise<void> => connections.shutdown();
  if (signal?.aborted) void shutdown();
  else signal?.addEventListener("abort", () => void shutdown(), { once: true });
  const observer = checked.observe;
  const handle = observer === undefined
    ? (request: Request, info?: Deno.ServeHandlerInfo) =>
      dispatch(routing, request, info)
    : (request: Request, info?: Deno.ServeHandlerInfo) => {
      const asked = handshakeAsked(routing, request);
      const response = dispatch(routing, request, info);
      if (asked) reportHandshake(observer, request, asked, response);
      return response;
    };
  return Object.assign(handle, {
    shutdown,
    stats: (): RouteStats => connections.stats(),
  });
}

/** The handler as the route's bookkeeping calls it. */
type ConnectionsHandler = (
  socket: Socket,
  request: Request,
) => void | Promise<void>;

function limit(name: string, value: unknown): void {
  if (value !== Infinity) positiveInteger(name, value);
}

/**
 * Logs a handler's error as text: an error object handed to the console can
 * stay reachable from it, and with it whatever its stack still points at.
 */
function logError(error: unknown): void {
  console.error(
    `Switchboard: the WebSocket handler failed: ${describe(error)}`,
  );
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.stack ?? `${error.name}: ${error.message}`;
  }
  return String(error);
}
