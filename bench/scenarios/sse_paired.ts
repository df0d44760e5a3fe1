/**
 * The fallback transport against the WebSocket through the same client,
 * measured side by side: echoed messages per second with Switchboard's
 * `connect()` on `transports: ["sse"]` and on `["websocket"]`, each against
 * a Switchboard echo server of its own (bench/servers/switchboard.ts
 * `--sse`), 10 connections each keeping 10 messages of 64 B text in flight,
 * every echo checked.
 *
 * ```sh
 * deno run -A bench/scenarios/sse_paired.ts [--quick]
 * ```
 *
 * As the paired mode measures servers: the servers run pinned to core 0,
 * each side's client in a process of its own (bench/lib/echo_client.ts) on
 * core 1, and each round loads the two sides of a pair in the same window,
 * so that whatever else the machine does falls on both alike (one at a time,
 * bench/scenarios/sse.ts, the two spread by 10-60% between rounds on a busy
 * machine). The ratio is the median of the rounds' ratios; a control pair,
 * the WebSocket side against a second copy of itself, shows the method's
 * own noise. Prints a markdown section and writes sse_paired.json
 * (sse_paired.quick.json with `--quick`) to bench/results/local/, or to
 * bench/results/ when a full `deno task bench` runs it. Under `deno task
 * bench` the rounds shrink to fit `BENCH_SECONDS`.
 *
 * @module
 */

import { denoServer, pinSelf, startServer } from "../lib/process.ts";
import { scenarioRun, writeReport } from "../lib/results.ts";
import { median, round } from "../lib/stats.ts";
import { CONNECTIONS, IN_FLIGHT, startEchoClient } from "../lib/echo_client.ts";
import {
  bySide,
  pairedPlan,
  pairedRounds,
  ratioRow,
  roundRates,
  sidesPinning,
  startSides,
  withControl,
} from "../lib/paired_loads.ts";

const { quick, dir } = scenarioRun();

const NAMES = {
  sse: "SSE fallback",
  websocket: "WebSocket",
  control: "WebSocket, second copy",
};

type Kind = keyof typeof NAMES;

const PAIRS = withControl<Kind>("sse", "sse", "websocket");

interface Side {
  transport: string;
  messagesPerSecond: number;
  rounds: number[];
  /** The client's CPU time per echoed message, µs, median round. */
  clientUsPerMessage: number;
}

/** A window's echoed messages per second. */
const rate = (w: { messages: number; seconds: number }) =>
  w.messages / w.seconds;

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  // Starting the processes and opening the connections take about 5 s.
  const { rounds, warmup, seconds } = pairedPlan(quick, 5, 5);
  await using sides = await startSides(
    Object.keys(NAMES) as Kind[],
    (_, core) =>
      startServer(
        "the Switchboard echo server",
        denoServer("switchboard.ts", ["--sse"]),
        core,
      ),
    (kind, server, core) =>
      startEchoClient(
        `ws://127.0.0.1:${server.port}/ws`,
        kind === "sse" ? "sse" : "websocket",
        warmup,
        core,
      ),
    pinned,
  );
  const { results, ratios } = await pairedRounds(
    PAIRS,
    sides.loads,
    rounds,
    seconds,
    {
      rate,
      // Messages per second of client CPU: higher is better.
      clientCpu: (w) => w.messages / w.cpuSeconds,
    },
  );
  const side = (kind: Kind): Side => {
    const got = results[kind];
    const rates = roundRates(got, rate);
    return {
      transport: NAMES[kind],
      messagesPerSecond: rates.median,
      rounds: rates.rounds,
      clientUsPerMessage: round(
        median(got.map((w) => w.cpuSeconds / w.messages * 1e6)),
        1,
      ),
    };
  };
  const pinning = sidesPinning(pinned, "each side's client process");
  await writeReport("sse_paired", { quick, dir }, started, {
    connections: CONNECTIONS,
    inFlight: IN_FLIGHT,
    pinning,
    seconds,
    rounds,
    ratio: ratios.rate.sse!.ratio,
    controlRatio: ratios.rate.control!.ratio,
    pairs: bySide(PAIRS, side, (id) => ({
      messagesPerSecond: ratios.rate[id],
      perClientCpuSecond: ratios.clientCpu[id],
    })),
  });
  const row = (s: Side) =>
    `| ${s.transport} | ${s.messagesPerSecond.toLocaleString("en-US")} | ${
      s.clientUsPerMessage.toFixed(1)
    } |`;
  const pairRow = (label: string, pair: string) =>
    ratioRow(
      label,
      [ratios.rate[pair]!, ratios.clientCpu[pair]!],
      " (messages per client CPU-second)",
    );
  console.log(
    [
      "## Fallback transport, paired (bench/scenarios/sse_paired.ts)",
      "",
      `Switchboard's \`connect()\` on each transport against an echo server ` +
      `of its own, ${CONNECTIONS} connections × ${IN_FLIGHT} messages of ` +
      `64 B in flight, each echo checked; both sides of a pair loaded in the ` +
      `same window (servers on one core, each side's client process on ` +
      `another), ${rounds} rounds of ${seconds} s per pair, the pairs taking ` +
      `turns, after ${warmup} s of warm-up; msgs/s is the median round (two ` +
      `loads share each core, so lower than one at a time); a ratio is the ` +
      `median of the rounds' ratios (lowest–highest); ${pinning}; Deno ` +
      `${Deno.version.deno}.`,
      "",
      "| transport | echoed msgs/s | client CPU per message, µs |",
      "| --- | ---: | ---: |",
      row(side("sse")),
      row(side("websocket")),
      pairRow("SSE / WebSocket", "sse"),
      pairRow("control: WebSocket / second copy", "control"),
    ].join("\n"),
  );
}

// Last, so that every constant above is defined when main runs.
await main();
