/**
 * `deno task bench [--quick]`: Switchboard, raw Deno, Node's ws and Bun echo
 * servers against one load client, in one run. Servers run pinned to core 0
 * and this process, the load client, to core 1 when `taskset` is there.
 * Writes bench/results/results.{md,json} and chart.svg, runs every
 * bench/scenarios/*.ts and appends what each prints, and puts the table and
 * chart into the README. A `--quick` run writes quick.* and a narrowed one
 * (`--servers`, `--scenarios` or `--reps`) partial.*, both to
 * bench/results/local/, which git ignores, and leave the README alone. The
 * whole run stops itself within seven minutes.
 *
 * `deno task bench --paired [--quick] [--microtask] [--loop]` runs only the
 * paired mode (bench/lib/paired.ts): Switchboard against raw Deno and a
 * control of raw Deno against raw Deno (and, with the flags, raw Deno sending
 * from a microtask and a minimal `for await` loop over raw Deno, each against
 * raw Deno), each pair on one core at once, fresh processes each round, about
 * two minutes for the first two pairs (one with `--quick`). It writes paired.{md,json}
 * to bench/results/ (paired_quick.* to bench/results/local/).
 *
 * @module
 */

import { svgChart } from "./lib/chart.ts";
import { SERVERS, type ServerSpec } from "./lib/echo_servers.ts";
import { idleMemory } from "./lib/idle_memory.ts";
import {
  churn,
  clientFrame,
  closeWs,
  echoLoad,
  openMany,
  openWs,
  pingPong,
  timed,
  type Window,
  writeAll,
} from "./lib/load_client.ts";
import {
  type Pair,
  pairedMarkdown,
  type PairedPlan,
  type PairedResults,
  type PairedRound,
  runPairRound,
  summarizePair,
} from "./lib/paired.ts";
import {
  canPin,
  type Launch,
  output,
  pin,
  ROOT,
  type RunningServer,
  startServer,
} from "./lib/process.ts";
import {
  type BenchResults,
  markdownReport,
  type Metric,
  resultsTable,
  type ServerInfo,
} from "./lib/report.ts";
import { FULL_RUN_ENV, json, resultsDir, writeResults } from "./lib/results.ts";
import { median, pct, percentile, summarize } from "./lib/stats.ts";

const START = performance.now();
/** The whole run, extension scenarios included, ends by this. */
const HARD_LIMIT_S = 415;
/** The built-in scenarios stop starting new runs after this. */
const CORE_LIMIT_S = 215;

const USAGE = "Usage: deno task bench [--quick] [--servers=a,b] " +
  "[--scenarios=a,b] [--reps=N] | deno task bench --paired [--quick] [--microtask] [--loop]";
const options = parseArgs(Deno.args);
const quick = options.quick;
/** A run that leaves out servers or scenarios is a partial one. */
const partialRun = options.servers !== undefined ||
  options.scenarios !== undefined || options.reps !== undefined;

function parseArgs(args: string[]): {
  quick: boolean;
  paired: boolean;
  /** `--paired` adds raw Deno sending from a microtask against raw Deno. */
  microtask: boolean;
  /** `--paired` adds a minimal `for await` loop over raw Deno against raw Deno. */
  loop: boolean;
  servers?: string[];
  scenarios?: string[];
  reps?: number;
} {
  const parsed: ReturnType<typeof parseArgs> = {
    quick: false,
    paired: false,
    microtask: false,
    loop: false,
  };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2) as [string, string | undefined];
    if (key === "--quick" && value === undefined) parsed.quick = true;
    else if (key === "--paired" && value === undefined) parsed.paired = true;
    else if (key === "--microtask" && value === undefined) {
      parsed.microtask = true;
    } else if (key === "--loop" && value === undefined) parsed.loop = true;
    else if (key === "--servers" && value) parsed.servers = value.split(",");
    else if (key === "--scenarios" && value) {
      parsed.scenarios = value.split(",");
    } else if (key === "--reps" && Number(value) >= 1) {
      parsed.reps = Number(value);
    } else {
      console.error(`Unknown argument ${arg}. ${USAGE}`);
      Deno.exit(2);
    }
  }
  if (
    parsed.paired &&
    (parsed.servers || parsed.scenarios || parsed.reps !== undefined)
  ) {
    console.error(`--paired takes only --quick. ${USAGE}`);
    Deno.exit(2);
  }
  if ((parsed.microtask || parsed.loop) && !parsed.paired) {
    console.error(`--microtask and --loop go with --paired. ${USAGE}`);
    Deno.exit(2);
  }
  return parsed;
}

