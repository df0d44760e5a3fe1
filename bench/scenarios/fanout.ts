/**
 * Hub fan-out: one sender broadcasts to a room of 1,000 subscribers, first
 * on one server (the in-memory backplane), then across two server processes
 * that share a redis-server (500 subscribers on each, the sender on the
 * first). Reports deliveries per second (messages x receivers) and
 * broadcasts per second, timed from the first send to the last delivery.
 *
 * ```sh
 * deno run -A bench/scenarios/fanout.ts [--quick]
 * ```
 *
 * Servers run in child processes; the 1,001 clients share this process, so
 * on small machines the receiving side is part of what is measured. Prints a
 * markdown section and writes bench/results/fanout.json.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { type Backplane, Hub } from "../../src/hub.ts";

const SUBSCRIBERS = 1000;
const quick = Deno.args.includes("--quick") ||
  Deno.env.get("BENCH_QUICK") === "1";
const MESSAGES = quick ? 100 : 1000;
const serveArg = Deno.args.find((arg) => arg.startsWith("--serve="));

if (serveArg !== undefined) {
  await serve(serveArg.slice("--serve=".length));
} else {
  await main();
}

/**
 * Child process: a hub server; `kind` is `memory` or a redis:// URL. Every
 * connection joins the room "fan"; its text messages are broadcast to the
 * room except itself. Prints its port.
 */
async function serve(kind: string): Promise<void> {
  let backplane: Backplane | undefined;
  if (kind !== "memory") {
    const { RedisBackplane } = await import("../../src/backplane/redis.ts");
    backplane = await RedisBackplane.connect({ url: kind });
  }
  const hub = new Hub(
    backplane ? { backplane, maxQueuedMessages: 1 << 20 } : {
      maxQueuedMessages: 1 << 20,
    },
  );
  await hub.ready;
  Deno.serve(
    {
      port: 0,
      hostname: "127.0.0.1",
      onListen: ({ port }) => console.log(`PORT ${port}`),
    },
    route("/", async (socket) => {
      const id = hub.add(socket);
      hub.join(id, "fan");
      for await (const msg of socket) {
        if (msg.type === "text") hub.broadcast("fan", msg.data, { except: id });
      }
    }),
  );
}

interface Result {
  setup: string;
  subscribers: number;
  messages: number;
  seconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  {
    await using server = await startServer("memory");
    results.push(
      await measure("one process, in-memory backplane", [server.port]),
    );
  }
  {
    await using redis = await startRedis();
    await using a = await startServer(redis.url);
    await using b = await startServer(redis.url);
    results.push(
      await measure("two processes through Redis", [a.port, b.port]),
    );
  }
  const report = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    quick,
    cores: navigator.hardwareConcurrency,
    results,
  };
  await Deno.writeTextFile(
    new URL("../results/fanout.json", import.meta.url),
    JSON.stringify(report, null, 2) + "\n",
  );
  const rows = results.map((r) =>
    `| ${r.setup} | ${r.subscribers} | ${r.messages} | ${
      Math.round(r.deliveriesPerSecond).toLocaleString("en-US")
    } | ${Math.round(r.messagesPerSecond).toLocaleString("en-US")} |`
  );
  console.log(
    [
      "## Hub fan-out (bench/scenarios/fanout.ts)",
      "",
      `One sender, ${
        SUBSCRIBERS.toLocaleString("en-US")
      } subscribers in one room, ${MESSAGES} messages of 64 B${
        quick ? " (quick run)" : ""
      }; ${navigator.hardwareConcurrency} cores shared by the servers, Redis and the clients (one process).`,
      "",
      "| setup | subscribers | messages | deliveries/s | broadcasts/s |",
      "| ----- | ----------: | -------: | -----------: | -----------: |",
      ...rows,
      "",
    ].join("\n"),
  );
}

/** Opens the subscribers (spread over `ports`) and the sender, then times. */
async function measure(setup: string, ports: number[]): Promise<Result> {
  const clients: WebSocket[] = [];
  let received = 0;
  const total = SUBSCRIBERS * MESSAGES;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => finish = resolve);
  const onMessage = () => {
    if (++received === total) finish();
  };
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = await open(ports[i % ports.length]!);
    ws.onmessage = onMessage;
    clients.push(ws);
  }
  const sender = await open(ports[0]!);
  // Every server must have the subscribers in the room before timing.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const payload = "m".repeat(60);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) sender.send(`${payload}${i}`.slice(-64));
  const timeout = setTimeout(() => {
    console.error(`${setup}: only ${received} of ${total} after 120 s`);
    Deno.exit(1);
  }, 120_000);
  await done;
  clearTimeout(timeout);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([...clients, sender].map((ws) =>
    new Promise((resolve) => {
      ws.onclose = resolve;
      ws.close();
    })
  ));
  return {
    setup,
    subscribers: SUBSCRIBERS,
    messages: MESSAGES,
    seconds,
    deliveriesPerSecond: total / seconds,
    messagesPerSecond: MESSAGES / seconds,
  };
}

function open(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot connect to port ${port}`));
  });
}

async function startServer(
  kind: string,
): Promise<{ port: number } & AsyncDisposable> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, `--serve=${kind}`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!/PORT \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the hub server exited before listening");
    text += value;
  }
  reader.releaseLock();
  const port = Number(/PORT (\d+)/.exec(text)![1]);
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function startRedis(): Promise<{ url: string } & AsyncDisposable> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const child = new Deno.Command("redis-server", {
    args: ["--save", "", "--appendonly", "no", "--port", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (i === 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}
