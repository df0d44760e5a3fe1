/**
 * The echo server: the page at `/` (with the reconnecting client it uses at
 * `/ws/client.js`, served by `route()`'s `clientScript`), and at `/ws` every
 * message comes back in kind (text as text,
 * binary as binary). `/ws` takes WebSocket connections and, for networks that
 * block them, the Server-Sent Events fallback (`transports`).
 *
 * ```sh
 * deno run --allow-net --allow-read examples/echo.ts [--port 8000] [--hostname 127.0.0.1]
 * ```
 *
 * @module
 */

import { route, type SocketHandler } from "../mod.ts";
import { describeEnd, parseFlags, serveUntilSignal } from "./_cli.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/echo.ts [options]

Serves the echo page at / and echoes every message at /ws (over WebSocket,
or over Server-Sent Events and POSTs where WebSockets are blocked).

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

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE);
  const page = await Deno.readFile(new URL("./echo.html", import.meta.url));

  await serveUntilSignal(
    flags,
    route("/ws", loggingEcho(), {
      // The page's client falls back to "sse" when the WebSocket is refused.
      transports: ["websocket", "sse"],
      // The reconnecting client the page imports, at /ws/client.js.
      clientScript: true,
      fallback(request) {
        if (new URL(request.url).pathname !== "/") {
          return new Response("Not found\n", { status: 404 });
        }
        return new Response(page, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      },
    }),
    (origin) =>
      `Echo page at ${origin}/, WebSocket (or SSE fallback) at ${
        origin.replace("http", "ws")
      }/ws (Ctrl-C stops)`,
  );
}
