/**
 * The paired mode of `deno task bench --paired`: two servers pinned to the
 * same core at once, the load client on another, fresh processes each round.
 * The throughput scenarios load both servers together in one window, so the
 * two share the core's time and whatever else the machine does; round trips
 * alternate between the two, one at a time; idle memory is read on both, as
 * the RSS growth and as the live growth after a memory-reducing collection.
 * Each round gives a ratio per scenario, and the report takes the median of
 * the rounds. A control pair of two raw Deno servers shows how close to 1.00
 * the method holds two identical servers.
 *
 * @module
 */

import { idleMemoryLive, type IdlePlan } from "./idle_memory.ts";
import {
  clientFrame,
  closeWs,
  echoLoad,
  openMany,
  openWs,
  roundTrip,
  timed,
} from "./load_client.ts";
import { type Launch, type RunningServer, startServer } from "./process.ts";
import { median, percentile, round } from "./stats.ts";

/** Durations in seconds and connection counts of a paired run. */
export interface PairedPlan {
  readonly rounds: number;
  readonly warmup: number;
  readonly measure: number;
  readonly latency: number;
  readonly idle: IdlePlan;
}

/** One server of a pair. */
export interface PairedServer {
  readonly id: string;
  readonly name: string;
  readonly launch: Launch;
}

/** Two servers measured together; ratios are `measured / baseline`. */
export interface Pair {
  readonly id: string;
  readonly measured: PairedServer;
  readonly baseline: PairedServer;
}

/** A scenario of the paired mode. */
export interface PairedMetric {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly better: "higher" | "lower";
  readonly digits: number;
}

/** The paired scenarios, in the report's row order. */
export const PAIRED_METRICS: readonly PairedMetric[] = [
  {
    id: "text64",
    label: "64 B text, 50 conns × 10 in flight each",
    unit: "msgs/s",
    better: "higher",
    digits: 0,
  },
  {
    id: "binary16k",
    label: "16 KiB binary, 20 conns × 4 in flight each",
    unit: "MB/s",
    better: "higher",
    digits: 0,
  },
  {
    id: "latency_p50",
    label: "round trip p50, 1 conn each, 64 B, alternating",
    unit: "µs",
    better: "lower",
    digits: 0,
  },
  {
    id: "latency_p99",
    label: "round trip p99, 1 conn each, 64 B, alternating",
    unit: "µs",
    better: "lower",
    digits: 0,
  },
  {
    id: "idle_memory",
    label: "memory per idle conn",
    unit: "KiB",
    better: "lower",
    digits: 1,
  },
  {
    id: "idle_memory_live",
    label: "memory per idle conn, live (after a memory-reducing GC)",
    unit: "KiB",
    better: "lower",
    digits: 1,
  },
];

/** What each round measured on a pair: metric → [measured, baseline]. */
export type PairedRound = Record<string, [number, number]>;

/** One metric of one pair over all rounds. */
export interface PairedSummary {
  /** The measured server's value in each round. */
  readonly measured: number[];
  /** The baseline's value in each round. */
  readonly baseline: number[];
  /** measured / baseline in each round. */
  readonly ratios: number[];
  /** The median of `ratios`. */
  readonly ratio: number;
  readonly min: number;
  readonly max: number;
}

/** A paired run's results; also the JSON written to disk. */
export interface PairedResults {
  readonly date: string;
  readonly command: string;
  readonly quick: boolean;
  readonly machine: string;
  readonly pinning: string;
  readonly plan: PairedPlan;
  readonly seconds: number;
  readonly pairs: readonly {
    readonly id: string;
    readonly measured: string;
    readonly baseline: string;
    readonly metrics: Record<string, PairedSummary>;
  }[];
  readonly notes: readonly string[];
}

/**
 * Summarizes the rounds of one pair: each metric's values and its ratio per
 * round, and the median ratio.
 *
 * @param rounds What each round measured.
 * @returns The summary by metric id.
 */
export function summarizePair(
  rounds: readonly PairedRound[],
): Record<string, PairedSummary> {
  const out: Record<string, PairedSummary> = {};
  for (const metric of PAIRED_METRICS) {
    const got = rounds.map((r) => r[metric.id]).filter((v) => v !== undefined);
    if (got.length === 0) continue;
    const ratios = got.map(([m, b]) => round(m / b, 4));
    out[metric.id] = {
      measured: got.map(([m]) => round(m, metric.digits + 1)),
      baseline: got.map(([, b]) => round(b, metric.digits + 1)),
      ratios,
      ratio: round(median(ratios), 4),
      min: Math.min(...ratios),
      max: Math.max(...ratios),
    };
  }
  return out;
}

