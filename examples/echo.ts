/**
 * The echo server: the page at `/` (with the reconnecting client it uses at
 * `/ws/client.js`, served by `route()`'s `clientScript`), and at `/ws` every
 * message comes back in kind (text as text,
 * binary as binary). `/ws` takes WebSocket connections and, for networks that
 * block them, the Server-Sent Events fallback (`transports`). WebSocket
 * connections are resumable sessions (`resume: true`): a dropped connection
 * comes back with every message delivered once.
 *
 * To show that, the page's "Drop connection" button asks for
 * `POST /drop?client=<tag>`, and the server cuts that client's TCP
 * connection without a close frame, as a network would. Deno's `WebSocket`
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
import { describeEnd, type Flags, parseFlags } from "./_cli.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/echo.ts [options]

Serves the echo page at / and echoes every message at /ws (over WebSocket,
resumable after a drop, or over Server-Sent Events and POSTs where WebSockets
are blocked). POST /drop?client=<tag> cuts the TCP connection of the page's
client that connected with ?client=<tag> (its "Drop connection" button).

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
 * A TCP relay: listens on the public address and passes every connection on
 * to the server on an internal port, byte for byte. It knows each
 * connection by the port of its own connection to the server (the server's
 * `info.remoteAddr`), and can cut one: both TCP connections close at once,
 * with no WebSocket close frame, as when a network fails.
 */
export class Relay {
  readonly #listener: Deno.TcpListener;
  readonly #pairs = new Map<number, Deno.TcpConn[]>();
  #target = 0;

  /** @param listener Where clients connect. */
  constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
  }

  /** The public address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /**
   * Passes connections on to `target` until {@linkcode Relay.close}.
   *
   * @param target The server's port on 127.0.0.1.
   */
  async run(target: number): Promise<void> {
    this.#target = target;
    try {
      for await (const conn of this.#listener) this.#pipe(conn);
    } catch {
      // The listener closed.
    }
  }

  /**
   * @param port The port of the relay's connection to the server.
   * @returns Whether that connection is open.
   */
  has(port: number): boolean {
    return this.#pairs.has(port);
  }

  /**
   * Cuts a connection.
   *
   * @param port The port of the relay's connection to the server.
   * @returns Whether that connection was open.
   */
  cut(port: number): boolean {
    const pair = this.#pairs.get(port);
    if (pair === undefined) return false;
    this.#pairs.delete(port);
    for (const conn of pair) closeQuietly(conn);
    return true;
  }

  /** Stops listening and cuts what is left. */
  close(): void {
    closeQuietly(this.#listener);
    for (const port of [...this.#pairs.keys()]) this.cut(port);
  }

  async #pipe(client: Deno.TcpConn): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#target,
      });
    } catch {
      return closeQuietly(client);
    }
    const port = (server.localAddr as Deno.NetAddr).port;
    this.#pairs.set(port, [client, server]);
    // Either side ending (or a cut) ends both.
    await Promise.race([
      client.readable.pipeTo(server.writable).catch(() => {}),
      server.readable.pipeTo(client.writable).catch(() => {}),
    ]);
    this.cut(port);
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
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
    // WebSocket connections are resumable sessions (SSE ones plain).
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
    if (tag !== null && request.headers.get("upgrade") === "websocket") {
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

/**
 * Serves until SIGINT or SIGTERM, like the other examples (`_cli.ts`), but
 * through a {@linkcode Relay}: prints `Listening on http://host:port/` with
 * the relay's address, and on a signal closes every socket with 1001
 * "Server shutting down", waits for the handlers, then stops.
 */
async function serveThroughRelay(
  { port, hostname }: Flags,
  page: Uint8Array<ArrayBuffer>,
): Promise<void> {
  let relay: Relay;
  try {
    relay = new Relay(Deno.listen({ port, hostname }));
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`Port ${port} is in use: pass --port`);
      Deno.exit(1);
    }
    throw error;
  }
  const { route: echo, handler } = echoServer(relay, page);
  const controller = new AbortController();
  const stop = async () => {
    console.log("Shutting down");
    await echo.shutdown();
    controller.abort();
    // Deno.serve waits for every response to finish: an event stream to a
    // client that reads nothing never does. Give them a few seconds.
    const timer = setTimeout(() => {
      console.log("Responses still open after 5 s; exiting");
      Deno.exit(0);
    }, 5000);
    Deno.unrefTimer(timer);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, stop);
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    signal: controller.signal,
    onListen() {},
  }, handler);
  const relaying = relay.run(server.addr.port);
  const host = relay.addr.hostname.includes(":")
    ? `[${relay.addr.hostname}]`
    : relay.addr.hostname;
  const origin = `http://${host}:${relay.addr.port}`;
  console.log(`Listening on ${origin}/`);
  console.log(
    `Echo page at ${origin}/, WebSocket (or SSE fallback) at ${
      origin.replace("http", "ws")
    }/ws (Ctrl-C stops)`,
  );
  await server.finished;
  relay.close();
  await relaying;
  for (const name of signals) Deno.removeSignalListener(name, stop);
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE);
  const page = await Deno.readFile(new URL("./echo.html", import.meta.url));
  await serveThroughRelay(flags, page);
}
