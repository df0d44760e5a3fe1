/**
 * Attack: a room of members that never read, and one client sending big
 * messages that the server relays to the room (the README's chat pattern,
 * `hub.broadcast(room, msg.data, { except: id })`). Each member's copy
 * waits in the server's send buffers; without a bound, memory grows by
 * message size x room size.
 *
 * ```sh
 * deno run -A bench/abuse/hub_broadcast.ts [--members 100] [--mib 16] [--count 1]
 * ```
 *
 * The server runs in a child process on 127.0.0.1 (this script with
 * `--serve`) and reports its RSS every 100 ms; this process opens the
 * members as raw TCP connections that complete the handshake and then read
 * nothing, sends `--count` binary messages of `--mib` MiB from one more
 * client, waits until the server's memory settles (at most 15 s), and
 * prints the server's RSS before, at its peak and at the end, and how many
 * members the server closed with which code. Everything stops by itself.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { route } from "../../mod.ts";
import { Hub } from "../../src/hub.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    members: { type: "string", default: "100" },
    mib: { type: "string", default: "16" },
    count: { type: "string", default: "1" },
    serve: { type: "boolean", default: false },
  },
});

const MB = 1e6;

if (args.values.serve) serve();
else await attack();

/** The server: every connection joins "room"; what one sends, the room gets. */
function serve(): void {
  const hub = new Hub();
  const closes = new Map<string, number>();
  Deno.serve(
    {
      port: 0,
      hostname: "127.0.0.1",
      onListen: ({ port }) => console.log(`PORT ${port}`),
    },
    route("/", async (socket) => {
      const id = hub.add(socket);
      hub.join(id, "room");
      for await (const msg of socket) {
        hub.broadcast("room", msg.data, { except: id });
      }
      const { code } = await socket.closed;
      const key = String(code);
      closes.set(key, (closes.get(key) ?? 0) + 1);
    }),
  );
  setInterval(() => {
    console.log(
      `RSS ${Deno.memoryUsage().rss} MEMBERS ${hub.members("room").length} ${
        JSON.stringify(Object.fromEntries(closes))
      }`,
    );
  }, 100);
}

interface Sample {
  rss: number;
  members: number;
  closes: Record<string, number>;
}

async function attack(): Promise<void> {
  const members = Number(args.values.members);
  const mib = Number(args.values.mib);
  const count = Number(args.values.count);
  if (
    !(members > 0 && members <= 2000 && mib > 0 && mib <= 64 && count > 0 &&
      count <= 100)
  ) {
    throw new RangeError("Expected 1-2000 members, 1-64 MiB, 1-100 messages");
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let last: Sample = { rss: 0, members: 0, closes: {} };
  let peak = 0;
  let samples = 0;
  let port = 0;
  const gotPort = Promise.withResolvers<void>();
  const reading = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      text += value;
      let at;
      while ((at = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, at);
        text = text.slice(at + 1);
        const portMatch = /^PORT (\d+)/.exec(line);
        if (portMatch) {
          port = Number(portMatch[1]);
          gotPort.resolve();
        }
        const m = /^RSS (\d+) MEMBERS (\d+) (.*)$/.exec(line);
        if (m) {
          last = {
            rss: Number(m[1]),
            members: Number(m[2]),
            closes: JSON.parse(m[3]!),
          };
          peak = Math.max(peak, last.rss);
          samples++;
        }
      }
    }
  })();
  await gotPort.promise;

  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < members; i++) conns.push(await handshake(port));
  const sender = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve, reject) => {
    sender.onopen = resolve;
    sender.onerror = reject;
  });
  sender.onmessage = () => {};
  while (last.members < members + 1) await delay(50);
  await delay(300);
  const before = last.rss;
  peak = before;
  const started = performance.now();
  const payload = new Uint8Array(mib * 1024 * 1024).fill(120);
  for (let i = 0; i < count; i++) {
    sender.send(payload);
    await delay(10);
  }
  // Wait until the server reports the same RSS for 2 s (a server busy
  // copying reports nothing), or 30 s.
  let steady = 0;
  let previous = 0;
  let seen = samples;
  while (performance.now() - started < 30_000 && steady < 20) {
    await delay(100);
    if (samples === seen) continue;
    seen = samples;
    steady = Math.abs(last.rss - previous) < 2 * MB ? steady + 1 : 0;
    previous = last.rss;
  }
  const seconds = (performance.now() - started) / 1000;
  const end = last;
  console.log(
    [
      `hub_broadcast: ${members} members that never read, ${count} x ${mib} MiB relayed to the room`,
      `  server RSS before ${fmt(before)}, peak ${fmt(peak)}, end ${
        fmt(end.rss)
      } (+${fmt(peak - before)} at peak), after ${seconds.toFixed(1)} s`,
      `  members still in the room: ${
        end.members - 1
      } of ${members}; closes so far by code: ${JSON.stringify(end.closes)}`,
    ].join("\n"),
  );
  sender.close();
  for (const conn of conns) conn.close();
  child.kill("SIGKILL");
  await child.status;
  await reading.catch(() => {});
}

/** Opens a WebSocket by hand and then never reads from it again. */
async function handshake(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  await conn.write(
    new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  const buffer = new Uint8Array(1024);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the server closed during the handshake");
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    throw new Error(`handshake refused: ${head.split("\r\n")[0]}`);
  }
  return conn;
}

function fmt(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MB`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