/** Durations in seconds, sizes and counts of the two kinds of run. */
const plan = {
  ...(quick
    ? {
      reps: 1,
      warmup: 0.25,
      measure: 0.75,
      latency: 0.75,
      idle: { base: 500, count: 1000 },
      churn: 0.75,
    }
    : {
      reps: 3,
      warmup: 0.5,
      measure: 2,
      latency: 1.5,
      idle: { base: 1000, count: 2000 },
      churn: 1.5,
    }),
  ...(options.reps ? { reps: options.reps } : {}),
};

const THROUGHPUT = { ratio: 0.95, text: "≥ 0.95x" };
const WITHIN_10 = { ratio: 1 / 1.1, text: "≤ 1.10x" };

const METRICS: Metric[] = [
  {
    id: "text64",
    label: "64 B text, 50 conns × 10 in flight",
    short: "64 B text",
    unit: "msgs/s",
    better: "higher",
    digits: 0,
    target: THROUGHPUT,
  },
  {
    id: "binary16k",
    label: "16 KiB binary, 20 conns × 4 in flight",
    short: "16 KiB binary",
    unit: "MB/s",
    better: "higher",
    digits: 0,
    target: THROUGHPUT,
  },
  {
    id: "binary1m",
    label: "1 MiB binary, 4 conns × 2 in flight",
    short: "1 MiB binary",
    unit: "MB/s",
    better: "higher",
    digits: 0,
    target: THROUGHPUT,
  },
  {
    id: "latency_p50",
    label: "round trip p50, 1 conn, 64 B",
    short: "p50 latency",
    unit: "µs",
    better: "lower",
    digits: 0,
  },
  {
    id: "latency_p99",
    label: "round trip p99, 1 conn, 64 B",
    short: "p99 latency",
    unit: "µs",
    better: "lower",
    digits: 0,
    target: WITHIN_10,
  },
  {
    id: "idle_memory",
    label: `memory per idle conn, ${
      plan.idle.count.toLocaleString("en-US")
    } more conns over ${plan.idle.base.toLocaleString("en-US")} open`,
    short: "idle memory",
    unit: "KiB",
    better: "lower",
    digits: 1,
    target: WITHIN_10,
  },
  {
    id: "handshakes",
    label: "handshakes (open + close), 20 openers",
    short: "handshakes",
    unit: "per s",
    better: "higher",
    digits: 0,
    target: THROUGHPUT,
  },
];

/** What one run of a scenario on one server gives. */
interface Run {
  values: Record<string, number>;
  window?: Window;
}

interface Scenario {
  readonly name: string;
  run(server: RunningServer): Promise<Run>;
}

function serverCpu(server: RunningServer): () => number {
  return () => server.cpuSeconds();
}

function echo(
  opcode: number,
  size: number,
  conns: number,
  inflight: number,
  metric: string,
  toValue: (perSecond: number) => number,
): Scenario {
  const payload = new Uint8Array(size).fill(opcode === 1 ? 0x61 : 0xa5);
  const frame = clientFrame(opcode, payload);
  return {
    name: metric,
    async run(server) {
      const list = await openMany(
        server.port,
        conns,
        10,
        (port) => openWs(port),
      );
      const window = await timed(
        plan.warmup,
        plan.measure,
        serverCpu(server),
        (state) => echoLoad(list, frame, inflight, state),
      );
      return {
        values: { [metric]: toValue(window.count / window.seconds) },
        window,
      };
    },
  };
}

