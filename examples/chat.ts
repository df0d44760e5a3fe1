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
 * # signed in, with access tokens that expire every minute (refreshed in place):
 * deno run --allow-net --allow-read examples/chat.ts --auth
 * ```
 *
 * @module
 */

import { route, type SocketHandler } from "../mod.ts";
import type { RedisSessionStore } from "../src/backplane/redis.ts";
import { type Backplane, Hub } from "../src/hub.ts";
import { dashboard } from "../src/dashboard/mod.ts";
import { fail, parseFlags, serveUntilSignal } from "./_cli.ts";
import { type ChatAuth, chatAuth } from "./_chat_auth.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read examples/chat.ts [options]

Serves a chat page with rooms at / and its WebSocket at /ws, and a live
dashboard at /admin.

Options:
  --port <n>         port to listen on, 0 for any free port (default 8000)
  --hostname <name>  address to listen on (default 127.0.0.1)
  --redis <url>      share rooms with other instances through this Redis,
                     for example redis://127.0.0.1:6379
  --auth             sign in with a name; the WebSocket takes HS256 JWT
                     access tokens, refreshed in place before they expire
  --token-ttl <s>    seconds an access token lives with --auth (default 60)
  -h, --help         show this help`;

/** What the server sends: a chat line, or a notice about who came or went. */
type Event =
  | { type: "message"; room: string; name: string; text: string; at: number }
  | { type: "notice"; room: string; text: string; here: number };

const NAME = /^[\p{L}\p{N} _.-]{1,24}$/u;

/**
 * A handler that joins each connection to the room in its URL and relays its
 * text messages (at most 2,000 characters) to everyone in the room, on every
 * server of the hub. With `--auth` the name is the principal's `sub`.
 */
export function chat(hub: Hub, server: string): SocketHandler {
  return async (socket, request) => {
    const params = new URL(request.url).searchParams;
    const room = (params.get("room") ?? "lobby").slice(0, 40) || "lobby";
    const name = socket.principal?.sub ?? params.get("name") ?? "";
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
  const flags = parseFlags(Deno.args, USAGE, {
    redis: "",
    "token-ttl": "60",
  }, ["auth"]);
  const ttl = Number(flags.values["token-ttl"]);
  if (!(ttl > 0)) fail("--token-ttl must be a number of seconds", USAGE);
  const auth: ChatAuth | undefined = flags.switches.auth
    ? await chatAuth(ttl, (name) => NAME.test(name))
    : undefined;
  let page = await Deno.readTextFile(new URL("./chat.html", import.meta.url));
  if (auth) page = page.replace('content="auth-off"', 'content="auth-on"');
  // The live dashboard; with --auth its socket takes the same tokens (open
  // /admin?access_token=...).
  const admin = dashboard({
    path: "/admin",
    title: "Switchboard chat",
    ...(auth ? { authenticate: auth.authenticate } : {}),
  });
  let backplane: Backplane | undefined;
  let store: RedisSessionStore | undefined;
  const redisUrl = flags.values.redis;
  if (redisUrl) {
    if (!/^rediss?:\/\//.test(redisUrl)) {
      fail(`--redis must be a redis:// URL, got "${redisUrl}"`, USAGE);
    }
    // Imported only when asked for, so one process needs no npm package.
    const { RedisBackplane, RedisSessionStore } = await import(
      "../src/backplane/redis.ts"
    );
    try {
      backplane = await RedisBackplane.connect({
        url: redisUrl,
        observe: admin.observer,
      });
      // Resumable sessions outlive this process: a client of a server that
      // died resumes on another.
      store = await RedisSessionStore.connect({ url: redisUrl });
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
      ...(auth ? { authenticate: auth.authenticate, clientScript: true } : {}),
      ...(store ? { resume: { store }, transports: ["websocket", "sse"] } : {}),
      observe: admin.observer,
      fallback(request) {
        if (new URL(request.url).pathname.startsWith("/admin")) {
          return admin(request);
        }
        const signIn = auth?.handle(request);
        if (signIn) return signIn;
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
      }${auth ? `; signed in, tokens live ${ttl} s` : ""}; Ctrl-C stops)`,
  );
  await hub.close();
  await backplane?.close();
  await store?.close();
}
