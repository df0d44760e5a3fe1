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

import { startRedis } from "../lib/process.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { type FanoutResult, measureFanout, startHub } from "../lib/fanout.ts";

const SUBSCRIBERS = 1000;
const { quick, dir } = scenarioRun();
const MESSAGES = quick ? 100 : 1000;

await main();

async function main(): Promise<void> {
  const results: FanoutResult[] = [];
  {
    await using server = await startHub("memory");
    results.push(
      await measureFanout(
        "one process, in-memory backplane",
        [server.port],
        SUBSCRIBERS,
        MESSAGES,
      ),
    );
  }
  {
    await using redis = await startRedis();
    await using a = await startHub(redis.url);
    await using b = await startHub(redis.url);
    results.push(
      await measureFanout(
        "two processes through Redis",
        [a.port, b.port],
        SUBSCRIBERS,
        MESSAGES,
      ),
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
