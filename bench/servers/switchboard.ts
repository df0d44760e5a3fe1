/**
 * The Switchboard echo server: `route()` and a `for await` loop that sends
 * every message back in kind. Prints `{"port":N}` once listening; GET /gc
 * runs a full garbage collection (start Deno with `--v8-flags=--expose-gc`).
 * With `--sse` it also takes the fallback transport (`transports:
 * ["websocket", "sse"]`), for bench/scenarios/sse.ts.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { collectGarbage, listen } from "./_deno.ts";

listen(route("/ws", async (socket) => {
  for await (const msg of socket) await socket.send(msg.data);
}, {
  fallback: collectGarbage,
  ...(Deno.args.includes("--sse")
    ? { transports: ["websocket", "sse"] as const }
    : {}),
}));
