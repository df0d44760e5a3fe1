/**
 * JSON-RPC calls per second and round-trip percentiles with 50 concurrent
 * callers on one connection: `RpcPeer` on both sides, against a hand-written
 * JSON-RPC floor (raw `Deno.upgradeWebSocket` server, raw `WebSocket` client,
 * a `Map` of pending ids) that shows what the peer itself costs.
 *
 * ```sh
 * deno run -A bench/scenarios/rpc.ts [--quick]
 * ```
 *
 * The server (bench/servers/rpc.ts) runs in a child process (pinned to core
 * 0, this process to core 1, when `taskset` is there). Prints a markdown
 * section and writes rpc.json (rpc.quick.json with `--quick`) to
 * bench/results/local/, or to bench/results/ when a full `deno task bench`
 * runs it. Under `deno task bench` the rounds shrink to fit `BENCH_SECONDS`.
 *
 * @module
 */

import { Socket } from "../../mod.ts";
import { RpcPeer } from "@switchboard/switchboard/rpc";
import type { Api } from "../servers/rpc.ts";
import { denoServer, pinSelf, startServer } from "../lib/process.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { median, percentile, round } from "../lib/stats.ts";
import { closeWebSocket, openWebSocket } from "../lib/websocket.ts";

const CALLERS = 50;
const { quick, dir } = scenarioRun();

interface Result {
  peer: string;
  calls: number;
  seconds: number;
  callsPerSecond: number;
  roundsCallsPerSecond: number[];
  p50Ms: number;
  p99Ms: number;
}

type Call = (a: number, b: number) => Promise<number>;

await main();

async function main(): Promise<void> {
  const pinned = await pinSelf();
  const rounds = quick ? 3 : 5;
  // Within the share of `deno task bench`'s budget it gives this script,
  // with a few seconds left for starting and stopping.
  const budget = Number(Deno.env.get("BENCH_SECONDS") ?? Infinity);
  const seconds = Math.max(
    0.25,
    Math.min(quick ? 1 : 2, (budget - 5) / (2 * rounds)),
  );
  const kinds = ["switchboard", "raw"] as const;
  const core = pinned ? 0 : undefined;
  await using switchboard = await startServer(
    "the RpcPeer server",
    denoServer("rpc.ts", ["switchboard"]),
    core,
  );
  await using raw = await startServer(
    "the raw JSON-RPC server",
    denoServer("rpc.ts", ["raw"]),
    core,
  );
  const clients = [
    switchboardClient(`ws://127.0.0.1:${switchboard.port}/`),
    await rawClient(`ws://127.0.0.1:${raw.port}/`),
  ];
  for (const client of clients) await load(client.call, 0.5, []);
  // Rounds take turns, so that load from elsewhere on the machine falls on
  // both peers alike; each figure is the median round.
  const rates: number[][] = kinds.map(() => []);
  const latencies: number[][] = kinds.map(() => []);
  for (let turn = 0; turn < rounds; turn++) {
    for (const [k, client] of clients.entries()) {
      const calls = await load(client.call, seconds, latencies[k]!);
      rates[k]!.push(calls / seconds);
    }
  }
  for (const client of clients) await client.close();
  const results: Result[] = kinds.map((kind, k) => {
    const sorted = latencies[k]!.sort((a, b) => a - b);
    return {
      peer: kind === "switchboard"
        ? "RpcPeer (both sides)"
        : "hand-written floor (raw WebSocket, Map of ids)",
      calls: sorted.length,
      seconds: seconds * rounds,
      callsPerSecond: Math.round(median(rates[k]!)),
      roundsCallsPerSecond: rates[k]!.map(Math.round),
      p50Ms: round(percentile(sorted, 50), 3),
      p99Ms: round(percentile(sorted, 99), 3),
    };
  });
  const [peer, floor] = results as [Result, Result];
  const ratio = peer.callsPerSecond / floor.callsPerSecond;
  const report = {
    scenario: "rpc",
    command: `deno run -A bench/scenarios/rpc.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    callers: CALLERS,
    pinning: pinned
      ? "server on core 0, callers on core 1"
      : "not pinned (no taskset)",
    ratio: round(ratio, 3),
    results,
  };
  await writeResults(dir, {
    [`rpc${quick ? ".quick" : ""}.json`]: json(report),
  });
  console.log(
    [
      "## JSON-RPC calls (bench/scenarios/rpc.ts)",
      "",
      `${CALLERS} concurrent callers on one connection, each calling \`add\` ` +
      `in a loop: ${rounds} rounds of ${seconds} s per peer, taking turns, ` +
      `after 0.5 s of warm-up; calls/s is the median round, p50 and p99 ` +
      `cover every call; ${report.pinning}; Deno ${Deno.version.deno}.`,
      "",
      "| peer | calls/s | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: |",
      ...results.map((r) =>
        `| ${r.peer} | ${
          r.callsPerSecond.toLocaleString("en-US")
        } | ${r.p50Ms} | ${r.p99Ms} |`
      ),
      "",
      `RpcPeer runs at ${ratio.toFixed(2)}x the hand-written floor.`,
    ].join("\n"),
  );
}

/**
 * `CALLERS` loops calling `add` for `seconds`; adds every round trip's time
 * to `latencies` and returns the number of calls.
 */
async function load(
  call: Call,
  seconds: number,
  latencies: number[],
): Promise<number> {
  const before = latencies.length;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = 0; performance.now() < end; i++) {
        const start = performance.now();
        const sum = await call(caller, i);
        latencies.push(performance.now() - start);
        if (sum !== caller + i) throw new Error(`add gave ${sum}`);
      }
    }),
  );
  return latencies.length - before;
}

function switchboardClient(
  url: string,
): { call: Call; close(): Promise<void> } {
  const peer = new RpcPeer<Record<never, never>, Api>(
    new Socket(new WebSocket(url)),
  );
  return {
    call: (a, b) => peer.call("add", [a, b]),
    close: () => peer[Symbol.asyncDispose](),
  };
}

async function rawClient(
  url: string,
): Promise<{ call: Call; close(): Promise<void> }> {
  const ws = await openWebSocket(url);
  const pending = new Map<number, (result: number) => void>();
  let nextId = 0;
  ws.onmessage = (event) => {
    const { result, id } = JSON.parse(event.data);
    pending.get(id)?.(result);
    pending.delete(id);
  };
  return {
    call: (a, b) =>
      new Promise((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        ws.send(
          JSON.stringify({ jsonrpc: "2.0", method: "add", params: [a, b], id }),
        );
      }),
    close: async () => {
      await closeWebSocket(ws);
    },
  };
}
