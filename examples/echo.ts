/**
 * The echo server: the page at `/` (with the reconnecting client it uses at
 * `/ws/client.js`, served by `route()`'s `clientScript`), and at `/ws` every
 * message comes back in kind (text as text,
 * binary as binary). `/ws` takes WebSocket connections and, for networks that
 * block them, the Server-Sent Events fallback (`transports`). Connections
 * are resumable sessions (`resume: true`) over either transport: a dropped
 * connection comes back with every message delivered once.
 *
 * To show that, the page's "Drop connection" button asks for
 * `POST /drop?client=<tag>`, and the server cuts that client's TCP
 * connection (its WebSocket, or its event stream) without a close frame, as
 * a network would. Deno's `WebSocket`
 * cannot do that (its `close()` always sends a close frame), so the server
 * listens through {@linkcode Relay}, a TCP relay in the same process that
 * owns every connection and can cut one.
 *
 * ```sh
 * deno run --allow-net --allow-read examples/echo.ts [--port 8000] [--hostname 127.0.0.1]
 * ```
 *
 * @module
 */

import { type Route, route, type SocketHandler } from "../mod.ts";
import { describeEnd, parseFlags, serveUntilSignal } from "./_cli.ts";
import type { Relay } from "./_relay.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/echo.ts [options]

Serves the echo page at / and echoes every message at /ws (over WebSocket,
or over Server-Sent Events and POSTs where WebSockets are blocked; resumable
after a drop either way). POST /drop?client=<tag> cuts the TCP connection of
the page's client that connected with ?client=<tag> (its "Drop connection"
button).

Options:
  --port <n>         port to listen on, 0 for any free port (default 8000)
  --hostname <name>  address to listen on (default 127.0.0.1)
  -h, --help         show this help`;

/**
 * A handler that sends every message back in kind (a text message's `data` is
 * a string, a binary one's a `Uint8Array`, and `send()` keeps that type), and
 * logs each connection's number, its end and how long it lived.
 */
export function loggingEcho(): SocketHandler {
  let connections = 0;
  return async (socket) => {
    const id = ++connections;
    const startedAt = performance.now();
    console.log(`#${id} open`);
    for await (const msg of socket) await socket.send(msg.data);
    console.log(`#${id} ${describeEnd(await socket.closed, startedAt)}`);
  };
}

/**
 * The echo route, `POST /drop?client=<tag>`, and the page, behind a
 * {@linkcode Relay}: returns the `Deno.serve` handler and the route (for its
 * shutdown).
 *
 * @param relay The relay the server listens through.
 * @param page The echo page.
 */
export function echoServer(
  relay: Relay,
  page: Uint8Array<ArrayBuffer>,
): { route: Route; handler: Deno.ServeHandler<Deno.NetAddr> } {
  // The relay's connections to the server of each page client, by its tag.
  const clients = new Map<string, Set<number>>();
  const echo = route("/ws", loggingEcho(), {
    // The page's client falls back to "sse" when the WebSocket is refused.
    transports: ["websocket", "sse"],
    // Connections are resumable sessions, over either transport.
    resume: true,
    // The reconnecting client the page imports, at /ws/client.js.
    clientScript: true,
    fallback(request) {
      const url = new URL(request.url);
      if (url.pathname === "/drop" && request.method === "POST") {
        const tag = url.searchParams.get("client") ?? "";
        let cut = 0;
        for (const port of clients.get(tag) ?? []) {
          if (relay.cut(port)) cut++;
        }
        clients.delete(tag);
        console.log(`Dropped ${cut} connection${cut === 1 ? "" : "s"}`);
        return new Response(null, { status: cut > 0 ? 204 : 404 });
      }
      if (url.pathname !== "/") {
        return new Response("Not found\n", { status: 404 });
      }
      return new Response(page, {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    },
  });
  const handler = (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => {
    const tag = new URL(request.url).searchParams.get("client");
    // A WebSocket, or the fallback's event stream: the connection a drop
    // cuts (the fallback's POSTs go on other connections, which the browser
    // may use again for anything).
    const stream = request.headers.get("upgrade") === "websocket" ||
      (request.headers.get("accept") ?? "").includes("text/event-stream");
    if (tag !== null && stream) {
      const ports = clients.get(tag) ?? new Set();
      clients.set(tag, ports);
      // Forget the connections of this client that ended.
      for (const port of ports) if (!relay.has(port)) ports.delete(port);
      ports.add(info.remoteAddr.port);
    }
    return echo(request, info);
  };
  return { route: echo, handler };
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE);
  const page = await Deno.readFile(new URL("./echo.html", import.meta.url));
  await serveUntilSignal(
    flags,
    { relay: (relay) => echoServer(relay, page) },
    (origin) =>
      `Echo page at ${origin}/, WebSocket (or SSE fallback) at ${
        origin.replace("http", "ws")
      }/ws (Ctrl-C stops)`,
  );
}
