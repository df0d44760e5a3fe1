/**
 * The Switchboard echo server of bench/scenarios/resume.ts, with or without
 * resumable sessions and otherwise the same: `route()` and a `for await`
 * loop that sends every message back in kind.
 *
 * ```sh
 * deno run --allow-net bench/servers/resume_echo.ts resume|plain
 * ```
 *
 * `resume` turns on `resume: true` (every default: a 120 s window, 10,000
 * messages and 1 MiB unacknowledged). Prints `{"port":N}` once listening;
 * GET /gc runs a full garbage collection (start Deno with
 * `--v8-flags=--expose-gc`).
 *
 * @module
 */

import { route } from "../../mod.ts";
import { collectGarbage, listen } from "./_deno.ts";

const resume = Deno.args[0] === "resume";
if (!resume && Deno.args[0] !== "plain") {
  console.error("Usage: resume_echo.ts resume|plain");
  Deno.exit(2);
}

listen(route("/ws", async (socket) => {
  for await (const msg of socket) await socket.send(msg.data);
}, {
  fallback: collectGarbage,
  ...(resume ? { resume: true } : {}),
}));
