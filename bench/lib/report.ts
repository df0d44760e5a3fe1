/**
 * The echo benchmark's report: the results' shape, each server's ratio to
 * raw Deno, the targets and the markdown tables. Pure functions, no I/O, so
 * tests/bench_test.ts can check them quickly.
 *
 * @module
 */

import type { Summary } from "./stats.ts";

/** One measured quantity, a row of the table and a group of the chart. */
export interface Metric {
  readonly id: string;
  /** What was measured, as the table's first column says it. */
  readonly label: string;
  /** A short name, for the chart. */
  readonly short: string;
  readonly unit: string;
  /** Whether a larger value is the better one (throughput) or not. */
  readonly better: "higher" | "lower";
  /** Digits after the decimal point in the table. */
  readonly digits: number;
  /**
   * The least ratio to raw Deno Switchboard must reach, in the "better"
   * sense: 0.95 means at least 0.95x raw throughput, or at most 1/0.95 of
   * raw latency.
   */
  readonly target?: { readonly ratio: number; readonly text: string };
}

/** A server under test, a column of the table. */
export interface ServerInfo {
  readonly id: string;
  readonly name: string;
  readonly version: string;
}

/** Where the CPU went while one metric was measured on one server. */
export interface CpuSummary {
  /** The load client's share of one core (1 = all of it). */
  readonly client: number;
  /** The server's share of one core. */
  readonly server: number;
  /**
   * Server CPU time per message or handshake, in microseconds: steadier than
   * throughput on a busy machine.
   */
  readonly serverUs: number;
}

/** Everything a report is made from; also the JSON written to disk. */
export interface BenchResults {
  readonly date: string;
  readonly command: string;
  readonly quick: boolean;
  readonly machine: string;
  readonly pinning: string;
  readonly servers: readonly ServerInfo[];
  readonly skipped: readonly { id: string; name: string; why: string }[];
  readonly metrics: readonly Metric[];
  /** results[metric][server] */
  readonly results: Record<string, Record<string, Summary>>;
  /** cpu[metric][server]: medians over the runs. */
  readonly cpu: Record<string, Record<string, CpuSummary>>;
  readonly notes: readonly string[];
}

/** The server every ratio is taken to. */
export const BASELINE = "deno";
/** The server the targets apply to. */
export const SUBJECT = "switchboard";

/**
 * A server's median over raw Deno's, in the metric's own direction: for a
 * latency 1.10 means 10% slower than raw.
 *
 * @param results The results.
 * @param metric The metric's id.
 * @param server The server's id.
 * @returns The ratio, or undefined when either value is missing.
 */
export function ratio(
  results: BenchResults,
  metric: string,
  server: string,
): number | undefined {
  const value = results.results[metric]?.[server]?.median;
  const base = results.results[metric]?.[BASELINE]?.median;
  if (value === undefined || base === undefined || base === 0) return undefined;
  return value / base;
}

/**
 * The ratio turned so that larger is better everywhere, as the chart and
 * the targets read it.
 *
 * @param metric The metric.
 * @param r A ratio from {@linkcode ratio}.
 * @returns `r` for higher-is-better metrics, `1 / r` for the others.
 */
export function goodness(metric: Metric, r: number): number {
  return metric.better === "higher" ? r : 1 / r;
}

/**
 * Whether Switchboard meets the metric's target in these results.
 *
 * @param results The results.
 * @param metric The metric.
 * @returns true or false, or undefined when there is no target or no value.
 */
export function meetsTarget(
  results: BenchResults,
  metric: Metric,
): boolean | undefined {
  if (!metric.target) return undefined;
  const r = ratio(results, metric.id, SUBJECT);
  if (r === undefined) return undefined;
  // Rounded as printed, so that a "0.95x" never reads as a miss.
  return Math.round(goodness(metric, r) * 100) / 100 >= metric.target.ratio;
}

/**
 * A number with thousands separators and a fixed number of decimals.
 *
 * @param value The number.
 * @param digits Digits after the decimal point.
 * @returns The text.
 */
export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function cell(results: BenchResults, metric: Metric, server: string): string {
  const summary = results.results[metric.id]?.[server];
  if (!summary) return "—";
  let text = formatNumber(summary.median, metric.digits);
  if (summary.runs.length > 1) {
    text += ` ±${(summary.spread * 50).toFixed(1)}%`;
  }
  const r = ratio(results, metric.id, server);
  if (r !== undefined && server !== BASELINE) text += ` (${r.toFixed(2)}x)`;
  return text;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(header),
    line(header.map(() => "---")),
    ...rows.map(line),
  ].join("\n");
}

/**
 * The results table: a row per metric, a column per server, each cell the
 * median, ± half the spread and the ratio to raw Deno; then the target.
 *
 * @param results The results.
 * @returns Markdown.
 */
export function resultsTable(results: BenchResults): string {
  const header = [
    "scenario",
    "unit",
    ...results.servers.map((s) => s.name),
    "target for Switchboard",
  ];
  const rows = results.metrics.map((metric) => {
    const met = meetsTarget(results, metric);
    return [
      metric.label,
      metric.unit,
      ...results.servers.map((s) => cell(results, metric, s.id)),
      metric.target
        ? `${metric.target.text} ${met === undefined ? "" : met ? "✅" : "❌"}`
          .trim()
        : "",
    ];
  });
  return table(header, rows);
}

/**
 * The CPU table: for each metric and server, the median share of a core the
 * load client and the server used while measuring, and the server's CPU time
 * per message.
 *
 * @param results The results.
 * @returns Markdown.
 */
export function cpuTable(results: BenchResults): string {
  const header = ["scenario", ...results.servers.map((s) => s.name)];
  const rows = results.metrics.filter((m) => results.cpu[m.id]).map((m) => [
    m.label,
    ...results.servers.map((s) => {
      const cpu = results.cpu[m.id]?.[s.id];
      return cpu
        ? `${Math.round(cpu.client * 100)}% / ${
          Math.round(cpu.server * 100)
        }% / ${formatNumber(cpu.serverUs, cpu.serverUs < 10 ? 2 : 0)} µs`
        : "—";
    }),
  ]);
  return table(header, rows);
}

/**
 * The whole markdown report: how it was run, the results, the CPU shares and
 * the notes.
 *
 * @param results The results.
 * @param chart The chart's file name, relative to the report.
 * @returns Markdown.
 */
export function markdownReport(results: BenchResults, chart: string): string {
  const parts = [
    `# Switchboard benchmark${results.quick ? " (short or partial run)" : ""}`,
    `\`${results.command}\` on ${results.date}.\n\n${results.machine}. ${results.pinning}`,
    resultsTable(results),
    "Each cell: the median of the runs, ± half their spread ((max − min) / " +
    "median), and the ratio to raw Deno (for latency and memory, lower is " +
    "better). MB/s counts echoed payload bytes in one direction (10⁶ B).",
    `![Each server relative to raw Deno](${chart})`,
    "## Load client and CPU\n\nShare of one core used by the load client / " +
    "by the server while measuring, and server CPU time per message (per " +
    "handshake for handshakes); medians. A client well under 100% while " +
    "the server is near it means the server is the limit.\n\n" +
    cpuTable(results),
  ];
  if (results.skipped.length > 0) {
    parts.push(
      results.skipped.map((s) => `- ${s.name} not run: ${s.why}`).join("\n"),
    );
  }
  if (results.notes.length > 0) {
    parts.push(results.notes.map((n) => `- ${n}`).join("\n"));
  }
  return parts.join("\n\n") + "\n";
}
