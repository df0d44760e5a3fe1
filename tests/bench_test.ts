import assert from "node:assert/strict";
import { svgChart } from "../bench/lib/chart.ts";
import { clientFrame, FrameCounter, repeat } from "../bench/lib/load_client.ts";
import {
  type BenchResults,
  markdownReport,
  meetsTarget,
  type Metric,
  ratio,
  resultsTable,
} from "../bench/lib/report.ts";
import { LOCAL_DIR, scenarioRun } from "../bench/lib/results.ts";
import {
  pairedMarkdown,
  type PairedResults,
  summarizePair,
} from "../bench/lib/paired.ts";
import { median, percentile, summarize } from "../bench/lib/stats.ts";

const throughput: Metric = {
  id: "text64",
  label: "64 B text",
  short: "text",
  unit: "msgs/s",
  better: "higher",
  digits: 0,
  target: { ratio: 0.95, text: "≥ 0.95x" },
};
const latency: Metric = {
  id: "p99",
  label: "p99 latency",
  short: "p99",
  unit: "µs",
  better: "lower",
  digits: 0,
  target: { ratio: 1 / 1.1, text: "≤ 1.10x" },
};

function results(
  values: Record<string, Record<string, number[]>>,
): BenchResults {
  return {
    date: "2026-01-01 00:00 UTC",
    command: "deno task bench",
    quick: false,
    machine: "test machine",
    pinning: "",
    servers: [
      { id: "switchboard", name: "Switchboard", version: "Deno" },
      { id: "deno", name: "raw Deno", version: "Deno" },
      { id: "bun", name: "Bun", version: "Bun" },
    ],
    skipped: [],
    metrics: [throughput, latency],
    results: Object.fromEntries(
      Object.entries(values).map(([m, byServer]) => [
        m,
        Object.fromEntries(
          Object.entries(byServer).map(([s, runs]) => [s, summarize(runs)]),
        ),
      ]),
    ),
    cpu: {},
    notes: [],
  };
}

Deno.test("bench statistics: median, percentile and spread", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.deepEqual(summarize([90, 100, 110]), {
    runs: [90, 100, 110],
    median: 100,
    spread: 0.2,
  });
  assert.equal(summarize([5]).spread, 0);
});

Deno.test("bench report: ratios to raw Deno and targets in both directions", () => {
  const r = results({
    text64: { switchboard: [96], deno: [100], bun: [900] },
    p99: { switchboard: [115], deno: [100], bun: [50] },
  });
  assert.equal(ratio(r, "text64", "switchboard"), 0.96);
  assert.equal(meetsTarget(r, throughput), true);
  assert.equal(meetsTarget(r, latency), false);
  const table = resultsTable(r);
  assert.match(
    table,
    /\| 64 B text \| msgs\/s \| 96 \(0\.96x\) \| 100 \| 900 \(9\.00x\) \| ≥ 0\.95x ✅ \|/,
  );
  assert.match(
    table,
    /\| p99 latency \| µs \| 115 \(1\.15x\) .* ≤ 1\.10x ❌ \|/,
  );
  assert.match(markdownReport(r, "chart.svg"), /!\[.*\]\(chart\.svg\)/);
});

Deno.test("bench chart: one bar per server and metric, tall ones cut and labelled", () => {
  const svg = svgChart(results({
    text64: { switchboard: [96], deno: [100], bun: [900] },
    p99: { switchboard: [115], deno: [100], bun: [50] },
  }));
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal(svg.match(/<title>/g)?.length, 6);
  assert.match(svg, />9\.0x</);
  assert.match(svg, /Bun, p99 latency: 2\.00x/);
});

Deno.test("bench load client: frames are masked with a zero key and counted across chunks", () => {
  const small = clientFrame(1, new TextEncoder().encode("hi"));
  assert.deepEqual([...small], [0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]);
  assert.deepEqual([...clientFrame(2, new Uint8Array(300)).subarray(0, 4)], [
    0x82,
    0x80 | 126,
    1,
    44,
  ]);
  assert.equal(clientFrame(2, new Uint8Array(70_000))[1], 0x80 | 127);
  assert.equal(repeat(small, 3).length, 24);

  // Server frames (unmasked): two texts, a 300-byte binary, a close, fed
  // one byte at a time and then all at once.
  const server = new Uint8Array([
    ...[0x81, 1, 0x61],
    ...[0x81, 0],
    ...[0x82, 126, 1, 44, ...new Uint8Array(300)],
    ...[0x88, 2, 0x03, 0xe8],
  ]);
  const bytewise = new FrameCounter(true);
  let count = 0;
  for (const byte of server) count += bytewise.feed(new Uint8Array([byte]));
  assert.equal(count, 3);
  assert.equal(bytewise.closed, true);
  assert.deepEqual([...bytewise.first ?? []], [0x61]);
  assert.equal(new FrameCounter().feed(server), 3);
});

Deno.test("bench results: only a full deno task bench run writes the committed folder", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(scenarioRun(["--quick"], env({})), {
    quick: true,
    committed: false,
    dir: "bench/results/local",
  });
  assert.equal(scenarioRun([], env({})).dir, "bench/results/local");
  assert.equal(
    scenarioRun([], env({ BENCH_QUICK: "1", BENCH_FULL_RUN: "1" })).dir,
    "bench/results/local",
  );
  assert.deepEqual(scenarioRun([], env({ BENCH_FULL_RUN: "1" })), {
    quick: false,
    committed: true,
    dir: "bench/results",
  });
});

