/**
 * The hub server of bench/scenarios/fanout.ts and fanout_paired.ts: every
 * connection joins the room "fan", and its text messages are broadcast to
 * the room but itself. The argument is `memory` (the in-memory backplane), a
 * redis:// URL, or `raw`: the hand-written floor, `Deno.upgradeWebSocket`
 * and a loop over a `Set` of raw sockets. Prints `{"port":N}`.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { type Backplane, Hub } from "@switchboard/switchboard/hub";
import { listen } from "./_deno.ts";

const kind = Deno.args[0] ?? "memory";
if (kind === "raw") listen(rawFanOut());
else {
  let backplane: Backplane | undefined;
  if (kind !== "memory") {
    const { RedisBackplane } = await import("@switchboard/switchboard/redis");
    backplane = await RedisBackplane.connect({ url: kind });
  }
  const hub = new Hub(
    backplane ? { backplane, maxQueuedMessages: 1 << 20 } : {
      maxQueuedMessages: 1 << 20,
    },
  );
  await hub.ready;
  listen(route("/", async (socket) => {
    const id = hub.add(socket);
    hub.join(id, "fan");
    for await (const msg of socket) {
      if (msg.type === "text") hub.broadcast("fan", msg.data, { except: id });
    }
  }));
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
