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
 * Measured side by side, as the paired mode of `deno task bench --paired`
 * measures servers: both servers (bench/servers/rpc.ts) run in child
 * processes pinned to core 0, both sides' callers in processes of their own
 * (bench/lib/rpc_caller.ts) pinned to core 1 (when `taskset` is there), and
 * each round loads the two in the same window, so that whatever else the
 * machine does falls on both alike and each process gets the kernel's fair
 * share of its core: the ratio of a round is one of cost per call, and the
 * report gives the median of the rounds' ratios with the lowest and highest.
 * (Callers of both sides in one process would share its event loop and
 * hold the two rates together whatever each costs.) A control pair, the floor
 * against a second copy of itself, measured the same way in each round,
 * shows how close to 1.00 the method holds two identical peers. Calls per
 * second are lower than one at a time (two loads share each core). Prints a
 * markdown section and writes rpc.json (rpc.quick.json with `--quick`) to
 * bench/results/local/, or to bench/results/ when a full `deno task bench`
 * runs it. Under `deno task bench` the rounds shrink to fit `BENCH_SECONDS`.
 *
 * @module
 */

import {
  denoServer,
  pinSelf,
  type RunningServer,
  startServer,
} from "../lib/process.ts";
import { scenarioRun, writeReport } from "../lib/results.ts";
import { median, round } from "../lib/stats.ts";
import { CALLERS, startCaller } from "../lib/rpc_caller.ts";
import {
  bySide,
  pairedPlan,
  pairedRounds,
  type PairRatio,
  ratioText,
  sidesPinning,
  startSides,
  withControl,
} from "../lib/paired_loads.ts";

const { quick, dir } = scenarioRun();

/** One side of a pair over all rounds. */
interface Side {
  peer: string;
  callsPerSecond: number;
  roundsCallsPerSecond: number[];
  p50Ms: number;
  p99Ms: number;
}

/** Two peers measured together; the ratio is `measured / baseline`. */
interface PairResult extends PairRatio {
  pair: string;
  measured: Side;
  baseline: Side;
}

const NAMES = {
  switchboard: "RpcPeer (both sides)",
  raw: "hand-written floor (raw WebSocket, Map of ids)",
  control: "hand-written floor, second copy",
};

type Kind = keyof typeof NAMES;

/** The pairs, each measured together: the peer, and the control. */
const PAIRS = withControl<Kind>("peer", "switchboard", "raw");

await main();

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  // Within the share of `deno task bench`'s budget it gives this script,
  // with a few seconds left for starting and stopping.
  const { rounds, warmup, seconds } = pairedPlan(quick, 5, 5);
  const servers: Record<Kind, [string, string]> = {
    switchboard: ["the RpcPeer server", "switchboard"],
    raw: ["the raw JSON-RPC server", "raw"],
    control: ["the second raw JSON-RPC server", "raw"],
  };
  await using sides = await startSides(
    Object.keys(NAMES) as Kind[],
    (kind, core) => {
      const [name, peer] = servers[kind];
      return startServer(name, denoServer("rpc.ts", [peer]), core);
    },
    (kind, server, core) =>
      startCaller(
        kind === "switchboard" ? "switchboard" : "raw",
        url(server),
        warmup,
        core,
      ),
    pinned,
  );
  const { results: windows, ratios: { calls: ratios } } = await pairedRounds(
    PAIRS,
    sides.loads,
    rounds,
    seconds,
    { calls: (w) => w.calls },
  );
  const side = (kind: Kind): Side => {
    const got = windows[kind];
    return {
      peer: NAMES[kind],
      callsPerSecond: Math.round(median(got.map((w) => w.calls / seconds))),
      roundsCallsPerSecond: got.map((w) => Math.round(w.calls / seconds)),
      p50Ms: round(median(got.map((w) => w.p50Ms)), 3),
      p99Ms: round(median(got.map((w) => w.p99Ms)), 3),
    };
  };
  const results: PairResult[] = bySide(PAIRS, side, (id) => ratios[id]!);
  const [peer, check] = results as [PairResult, PairResult];
  const pinning = sidesPinning(pinned, "callers (a process per side)");
  await writeReport("rpc", { quick, dir }, started, {
    callers: CALLERS,
    mode:
      "paired: both peers of a pair loaded in the same window, callers in a process per side",
    pinning,
    seconds,
    ratio: peer.ratio,
    controlRatio: check.ratio,
    results,
  });
  const row = (s: Side) =>
    `| ${s.peer} | ${
      s.callsPerSecond.toLocaleString("en-US")
    } | ${s.p50Ms} | ${s.p99Ms} |`;
  console.log(
    [
      "## JSON-RPC calls (bench/scenarios/rpc.ts)",
      "",
      `${CALLERS} concurrent callers on one connection per peer, each ` +
      `calling \`add\` in a loop. Paired: the two peers of a pair are ` +
      `loaded in the same window (servers on one core, each side's callers ` +
      `in a process of its own on another), ` +
      `${rounds} rounds of ${seconds} s per pair, the pairs taking turns, ` +
      `after ${warmup} s of warm-up; calls/s is the median round (two loads ` +
      `share each core, so lower than one at a time), p50 and p99 are the ` +
      `median round's; the ratio is the median of the rounds' ratios (lowest–` +
      `highest); ${pinning}; Deno ${Deno.version.deno}.`,
      "",
      "| peer | calls/s | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: |",
      row(peer.measured),
      row(peer.baseline),
      "",
      `RpcPeer runs at ${
        ratioText(peer)
      }x the hand-written floor; the control pair (the floor against a ` +
      `second copy of itself) reads ${ratioText(check)}.`,
    ].join("\n"),
  );
}

function url(server: RunningServer): string {
  return `ws://127.0.0.1:${server.port}/`;
}