const SCENARIOS: Scenario[] = [
  echo(1, 64, 50, 10, "text64", (n) => n),
  echo(2, 16 * 1024, 20, 4, "binary16k", (n) => n * 16 * 1024 / 1e6),
  echo(2, 1024 * 1024, 4, 2, "binary1m", (n) => n * 1024 * 1024 / 1e6),
  {
    name: "latency",
    async run(server) {
      const ws = await openWs(server.port);
      const frame = clientFrame(1, new Uint8Array(64).fill(0x61));
      const samples: number[] = [];
      const window = await timed(
        plan.warmup,
        plan.latency,
        serverCpu(server),
        (state) => pingPong(ws, frame, state, samples),
      );
      samples.sort((a, b) => a - b);
      return {
        values: {
          latency_p50: percentile(samples, 50),
          latency_p99: percentile(samples, 99),
        },
        window,
      };
    },
  },
  {
    name: "idle_memory",
    // A fresh server for each run, so that no run finds pages an earlier
    // one left behind.
    async run(shared) {
      await using server = await startServer(
        shared.name,
        shared.launch,
        shared.core,
      );
      const [kib] = await idleMemory([server], plan.idle);
      return { values: { idle_memory: kib as number } };
    },
  },
  {
    name: "handshakes",
    async run(server) {
      const window = await timed(
        plan.warmup,
        plan.churn,
        serverCpu(server),
        (state) => churn(server.port, 20, state),
      );
      return {
        values: { handshakes: window.count / window.seconds },
        window,
      };
    },
  },
];

function elapsed(): number {
  return (performance.now() - START) / 1000;
}

function log(text: string): void {
  console.error(`[${elapsed().toFixed(0).padStart(3)}s] ${text}`);
}

/** Sends a text and a binary message and checks both come back unchanged. */
async function echoCheck(server: RunningServer): Promise<void> {
  for (
    const [opcode, payload] of [
      [1, new TextEncoder().encode("héllo, ✓ echo")],
      [2, Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)],
    ] as const
  ) {
    const ws = await openWs(server.port, true);
    await writeAll(ws.conn, clientFrame(opcode, payload));
    const buf = new Uint8Array(4096);
    while (!ws.counter.first) {
      const n = await ws.conn.read(buf);
      if (n === null) break;
      ws.counter.feed(buf.subarray(0, n));
    }
    await closeWs(ws);
    const got = ws.counter.first;
    if (!got || got.join() !== payload.join()) {
      throw new Error(`${server.name} did not echo a message unchanged`);
    }
  }
}

async function machine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
  const kernel = (await output("uname", ["-r"]).catch(() => "")).trim();
  const memory = (await Deno.readTextFile("/proc/meminfo").catch(() => ""))
    .match(/^MemTotal:\s+(\d+)/m)?.[1];
  return `${model}, ${navigator.hardwareConcurrency} cores` +
    (memory ? `, ${Math.round(Number(memory) / 1048576)} GiB` : "") +
    `, Linux ${kernel}`;
}

// Every child process started, so the hard limit can stop them all.
const running = new Set<RunningServer>();
let serverCore: number | undefined;

