/**
 * Rounds of paired windows over load processes (load_process.ts): each
 * round loads the two sides of each pair in the same window, the pairs
 * (and which side starts first) taking turns, and keeps each side's result and each pair's ratio; the
 * summary is the median of the rounds' ratios with the lowest and highest,
 * as the paired mode of `deno task bench --paired` reports servers.
 *
 * What the paired scenarios (fanout_paired.ts, sse_paired.ts, rpc.ts) share
 * besides: their plan ({@linkcode pairedPlan}), their pairs with a control
 * ({@linkcode withControl}), their servers and load processes
 * ({@linkcode startSides}) and pieces of their reports.
 *
 * @module
 */

import type { LoadProcess } from "./load_process.ts";
import type { RunningServer } from "./process.ts";
import { median, round } from "./stats.ts";
import { windowSeconds } from "./budget.ts";

/** Two sides measured together; the ratio is `measured / baseline`. */
export interface LoadPair<K extends string> {
  readonly id: string;
  readonly measured: K;
  readonly baseline: K;
}

/**
 * A scenario's two pairs: the side measured against the baseline, and the
 * control, a second copy of the baseline (side `control`) against it.
 *
 * @param id The first pair's id.
 * @param measured The side measured.
 * @param baseline The side it is measured against.
 * @returns The two pairs, the control second.
 */
export function withControl<K extends string>(
  id: string,
  measured: K,
  baseline: K,
): readonly LoadPair<K | "control">[] {
  return [
    { id, measured, baseline },
    { id: "control", measured: "control", baseline },
  ];
}

/** How long paired rounds run. */
export interface PairedPlan {
  /** The rounds of each pair: 3 with `--quick`. */
  rounds: number;
  /** Each load process's warm-up, seconds: 0.25 with `--quick`, else 0.5. */
  warmup: number;
  /** Each window's seconds. */
  seconds: number;
}

/**
 * The plan of paired rounds. Each window lasts 1 s with `--quick`, 2 s in a
 * full run, less (0.25 s at the least) when `deno task bench` gives the
 * script a budget (`BENCH_SECONDS`) that the rounds of two pairs would not
 * fit in.
 *
 * @param quick Whether it is a quick run.
 * @param rounds The rounds of each pair in a full run.
 * @param startup Seconds to start the processes and open the connections.
 * @returns The rounds, the warm-up and each window's length.
 */
export function pairedPlan(
  quick: boolean,
  rounds: number,
  startup: number,
): PairedPlan {
  const plan = { rounds: quick ? 3 : rounds, warmup: quick ? 0.25 : 0.5 };
  const seconds = windowSeconds({
    quick,
    least: 0.25,
    fixed: startup + 3 * plan.warmup,
    windows: 2 * plan.rounds,
  });
  return { ...plan, seconds };
}

/**
 * How {@linkcode startSides} placed the processes, for a report.
 *
 * @param pinned Whether they were pinned.
 * @param loads What the load processes are, in the text.
 * @returns `servers on core 0, <loads> on core 1`, or that they were not.
 */
export function sidesPinning(pinned: boolean, loads: string): string {
  return pinned
    ? `servers on core 0, ${loads} on core 1`
    : "not pinned (no taskset)";
}

/** Each side's server and the load process on it; dispose of it to end all. */
export interface Sides<K extends string, T> extends AsyncDisposable {
  servers: Record<K, RunningServer>;
  loads: Record<K, LoadProcess<T>>;
}

/**
 * Starts each side's server, in the order given, then each one's load
 * process; when pinned, the servers on core 0 and the load processes on
 * core 1.
 *
 * @param kinds The sides.
 * @param server Starts a side's server on a core.
 * @param load Starts a side's load process against its server on a core.
 * @param pinned Whether to pin them (this process could pin itself).
 * @returns The sides; disposing of them ends them in the reverse order.
 */
