/**
 * The server of bench/scenarios/scale.ts: `route()` on /ws with keepalive
 * on (`keepAliveInterval`, in seconds, the first argument), every
 * connection a member of one `Hub` room. A text message starting with
 * `all:` is broadcast to every connection, its sender too; any other
 * message is echoed. Listens on 127.0.0.1 and, on the same port, on each
 * further loopback address of the second argument (`127.0.0.2,127.0.0.3`),
 * so that clients can spread over addresses (a client address and port
 * pair reaches each server address at most once). Prints `{"port":N}`.
 * GET /stats answers the route's statistics; GET /gc runs a full garbage
 * collection (start Deno with `--v8-flags=--expose-gc`).
 *
 * @module
 */

import { type Route, route } from "../../mod.ts";
import { Hub } from "@switchboard/switchboard/hub";
import { collectGarbage } from "./_deno.ts";

const keepAliveInterval = Number(Deno.args[0] ?? 30);
const hosts = (Deno.args[1] ?? "").split(",").filter(Boolean);

const hub = new Hub({ maxQueuedMessages: 1 << 20 });
await hub.ready;
const ws: Route = route("/ws", async (socket) => {
  const id = hub.add(socket);
  hub.join(id, "all");
  for await (const msg of socket) {
    if (msg.type === "text" && msg.data.startsWith("all:")) {
      hub.broadcast("all", msg.data);
    } else await socket.send(msg.data);
  }
}, {
  keepAliveInterval,
  fallback: (request): Response =>
    new URL(request.url).pathname === "/stats"
      ? Response.json(ws.stats())
      : collectGarbage(),
});

const first = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, ws);
const port = first.addr.port;
for (const hostname of hosts) {
  Deno.serve({ hostname, port, onListen() {} }, ws);
}
console.log(JSON.stringify({ port }));