async function main(): Promise<void> {
  const pinned = await canPin();
  if (pinned) {
    await pin(Deno.pid, 1);
    serverCore = 0;
  }
  const pinning = pinned
    ? "Servers pinned to core 0 and the load client to core 1 with `taskset`."
    : "Not pinned (`taskset` missing or a single core): client and server share the CPU.";

  const servers: { spec: ServerSpec; launch: Launch; server: RunningServer }[] =
    [];
  const skipped: { id: string; name: string; why: string }[] = [];
  for (const spec of SERVERS) {
    if (options.servers && !options.servers.includes(spec.id)) continue;
    try {
      const launch = await spec.prepare();
      const server = await startServer(spec.name, launch, serverCore);
      running.add(server);
      await echoCheck(server);
      servers.push({ spec, launch, server });
      log(`${spec.name} (${launch.version}) on port ${server.port}`);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      skipped.push({ id: spec.id, name: spec.name, why });
      log(`${spec.name} skipped: ${why}`);
    }
  }
  if (!servers.some((s) => s.spec.id === "deno")) {
    throw new Error("raw Deno, the baseline, could not start");
  }

  const info: ServerInfo[] = servers.map(({ spec, launch }) => ({
    id: spec.id,
    name: spec.name,
    version: launch.version,
  }));
  const values: Record<string, Record<string, number[]>> = {};
  const cpu: Record<
    string,
    Record<string, { client: number[]; server: number[]; serverUs: number[] }>
  > = {};
  const notes: string[] = [];
  const store = (metric: string, server: string, value: number) => {
    ((values[metric] ??= {})[server] ??= []).push(value);
  };

  const results = (): BenchResults => ({
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    command: ["deno task bench", ...Deno.args].join(" "),
    quick: quick || partialRun,
    machine: `${machineText}; ${
      info.map((s) => s.version).filter(unique).join(", ")
    }`,
    pinning,
    servers: info,
    skipped,
    metrics: METRICS.filter((m) => values[m.id]),
    results: Object.fromEntries(
      Object.entries(values).map(([m, byServer]) => [
        m,
        Object.fromEntries(
          Object.entries(byServer).map(([s, runs]) => [s, summarize(runs)]),
        ),
      ]),
    ),
    cpu: Object.fromEntries(
      Object.entries(cpu).map(([m, byServer]) => [
        m,
        Object.fromEntries(
          Object.entries(byServer).map(([s, c]) => [s, {
            client: median(c.client),
            server: median(c.server),
            serverUs: median(c.serverUs),
          }]),
        ),
      ]),
    ),
    notes,
  });
  const machineText = await machine();
  partial = results;

  for (const scenario of SCENARIOS) {
    if (options.scenarios && !options.scenarios.includes(scenario.name)) {
      continue;
    }
    for (let rep = 0; rep < plan.reps; rep++) {
      if (elapsed() > CORE_LIMIT_S) {
        notes.push(
          `Time ran short: ${scenario.name} run ${
            rep + 1
          } and later runs were left out.`,
        );
        break;
      }
      // Rotate the order so that no server always goes first after a pause.
      for (let i = 0; i < servers.length; i++) {
        const { spec, server } = servers[(i + rep) % servers.length]!;
        try {
          const run = await scenario.run(server);
          for (const [metric, value] of Object.entries(run.values)) {
            store(metric, spec.id, value);
            if (run.window) {
              const w = run.window;
              const c = (cpu[metric] ??= {})[spec.id] ??= {
                client: [],
                server: [],
                serverUs: [],
              };
              c.client.push(w.clientCpu);
              c.server.push(w.serverCpu);
              c.serverUs.push(w.serverCpu * w.seconds / w.count * 1e6);
            }
          }
          log(
            `${scenario.name} #${rep + 1} ${spec.name}: ${
              Object.entries(run.values).map(([k, v]) => `${k}=${v.toFixed(1)}`)
                .join(" ")
            }${
              run.window
                ? ` (client ${pct(run.window.clientCpu)}, server ${
                  pct(run.window.serverCpu)
                }, ${
                  (run.window.serverCpu * run.window.seconds /
                    run.window.count * 1e6).toFixed(1)
                } µs/op)`
                : ""
            }`,
          );
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          notes.push(
            `${scenario.name} run ${rep + 1} on ${spec.name} failed: ${why}`,
          );
          log(
            `${scenario.name} #${
              rep + 1
            } ${spec.name} failed: ${why}\n${server.stderr}`,
          );
        }
      }
    }
  }
  for (const { server } of servers) {
    running.delete(server);
    await server[Symbol.asyncDispose]();
  }

  const final = results();
  notes.push(...saturation(final));
  await write(final);

  if (!partialRun) {
    // The scenario scripts pin their own processes: give them every core.
    if (pinned) await pin(Deno.pid, `0-${navigator.hardwareConcurrency - 1}`);
    const extra = await extensionScenarios();
    if (extra) await write(final, extra);
    if (!quick) await updateReadme(final);
  }
  log(`done in ${elapsed().toFixed(0)} s: ${dir()}/${base()}.md`);
  console.log(resultsTable(final));
}

