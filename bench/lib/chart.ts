/**
 * The benchmark's SVG charts: the echo servers' bars relative to raw Deno
 * (`deno task bench`) and the server's RSS over time (`deno task soak`).
 * Pure functions that return the SVG document.
 *
 * @module
 */

import { type BenchResults, goodness, ratio } from "./report.ts";

/**
 * Text made safe for an SVG text node or attribute.
 *
 * @param text The text.
 * @returns The text with `& < > "` as character references.
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The opening tag of an SVG document and its white background. */
function svgStart(width: number, height: number, fontSize: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${fontSize}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
}

const COLORS: Record<string, string> = {
  switchboard: "#2f6fdf",
  deno: "#70757a",
  node: "#3c873a",
  bun: "#c9844a",
};

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
    ...svgStart(width, height, 11),
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

/** One second of a soak run: the server's RSS and open connections. */
export interface RssSample {
  /** Seconds since the run started. */
  readonly t: number;
  readonly rssMiB: number;
  readonly open: number;
}

/** A phase of a soak run, shaded on the chart. */
export interface RssPhase {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** What {@linkcode rssChart} draws. */
export interface RssRun {
  readonly samples: readonly RssSample[];
  readonly phases: readonly RssPhase[];
  /**
   * The RSS after the held connections opened, in MiB: the ±10% band (a
   * soak run's).
   */
  readonly baseline?: number;
  /** A soak run's plan, for its subtitle. */
  readonly config?: {
    readonly held: number;
    readonly cycles: number;
    readonly concurrency: number;
  };
  /** A soak run's verdict. */
  readonly pass?: boolean;
  /** The server's name, for the title. */
  readonly server: string;
  /** The title and subtitle, when not a soak run's. */
  readonly title?: string;
  readonly subtitle?: string;
}

/**
 * A line chart of a soak run: the server's RSS (and open connections) over
 * time, the phases shaded, the baseline ±10% as a band.
 *
 * @param run The samples, phases and verdict.
 * @returns The SVG document.
 */
export function rssChart(run: RssRun): string {
  const { samples, phases, baseline, config, pass, server } = run;
  const title = run.title ?? `Soak: the ${server}'s RSS over time`;
  const subtitle = run.subtitle ??
    (config
      ? `${config.held} connections held, then ${config.cycles} connect/echo/close cycles ${config.concurrency} at a time, then the held ones closed`
      : "");
  const width = 900;
  const height = 440;
  const left = 64;
  const right = 70;
  const top = 72;
  const bottom = 52;
  const w = width - left - right;
  const h = height - top - bottom;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const rssValues = samples.map((s) => s.rssMiB).filter(Number.isFinite);
  const rssMax = niceCeil(Math.max((baseline ?? 0) * 1.15, ...rssValues));
  const openMax = niceCeil(Math.max(1, ...samples.map((s) => s.open)));
  const x = (t: number) => left + (t / tMax) * w;
  const y = (mib: number) => top + h - (mib / rssMax) * h;
  const yOpen = (n: number) => top + h - (n / openMax) * h;
  const out: string[] = [];
  out.push(
    ...svgStart(width, height, 12),
    `<text x="${left}" y="20" font-size="15" font-weight="bold">${
      escapeXml(title)
    }</text>`,
    `<text x="${left}" y="38">${escapeXml(subtitle)}</text>`,
  );
  const shades = ["#f3f6fb", "#fbf7ef"];
  phases.forEach((p, i) => {
    if (p.end <= p.start) return;
    out.push(
      `<rect x="${x(p.start).toFixed(1)}" y="${top}" width="${
        (x(p.end) - x(p.start)).toFixed(1)
      }" height="${h}" fill="${shades[i % 2]}"/>`,
      `<text x="${(x(p.start) + 3).toFixed(1)}" y="${
        top + 12 + (i % 2) * 13
      }" fill="#666" font-size="10">${escapeXml(p.name)}</text>`,
    );
  });
  // baseline and the 10% band around it
  if (baseline !== undefined && config !== undefined) {
    out.push(
      `<rect x="${left}" y="${
        y(baseline * 1.1).toFixed(1)
      }" width="${w}" height="${
        (y(baseline * 0.9) - y(baseline * 1.1)).toFixed(1)
      }" fill="#2a9d8f" opacity="0.12"/>`,
      `<line x1="${left}" x2="${left + w}" y1="${y(baseline).toFixed(1)}" y2="${
        y(baseline).toFixed(1)
      }" stroke="#2a9d8f" stroke-dasharray="4 3"/>`,
      `<text x="${left + 4}" y="${
        (y(baseline * 0.9) + 14).toFixed(1)
      }" fill="#2a9d8f">after ${config.held} held ±10% (${
        baseline.toFixed(1)
      } MiB)</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const v = (rssMax / 5) * i;
    const yy = y(v).toFixed(1);
    out.push(
      `<line x1="${left}" x2="${
        left + w
      }" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy}" dy="4" text-anchor="end">${
        v.toFixed(0)
      }</text>`,
      `<text x="${left + w + 6}" y="${
        yOpen((openMax / 5) * i).toFixed(1)
      }" dy="4" fill="#e76f51">${Math.round((openMax / 5) * i)}</text>`,
    );
  }
  const step = tMax > 120 ? 30 : tMax > 40 ? 10 : 5;
  for (let t = 0; t <= tMax; t += step) {
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${
        top + h + 16
      }" text-anchor="middle">${t}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" x2="${left + w}" y1="${top + h}" y2="${
      top + h
    }" stroke="#333"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${
      top + h
    }" stroke="#333"/>`,
    `<text x="${left + w / 2}" y="${
      height - 14
    }" text-anchor="middle">seconds</text>`,
    `<text transform="translate(16 ${
      top + h / 2
    }) rotate(-90)" text-anchor="middle">server RSS (MiB)</text>`,
    `<text transform="translate(${width - 12} ${
      top + h / 2
    }) rotate(90)" text-anchor="middle" fill="#e76f51">open connections on the server</text>`,
  );
  const finite = samples.filter((s) => Number.isFinite(s.rssMiB));
  out.push(
    `<polyline fill="none" stroke="#e76f51" stroke-width="1.2" opacity="0.8" points="${
      samples.map((s) => `${x(s.t).toFixed(1)},${yOpen(s.open).toFixed(1)}`)
        .join(" ")
    }"/>`,
    `<polyline fill="none" stroke="#264653" stroke-width="2" points="${
      finite.map((s) => `${x(s.t).toFixed(1)},${y(s.rssMiB).toFixed(1)}`)
        .join(" ")
    }"/>`,
    pass === undefined
      ? `<text x="${left}" y="${
        top - 14
      }" fill="#555">RSS sampled from /proc/&lt;pid&gt;/status (VmRSS), open connections from the route's stats</text>`
      : `<text x="${left}" y="${top - 14}" fill="${
        pass ? "#2a9d8f" : "#c1121f"
      }">${
        pass ? "PASS" : "FAIL"
      }: RSS sampled every second from /proc/&lt;pid&gt;/status (VmRSS); shaded band: baseline ±10%</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}

/** A round number at or above `value` for an axis. */
function niceCeil(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * magnitude >= value) return m * magnitude;
  }
  return 10 * magnitude;
}