const ROOT = new URL("..", import.meta.url).pathname;

async function git(...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("git", { args, cwd: ROOT, stderr: "piped" })
    .output();
}

Deno.test("bench results: a quick scenario run leaves the tracked results unchanged", async () => {
  assert.equal(
    (await git("check-ignore", "-q", `${LOCAL_DIR}/x.json`)).code,
    0,
  );
  const status = async () =>
    new TextDecoder().decode(
      (await git("status", "--porcelain", "--", "bench/results")).stdout,
    );
  const before = await status();
  const started = Date.now();
  // BENCH_SECONDS=6 shrinks its rounds to a quarter of a second.
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/scenarios/rpc.ts", "--quick"],
    cwd: ROOT,
    env: { BENCH_SECONDS: "6", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  assert.match(new TextDecoder().decode(run.stdout), /## JSON-RPC calls/);
  const written = await Deno.stat(`${ROOT}${LOCAL_DIR}/rpc.quick.json`);
  assert.ok(written.mtime!.getTime() >= started - 1000);
  assert.equal(await status(), before);
});

Deno.test("bench paired mode: a ratio is the median of the per-round ratios", () => {
  const metrics = summarizePair([
    { text64: [90, 100], idle_memory: [24, 20] },
    { text64: [200, 180], idle_memory: [25, 20] },
    { text64: [95, 100], idle_memory: [23, 20] },
  ]);
  assert.deepEqual(metrics.text64?.ratios, [0.9, 1.1111, 0.95]);
  assert.equal(metrics.text64?.ratio, 0.95);
  assert.equal(metrics.text64?.min, 0.9);
  assert.equal(metrics.text64?.max, 1.1111);
  assert.equal(metrics.idle_memory?.ratio, 1.2);
  assert.equal(metrics.latency_p99, undefined);

  const results: PairedResults = {
    date: "2026-01-01 00:00 UTC",
    command: "deno task bench --paired --quick",
    quick: true,
    machine: "test machine",
    pinning: "",
    plan: {
      rounds: 3,
      warmup: 0.25,
      measure: 0.75,
      latency: 0.75,
      idle: { base: 500, count: 1000 },
    },
    seconds: 30,
    pairs: [
      {
        id: "switchboard",
        measured: "Switchboard",
        baseline: "raw Deno",
        metrics,
      },
      {
        id: "control",
        measured: "raw Deno B",
        baseline: "raw Deno A",
        metrics: summarizePair([{ text64: [101, 100] }]),
      },
    ],
    notes: [],
  };
  const md = pairedMarkdown(results);
  assert.match(md, /^## Paired: two servers on one core at once/);
  assert.match(
    md,
    /\| 64 B text, .* \| msgs\/s \| 95 \/ 100 \| 0\.950 \(0\.90–1\.11\) \| 101 \/ 100 \| 1\.010 \(1\.01–1\.01\) \|/,
  );
  assert.match(
    md,
    /\| memory per idle conn \| KiB \| 24\.0 \/ 20\.0 \| 1\.200 .* \| – \| – \|/,
  );
  assert.match(md, /raw Deno B \/ raw Deno A: ratio/);
});

Deno.test("bench idle memory: the RSS growth past the base connections, per connection", async () => {
  // Reading another process's /proc needs -A: the bench runs as it would.
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "bench/run.ts",
      "--quick",
      "--servers=deno",
      "--scenarios=idle_memory",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const kib = Number(
    out.match(
      /\| memory per idle conn, 1,000 more conns over 500 open \| KiB \| ([\d.]+) /,
    )?.[1],
  );
  // Raw Deno holds about 20 KiB per idle connection; wide margins for a
  // busy machine.
  assert.ok(kib > 4 && kib < 100, `got ${kib} KiB:\n${out}`);
});

Deno.test("bench idle memory: the live reading gives the young generation back and counts what the connections hold", async () => {
  // Reading another process's /proc/<pid>/status needs --allow-all.
  const script = `
    import { idleMemoryLive } from "./bench/lib/idle_memory.ts";
    import { denoServer, startServer } from "./bench/lib/process.ts";
    await using server = await startServer(
      "raw Deno",
      denoServer("deno_raw.ts", [], ["--allow-net", "--v8-flags=--expose-gc"]),
    );
    console.log(JSON.stringify(
      await idleMemoryLive([server], { base: 200, count: 400 }),
    ));
  `;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "-A", script],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const { rss, live } = JSON.parse(new TextDecoder().decode(run.stdout));
  // Raw Deno holds about 15 KiB per idle connection live and reads about 19
  // as RSS growth; wide margins for a busy machine.
  assert.ok(live[0] > 4 && live[0] < 100, `live ${live[0]} KiB`);
  assert.ok(rss[0] > 4 && rss[0] < 100, `rss ${rss[0]} KiB`);
  assert.ok(live[0] < rss[0], `live ${live[0]} KiB, rss ${rss[0]} KiB`);
});
