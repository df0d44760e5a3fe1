/**
 * The benchmark's statistics and output: medians and spreads, the markdown
 * table with each server's ratio to raw Deno, and the SVG bar chart. Pure
 * functions, no I/O, so tests/bench_test.ts can check them quickly.
 *
 * @module
 */

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

/** The runs of one metric on one server, summarized. */
export interface Summary {
  readonly runs: number[];
  readonly median: number;
  /** (max - min) / median; 0 for a single run. */
  readonly spread: number;
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
 * The median of some numbers (the mean of the middle two for an even count).
 *
 * @param values At least one number.
 * @returns The median.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new RangeError("Cannot take the median of nothing");
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid] as number
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The `p`-th percentile by the nearest-rank method.
 *
 * @param sorted Samples sorted in ascending order, at least one.
 * @param p The percentile, 0-100.
 * @returns The sample at that rank.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    throw new RangeError("Cannot take a percentile of nothing");
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/**
 * Summarizes the runs of one metric on one server.
 *
 * @param runs The value of each run.
 * @returns The runs, their median and their spread.
 */
export function summarize(runs: readonly number[]): Summary {
  const m = median(runs);
  const spread = m === 0 ? 0 : (Math.max(...runs) - Math.min(...runs)) / m;
  return { runs: [...runs], median: m, spread };
}

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

const COLORS: Record<string, string> = {
  switchboard: "#2f6fdf",
  deno: "#70757a",
  node: "#3c873a",
  bun: "#c9844a",
};

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * An SVG bar chart: a group per metric, a bar per server, the bar's height
 * its ratio to raw Deno turned so that higher is better. Bars over the top
 * of the axis are cut and labelled with their value.
 *
 * @param results The results.
 * @returns The SVG document.
 */
export function svgChart(results: BenchResults): string {
  const max = 2;
  const left = 48, top = 52, plotHeight = 240, bottom = 50;
  const barWidth = 16, gap = 4, groupGap = 28;
  const servers = results.servers;
  const groupWidth = servers.length * (barWidth + gap) - gap;
  const width = left + results.metrics.length * (groupWidth + groupGap) + 12;
  const height = top + plotHeight + bottom;
  const y = (v: number) => top + plotHeight * (1 - Math.min(v, max) / max);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${
      escapeXml(
        "Echo servers relative to raw Deno (1.0 = raw Deno, higher is better)",
      )
    }</text>`,
    `<text x="${left}" y="31" fill="#555">${
      escapeXml(
        "latency and memory inverted (raw / server); bars above 2x cut and labelled",
      )
    }</text>`,
  ];
  for (let v = 0; v <= max; v += 0.5) {
    out.push(
      `<line x1="${left}" x2="${width - 8}" y1="${y(v)}" y2="${y(v)}" stroke="${
        v === 1 ? "#000" : "#ddd"
      }"${v === 1 ? ' stroke-dasharray="4 3"' : ""}/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${
        v.toFixed(1)
      }x</text>`,
    );
  }
  results.metrics.forEach((metric, i) => {
    const x0 = left + 10 + i * (groupWidth + groupGap);
    servers.forEach((server, j) => {
      const r = ratio(results, metric.id, server.id);
      if (r === undefined) return;
      const g = goodness(metric, r);
      const x = x0 + j * (barWidth + gap);
      out.push(
        `<rect x="${x}" y="${y(g)}" width="${barWidth}" height="${
          y(0) - y(g)
        }" fill="${COLORS[server.id] ?? "#999"}"><title>${
          escapeXml(`${server.name}, ${metric.label}: ${g.toFixed(2)}x`)
        }</title></rect>`,
      );
      if (g > max) {
        out.push(
          `<text x="${x + barWidth / 2}" y="${
            y(max) - 3
          }" text-anchor="middle" font-size="9">${g.toFixed(1)}x</text>`,
        );
      }
    });
    out.push(
      `<text x="${x0 + groupWidth / 2}" y="${
        top + plotHeight + 16
      }" text-anchor="middle">${escapeXml(metric.short)}</text>`,
    );
  });
  servers.forEach((server, j) => {
    const x = left + j * 120;
    out.push(
      `<rect x="${x}" y="${height - 18}" width="10" height="10" fill="${
        COLORS[server.id] ?? "#999"
      }"/>`,
      `<text x="${x + 14}" y="${height - 9}">${escapeXml(server.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
