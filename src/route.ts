/**
 * `route()`: a `Deno.serve` handler that serves WebSockets on one path, the
 * analog of ASP.NET Core's `UseWebSockets` middleware.
 *
 * @module
 */

import { HandshakeError } from "./handshake.ts";
import { closeSocket, type Socket } from "./socket.ts";
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
 * do with other paths and with handler errors.
 *
 * @example Serving a page beside the socket
 * ```ts
 * import type { RouteOptions } from "@switchboard/switchboard";
 *
 * const options: RouteOptions = {
 *   fallback: () => new Response("<h1>hello</h1>", {
 *     headers: { "content-type": "text/html" },
 *   }),
 *   onError: (error) => console.error("handler failed", error),
 * };
 * console.log(typeof options.fallback);
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
   * with 1011 by then.
   *
   * @default {logs with console.error}
   */
  onError?: (error: unknown, request: Request) => void;
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
 * @param options Upgrade options, a fallback handler and an error reporter.
 * @returns A handler for `Deno.serve`.
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
): RequestHandler {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new TypeError(`Invalid path: expected a path starting with "/"`);
  }
  if (typeof handler !== "function") {
    throw new TypeError("Invalid handler: expected a function");
  }
  const { fallback = notFound, onError = logError } = options;
  if (typeof fallback !== "function") {
    throw new TypeError("Invalid fallback: expected a function");
  }
  if (typeof onError !== "function") {
    throw new TypeError("Invalid onError: expected a function");
  }
  const checked = checkUpgradeOptions(options);

  function fail(socket: Socket, request: Request, error: unknown): void {
    closeSocket(socket, 1011, "Internal server error");
    try {
      onError(error, request);
    } catch (reportError) {
      console.error("Switchboard: onError threw", reportError);
    }
  }

  return (request, info) => {
    if (new URL(request.url).pathname !== path) {
      return info === undefined ? fallback(request) : fallback(request, info);
    }
    if (request.headers.get("upgrade") === null) {
      return new Response(
        "Bad request: this path only accepts WebSocket connections\n",
        { status: 400, headers: { "content-type": "text/plain" } },
      );
    }
    let socket: Socket;
    let response: Response;
    try {
      ({ socket, response } = upgradeChecked(request, checked));
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
    try {
      const result = handler(socket, request);
      if (result instanceof Promise) {
        result.catch((error) => fail(socket, request, error));
      }
    } catch (error) {
      fail(socket, request, error);
    }
    return response;
  };
}

function notFound(): Response {
  return new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain" },
  });
}

function logError(error: unknown): void {
  console.error("Switchboard: the WebSocket handler failed:", error);
}
