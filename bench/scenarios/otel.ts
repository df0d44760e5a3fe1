/**
 * What `observe: otel()` costs (issue 20): echo throughput of the same
 * Switchboard echo server (bench/servers/otel_echo.ts) with `observe:
 * otel()` under Deno's own OpenTelemetry exporter (`OTEL_DENO=true`,
 * OTLP/HTTP JSON every second to a receiver in this process, which reads
 * and counts what it gets) and without either, as a ratio (target: at
 * least 0.9x). Both servers run pinned to core 0 and are loaded in the
 * same window (bench/lib/paired.ts `pairedThroughput`: 64 B text, 50
 * connections x 10 in flight; 16 KiB binary, 20 x 4), this process (the
 * raw-TCP load client and the receiver) on core 1; rounds take turns as
 * to which server is opened and loaded first, and each figure is the
 * median round.
 *
 * ```sh
 * deno run -A bench/scenarios/otel.ts [--quick]
 * ```
 *
 * Prints a markdown section and writes otel.json (otel.quick.json with
 * `--quick`) to bench/results/local/, or to bench/results/ when a full
 * `deno task bench` runs it. Rounds shrink to fit `BENCH_SECONDS`.
 *
 * @module
 */

import { pairedThroughput, THROUGHPUT_LOADS } from "../lib/paired.ts";
import {
  denoServer,
  type Launch,
  pinSelf,
  type RunningServer,
  startServer,
} from "../lib/process.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { benchBudget, windowSeconds } from "../lib/budget.ts";
import { median, round } from "../lib/stats.ts";

const { quick, dir } = scenarioRun();
const FLAGS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--v8-flags=--expose-gc",
];
const EXPORT_INTERVAL_MS = 1000;

/** A receiver of OTLP/HTTP JSON: reads every body, counts the requests. */
function receiver(): {
  url: string;
  posts: Record<string, number>;
  bytes: number;
} & AsyncDisposable {
  const state = { posts: {} as Record<string, number>, bytes: 0 };
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) => {
      const body = await request.text();
      const path = new URL(request.url).pathname;
      state.posts[path] = (state.posts[path] ?? 0) + 1;
      state.bytes += body.length;
      return Response.json({});
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get posts() {
      return state.posts;
    },
    get bytes() {
      return state.bytes;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The otel server's launch: Deno's exporter on, through `env`. */
function otelLaunch(endpoint: string): Launch {
  const deno = denoServer("otel_echo.ts", ["otel"], FLAGS);
  return {
    cmd: "env",
    args: [
      "OTEL_DENO=true",
      "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
      `OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint}`,
      `OTEL_METRIC_EXPORT_INTERVAL=${EXPORT_INTERVAL_MS}`,
      deno.cmd,
      ...deno.args,
    ],
    version: deno.version,
  };
}

async function main(): Promise<void> {
  const pinned = await pinSelf();
  const core = pinned ? 0 : undefined;
  const budget = benchBudget();
  const wanted = quick ? 3 : 5;
  const warmup = 0.25;
  // A round is both loads: about 1.5 s each besides the measured window;
  // starting the servers takes about 4 s.
  const seconds = round(
    windowSeconds({
      quick,
      least: 0.5,
      fixed: 6,
      windows: wanted * 2,
      perWindow: 1.5,
    }),
    2,
  );
  const rounds = Math.max(
    1,
    Math.min(wanted, Math.floor((budget - 6) / (2 * (seconds + 1.5)))),
  );
  await using sink = receiver();
  await using observed = await startServer(
    "the echo server with otel()",
    otelLaunch(sink.url),
    core,
  );
  await using plain = await startServer(
    "the echo server without otel()",
    denoServer("otel_echo.ts", ["plain"], FLAGS),
    core,
  );
  const results: {
    load: string;
    unit: string;
    otel: number;
    plain: number;
    ratio: number;
    ratioRange: [number, number];
  }[] = [];
  for (const load of THROUGHPUT_LOADS) {
    const ratios: number[] = [];
    const values: [number, number][] = [];
    for (let turn = 0; turn < rounds; turn++) {
      const pair: [RunningServer, RunningServer] = turn % 2
        ? [plain, observed]
        : [observed, plain];
      const [a, b] = await pairedThroughput(...pair, load, {
        warmup,
        measure: seconds,
      });
      const [otelValue, plainValue] = turn % 2 ? [b, a] : [a, b];
      values.push([otelValue, plainValue]);
      ratios.push(otelValue / plainValue);
    }
    results.push({
      load: load.id,
      unit: load.scale === 1 ? "msgs/s" : "MB/s",
      otel: round(median(values.map(([o]) => o)), 1),
      plain: round(median(values.map(([, p]) => p)), 1),
      ratio: round(median(ratios), 3),
      ratioRange: [
        round(Math.min(...ratios), 3),
        round(Math.max(...ratios), 3),
      ],
    });
    console.error(`otel: ${load.id} done`);
  }
  // One more export interval, so that the receiver has seen the exporter work.
  await new Promise((resolve) => setTimeout(resolve, EXPORT_INTERVAL_MS + 200));
  const report = {
    scenario: "otel",
    command: `deno run -A bench/scenarios/otel.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    quick,
    pinning: pinned
      ? "both servers on core 0, load client and OTLP receiver on core 1"
      : "not pinned (no taskset)",
    rounds,
    secondsPerRound: seconds,
    exportIntervalMs: EXPORT_INTERVAL_MS,
    received: { posts: sink.posts, bytes: sink.bytes },
    throughput: results,
  };
  await writeResults(dir, {
    [`otel${quick ? ".quick" : ""}.json`]: json(report),
  });
  const fmt = (n: number) => n.toLocaleString("en-US");
  const posts = Object.entries(sink.posts).map(([path, n]) => `${n} to ${path}`)
    .join(", ");
  console.log([
    "## OpenTelemetry (bench/scenarios/otel.ts)",
    "",
    `The same Switchboard echo server (bench/servers/otel_echo.ts) with ` +
    `\`observe: otel()\` under Deno's exporter (\`OTEL_DENO=true\`, OTLP/HTTP ` +
    `JSON every ${EXPORT_INTERVAL_MS / 1000} s to a receiver in the load ` +
    `process: ${posts || "nothing"} received) and without either, both on ` +
    `core 0 and loaded in the same window: ${rounds} rounds of ${seconds} s; ` +
    `the value is the median round, the ratio the median of the rounds' ` +
    `ratios (lowest-highest in brackets); ${report.pinning}; Deno ` +
    `${Deno.version.deno}${
      quick ? " (quick run)" : ""
    }. Target: at least 0.90x.`,
    "",
    "| load | unit | with otel() | without | ratio |",
    "| --- | --- | ---: | ---: | ---: |",
    ...results.map((r) =>
      `| ${
        r.load === "text64"
          ? "64 B text, 50 conns × 10"
          : "16 KiB binary, 20 conns × 4"
      } | ${r.unit} | ${fmt(r.otel)} | ${fmt(r.plain)} | ${
        r.ratio.toFixed(2)
      }x (${r.ratioRange[0].toFixed(2)}-${r.ratioRange[1].toFixed(2)}) ${
        r.ratio >= 0.9 ? "✅" : "❌"
      } |`
    ),
  ].join("\n"));
}

await main();