function unique<T>(value: T, index: number, all: T[]): boolean {
  return all.indexOf(value) === index;
}

/**
 * The evidence that the load client is not the limit: in each throughput
 * scenario, the most any server reached, against what the Deno servers got.
 */
function saturation(results: BenchResults): string[] {
  const notes: string[] = [];
  for (const metric of results.metrics) {
    if (metric.better !== "higher") continue;
    const byServer = results.results[metric.id] ?? {};
    const best = Object.entries(byServer).sort((a, b) =>
      b[1].median - a[1].median
    )[0];
    const deno = byServer["deno"];
    if (!best || !deno) continue;
    const [id, summary] = best;
    const name = results.servers.find((s) => s.id === id)?.name ?? id;
    const client = results.cpu[metric.id]?.[id]?.client;
    if (id === "deno" || id === "switchboard") {
      notes.push(
        `${metric.short}: no server was faster than the Deno servers, so this run does not show the client's ceiling.`,
      );
    } else {
      notes.push(
        `${metric.short}: the same client drove ${name} to ${
          (summary.median / deno.median).toFixed(2)
        }x raw Deno` +
          (client === undefined ? "" : ` using ${pct(client)} of its core`) +
          ": the Deno figures are the servers' limit, not the client's.",
      );
    }
  }
  return notes;
}

function base(): string {
  return partialRun ? "partial" : quick ? "quick" : "results";
}

/** Only a full run writes the committed results. */
function dir(): string {
  return resultsDir(!partialRun && !quick);
}

async function write(results: BenchResults, extra = ""): Promise<void> {
  const name = base();
  const chart = name === "results" ? "chart.svg" : `${name}.svg`;
  await writeResults(dir(), {
    [`${name}.json`]: json(results),
    [chart]: svgChart(results),
    [`${name}.md`]: markdownReport(results, chart) + extra,
  });
}

/**
 * Runs each bench/scenarios/*.ts in name order with what is left of the time
 * budget, and returns their markdown sections.
 */
async function extensionScenarios(): Promise<string> {
  const dir = `${ROOT}bench/scenarios`;
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (
        entry.isFile && entry.name.endsWith(".ts") &&
        !entry.name.startsWith("_")
      ) {
        names.push(entry.name);
      }
    }
  } catch {
    // No scenarios folder: nothing to add.
  }
  names.sort();
  const sections: string[] = [];
  for (const [i, name] of names.entries()) {
    const left = HARD_LIMIT_S - 5 - elapsed();
    const weights = names.slice(i).reduce((sum, n) => sum + weight(n), 0);
    const seconds = Math.floor(left * weight(name) / weights);
    if (seconds < 5) {
      sections.push(
        `## ${name}\n\nNot run: the seven-minute budget was spent.`,
      );
      continue;
    }
    log(`scenario ${name} (at most ${seconds} s)`);
    sections.push(await runScript(`${dir}/${name}`, name, seconds));
  }
  return sections.length > 0 ? "\n" + sections.join("\n\n") + "\n" : "";
}

/**
 * A scenario's share of the time left, against 1 for the others: the scale
 * scenario opens 15,000 connections and waits out two keepalive intervals;
 * the resume scenario measures two loads, idle memory and then cuts, which
 * take about 23 s at the least (with one share it was stopped before its
 * cuts once the paired scenarios joined the run).
 */
function weight(name: string): number {
  return name === "scale.ts" ? 3 : name === "resume.ts" ? 2 : 1;
}

