/**
 * Durable rooms (issue 18): hub fan-out through Redis Streams against Redis
 * pub/sub, and the time a member takes to recover 1,000 missed messages.
 *
 * - Fan-out: one sender, 1,000 subscribers in one room on two hub server
 *   processes (500 on each, the sender on the first), as in fanout.ts;
 *   rounds alternate pub/sub and Streams (each on a fresh redis-server) and
 *   the median of each is reported, with their ratio (target: Streams at
 *   least 0.7x pub/sub).
 * - Recovery: a member speaking the rooms wire joins on server A and
 *   leaves; 1,000 messages go to its room; it rejoins on server B with the
 *   position it had, and the time from its join request to the last of the
 *   1,000 (each checked in order, once) is measured.
 *
 * ```sh
 * deno run -A bench/scenarios/streams.ts [--quick]
 * ```
 *
 * Prints a markdown section and writes streams.json to bench/results/local/,
 * or to bench/results/ when a full `deno task bench` runs it. Under
 * `deno task bench` the rounds shrink to fit `BENCH_SECONDS` (at least one
 * of each, and three recoveries).
 *
 * @module
 */

import { startRedis } from "../lib/process.ts";
import { benchBudget } from "../lib/budget.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import {
  type FanoutResult,
  measureFanout,
  openHub,
  startHub,
} from "../lib/fanout.ts";
import { median } from "../lib/stats.ts";
import { closeWebSocket } from "../lib/websocket.ts";

const SUBSCRIBERS = 1000;
const MISSED = 1000;
const { quick, dir } = scenarioRun();
const MESSAGES = quick ? 100 : 1000;
const ROUNDS = quick ? 1 : 3;
const RECOVERIES = quick ? 3 : 10;
/** The share of `deno task bench`'s budget given to this script, in s. */
const BUDGET = benchBudget();
/** Seconds kept for the recoveries and for stopping. */
const RESERVE = 25;
const startedAt = performance.now();
const elapsed = () => (performance.now() - startedAt) / 1000;

await main();

async function main(): Promise<void> {
  const rounds: { pubsub: FanoutResult[]; streams: FanoutResult[] } = {
    pubsub: [],
    streams: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    const roundStart = elapsed();
    for (const kind of ["pubsub", "streams"] as const) {
      console.error(`fan-out round ${round + 1}: ${kind}`);
      await using redis = await startRedis();
      const args = kind === "streams" ? ["streams", redis.url] : [redis.url];
      await using a = await startHub(...args);
      await using b = await startHub(...args);
      rounds[kind].push(
        await measureFanout(kind, [a.port, b.port], SUBSCRIBERS, MESSAGES),
      );
    }
    const last = elapsed() - roundStart;
    if (elapsed() + last + RESERVE > BUDGET) break;
  }
  const pubsub = median(rounds.pubsub.map((r) => r.deliveriesPerSecond));
  const streams = median(rounds.streams.map((r) => r.deliveriesPerSecond));
  const recoveries = await measureRecoveries();
  const report = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    quick,
    cores: navigator.hardwareConcurrency,
    subscribers: SUBSCRIBERS,
    messages: MESSAGES,
    rounds,
    deliveriesPerSecond: { pubsub, streams, ratio: streams / pubsub },
    recovery: {
      missed: MISSED,
      milliseconds: recoveries,
      median: median(recoveries),
      max: Math.max(...recoveries),
    },
  };
  await writeResults(dir, { "streams.json": json(report) });
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(
    [
      "## Durable rooms: Redis Streams against pub/sub (bench/scenarios/streams.ts)",
      "",
      `Fan-out: one sender, ${
        n(SUBSCRIBERS)
      } subscribers in one room on two hub processes, ${MESSAGES} messages of 64 B${
        quick ? " (quick run)" : ""
      }; median of ${rounds.streams.length} alternating round(s) each, a fresh redis-server per round; ${navigator.hardwareConcurrency} cores shared by the servers, Redis and the clients.`,
      "",
      "| backplane | deliveries/s (median) | each round |",
      "| --------- | --------------------: | ---------- |",
      `| Redis pub/sub (\`RedisBackplane\`) | ${n(pubsub)} | ${
        rounds.pubsub.map((r) => n(r.deliveriesPerSecond)).join(", ")
      } |`,
      `| Redis Streams (\`RedisStreamsBackplane\`) | ${n(streams)} | ${
        rounds.streams.map((r) => n(r.deliveriesPerSecond)).join(", ")
      } |`,
      "",
      `Streams / pub/sub: **${
        (streams / pubsub).toFixed(2)
      }x** (target at least 0.7x).`,
      "",
      `Recovery: a member rejoins another server with the position it left at and gets the ${
        n(MISSED)
      } messages it missed, in order, once: median ${
        median(recoveries).toFixed(1)
      } ms, at most ${
        Math.max(...recoveries).toFixed(1)
      } ms over ${recoveries.length} runs (from its join request to the last message).`,
      "",
    ].join("\n"),
  );
}

/** Times `RECOVERIES` rejoins that each recover `MISSED` messages. */
async function measureRecoveries(): Promise<number[]> {
  await using redis = await startRedis();
  await using a = await startHub("streams", redis.url);
  await using b = await startHub("streams", redis.url);
  const sender = await openHub(a.port);
  // A plain member of the room on B: all of a batch has been written once
  // it has it.
  const witness = await openHub(b.port);
  let witnessed = 0;
  witness.onmessage = () => witnessed++;
  const times: number[] = [];
  try {
    for (let run = 0; run < RECOVERIES; run++) {
      if (run >= 3 && elapsed() + 5 > BUDGET) break;
      console.error(`recovery ${run + 1}`);
      const leaving = await openHub(a.port, "?rooms");
      const joined = await frames(leaving, 1, join("fan"));
      const since = joined[0]!.position;
      await closeWebSocket(leaving);
      const target = witnessed + MISSED;
      for (let i = 0; i < MISSED; i++) sender.send(`missed ${i}`);
      await waitFor(() => witnessed >= target);
      const back = await openHub(b.port, "?rooms");
      const started = performance.now();
      const got = await frames(back, MISSED + 1, join("fan", since));
      times.push(performance.now() - started);
      await closeWebSocket(back);
      const texts = got.filter((f) => f.type === "message").map((f) => f.data);
      const expected = Array.from({ length: MISSED }, (_, i) => `missed ${i}`);
      if (texts.join("\n") !== expected.join("\n")) {
        throw new Error(
          `recovery ${run + 1}: messages missing or out of order`,
        );
      }
    }
  } finally {
    await closeWebSocket(sender);
    await closeWebSocket(witness);
  }
  return times;
}

/** A rooms frame, as the wire carries it. */
interface Frame {
  type: "message" | "joined";
  position: { epoch: string; offset: string };
  data?: string;
}

function join(room: string, since?: Frame["position"]): string {
  return `\u0001${JSON.stringify({ type: "join", room, since })}`;
}

/** Sends `request` and resolves with the next `n` rooms frames. */
function frames(ws: WebSocket, n: number, request: string): Promise<Frame[]> {
  const got: Frame[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${got.length} of ${n} frames in 30 s`)),
      30_000,
    );
    ws.onmessage = (event) => {
      got.push(JSON.parse(String(event.data).slice(1)));
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    };
    ws.send(request);
  });
}

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
