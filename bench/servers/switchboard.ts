/**
 * The Switchboard echo server: `route()` and a `for await` loop that sends
 * every message back in kind. Prints `{"port":N}` once listening; GET /gc
 * runs a full garbage collection (start Deno with `--v8-flags=--expose-gc`).
 *
 * @module
 */

import { route } from "../../mod.ts";
import { collectGarbage, listen } from "./_deno.ts";

listen(route("/ws", async (socket) => {
  for await (const msg of socket) await socket.send(msg.data);
}, { fallback: collectGarbage }));
