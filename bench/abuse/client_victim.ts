/**
 * Attack: the reconnecting client (`connect()` from `src/client/mod.ts`) as the
 * victim of a hostile or broken server.
 *
 * - `--scenario flood`: the server (`Deno.upgradeWebSocket`) sends a 1 MiB
 *   binary message every 10 ms to an app that reads one message a second.
 *   Without an inbox bound the client keeps every message (100 MiB/s).
 *   With `--ignore-close` the server is raw TCP that floods every
 *   connection and never answers nor ends a close.
 * - `--scenario stuck`: the server completes the handshake, then never
 *   reads nor pings, while the app calls `send(64 KiB)` ten times every
 *   10 ms without awaiting. Without a bound while open, every send waits
 *   in the heap.
 *
 * ```sh
 * deno run -A bench/abuse/client_victim.ts --scenario flood [--seconds 20]
 *   [--root /tmp/old_client] [--option maxQueuedMessages=100]
 * deno run -A bench/abuse/client_victim.ts --scenario stuck
 *   [--option sendTimeout=5000]
 * ```
 *
 * This process is the server, on 127.0.0.1; the client runs in a child
 * process (this script with `--victim`) that imports `src/client/mod.ts` (or an older checkout's `src/client.ts`) from
 * `--root` (default: this checkout, so an older one can be measured too),
 * reports its RSS every 500 ms, and stops after `--seconds` (at most 60),
 * or as soon as its RSS passes `--max-rss` MB (default 2500: the attack
 * won). Printed: the client's RSS over time, its state, what it read,
 * sent and had refused, and its reconnects.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";

const args = parseArgs({
  args: Deno.args,
  options: {
    scenario: { type: "string", default: "flood" },
    seconds: { type: "string", default: "20" },
    root: { type: "string", default: new URL("../..", import.meta.url).href },
    option: { type: "string", multiple: true, default: [] },
    "max-rss": { type: "string", default: "2500" },
    "ignore-close": { type: "boolean", default: false },
    victim: { type: "boolean", default: false },
    url: { type: "string", default: "" },
  },
});

const MB = 1e6;
const seconds = Number(args.values.seconds);
const maxRss = Number(args.values["max-rss"]) * MB;
const scenario = args.values.scenario;
if (!(seconds > 0 && seconds <= 60)) {
  throw new RangeError("Invalid --seconds: expected 1-60");
}
if (scenario !== "flood" && scenario !== "stuck") {
  throw new RangeError("Invalid --scenario: expected flood or stuck");
}

if (args.values.victim) await victim();
else await attack();

/** The client: reads slowly (flood) or sends without awaiting (stuck). */
async function victim(): Promise<void> {
  const root = args.values.root.endsWith("/")
    ? args.values.root
    : `${args.values.root}/`;
  // src/client/mod.ts since the client moved into its folder; older
  // checkouts have src/client.ts.
  const base = new URL(root, `file://${Deno.cwd()}/`);
  const { connect } = await import(
    new URL("src/client/mod.ts", base).href
  ).catch(() => import(new URL("src/client.ts", base).href));
  const options: Record<string, number> = { initialDelay: 50, maxDelay: 500 };
  for (const pair of args.values.option) {
    const [name, value] = pair.split("=");
    options[name!] = Number(value);
  }
  const client = connect(args.values.url, options);
  const counts = { read: 0, sent: 0, refused: 0, reconnects: 0 };
  client.addEventListener("reconnecting", () => counts.reconnects++);
  const started = performance.now();
  let stop = false;
  const report = () =>
    console.log(
      `T ${
        ((performance.now() - started) / 1000).toFixed(1)
      } RSS ${Deno.memoryUsage().rss} STATE ${client.state} ${
        JSON.stringify(counts)
      }`,
    );
  const timer = setInterval(() => {
    report();
    if (
      performance.now() - started > seconds * 1000 ||
      Deno.memoryUsage().rss > maxRss
    ) stop = true;
  }, 500);
  if (scenario === "flood") {
    const it = client[Symbol.asyncIterator]();
    while (!stop) {
      const r = await Promise.race([it.next(), delay(1000)]);
      if (r && r.done) break;
      if (r) counts.read++;
      await delay(1000);
    }
  } else {
    while (!stop) {
      if (client.state === "open") {
        for (let i = 0; i < 10; i++) {
          // A fresh message each time, as an app's data would be.
          client.send(new Uint8Array(64 * 1024)).then(
            () => counts.sent++,
            () => counts.refused++,
          );
        }
      }
      await delay(10);
    }
  }
  clearInterval(timer);
  report();
  Deno.exit(0);
}