/**
 * The markdown section of a paired run: one row per scenario, each pair's
 * median values and median ratio with its range over the rounds.
 *
 * @param results The paired run.
 * @returns Markdown, starting with a `##` heading.
 */
export function pairedMarkdown(results: PairedResults): string {
  const head = ["scenario", "unit"];
  for (const pair of results.pairs) {
    head.push(
      `${pair.measured} / ${pair.baseline}: values`,
      `${pair.measured} / ${pair.baseline}: ratio (range)`,
    );
  }
  const rows = PAIRED_METRICS.filter((m) =>
    results.pairs.some((p) => p.metrics[m.id])
  ).map((metric) => {
    const cells = [metric.label, metric.unit];
    for (const pair of results.pairs) {
      const s = pair.metrics[metric.id];
      if (!s) {
        cells.push("–", "–");
        continue;
      }
      const fmt = (v: number) =>
        v.toLocaleString("en-US", {
          minimumFractionDigits: metric.digits,
          maximumFractionDigits: metric.digits,
        });
      cells.push(
        `${fmt(median(s.measured))} / ${fmt(median(s.baseline))}`,
        `${s.ratio.toFixed(3)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`,
      );
    }
    return cells;
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    "## Paired: two servers on one core at once",
    "",
    `\`${results.command}\` on ${results.date}, ${results.seconds} s: ${results.machine}. ${results.pinning}`,
    "",
    `Each round starts fresh server processes, both pinned to the same core, and measures the two together: the throughput scenarios load both in one window (${results.plan.warmup} s warm-up, ${results.plan.measure} s measured), round trips alternate between them (${results.plan.latency} s), idle memory is the RSS growth from ${
      results.plan.idle.base.toLocaleString("en-US")
    } to ${
      (results.plan.idle.base + results.plan.idle.count).toLocaleString(
        "en-US",
      )
    } open connections over ${
      results.plan.idle.count.toLocaleString("en-US")
    }; the live figure opens as many more and reads their RSS growth after V8's memory-reducing collection on both sides, which gives back the young generation V8 grew while they opened (a one-time growth that is larger the more the connections' objects survive). Values are medians of ${results.plan.rounds} rounds; a ratio is the median of the per-round ratios (for latency and memory, lower is better), with the lowest and highest round. The raw Deno / raw Deno control pair shows the method's own noise: two identical servers should read 1.00.`,
    "",
    line(head),
    line(head.map(() => "---")),
    ...rows.map(line),
    ...(results.notes.length > 0
      ? ["", ...results.notes.map((n) => `- ${n}`)]
      : []),
    "",
  ].join("\n");
}

/**
 * Runs one round of one pair: fresh processes, both pinned to `core`, every
 * paired scenario measured on both at once, then both stopped.
 *
 * @param pair The two servers.
 * @param index The round's number from 0: odd rounds start and load the
 * baseline first.
 * @param plan Durations and counts.
 * @param core The core both servers run on, or undefined not to pin.
 * @param track Told of each server started (true) and stopped (false), so
 * that a hard limit can stop them.
 * @returns What the round measured.
 */
export async function runPairRound(
  pair: Pair,
  index: number,
  plan: PairedPlan,
  core: number | undefined,
  track: (server: RunningServer, running: boolean) => void,
): Promise<PairedRound> {
  const order = index % 2 === 0
    ? [pair.measured, pair.baseline]
    : [pair.baseline, pair.measured];
  const started: RunningServer[] = [];
  try {
    for (const spec of order) {
      const server = await startServer(spec.name, spec.launch, core);
      track(server, true);
      started.push(server);
    }
    const [first, second] = started as [RunningServer, RunningServer];
    const values = await pairedRound(first, second, plan);
    const swapped = order[0] !== pair.measured;
    const round: PairedRound = {};
    for (const [id, [a, b]] of Object.entries(values)) {
      round[id] = swapped ? [b, a] : [a, b];
    }
    return round;
  } finally {
    for (const server of started) {
      track(server, false);
      await server[Symbol.asyncDispose]();
    }
  }
}

/** One round on two running servers: metric → [first, second]. */
async function pairedRound(
  a: RunningServer,
  b: RunningServer,
  plan: PairedPlan,
): Promise<Record<string, [number, number]>> {
  const out: Record<string, [number, number]> = {};
  // Memory first, while the processes are fresh: after the echo loads their
  // heaps and allocators hold free pages that idle connections would reuse.
  const memory = await idleMemoryLive([a, b], plan.idle);
  out.idle_memory = memory.rss as [number, number];
  out.idle_memory_live = memory.live as [number, number];
  for (const load of THROUGHPUT_LOADS) {
    out[load.id] = await pairedThroughput(a, b, load, plan);
  }
  const [p50, p99] = await alternatingLatency(a, b, plan);
  out.latency_p50 = p50;
  out.latency_p99 = p99;
  return out;
}

/** One echo load of the paired throughput scenarios. */
export interface ThroughputLoad {
  /** The metric's id in {@linkcode PAIRED_METRICS}. */
  readonly id: string;
  /** 1 text, 2 binary. */
  readonly opcode: number;
  readonly size: number;
  readonly conns: number;
  /** Messages each connection keeps in flight. */
  readonly inflight: number;
  /** Turns messages per second into the metric's unit. */
  readonly scale: number;
}

/** 64 B text (msgs/s) and 16 KiB binary (MB/s), as the paired mode runs them. */
export const THROUGHPUT_LOADS: readonly ThroughputLoad[] = [
  { id: "text64", opcode: 1, size: 64, conns: 50, inflight: 10, scale: 1 },
  {
    id: "binary16k",
    opcode: 2,
    size: 16 * 1024,
    conns: 20,
    inflight: 4,
    scale: 16 * 1024 / 1e6,
  },
];

/**
 * One echo load on two servers at once, in the same timed window: fresh
 * connections to each, then both loads together, so that the two share
 * their core's time.
 *
 * @param a The first server.
 * @param b The second server.
 * @param load The load.
 * @param plan The warm-up and measured seconds.
 * @returns Each server's echoes per second, in the load's unit.
 */
export async function pairedThroughput(
  a: RunningServer,
  b: RunningServer,
  load: ThroughputLoad,
  plan: Pick<PairedPlan, "warmup" | "measure">,
): Promise<[number, number]> {
  const frame = clientFrame(
    load.opcode,
    new Uint8Array(load.size).fill(load.opcode === 1 ? 0x61 : 0xa5),
  );
  const lists = [
    await openMany(a.port, load.conns, 10, (port) => openWs(port)),
    await openMany(b.port, load.conns, 10, (port) => openWs(port)),
  ];
  const windows = await Promise.all(
    [a, b].map((server, i) =>
      timed(
        plan.warmup,
        plan.measure,
        () => server.cpuSeconds(),
        (state) => echoLoad(lists[i]!, frame, load.inflight, state),
      )
    ),
  );
  return windows.map((w) => w.count / w.seconds * load.scale) as [
    number,
    number,
  ];
}

/**
 * Round trips of one 64-byte message, taking turns between the two servers,
 * for `plan.warmup + plan.latency` seconds; samples from the last
 * `plan.latency`.
 */
async function alternatingLatency(
  a: RunningServer,
  b: RunningServer,
  plan: PairedPlan,
): Promise<[[number, number], [number, number]]> {
  const frame = clientFrame(1, new Uint8Array(64).fill(0x61));
  const conns = [await openWs(a.port), await openWs(b.port)];
  const samples: [number[], number[]] = [[], []];
  const buf = new Uint8Array(64 * 1024);
  const start = performance.now();
  const open = start + plan.warmup * 1000;
  const end = open + plan.latency * 1000;
  try {
    for (let turn = 0; performance.now() < end; turn ^= 1) {
      const us = await roundTrip(conns[turn]!, frame, buf);
      if (performance.now() >= open) samples[turn]!.push(us);
    }
  } finally {
    await Promise.all(conns.map((ws) => closeWs(ws)));
  }
  const [sa, sb] = samples.map((s) => s.sort((x, y) => x - y));
  return [
    [percentile(sa!, 50), percentile(sb!, 50)],
    [percentile(sa!, 99), percentile(sb!, 99)],
  ];
}
