/**
 * Abuse: `--sessions` (default 1,000, at most 5,000) fallback streams opened
 * on raw TCP that never read nor POST, against a route with the given
 * `--keepalive` (seconds, default 1), for `--rounds` rounds (default 1, at
 * most 5). Prints, per round, the RSS and V8 heap per session while they are
 * open, how many the server still has after `--wait` seconds (default 4: a
 * session that answers no keepalive is closed two keepalive intervals after
 * its first one, so between 2 and 3 intervals after it opened), the close
 * codes, and the RSS once they are gone. A second round shows whether the
 * RSS left after the first is reused (the allocator keeps freed pages) or
 * grows. 127.0.0.1 only; stops by itself.
 *
 *     deno run -A --v8-flags=--expose-gc bench/abuse/sse_sessions.ts
 *     deno run -A --v8-flags=--expose-gc bench/abuse/sse_sessions.ts \
 *       --sessions 5000 --rounds 2
 *
 * `--root <dir>` runs it against another checkout's `mod.ts` (e.g. a
 * `git worktree` of an older commit).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "1000" },
    keepalive: { type: "string", default: "1" },
    wait: { type: "string", default: "4" },
    rounds: { type: "string", default: "1" },
    root: { type: "string" },
  },
});
const count = Math.min(Number(values.sessions), 5000);
const rounds = Math.min(Math.max(1, Number(values.rounds)), 5);
const modUrl = values.root === undefined
  ? new URL("../../mod.ts", import.meta.url).href
  : pathToFileURL(`${Deno.realPathSync(values.root)}/mod.ts`).href;
const { route } = await import(modUrl) as typeof import("../../mod.ts");
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

async function memory(): Promise<Deno.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(50);
  }
  return Deno.memoryUsage();
}

const start = await memory();
for (let round = 1; round <= rounds; round++) {
  const before = await memory();
  const closesBefore = { ...ws.stats().closes };
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    await conn.write(request);
    conns.push(conn);
  }
  while (ws.stats().accepted < round * count) await delay(10);
  const open = await memory();
  const openNow = ws.stats().connections;
  await delay(Number(values.wait) * 1000);
  const stillOpen = ws.stats().connections;
  for (const conn of conns) conn.close();
  while (ws.stats().connections > 0) await delay(10);
  await delay(500);
  const after = await memory();
  const closes: Record<string, number> = {};
  for (const [code, n] of Object.entries(ws.stats().closes)) {
    const delta = n - (closesBefore[code] ?? 0);
    if (delta > 0) closes[code] = delta;
  }
  console.log(JSON.stringify({
    round,
    sessions: count,
    rssStartMiB: +(start.rss / MiB).toFixed(1),
    rssBeforeMiB: +(before.rss / MiB).toFixed(1),
    rssOpenMiB: +(open.rss / MiB).toFixed(1),
    openWhenMeasured: openNow,
    kibPerSession: +((open.rss - before.rss) / count / 1024).toFixed(1),
    heapKibPerSession: +((open.heapUsed - before.heapUsed) / count / 1024)
      .toFixed(1),
    openAfterWait: stillOpen,
    closes,
    rssAfterMiB: +(after.rss / MiB).toFixed(1),
    heapAfterMiB: +(after.heapUsed / MiB).toFixed(1),
  }));
}
await ws.shutdown();
await server.shutdown();
