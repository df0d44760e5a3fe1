/**
 * The chat example: a page with rooms at `/`, WebSockets at `/ws`, a live
 * dashboard at `/admin`. The page joins its room through `client.rooms` (the
 * reconnecting client, served at `/ws/client.js`), so a reload shows the
 * room's recent messages and a reconnect, to this server or another, gets
 * what it missed. The member list is the whole cluster's (`hub.presence`).
 * With `--redis` several processes on one Redis share their rooms (Redis
 * Streams: history, recovery, presence) and keep resumable sessions in
 * Redis, so a client of a server that died resumes on another. With
 * `--auth` the page signs in and the WebSocket takes short-lived tokens,
 * refreshed in place. A plain WebSocket at `/ws?room=<room>&name=<name>`
 * joins that room without positions and gets the same JSON events.
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
import {
  type Backplane,
  Hub,
  type Position,
  type PresenceEvent,
  roomRequest,
} from "../src/hub.ts";
import type { RedisSessionStore } from "../src/backplane/redis.ts";
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
  --redis <url>      share rooms (history, presence) with other instances
                     through Redis Streams, for example redis://127.0.0.1:6379
  --auth             sign in with a name; the WebSocket takes HS256 JWT
                     access tokens, refreshed in place before they expire
  --token-ttl <s>    seconds an access token lives with --auth (default 60)
  -h, --help         show this help`;

/**
 * What the server sends: a chat line (a room message, kept in the room's
 * history), or the room's members on every server.
 */
type Event =
  | { type: "message"; room: string; name: string; text: string; at: number }
  | { type: "members"; room: string; names: string[]; servers: number };

const NAME = /^[\p{L}\p{N} _.-]{1,24}$/u;
/** How many recent messages a fresh page gets. */
const RECENT = 50;

/**
 * A handler for the chat's WebSockets: each connection joins the rooms the
 * page asks for (or the one in its URL) and its text messages (at most
 * 2,000 characters) go to everyone in its room, on every server of the hub.
 * Every server tells its members who is in their room, cluster-wide.
 * With `--auth` the name is the principal's `sub`.
 */
export function chat(hub: Hub): SocketHandler {
  const members = (event: PresenceEvent) =>
    tellMembers(hub, event.room).catch((error) =>
      console.error(`Cannot list the members of ${event.room}: ${error}`)
    );
  hub.addEventListener("join", members);
  hub.addEventListener("leave", members);
  return async (socket, request) => {
    const params = new URL(request.url).searchParams;
    const name = socket.principal?.sub ?? params.get("name") ?? "";
    if (!NAME.test(name)) {
      socket.close(4000, "Pick a name of 1-24 letters, digits, spaces, _.-");
      return;
    }
    const id = hub.add(socket, { data: { name } });
    let room = params.has("room") ? roomName(params.get("room")) : undefined;
    if (room !== undefined) hub.join(id, room);
    for await (const msg of socket) {
      const asked = roomRequest(msg);
      if (asked?.type === "join") {
        if (room !== undefined) hub.leave(id, room);
        room = roomName(asked.room);
        // A fresh page gets the recent messages; a reconnect what it missed.
        const since = asked.since ?? await beforeRecent(hub, room);
        await hub.join(id, room, { since });
      } else if (asked !== undefined || msg.type !== "text") continue;
      else if (room !== undefined && msg.data.trim() !== "") {
        const event: Event = {
          type: "message",
          room,
          name,
          text: msg.data.slice(0, 2000),
          at: Date.now(),
        };
        hub.broadcast(room, JSON.stringify(event));
      }
    }
  };
}

function roomName(asked: string | null): string {
  return (asked ?? "lobby").slice(0, 40) || "lobby";
}

/**
 * The position just before the room's last {@linkcode RECENT} messages, so
 * that a join with it delivers them: offsets count the room's messages.
 */
async function beforeRecent(
  hub: Hub,
  room: string,
): Promise<Position | undefined> {
  const [first] = await hub.history(room, { limit: RECENT });
  if (first === undefined) return undefined;
  const { epoch, offset } = first.position;
  const [ms, n] = offset.split("-");
  return { epoch, offset: `${ms}-${Number(n) - 1}` };
}

/** Sends this server's members of a room the room's members everywhere. */
async function tellMembers(hub: Hub, room: string): Promise<void> {
  if (hub.members(room).length === 0) return;
  const everyone = await hub.presence(room);
  const event: Event = {
    type: "members",
    room,
    names: everyone.map((m) => (m.data as { name: string }).name),
    servers: new Set(everyone.map((m) => m.serverId)).size,
  };
  const text = JSON.stringify(event);
  for (const id of hub.members(room)) hub.send(id, text);
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
    const { RedisStreamsBackplane, RedisSessionStore } = await import(
      "../src/backplane/redis.ts"
    );
    try {
      backplane = await RedisStreamsBackplane.connect({
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
  await serveUntilSignal(
    flags,
    route("/ws", chat(hub), {
      // The reconnecting client the page imports, at /ws/client.js.
      clientScript: true,
      ...(auth ? { authenticate: auth.authenticate } : {}),
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
        redisUrl
          ? `rooms shared through Redis Streams at ${redisUrl}`
          : "one process"
      }${auth ? `; signed in, tokens live ${ttl} s` : ""}; Ctrl-C stops)`,
  );
  await hub.close();
  await backplane?.close();
  await store?.close();
}