export async function startSides<K extends string, T>(
  kinds: readonly K[],
  server: (kind: K, core: number | undefined) => Promise<RunningServer>,
  load: (
    kind: K,
    server: RunningServer,
    core: number | undefined,
  ) => Promise<LoadProcess<T>>,
  pinned: boolean,
): Promise<Sides<K, T>> {
  await using stack = new AsyncDisposableStack();
  const servers = {} as Record<K, RunningServer>;
  for (const kind of kinds) {
    servers[kind] = stack.use(await server(kind, pinned ? 0 : undefined));
  }
  const loads = {} as Record<K, LoadProcess<T>>;
  for (const kind of kinds) {
    loads[kind] = stack.use(
      await load(kind, servers[kind], pinned ? 1 : undefined),
    );
  }
  const owned = stack.move();
  return { servers, loads, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** A pair's ratio over the rounds. */
export interface PairRatio {
  /** The median of the rounds' ratios. */
  ratio: number;
  rounds: number[];
  min: number;
  max: number;
}

/**
 * Runs the rounds.
 *
 * @param pairs The pairs; a side may be in several (its results are kept
 * from the first pair it is in).
 * @param loads Each side's load process.
 * @param rounds How many rounds.
 * @param seconds Each window's length.
 * @param figures The figures a window's result gives, by name (higher is
 * better).
 * @returns Each side's results, in round order, and each pair's ratio of
 * each figure: `ratios[figure][pair]`.
 */
export async function pairedRounds<K extends string, T, F extends string>(
  pairs: readonly LoadPair<K>[],
  loads: Record<K, Pick<LoadProcess<T>, "run">>,
  rounds: number,
  seconds: number,
  figures: Record<F, (result: T) => number>,
): Promise<{
  results: Record<K, T[]>;
  ratios: Record<F, Record<string, PairRatio>>;
}> {
  const results = {} as Record<K, T[]>;
  const owner = new Map<K, string>();
  for (const pair of pairs) {
    for (const side of [pair.measured, pair.baseline]) {
      results[side] = [];
      if (!owner.has(side)) owner.set(side, pair.id);
    }
  }
  const names = Object.keys(figures) as F[];
  const each: Record<string, number[]> = {};
  for (const name of names) {
    for (const pair of pairs) each[`${name} ${pair.id}`] = [];
  }
  for (let turn = 0; turn < rounds; turn++) {
    const order = turn % 2 === 0 ? pairs : [...pairs].reverse();
    for (const pair of order) {
      // Which side is told to start first alternates too.
      const [measured, baseline] = turn % 2 === 0
        ? await Promise.all([
          loads[pair.measured].run(seconds),
          loads[pair.baseline].run(seconds),
        ])
        : (await Promise.all([
          loads[pair.baseline].run(seconds),
          loads[pair.measured].run(seconds),
        ])).reverse() as [T, T];
      if (owner.get(pair.measured) === pair.id) {
        results[pair.measured].push(measured);
      }
      if (owner.get(pair.baseline) === pair.id) {
        results[pair.baseline].push(baseline);
      }
      for (const name of names) {
        const value = figures[name];
        each[`${name} ${pair.id}`]!.push(
          round(value(measured) / value(baseline), 4),
        );
      }
    }
  }
  const ratios = {} as Record<F, Record<string, PairRatio>>;
  for (const name of names) {
    const byPair: Record<string, PairRatio> = ratios[name] = {};
    for (const pair of pairs) {
      const got = each[`${name} ${pair.id}`]!;
      byPair[pair.id] = {
        ratio: round(median(got), 3),
        rounds: got,
        min: Math.min(...got),
        max: Math.max(...got),
      };
    }
  }
  return { results, ratios };
}

/**
 * Each pair's two sides, for a report.
 *
 * @param pairs The pairs.
 * @param side A side's summary.
 * @param more What else the report says of a pair, by its id.
 * @returns Per pair: its id, its two sides' summaries, and `more`.
 */
export function bySide<K extends string, S, M extends object>(
  pairs: readonly LoadPair<K>[],
  side: (kind: K) => S,
  more: (id: string) => M,
): ({ pair: string; measured: S; baseline: S } & M)[] {
  return pairs.map((pair) => ({
    pair: pair.id,
    measured: side(pair.measured),
    baseline: side(pair.baseline),
    ...more(pair.id),
  }));
}

/**
 * A table row of a pair's ratios: `| <label> | 0.987 (0.97–1.01) | … |`.
 *
 * @param label The row's label.
 * @param ratios The pair's ratios, a cell each.
 * @param note Text after the last ratio, in its cell.
 * @returns The row.
 */
export function ratioRow(
  label: string,
  ratios: readonly PairRatio[],
  note = "",
): string {
  return `| ${label} | ${ratios.map(ratioText).join(" | ")}${note} |`;
}

/**
 * A ratio as the reports print it: `0.987 (0.97–1.01)`.
 *
 * @param r The ratio.
 * @returns The text.
 */
export function ratioText(r: PairRatio): string {
  return `${r.ratio.toFixed(3)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

/**
 * A side's rate in each round, rounded, and their median, for a report.
 *
 * @param windows The side's results, in round order.
 * @param rate A window's rate.
 * @returns The median round's rate and each round's.
 */
export function roundRates<T>(
  windows: readonly T[],
  rate: (window: T) => number,
): { median: number; rounds: number[] } {
  const rounds = windows.map((w) => Math.round(rate(w)));
  return { median: median(rounds), rounds };
}
