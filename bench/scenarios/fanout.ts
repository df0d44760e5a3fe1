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
 * Servers (bench/servers/hub.ts) run in child processes; the 1,001 clients
 * share this process, so on small machines the receiving side is part of
 * what is measured. Prints a markdown section and writes fanout.json to
 * bench/results/local/, or to bench/results/ when a full `deno task bench`
 * runs it.
 *
 * @module
 */

import { denoServer, startRedis, startServer } from "../lib/process.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { closeWebSocket, openWebSocket } from "../lib/websocket.ts";

const SUBSCRIBERS = 1000;
const { quick, dir } = scenarioRun();
const MESSAGES = quick ? 100 : 1000;

interface Result {
  setup: string;
  subscribers: number;
  messages: number;
  seconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
}

await main();

async function main(): Promise<void> {
  const results: Result[] = [];
  {
    await using server = await startHub("memory");
    results.push(
      await measure("one process, in-memory backplane", [server.port]),
    );
  }
  {
    await using redis = await startRedis();
    await using a = await startHub(redis.url);
    await using b = await startHub(redis.url);
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
  await writeResults(dir, { "fanout.json": json(report) });
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
  await Promise.all([...clients, sender].map((ws) => closeWebSocket(ws)));
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
  return openWebSocket(`ws://127.0.0.1:${port}/`).catch(() => {
    throw new Error(`cannot connect to port ${port}`);
  });
}

/** A hub server (bench/servers/hub.ts) on `memory` or a redis:// URL. */
function startHub(kind: string) {
  return startServer(`the ${kind} hub server`, denoServer("hub.ts", [kind]));
}