async function runScript(
  path: string,
  name: string,
  seconds: number,
): Promise<string> {
  // setsid puts the script and whatever it starts in a process group of its
  // own, so that a timeout stops all of them.
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "run", "-A", path, ...(quick ? ["--quick"] : [])],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: {
      BENCH_SECONDS: String(seconds),
      ...(quick ? { BENCH_QUICK: "1" } : { [FULL_RUN_ENV]: "1" }),
    },
  }).spawn();
  script = child.pid;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, seconds * 1000);
  const [out, status] = await Promise.all([
    new Response(child.stdout).text(),
    child.status,
  ]);
  clearTimeout(timer);
  killGroup(child.pid);
  script = undefined;
  if (timedOut) {
    return `${out.trim()}\n\n_${name} was stopped after ${seconds} s._`.trim();
  }
  if (!status.success) {
    return `${out.trim()}\n\n_${name} failed with exit code ${status.code}._`
      .trim();
  }
  return out.trim();
}

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone.
  }
}

/** Puts the table and the chart between the README's bench markers. */
async function updateReadme(results: BenchResults): Promise<void> {
  const path = `${ROOT}README.md`;
  const readme = await Deno.readTextFile(path);
  const start = "<!-- bench:start -->", end = "<!-- bench:end -->";
  const a = readme.indexOf(start), b = readme.indexOf(end);
  if (a < 0 || b < a) return;
  const block = [
    start,
    "",
    `Measured with \`${results.command}\` on ${results.date}: ${results.machine}. ${results.pinning}`,
    "",
    resultsTable(results),
    "",
    "![Each server relative to raw Deno](bench/results/chart.svg)",
    "",
  ].join("\n");
  await Deno.writeTextFile(path, readme.slice(0, a) + block + readme.slice(b));
  await output(Deno.execPath(), ["fmt", "README.md"], ROOT).catch(() => {});
}

/** Rounds, durations and counts of `--paired` (full about 2, quick 1 min). */
const PAIRED_PLAN: PairedPlan = quick
  ? {
    rounds: 3,
    warmup: 0.25,
    measure: 0.75,
    latency: 0.75,
    idle: { base: 500, count: 1000 },
  }
  : {
    rounds: 5,
    warmup: 0.5,
    measure: 2,
    latency: 1.5,
    idle: { base: 1000, count: 2000 },
  };
/** `--paired` starts no round after this (half as long again per extra pair). */
const PAIRED_LIMIT_S = (quick ? 75 : 190) *
  (1 + 0.5 * (Number(options.microtask) + Number(options.loop)));

/**
 * `--paired`: Switchboard against raw Deno and raw Deno against raw Deno,
 * each pair on one core at once, rounds of the two pairs taken in turn. With
 * `--microtask`, a third pair: raw Deno sending each echo from a microtask
 * (as a `for await` loop does: after Deno's read loop has asked for the next
 * frame) against raw Deno, which shows what that timing costs by itself.
 * With `--loop`, another: the least a `for await` echo over raw Deno takes
 * (a hand-written queue, waiter and iterator, no library), against raw Deno.
 */
