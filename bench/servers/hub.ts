/**
 * The hub server of the fan-out scenarios: every connection joins the room
 * "fan", and its text messages are broadcast to the room but itself. The
 * arguments are `memory` (the in-memory backplane), a redis:// URL (the
 * pub/sub `RedisBackplane`), `streams` and a redis:// URL
 * (`RedisStreamsBackplane`), or `raw`: the hand-written floor of
 * fanout_paired.ts, `Deno.upgradeWebSocket` and a loop over a `Set` of raw
 * sockets. A connection to `/?rooms` joins no room by itself: it speaks the
 * rooms wire (`client.rooms`), as the recovery measurement does. Prints
 * `{"port":N}`.
 *
 * @module
 */

import { type Route, route } from "../../mod.ts";
import { type Backplane, Hub, roomRequest } from "@switchboard/switchboard/hub";
import { listen } from "./_deno.ts";

const [kind = "memory", url] = Deno.args;
if (kind === "raw") listen(rawFanOut());
else listen(await hubFanOut());

/** A Hub on the backplane the arguments name, behind `route()`. */
async function hubFanOut(): Promise<Route> {
  let backplane: Backplane | undefined;
  if (kind === "streams") {
    const { RedisStreamsBackplane } = await import(
      "@switchboard/switchboard/redis"
    );
    backplane = await RedisStreamsBackplane.connect({
      url: url ?? "redis://127.0.0.1:6379",
      maxBuffered: 100_000,
    });
  } else if (kind !== "memory") {
    const { RedisBackplane } = await import("@switchboard/switchboard/redis");
    backplane = await RedisBackplane.connect({ url: kind });
  }
  const hub = new Hub(
    backplane ? { backplane, maxQueuedMessages: 1 << 20 } : {
      maxQueuedMessages: 1 << 20,
    },
  );
  await hub.ready;
  return route("/", async (socket, request) => {
    const id = hub.add(socket);
    if (new URL(request.url).search === "?rooms") {
      for await (const msg of socket) {
        const asked = roomRequest(msg);
        if (asked?.type === "join") {
          await hub.join(id, asked.room, { since: asked.since });
        }
      }
      return;
    }
    hub.join(id, "fan");
    for await (const msg of socket) {
      if (msg.type === "text") hub.broadcast("fan", msg.data, { except: id });
    }
  });
}

/** The loop a user writes over raw sockets, for the paired comparison. */
function rawFanOut(): (request: Request) => Response {
  const sockets = new Set<WebSocket>();
  return (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => sockets.add(socket);
    socket.onclose = () => sockets.delete(socket);
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      for (const other of sockets) {
        if (other !== socket) other.send(event.data);
      }
    };
    return response;
  };
}
