/**
 * Abuse: fallback sessions that post ~1 MiB each, read nothing and drop
 * their TCP connection, against the README's echo loop with the default
 * `onError`. Prints the heap (used + external) after a full GC before and
 * after, in one JSON line. Bounded: `--sessions` (default 20) sessions of
 * `--size` bytes (default 1 MiB), 127.0.0.1 only, stops by itself.
 *
 *     deno run -A --v8-flags=--expose-gc bench/abuse/sse_dropped.ts
 *
 * @module
 */

import { parseArgs } from "node:util";
import { route, type Socket } from "../../mod.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20" },
    size: { type: "string", default: String(1024 * 1024) },
    quiet: { type: "boolean", default: false },
    // echo: the README's loop; unread: the handler never reads its socket;
    // push: the handler sends `size` bytes to a client that reads nothing.
    mode: { type: "string", default: "echo" },
  },
});
const sessions = Math.min(Number(values.sessions), 200);
const size = Math.min(Number(values.size), 16 * 1024 * 1024);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const hostname = "127.0.0.1";

const handlers: Record<string, (socket: Socket) => Promise<void> | void> = {
  echo: async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  },
  unread: () => {},
  push: async (socket) => {
    await socket.send(new Uint8Array(size));
    await socket.send("x".repeat(size));
  },
};
const handler = handlers[values.mode];
if (handler === undefined) throw new Error(`unknown mode ${values.mode}`);
const ws = route("/ws", handler, {
  transports: ["sse"],
  ...(values.quiet ? { onError: () => {} } : {}),
});
const server = Deno.serve({ hostname, port: 0, onListen() {} }, ws);
const port = server.addr.port;

async function heap(): Promise<number> {
  for (let i = 0; i < 6; i++) {
    await new Promise((resolve) => setTimeout(resolve, 30));
    gc!();
  }
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/** Opens a stream on raw TCP; returns the connection and its open data. */
async function open() {
  const conn = await Deno.connect({ hostname, port });
  await conn.write(encoder.encode(
    `GET /ws HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`,
  ));
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!/event: open\r?\ndata: .*\r?\n/.test(text)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`stream ended: ${text}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
  const data = JSON.parse(/event: open\r?\ndata: (.*)\r?\n/.exec(text)![1]!);
  return { conn, session: data.session as string, secret: data.secret };
}

/** POSTs one text message of `size` bytes on raw TCP, then hangs up. */
async function post(session: string, secret: string | undefined) {
  const body = encoder.encode(
    JSON.stringify({ seq: 0, messages: [["t", "x".repeat(size)]] }),
  );
  const conn = await Deno.connect({ hostname, port });
  await conn.write(encoder.encode(
    `POST /ws?session=${session} HTTP/1.1\r\nHost: ${hostname}\r\n` +
      (secret ? `X-Switchboard-Secret: ${secret}\r\n` : "") +
      `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`,
  ));
  for (let at = 0; at < body.length;) at += await conn.write(body.subarray(at));
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  conn.close();
  return decoder.decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
}

// Warm up the code paths once, then measure.
{
  const warm = await open();
  if (values.mode !== "push") await post(warm.session, warm.secret);
  warm.conn.close();
  while (ws.stats().connections > 0) await delay(10);
}
const before = await heap();
const rss0 = Deno.memoryUsage().rss;
const started = performance.now();
const statuses = new Map<string, number>();
const streams = [];
for (let i = 0; i < sessions; i++) {
  const stream = await open();
  const status = values.mode === "push"
    ? "none"
    : await post(stream.session, stream.secret);
  statuses.set(status ?? "", (statuses.get(status ?? "") ?? 0) + 1);
  streams.push(stream);
}
await delay(300);
const held = await heap();
for (const stream of streams) stream.conn.close();
streams.length = 0;
const deadline = Date.now() + 10_000;
while (ws.stats().connections > 0 && Date.now() < deadline) await delay(10);
const after = await heap();
const MiB = 1024 * 1024;
console.log(JSON.stringify({
  mode: values.mode,
  sessions,
  size,
  posts: Object.fromEntries(statuses),
  openAfter: ws.stats().connections,
  heapBeforeMiB: +(before / MiB).toFixed(1),
  heapWhileHeldMiB: +(held / MiB).toFixed(1),
  heapAfterMiB: +(after / MiB).toFixed(1),
  keptMiB: +((after - before) / MiB).toFixed(1),
  rssBeforeMiB: +(rss0 / MiB).toFixed(1),
  rssAfterMiB: +(Deno.memoryUsage().rss / MiB).toFixed(1),
  seconds: +((performance.now() - started) / 1000).toFixed(1),
}));
await ws.shutdown();
await server.shutdown();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
