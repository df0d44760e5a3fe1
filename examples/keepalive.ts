/**
 * Keepalive, watched: a server on `/ws` with `keepAliveInterval` set from
 * `--interval`, that logs how every connection ended and how long it lived.
 * A peer that stops answering pings is dropped after about two intervals; an
 * idle peer that still answers them stays.
 *
 * ```sh
 * deno run --allow-net examples/keepalive.ts --interval 5
 * ```
 *
 * @module
 */

import { route } from "../mod.ts";
import { fail, parseFlags, serveUntilSignal } from "./_cli.ts";
import { loggingEcho } from "./echo.ts";

const USAGE = `Usage: deno run --allow-net examples/keepalive.ts [options]

Accepts WebSockets at /ws, echoes their messages, pings idle peers and drops
the ones that do not answer. Logs each connection's end: code, reason and how
long it lived.

Options:
  --interval <s>     keepAliveInterval in seconds, 0 for none (default 5)
  --port <n>         port to listen on, 0 for any free port (default 8000)
  --hostname <name>  address to listen on (default 127.0.0.1)
  -h, --help         show this help`;

if (import.meta.main) {
  const flags = parseFlags(Deno.args, USAGE, { interval: "5" });
  const interval = Number(flags.values.interval);
  if (!Number.isFinite(interval) || interval < 0) {
    fail(
      `--interval must be 0 or a positive number of seconds, got "${flags.values.interval}"`,
      USAGE,
    );
  }

  await serveUntilSignal(
    flags,
    route("/ws", loggingEcho(), { keepAliveInterval: interval }),
    (origin) =>
      `WebSocket at ${
        origin.replace("http", "ws")
      }/ws, keepAliveInterval ${interval} s: a silent peer is pinged after ${interval} s and dropped after ${
        2 * interval
      } s (Ctrl-C stops)`,
  );
}
