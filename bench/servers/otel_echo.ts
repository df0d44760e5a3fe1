/**
 * The Switchboard echo server of bench/scenarios/otel.ts, with or without
 * `observe: otel()` and otherwise the same: `route()` and a `for await`
 * loop that sends every message back in kind. The scenario starts the
 * `otel` one with `OTEL_DENO=true` and an OTLP endpoint, so that Deno's
 * exporter runs as in production.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read bench/servers/otel_echo.ts otel|plain
 * ```
 *
 * Prints `{"port":N}` once listening; GET /gc runs a full garbage
 * collection (start Deno with `--v8-flags=--expose-gc`).
 *
 * @module
 */

import { route } from "../../mod.ts";
import { otel } from "../../src/otel/mod.ts";
import { collectGarbage, listen } from "./_deno.ts";

const observed = Deno.args[0] === "otel";
if (!observed && Deno.args[0] !== "plain") {
  console.error("Usage: otel_echo.ts otel|plain");
  Deno.exit(2);
}

listen(route("/ws", async (socket) => {
  for await (const msg of socket) await socket.send(msg.data);
}, {
  fallback: collectGarbage,
  ...(observed ? { observe: otel() } : {}),
}));
