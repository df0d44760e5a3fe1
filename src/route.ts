/**
 * `route()`: a `Deno.serve` handler that serves WebSockets on one path, the
 * analog of ASP.NET Core's `UseWebSockets` middleware.
 *
 * @module
 */

import {
  asksForUpgrade,
  checkOrigin,
  chooseProtocol,
  HandshakeError,
} from "./handshake.ts";
import { checkTransports, type Transport } from "./message.ts";
import {
  closeSocket,
  messageCounts,
  setInboundLimit,
  Socket,
  SocketClosedError,
  watchClose,
} from "./socket.ts";
import {
  EventStreamConnection,
  plain,
  postedSession,
  readBody,
  Sessions,
  wantsEventStream,
} from "./sse/server.ts";
import { PROTOCOLS_PARAM } from "./sse/wire.ts";
import { nonNegative, optionalSignal, positiveInteger } from "./_validate.ts";
import {
  checkUpgradeOptions,
  upgradeChecked,
  type UpgradeOptions,
} from "./upgrade.ts";

/**
 * Runs once per accepted connection, with the socket and the request that
 * opened it. The connection lives until either side closes it; returning does
 * not close it. A throw (or a rejection) closes it with 1011.
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
export type SocketHandler = (
  socket: Socket,
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
export interface RouteOptions extends UpgradeOptions {
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
   * code stays the peer's.
   *
   * @default {logs the error's stack as text with console.error}
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
   * sockets to close.
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
   * returns the same promise.
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
 */
