/**
 * Calls in both directions: the page at `/` calls the server's methods with
 * its buttons, and the server calls the page's `ask` method as soon as the
 * page connects to `/rpc` (and again for `greetMe`, before it answers).
 *
 * ```sh
 * deno run --allow-net --allow-read examples/rpc.ts [--port 8000] [--hostname 127.0.0.1]
 * ```
 *
 * The page carries a small JSON-RPC peer of its own in plain JavaScript, so
 * any JSON-RPC 2.0 implementation can stand on the other side.
 *
 * @module
 */

import { route, type SocketHandler } from "../mod.ts";
import { RpcError, RpcPeer } from "../src/rpc/mod.ts";
import { describeEnd, parseFlags, serveUntilSignal } from "./_cli.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/rpc.ts [options]

Serves the JSON-RPC page at / and a JSON-RPC 2.0 peer at /rpc.

Options:
  --port <n>         port to listen on, 0 for any free port (default 8000)
  --hostname <name>  address to listen on (default 127.0.0.1)
  -h, --help         show this help`;

/** The methods the server serves: the page calls these. */
export type ServerApi = {
  add(params: [a: number, b: number]): number;
  divide(params: [a: number, b: number]): number;
  time(): string;
  greetMe(): string;
};

/** The methods the page serves: the server calls these. */
export type PageApi = {
  ask(params: { question: string }): string;
};

const isPair = (params: unknown): boolean =>
  Array.isArray(params) && params.length === 2 &&
  params.every((n) => typeof n === "number" && Number.isFinite(n));

/**
 * Serves {@linkcode ServerApi} on each connection, asks the page its name
 * when it connects, and logs each connection's calls and end.
 */
export function rpcHandler(): SocketHandler {
  let connections = 0;
  return async (socket) => {
    const id = ++connections;
    const startedAt = performance.now();
    console.log(`#${id} open`);
    const peer: RpcPeer<ServerApi, PageApi> = new RpcPeer<ServerApi, PageApi>(
      socket,
      {
        methods: {
          add: { params: isPair, handler: ([a, b]) => a + b },
          divide: {
            params: isPair,
            handler: ([a, b]) => {
              if (b === 0) {
                throw new RpcError(4000, "Cannot divide by zero", {
                  data: { dividend: a },
                });
              }
              return a / b;
            },
          },
          time: () => new Date().toISOString(),
          greetMe: async () => {
            const name = await peer.call("ask", {
              question: "Who should I greet?",
            });
            return `Hello, ${name || "stranger"}!`;
          },
        },
        timeout: 60_000,
        // Text, not the error object: one line per received message (the
        // peer gathers a batch's failures into one AggregateError).
        onError: (error, method) =>
          console.error(
            `#${id} ${method ?? "rpc"} failed: ${
              error instanceof Error ? error.message : String(error)
            }`,
          ),
      },
    );
    try {
      const name = await peer.call("ask", { question: "What is your name?" });
      console.log(`#${id} the page answered ask: ${JSON.stringify(name)}`);
    } catch (error) {
      console.log(`#${id} ask failed: ${(error as Error).message}`);
    }
    console.log(`#${id} ${describeEnd(await peer.closed, startedAt)}`);
  };
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE);
  const page = await Deno.readFile(new URL("./rpc.html", import.meta.url));

  await serveUntilSignal(
    flags,
    route("/rpc", rpcHandler(), {
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
      `JSON-RPC page at ${origin}/, peer at ${
        origin.replace("http", "ws")
      }/rpc (Ctrl-C stops)`,
  );
}
