/**
 * The hub server of bench/scenarios/fanout.ts: every connection joins the
 * room "fan", and its text messages are broadcast to the room but itself.
 * The argument is `memory` (the in-memory backplane) or a redis:// URL.
 * Prints `{"port":N}`.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { type Backplane, Hub } from "@switchboard/switchboard/hub";
import { listen } from "./_deno.ts";

const kind = Deno.args[0] ?? "memory";
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
