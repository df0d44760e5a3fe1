/**
 * The chat example: a page with rooms at `/`, WebSockets at
 * `/ws?room=<room>&name=<name>`, a live dashboard at `/admin`. One process
 * needs nothing else; with `--redis` several processes on one Redis share
 * their rooms.
 *
 * ```sh
 * deno run --allow-net --allow-read examples/chat.ts [--port 8000]
 * # two instances, one Redis:
 * deno run --allow-net --allow-read examples/chat.ts --port 8001 --redis redis://127.0.0.1:6379
 * deno run --allow-net --allow-read examples/chat.ts --port 8002 --redis redis://127.0.0.1:6379
 * ```
 *
 * @module
 */

import { route, type SocketHandler } from "../mod.ts";
import { type Backplane, Hub } from "../src/hub.ts";
import { dashboard } from "../src/dashboard/mod.ts";
import { fail, parseFlags, serveUntilSignal } from "./_cli.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/chat.ts [options]

Serves a chat page with rooms at / and its WebSocket at /ws, and a live
dashboard at /admin.

Options:
  --port <n>         port to listen on, 0 for any free port (default 8000)
  --hostname <name>  address to listen on (default 127.0.0.1)
  --redis <url>      share rooms with other instances through this Redis,
                     for example redis://127.0.0.1:6379
  -h, --help         show this help`;

/** What the server sends: a chat line, or a notice about who came or went. */
type Event =
  | { type: "message"; room: string; name: string; text: string; at: number }
  | { type: "notice"; room: string; text: string; here: number };

const NAME = /^[\p{L}\p{N} _.-]{1,24}$/u;

/**
 * A handler that joins each connection to the room in its URL and relays its
 * text messages (at most 2,000 characters) to everyone in the room, on every
 * server of the hub.
 */
export function chat(hub: Hub, server: string): SocketHandler {
  return async (socket, request) => {
    const params = new URL(request.url).searchParams;
    const room = (params.get("room") ?? "lobby").slice(0, 40) || "lobby";
    const name = params.get("name") ?? "";
    if (!NAME.test(name)) {
      socket.close(4000, "Pick a name of 1-24 letters, digits, spaces, _.-");
      return;
    }
    const id = hub.add(socket);
    hub.join(id, room);
    const notice = (text: string) => {
      const here = hub.members(room).length;
      const event: Event = {
        type: "notice",
        room,
        text: `${text} (${here} here on ${server})`,
        here,
      };
      hub.broadcast(room, JSON.stringify(event));
    };
    notice(`${name} joined`);
    for await (const msg of socket) {
      if (msg.type !== "text" || msg.data.trim() === "") continue;
      const event: Event = {
        type: "message",
        room,
        name,
        text: msg.data.slice(0, 2000),
        at: Date.now(),
      };
      hub.broadcast(room, JSON.stringify(event));
    }
    hub.remove(id);
    notice(`${name} left`);
  };
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE, { redis: "" });
  const page = await Deno.readFile(new URL("./chat.html", import.meta.url));
  const admin = dashboard({ path: "/admin", title: "Switchboard chat" });
  let backplane: Backplane | undefined;
  const redisUrl = flags.values.redis;
  if (redisUrl) {
    if (!/^rediss?:\/\//.test(redisUrl)) {
      fail(`--redis must be a redis:// URL, got "${redisUrl}"`, USAGE);
    }
    // Imported only when asked for, so one process needs no npm package.
    const { RedisBackplane } = await import("../src/backplane/redis.ts");
    try {
      backplane = await RedisBackplane.connect({
        url: redisUrl,
        observe: admin.observer,
      });
    } catch (error) {
      // "Cannot reach Redis at ... within 5000 ms: ...": the sentence says it.
      console.error((error as Error).message);
      Deno.exit(1);
    }
  }
  const hub = new Hub({
    ...(backplane ? { backplane } : {}),
    observe: admin.observer,
  });
  await hub.ready;
  const server = `${flags.hostname}:${flags.port}`;

  await serveUntilSignal(
    flags,
    route("/ws", chat(hub, server), {
      observe: admin.observer,
      fallback(request) {
        if (new URL(request.url).pathname.startsWith("/admin")) {
          return admin(request);
        }
        if (new URL(request.url).pathname !== "/") {
          return new Response("Not found\n", { status: 404 });
        }
        return new Response(page, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      },
    }),
    (origin) =>
      `Chat at ${origin}/ (${
        redisUrl ? `rooms shared through ${redisUrl}` : "one process"
      }; Ctrl-C stops)`,
  );
  await hub.close();
  await backplane?.close();
}