/** The server and the report. */
async function attack(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let sentMiB = 0;
  let flooded = 0;
  const chunk = new Uint8Array(1024 * 1024);
  // The flood from a Deno server, which answers a close frame and ends.
  const abort = new AbortController();
  const flooder = scenario === "flood" && !args.values["ignore-close"]
    ? Deno.serve({
      port: 0,
      hostname: "127.0.0.1",
      signal: abort.signal,
      onListen() {},
    }, (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      let timer: ReturnType<typeof setInterval> | undefined;
      socket.onopen = () => {
        flooded++;
        timer = setInterval(() => {
          socket.send(chunk);
          sentMiB++;
        }, 10);
      };
      socket.onclose = () => clearInterval(timer);
      return response;
    })
    : undefined;
  const port = flooder?.addr.port ?? (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      handle(conn).catch(() => {});
    }
  })().catch(() => {});

  async function handle(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(8192);
    const n = await conn.read(buffer);
    const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
    const accept = createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    await conn.write(
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
          `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      ),
    );
    if (scenario === "stuck") return; // never reads, never writes
    // Unmasked binary frames of 1 MiB (64-bit length), every 10 ms; what
    // the client sends is read and dropped so its close reaches nobody.
    const frame = new Uint8Array(10 + chunk.length);
    frame[0] = 0x82;
    frame[1] = 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(chunk.length));
    (async () => {
      const sink = new Uint8Array(65536);
      while ((await conn.read(sink)) !== null);
    })().catch(() => {});
    for (;;) {
      await conn.write(frame);
      sentMiB++;
      await delay(10);
    }
  }

  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--victim",
      `--scenario=${scenario}`,
      `--seconds=${seconds}`,
      `--root=${args.values.root}`,
      `--max-rss=${args.values["max-rss"]}`,
      `--url=ws://127.0.0.1:${port}/`,
      ...args.values.option.map((o) => `--option=${o}`),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    let at;
    while ((at = text.indexOf("\n")) >= 0) {
      lines.push(text.slice(0, at));
      text = text.slice(at + 1);
    }
  }
  await child.status;
  const samples = lines.flatMap((line) => {
    const m = /^T ([\d.]+) RSS (\d+) STATE (\w+) (.*)$/.exec(line);
    return m
      ? [{
        t: Number(m[1]),
        rss: Number(m[2]),
        state: m[3] ?? "",
        counts: m[4] ?? "",
      }]
      : [];
  });
  console.log(
    `client_victim --scenario ${scenario} (${args.values.root}${
      args.values.option.length ? `, ${args.values.option.join(", ")}` : ""
    })`,
  );
  let lastSecond = -1;
  for (const s of samples) {
    if (Math.floor(s.t / 2) === lastSecond && s !== samples.at(-1)) continue;
    lastSecond = Math.floor(s.t / 2);
    console.log(
      `  t=${s.t.toFixed(1).padStart(5)} s  RSS ${
        (s.rss / MB).toFixed(0).padStart(5)
      } MB  ${s.state.padEnd(12)} ${s.counts}`,
    );
  }
  const peak = Math.max(...samples.map((s) => s.rss));
  console.log(
    `  peak RSS ${(peak / MB).toFixed(0)} MB; server connections ${
      conns.length + flooded
    }${scenario === "flood" ? `, server sent ${sentMiB} MiB` : ""}${
      peak > maxRss ? " (stopped at --max-rss)" : ""
    }`,
  );
  abort.abort();
  await flooder?.finished;
  listener.close();
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
  await serving;
  Deno.exit(0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
