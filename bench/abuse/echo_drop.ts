/**
 * Attack: clients of `examples/echo.ts` that send big messages, read nothing
 * and drop the TCP connection, in rounds. Before the fix every dropped
 * connection's Socket and its queue of unread messages stayed reachable
 * (Deno keeps a connection that ended without a close frame until its
 * keepalive timer fires), so RSS climbed round after round.
 *
 * `deno run -A bench/abuse/echo_drop.ts [--root DIR] [--rounds 6]
 * [--connections 10] [--messages 6] [--mib 4] [--max-rss 3000] [--settle 0]`
 *
 * Starts the echo example from `--root` (a `git worktree` of an older commit
 * measures the old code) on 127.0.0.1 with `--port 0`, prints the server's
 * RSS after each round (read from /proc), and kills the server if it passes
 * `--max-rss` MB. Bounded: rounds x connections x messages.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    root: {
      type: "string",
      default: new URL("../../", import.meta.url).pathname,
    },
    rounds: { type: "string", default: "6" },
    connections: { type: "string", default: "10" },
    messages: { type: "string", default: "6" },
    mib: { type: "string", default: "4" },
    "max-rss": { type: "string", default: "3000" },
    settle: { type: "string", default: "0" },
  },
});
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const messages = Number(values.messages);
const size = Number(values.mib) * 1024 * 1024;
const maxRss = Number(values["max-rss"]) * 1e6;
const encoder = new TextEncoder();

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    "--allow-read",
    "examples/echo.ts",
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
  ],
  cwd: values.root,
  stdin: "null",
  stdout: "piped",
  stderr: "null",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let port = 0;
for (let text = ""; port === 0;) {
  const { value, done } = await reader.read();
  if (done) throw new Error("the echo example ended before listening");
  text += value;
  const match = /Listening on http:\/\/[^:]+:(\d+)\//.exec(text);
  if (match) port = Number(match[1]);
}
// Keep reading its log so the pipe never fills.
(async () => {
  while (!(await reader.read()).done);
})();

function rss(): number {
  const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(14 + payload.length);
  out[0] = 0x82;
  out[1] = 0x80 | 127;
  new DataView(out.buffer).setBigUint64(2, BigInt(payload.length));
  out.set([1, 2, 3, 4], 10);
  for (let i = 0; i < payload.length; i++) {
    out[14 + i] = payload[i]! ^ ((i & 3) + 1);
  }
  return out;
}

async function attacker(bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ));
    for (let m = 0; m < messages; m++) {
      for (let at = 0; at < bytes.length;) {
        at += await conn.write(bytes.subarray(at));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  } catch {
    // The server may drop us first; that is an outcome, not a failure.
  } finally {
    conn.close();
  }
}

const bytes = frame(new Uint8Array(size).fill(7));
const mb = (n: number) => (n / 1e6).toFixed(0);
const start = rss();
console.log(`echo server RSS at start: ${mb(start)} MB`);
let peak = start;
let killed = false;
for (let round = 1; round <= rounds && !killed; round++) {
  await Promise.all(Array.from({ length: connections }, () => attacker(bytes)));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const now = rss();
  peak = Math.max(peak, now);
  console.log(
    `round ${round}: ${connections} x ${messages} x ${values.mib} MiB dropped, RSS ${
      mb(now)
    } MB`,
  );
  if (now > maxRss) {
    console.log(`RSS over ${values["max-rss"]} MB: stopping the server`);
    killed = true;
  }
}
if (Number(values.settle) > 0) {
  // Deno frees a dropped connection's buffers when its keepalive timer fires.
  await new Promise((resolve) =>
    setTimeout(resolve, Number(values.settle) * 1000)
  );
  console.log(`after ${values.settle} s more: RSS ${mb(rss())} MB`);
}
const probe = performance.now();
const answered = await fetch(`http://127.0.0.1:${port}/`, {
  signal: AbortSignal.timeout(5000),
})
  .then(async (res) => (await res.body?.cancel(), true), () => false);
console.log(
  `start ${mb(start)} MB, peak ${mb(peak)} MB, end ${
    mb(rss())
  } MB; HTTP probe ${
    answered
      ? `answered in ${(performance.now() - probe).toFixed(0)} ms`
      : "got no answer"
  }`,
);
child.kill("SIGKILL");
await child.status;
Deno.exit(0);