async function pairedMain(): Promise<void> {
  const pinned = await canPin();
  if (pinned) await pin(Deno.pid, 1);
  const spec = (id: string) => SERVERS.find((s) => s.id === id)!;
  const switchboard = await spec("switchboard").prepare();
  const raw = await spec("deno").prepare();
  const pairs: Pair[] = [
    {
      id: "switchboard",
      measured: { id: "switchboard", name: "Switchboard", launch: switchboard },
      baseline: { id: "deno", name: "raw Deno", launch: raw },
    },
    {
      id: "control",
      measured: { id: "deno-b", name: "raw Deno B", launch: raw },
      baseline: { id: "deno-a", name: "raw Deno A", launch: raw },
    },
  ];
  // Raw Deno variants (bench/servers/deno_raw.ts --<flag>) against raw Deno.
  const variant = (flag: string, name: string): Pair => ({
    id: flag,
    measured: {
      id: `deno-${flag}`,
      name,
      launch: { ...raw, args: [...raw.args, `--${flag}`] },
    },
    baseline: { id: "deno", name: "raw Deno", launch: raw },
  });
  if (options.microtask) {
    pairs.push(variant("microtask", "raw Deno, send from a microtask"));
  }
  if (options.loop) {
    pairs.push(variant("loop", "raw Deno, a minimal for await loop"));
  }
  const rounds: PairedRound[][] = pairs.map(() => []);
  const notes: string[] = [];
  const machineText = `${await machine()}; ${switchboard.version}`;
  const pairedResults = (): PairedResults => ({
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    command: ["deno task bench", ...Deno.args].join(" "),
    quick,
    machine: machineText,
    pinning: pinned
      ? "Both servers of a pair pinned to core 0 and the load client to core 1 with `taskset`."
      : "Not pinned (`taskset` missing or a single core): the pairs are not on one core of their own.",
    plan: PAIRED_PLAN,
    seconds: Math.round(elapsed()),
    pairs: pairs.map((pair, i) => ({
      id: pair.id,
      measured: pair.measured.name,
      baseline: pair.baseline.name,
      metrics: summarizePair(rounds[i]!),
    })),
    notes,
  });
  partialPaired = pairedResults;
  const track = (server: RunningServer, on: boolean) => {
    if (on) running.add(server);
    else running.delete(server);
  };
  for (let r = 0; r < PAIRED_PLAN.rounds; r++) {
    if (elapsed() > PAIRED_LIMIT_S) {
      notes.push(`Time ran short: rounds ${r + 1} and later were left out.`);
      break;
    }
    for (const [i, pair] of pairs.entries()) {
      try {
        const round = await runPairRound(
          pair,
          r,
          PAIRED_PLAN,
          pinned ? 0 : undefined,
          track,
        );
        rounds[i]!.push(round);
        log(
          `paired ${pair.id} round ${r + 1}: ${
            Object.entries(round).map(([id, [m, b]]) =>
              `${id} ${m.toFixed(1)}/${b.toFixed(1)} = ${(m / b).toFixed(3)}`
            ).join(", ")
          }`,
        );
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        notes.push(`Round ${r + 1} of ${pair.id} failed: ${why}`);
        log(`paired ${pair.id} round ${r + 1} failed: ${why}`);
      }
    }
  }
  const final = pairedResults();
  await writePaired(final);
  log(`done in ${elapsed().toFixed(0)} s: ${pairedDir()}/${pairedBase()}.md`);
  console.log(pairedMarkdown(final));
}

function pairedBase(): string {
  return quick ? "paired_quick" : "paired";
}

/** A full `--paired` writes bench/results/paired.*, a quick one local/. */
function pairedDir(): string {
  return resultsDir(!quick);
}

async function writePaired(results: PairedResults): Promise<void> {
  await writeResults(pairedDir(), {
    [`${pairedBase()}.json`]: json(results),
    [`${pairedBase()}.md`]: pairedMarkdown(results),
  });
}

let partialPaired: (() => PairedResults) | undefined;
let partial: (() => BenchResults) | undefined;
/** The process group of the scenario script under way, if any. */
let script: number | undefined;

// The hard limit: whatever is under way, write what was measured and stop.
const hardStop = setTimeout(async () => {
  log(`the ${HARD_LIMIT_S} s limit was reached: stopping`);
  if (script !== undefined) killGroup(script);
  for (const server of running) {
    await server[Symbol.asyncDispose]().catch(() => {});
  }
  if (partial) {
    const r = partial();
    (r.notes as string[]).push(
      `The run hit its ${HARD_LIMIT_S} s limit and was cut short.`,
    );
    await write(r).catch(() => {});
  }
  if (partialPaired) {
    const r = partialPaired();
    (r.notes as string[]).push(
      `The run hit its ${HARD_LIMIT_S} s limit and was cut short.`,
    );
    await writePaired(r).catch(() => {});
  }
  Deno.exit(1);
}, HARD_LIMIT_S * 1000);

try {
  await (options.paired ? pairedMain() : main());
} catch (error) {
  log(`failed: ${error instanceof Error ? error.stack : error}`);
  for (const server of running) {
    await server[Symbol.asyncDispose]().catch(() => {});
  }
  Deno.exitCode = 1;
} finally {
  clearTimeout(hardStop);
}
