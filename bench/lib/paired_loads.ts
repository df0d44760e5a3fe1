/**
 * Rounds of paired windows over load processes (load_process.ts): each
 * round loads the two sides of each pair in the same window, the pairs
 * (and which side starts first) taking turns, and keeps each side's result and each pair's ratio; the
 * summary is the median of the rounds' ratios with the lowest and highest,
 * as the paired mode of `deno task bench --paired` reports servers.
 *
 * @module
 */

import type { LoadProcess } from "./load_process.ts";
import { median, round } from "./stats.ts";

/** Two sides measured together; the ratio is `measured / baseline`. */
export interface LoadPair<K extends string> {
  readonly id: string;
  readonly measured: K;
  readonly baseline: K;
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
 * A ratio as the reports print it: `0.987 (0.97–1.01)`.
 *
 * @param r The ratio.
 * @returns The text.
 */
export function ratioText(r: PairRatio): string {
  return `${r.ratio.toFixed(3)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}
