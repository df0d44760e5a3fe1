/**
 * Hub fan-out in one process against a hand-written loop over raw sockets,
 * measured side by side: a `Hub` on the in-memory backplane (every
 * connection in one room, each text message broadcast to the room but its
 * sender) and `Deno.upgradeWebSocket` with a loop over a `Set` of sockets
 * (bench/servers/hub.ts `memory` and `raw`).
 *
 * ```sh
 * deno run -A bench/scenarios/fanout_paired.ts [--quick]
 * ```
 *
 * As the paired mode measures servers: the servers run in child processes
 * pinned to core 0, and each has its own client process on core 1
 * (bench/lib/fanout_client.ts: 1,000 subscribers over raw TCP, frames
 * counted, not decoded, and a sender keeping 16 broadcasts under way); each
 * round loads the two sides of a pair in the same window, so that both
 * share the cores and whatever else the machine does; the ratio is the
 * median of the rounds' ratios of deliveries per second, and of deliveries
 * per second of the server's CPU time (which holds where the clients set the
 * pace). A control pair,
 * the raw loop against a second copy of itself, shows the method's own
 * noise. Prints a markdown section and writes fanout_paired.json
 * (fanout_paired.quick.json with `--quick`) to bench/results/local/, or to
 * bench/results/ when a full `deno task bench` runs it. Under `deno task
 * bench` the rounds shrink to fit `BENCH_SECONDS`.
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
import { median } from "../lib/stats.ts";
import {
  type FanOutWindow,
  IN_FLIGHT,
  startFanOutClient,
} from "../lib/fanout_client.ts";
import type { LoadProcess } from "../lib/load_process.ts";
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
const SUBSCRIBERS = quick ? 500 : 1000;

const NAMES = {
  hub: "Hub, in-memory backplane",
  raw: "hand-written loop over raw sockets",
  control: "hand-written loop, second copy",
};

type Kind = keyof typeof NAMES;

const PAIRS = withControl<Kind>("hub", "hub", "raw");

interface Side {
  server: string;
  deliveriesPerSecond: number;
  rounds: number[];
  /** Deliveries per second of the server's CPU time, median round. */
  perCpuSecond: number;
}

/** A window, with the server's CPU time over it (and its drain). */
type Metered = FanOutWindow & { serverCpu: number };

/** A window's deliveries per second. */
const rate = (w: Metered) => w.deliveries / w.seconds;

/** A load process whose windows also read their server's CPU time. */
function metered(
  load: LoadProcess<FanOutWindow>,
  server: RunningServer,
): Pick<LoadProcess<Metered>, "run"> {
  return {
    async run(seconds) {
      const before = server.cpuSeconds();
      const window = await load.run(seconds);
      return { ...window, serverCpu: server.cpuSeconds() - before };
    },
  };
}

await main();

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  // More rounds than elsewhere: fan-out spreads more between rounds (the
  // kernel's TCP work is most of its cost).
  // Within the share of `deno task bench`'s budget it gives this script:
  // starting the processes and opening the connections take about 8 s.
  const { rounds, warmup, seconds } = pairedPlan(quick, 7, 8);
  await using sides = await startSides(
    Object.keys(NAMES) as Kind[],
    (kind, core) => startHub(kind === "hub" ? "memory" : "raw", core),
    (_, server, core) =>
      startFanOutClient(server.port, SUBSCRIBERS, warmup, core),
    pinned,
  );
  const { servers } = sides;
  const loads: Record<Kind, Pick<LoadProcess<Metered>, "run">> = {
    hub: metered(sides.loads.hub, servers.hub),
    raw: metered(sides.loads.raw, servers.raw),
    control: metered(sides.loads.control, servers.control),
  };
  const { results, ratios } = await pairedRounds(
    PAIRS,
    loads,
    rounds,
    seconds,
    { rate, cpu: (w) => w.total / w.serverCpu },
  );
  const side = (kind: Kind): Side => {
    const got = results[kind];
    const rates = roundRates(got, rate);
    return {
      server: NAMES[kind],
      deliveriesPerSecond: rates.median,
      rounds: rates.rounds,
      perCpuSecond: Math.round(median(got.map((w) => w.total / w.serverCpu))),
    };
  };
  const pinning = sidesPinning(pinned, "their client processes");
  await writeReport("fanout_paired", { quick, dir }, started, {
    subscribers: SUBSCRIBERS,
    inFlight: IN_FLIGHT,
    pinning,
    seconds,
    rounds,
    ratio: ratios.rate.hub!.ratio,
    controlRatio: ratios.rate.control!.ratio,
    cpuRatio: ratios.cpu.hub!.ratio,
    controlCpuRatio: ratios.cpu.control!.ratio,
    pairs: bySide(PAIRS, side, (id) => ({
      deliveries: ratios.rate[id],
      perCpuSecond: ratios.cpu[id],
    })),
  });
  const row = (s: Side) =>
    `| ${s.server} | ${s.deliveriesPerSecond.toLocaleString("en-US")} | ${
      s.perCpuSecond.toLocaleString("en-US")
    } |`;
  const cells = (pair: string) => [ratios.rate[pair]!, ratios.cpu[pair]!];
  console.log(
    [
      "## Hub fan-out against a hand-written loop, paired (bench/scenarios/fanout_paired.ts)",
      "",
      `${SUBSCRIBERS.toLocaleString("en-US")} subscribers and one sender per ` +
      `server, 64 B text, ${IN_FLIGHT} broadcasts under way; both servers ` +
      `of a pair loaded in the same window (servers on one core, each one's ` +
      `client process on another), ${rounds} rounds of ${seconds} s per ` +
      `pair, the pairs taking turns, after ${warmup} s of warm-up. ` +
      `Deliveries/s is the median round (two loads share each core, so ` +
      `lower than one at a time); deliveries per CPU-second divides the ` +
      `deliveries of a window (and its drain) by the server's CPU time over ` +
      `it, which holds even where the clients set the pace; a ratio is the ` +
      `median of the rounds' ratios (lowest–highest); ${pinning}; Deno ` +
      `${Deno.version.deno}.`,
      "",
      "| server | deliveries/s | deliveries per CPU-second |",
      "| --- | ---: | ---: |",
      row(side("hub")),
      row(side("raw")),
      ratioRow("Hub / hand-written loop", cells("hub")),
      ratioRow("control: loop / second copy", cells("control")),
    ].join("\n"),
  );
}

/** A hub server (bench/servers/hub.ts) of the given kind. */
function startHub(
  kind: "memory" | "raw",
  core: number | undefined,
): Promise<RunningServer> {
  return startServer(
    `the ${kind} fan-out server`,
    denoServer("hub.ts", [kind]),
    core,
  );
}