export function route(
  path: string,
  handler: SocketHandler,
  options: RouteOptions = {},
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
  const scriptPath = clientScript
    ? `${path.endsWith("/") ? path : `${path}/`}client.js`
    : undefined;
  limit("maxConnections", maxConnections);
  limit("maxMessagesPerSecond", maxMessagesPerSecond);
  nonNegative("shutdownTimeout", shutdownTimeout);
  optionalSignal(signal);
  const checked = checkUpgradeOptions(upgradeOptions);
  const enabled = checkTransports(transports);
  const websocket = enabled.includes("websocket");
  const sse = enabled.includes("sse");
  /** Open fallback sessions by id. */
  const keepAliveMs = checked.idleTimeout * 500;
  const sessions = new Sessions(keepAliveMs);
  const maxMessageSize = checked.socket.maxMessageSize ?? 16 * 1024 * 1024;
  // Room for one largest message as it travels (text JSON-escaped, at worst
  // 6 bytes per byte; binary in base64) beside a full batch of others.
  const postLimit = 6 * maxMessageSize + 2 * 65_536;

  const sockets = new Set<Socket>();
  /** Handlers still running, and who waits for them to reach none. */
  let active = 0;
  let drained: (() => void) | undefined;
  const closes: Record<string, number> = {};
  let accepted = 0;
  let refused = 0;
  let closedIn = 0;
  let closedOut = 0;
  let rateTimer: ReturnType<typeof setInterval> | undefined;
  let stopping: Promise<void> | undefined;

  function fail(socket: Socket, request: Request, error: unknown): void {
    if (endedWith(socket, error)) return;
    closeSocket(socket, 1011, "Internal server error");
    try {
      onError(error, request);
    } catch (reportError) {
      console.error("Switchboard: onError threw", reportError);
    }
  }

  function track(socket: Socket): void {
    sockets.add(socket);
    accepted++;
    if (maxMessagesPerSecond !== Infinity) {
      setInboundLimit(socket, maxMessagesPerSecond);
      // One timer for all connections moves every window forward.
      rateTimer ??= setInterval(() => {
        for (const open of sockets) {
          setInboundLimit(
            open,
            messageCounts(open).charged + maxMessagesPerSecond,
          );
        }
      }, 1000);
    }
    watchClose(socket, (info) => {
      sockets.delete(socket);
      const counts = messageCounts(socket);
      closedIn += counts.in;
      closedOut += counts.out;
      closes[info.code] = (closes[info.code] ?? 0) + 1;
      if (sockets.size === 0 && rateTimer !== undefined) {
        clearInterval(rateTimer);
        rateTimer = undefined;
      }
    });
  }

  // Shared by every connection: no closure per connection for the success path.
  function handlerDone(): void {
    if (--active === 0) drained?.();
  }

  function unavailable(reason: string): Response {
    refused++;
    return new Response(`Service unavailable: ${reason}\n`, {
      status: 503,
      headers: { "content-type": "text/plain", "retry-after": "1" },
    });
  }

  function shutdown(): Promise<void> {
    stopping ??= (async () => {
      for (const socket of sockets) {
        closeSocket(socket, 1001, "Server shutting down");
      }
      const handlers = active === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => drained = resolve);
      const finished = Promise.allSettled([
        handlers,
        ...[...sockets].map((socket) => socket.closed),
      ]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, shutdownTimeout);
      });
      await Promise.race([finished, deadline]);
      clearTimeout(timer);
    })();
    return stopping;
  }

  if (signal?.aborted) void shutdown();
  else signal?.addEventListener("abort", () => void shutdown(), { once: true });

  function stats(): RouteStats {
    let messagesIn = closedIn;
    let messagesOut = closedOut;
    for (const socket of sockets) {
      const counts = messageCounts(socket);
      messagesIn += counts.in;
      messagesOut += counts.out;
    }
    return {
      connections: sockets.size,
      accepted,
      refused,
      messagesIn,
      messagesOut,
      closes: { ...closes },
    };
  }

  function handle(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | Promise<Response> {
    const pathname = new URL(request.url).pathname;
    if (pathname !== path) {
      if (pathname === scriptPath) return serveClientScript(request);
      return info === undefined ? fallback(request) : fallback(request, info);
    }
    // With the fallback on, an Upgrade to something else (curl's h2c) is
    // ignored, as HTTP allows, rather than taken for a WebSocket handshake.
    if (
      request.headers.get("upgrade") === null ||
      (sse && !asksForUpgrade(request))
    ) {
      if (sse) {
        if (wantsEventStream(request)) return openStream(request);
        const id = postedSession(request);
        if (id !== undefined) return receive(request, id);
        return plain(
          400,
          "Bad request: this path accepts WebSocket connections, event streams (GET with Accept: text/event-stream) and POSTs to a session",
        );
      }
      return plain(
        400,
        "Bad request: this path only accepts WebSocket connections",
      );
    }
    if (!websocket) {
      return plain(
        400,
        "Bad request: this path does not accept WebSocket upgrades; open an event stream (GET with Accept: text/event-stream)",
      );
    }
    const refused = refusal();
    if (refused) return refused;
    let socket: Socket;
    let response: Response;
    try {
      ({ socket, response } = upgradeChecked(request, checked));
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
    start(socket, request);
    return response;
  }

  function start(socket: Socket, request: Request): void {
    track(socket);
    try {
      const result = handler(socket, request);
      if (result instanceof Promise) {
        active++;
        result.then(handlerDone, (error) => {
          fail(socket, request, error);
          handlerDone();
        });
      }
    } catch (error) {
      fail(socket, request, error);
    }
  }

  function refusal(): Response | undefined {
    if (stopping) return unavailable("the server is shutting down");
    if (sockets.size >= maxConnections) {
      return unavailable(
        `the limit of ${maxConnections} connections is reached`,
      );
    }
    return undefined;
  }

  /** The 403 for a fallback request from an origin that is not allowed. */
  function forbidden(request: Request): Response | undefined {
    try {
      checkOrigin(request, checked.allowedOrigins);
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
    return undefined;
  }

  function openStream(request: Request): Response {
    const refused = refusal() ?? forbidden(request);
    if (refused) return refused;
    const protocol = chooseProtocol(
      new URL(request.url).searchParams.get(PROTOCOLS_PARAM),
      checked.protocols,
    );
    const connection = new EventStreamConnection(
      protocol ?? "",
      sessions,
      keepAliveMs,
      request.headers.get("origin"),
    );
    const socket = new Socket(
      connection as unknown as WebSocket,
      protocol === undefined ? checked.socket : { ...checked.socket, protocol },
    );
    connection.socket = socket;
    sessions.add(connection);
    start(socket, request);
    return connection.respond();
  }

  async function receive(request: Request, id: string): Promise<Response> {
    const refused = forbidden(request);
    if (refused) return refused;
    const connection = sessions.get(id);
    if (connection === undefined) {
      return plain(404, "Not found: no open session has this id");
    }
    // The session's secret and origin, before a byte of the body is read.
    const unauthorized = connection.authorize(request);
    if (unauthorized) return unauthorized;
    let body: Awaited<ReturnType<typeof readBody>>;
    connection.receiving++;
    try {
      body = await readBody(request, postLimit);
    } catch {
      return plain(400, "Bad request: the body could not be read");
    } finally {
      connection.receiving--;
    }
    if (body === "not UTF-8") {
      connection.fail(1007, "A message batch is not UTF-8");
      return plain(400, "Bad request: the body is not UTF-8");
    }
    if (body === "too large") {
      connection.fail(1009, `Message batch over ${postLimit} bytes`);
      return plain(
        413,
        `Payload too large: a message batch may hold at most ${postLimit} bytes`,
      );
    }
    return connection.receive(body.text, maxMessageSize);
  }

  return Object.assign(handle, { shutdown, stats });
}

function limit(name: string, value: unknown): void {
  if (value !== Infinity) positiveInteger(name, value);
}

let clientScriptFile: Promise<{ body: string; etag: string }> | undefined;

/** Answers `GET <path>/client.js` with the bundled browser client. */
async function serveClientScript(request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed: use GET\n", {
      status: 405,
      headers: { "content-type": "text/plain", allow: "GET, HEAD" },
    });
  }
  clientScriptFile ??= import("./_client_bundle.ts").then(
    async ({ CLIENT_SCRIPT }) => {
      const digest = await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(CLIENT_SCRIPT),
      );
      const hex = Array.from(
        new Uint8Array(digest).subarray(0, 16),
        (byte) => byte.toString(16).padStart(2, "0"),
      ).join("");
      return { body: CLIENT_SCRIPT, etag: `"${hex}"` };
    },
  );
  const { body, etag } = await clientScriptFile;
  const headers = {
    "content-type": "text/javascript; charset=utf-8",
    etag,
    "cache-control": "public, max-age=3600, must-revalidate",
  };
  const tags = request.headers.get("if-none-match");
  if (tags !== null && tags.split(",").some((tag) => tag.trim() === etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(request.method === "HEAD" ? null : body, { headers });
}

function notFound(): Response {
  return new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain" },
  });
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

/**
 * Whether `error` is only the handler's own socket having closed: a
 * `SocketClosedError` from its `send()` or an `RpcClosedError` from a call
 * over it, raised once that socket is closing or closed. That is how a push loop or a pending call ends when the peer leaves, not a
 * failure.
 */
function endedWith(socket: Socket, error: unknown): boolean {
  return socket.readyState >= 2 &&
    (error instanceof SocketClosedError ||
      (error instanceof Error && error.name === "RpcClosedError"));
}
