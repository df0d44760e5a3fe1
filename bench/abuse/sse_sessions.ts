/**
 * Abuse: `--sessions` (default 1,000, at most 5,000) fallback streams opened
 * on raw TCP that never read, against a route with the given
 * `--keepalive` (seconds, default 1). Prints the RSS per session while they
 * are open, how many the server still has after `--wait` seconds (default
 * 3: the idle timeout is two keepalive intervals, and only counts once the
 * kernel's buffers are full), and the RSS once they are gone. 127.0.0.1
 * only; stops by itself.
 *
 *     deno run -A --v8-flags=--expose-gc bench/abuse/sse_sessions.ts
 *
 * @module
 */

import { parseArgs } from "node:util";
import { route } from "../../mod.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "1000" },
    keepalive: { type: "string", default: "1" },
    wait: { type: "string", default: "3" },
  },
});
const count = Math.min(Number(values.sessions), 5000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const encoder = new TextEncoder();
const MiB = 1024 * 1024;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ws = route("/ws", () => {}, {
  transports: ["sse"],
  keepAliveInterval: Number(values.keepalive),
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  ws,
);
const request = encoder.encode(
  "GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
);

async function rss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(50);
  }
  return Deno.memoryUsage().rss;
}

const before = await rss();
const conns: Deno.Conn[] = [];
for (let i = 0; i < count; i++) {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await conn.write(request);
  conns.push(conn);
}
while (ws.stats().connections < count) await delay(10);
const open = await rss();
await delay(Number(values.wait) * 1000);
const stillOpen = ws.stats().connections;
for (const conn of conns) conn.close();
while (ws.stats().connections > 0) await delay(10);
await delay(500);
const after = await rss();
console.log(JSON.stringify({
  sessions: count,
  rssBeforeMiB: +(before / MiB).toFixed(1),
  rssOpenMiB: +(open / MiB).toFixed(1),
  kibPerSession: +((open - before) / count / 1024).toFixed(1),
  openAfterWait: stillOpen,
  closes: ws.stats().closes,
  rssAfterMiB: +(after / MiB).toFixed(1),
}));
await ws.shutdown();
await server.shutdown();
