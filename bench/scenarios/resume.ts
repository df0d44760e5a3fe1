/**
 * Resumable sessions (issue 16): what `resume: true` costs and how fast a
 * cut connection comes back.
 *
 * 1. Echo throughput (64-byte text, 50 connections x 10 in flight; 16 KiB
 *    binary, 20 connections x 4) and memory per idle connection of the same
 *    Switchboard echo server (bench/servers/resume_echo.ts) with `resume`
 *    on and off, as ratios (target: at least 0.9x throughput). The load
 *    client is raw TCP, as in `deno task bench`, here speaking the session
 *    protocol on the resume server: it offers `switchboard.resume.v1`,
 *    opens with `\0N`, skips the server's control frames and acknowledges
 *    every 64 echoes or 256 KiB of them (3 bytes a character of text) as
 *    the real client does. Rounds take turns between the
 *    two servers; each figure is the median round.
 * 2. Cut to resumed: a resume client (`connect(url, { resume: true })` of
 *    src/client/mod.ts, `initialDelay: 0` so that no backoff delay is
 *    counted) talks to the resume server through a TCP proxy on 127.0.0.1
 *    that closes both of its TCP connections at random moments while
 *    numbered messages flow both ways; each sample is the time from the cut
 *    to the client's `"resumed"` event. At the end every echo must have
 *    arrived once and in order.
 *
 * ```sh
 * deno run -A bench/scenarios/resume.ts [--quick]
 * ```
 *
 * The servers run pinned to core 0, this process (load client, proxy and
 * resume client) to core 1, when `taskset` is there. Prints a markdown
 * section and writes resume.json (resume.quick.json with `--quick`) to
 * bench/results/local/, or to bench/results/ when a full `deno task bench`
 * runs it. Everything is bounded: rounds shrink to fit `BENCH_SECONDS`, the
 * cuts stop at their count or their deadline.
 *
 * @module
 */

import { connect } from "../../src/client/mod.ts";
import { CutProxy } from "../../tests/_cut_proxy.ts";
import {
  clientFrame,
  closeWs,
  type EchoHooks,
  echoLoad,
  type FrameCounter,
  openMany,
  openWs,
  timed,
  type Window,
  writeAll,
} from "../lib/load_client.ts";
import {
  denoServer,
  pinSelf,
  type RunningServer,
  startServer,
} from "../lib/process.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { benchBudget, windowSeconds } from "../lib/budget.ts";
import { deadline as withTimeout, delay } from "../lib/wait.ts";
import { median, percentile, round } from "../lib/stats.ts";
// The real client's ack batches.
import { ACK_BYTES, ACK_EVERY } from "../../src/session/_state.ts";

const { quick, dir } = scenarioRun();
const RESUME_PROTOCOL = "switchboard.resume.v1";
const DENO_FLAGS = ["--allow-net", "--v8-flags=--expose-gc"];
const KINDS = ["plain", "resume"] as const;
type Kind = typeof KINDS[number];

const LOADS = [
  { name: "64 B text", opcode: 1, size: 64, conns: 50, inflight: 10 },
  {
    name: "16 KiB binary",
    opcode: 2,
    size: 16 * 1024,
    conns: 20,
    inflight: 4,
  },
] as const;

interface LoadResult {
  load: string;
  plainPerSecond: number;
  resumePerSecond: number;
  ratio: number;
  ratioRange: [number, number];
  roundsPlain: number[];
  roundsResume: number[];
  serverUsPerMessage: Record<Kind, number>;
  serverCpu: Record<Kind, number>;
  /** This process's CPU share (both loads). */
  clientCpu: number;
}

interface CutResult {
  cuts: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  detectP50Ms: number;
  messages: number;
  exactlyOnceInOrder: boolean;
  freshSessions: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  const core = pinned ? 0 : undefined;
  const budget = benchBudget();
  const rounds = quick ? 5 : 7;
  const warmup = 0.25;
  // About 16 s go to starting servers, the memory readings and the cuts.
  const seconds = round(
    windowSeconds({
      quick,
      least: 0.25,
      fixed: 16,
      windows: rounds * LOADS.length,
      perWindow: warmup,
    }),
    2,
  );
  const loads: LoadResult[] = [];
  {
    await using plain = await start("plain", core);
    await using resume = await start("resume", core);
    const servers: Record<Kind, RunningServer> = { plain, resume };
    for (const load of LOADS) {
      const rates: Record<Kind, number[]> = { plain: [], resume: [] };
      // Server CPU microseconds per message, and CPU shares (1 = a core).
      const serverUs: Record<Kind, number[]> = { plain: [], resume: [] };
      const serverShare: Record<Kind, number[]> = { plain: [], resume: [] };
      const clientShare: Record<Kind, number[]> = { plain: [], resume: [] };
      const ratios: number[] = [];
      await echoPair(servers, load, 0.25, 0.25, KINDS);
      for (let turn = 0; turn < rounds; turn++) {
        // Odd rounds open and start the resume server's load first.
        const order = turn % 2 ? [...KINDS].reverse() : KINDS;
        const windows = await echoPair(servers, load, warmup, seconds, order);
        for (const kind of KINDS) {
          const window = windows[kind];
          rates[kind].push(window.count / window.seconds);
          serverUs[kind].push(
            window.serverCpu * window.seconds * 1e6 / window.count,
          );
          serverShare[kind].push(window.serverCpu);
          clientShare[kind].push(window.clientCpu);
        }
        ratios.push(rates.resume.at(-1)! / rates.plain.at(-1)!);
      }
      loads.push({
        load: load.name,
        plainPerSecond: Math.round(median(rates.plain)),
        resumePerSecond: Math.round(median(rates.resume)),
        ratio: round(median(ratios), 3),
        ratioRange: [
          round(Math.min(...ratios), 3),
          round(Math.max(...ratios), 3),
        ],
        roundsPlain: rates.plain.map(Math.round),
        roundsResume: rates.resume.map(Math.round),
        serverUsPerMessage: {
          plain: round(median(serverUs.plain), 2),
          resume: round(median(serverUs.resume), 2),
        },
        serverCpu: {
          plain: round(median(serverShare.plain), 2),
          resume: round(median(serverShare.resume), 2),
        },
        clientCpu: round(median(clientShare.plain), 2),
      });
      console.error(`resume: ${load.name} done`);
    }
  }
  const plan = quick ? { base: 500, count: 1000 } : { base: 1000, count: 2000 };
  let memory: { plainKiB: number; resumeKiB: number; ratio: number };
  {
    // Fresh servers, so that no reading finds pages the load left behind.
    await using plain = await start("plain", core);
    await using resume = await start("resume", core);
    const [p, r] = await idleMemory([plain, resume], plan);
    memory = {
      plainKiB: round(p!, 2),
      resumeKiB: round(r!, 2),
      ratio: round(r! / p!, 3),
    };
    console.error("resume: idle memory done");
  }
  const cutsWanted = quick ? 100 : 200;
  const spent = (performance.now() - started) / 1000;
  const cutSeconds = Math.max(3, Math.min(20, budget - spent - 3));
  let cuts: CutResult;
  {
    await using server = await start("resume", core);
    cuts = await cutRun(server.port, cutsWanted, cutSeconds);
  }
  const report = {
    scenario: "resume",
    command: `deno run -A bench/scenarios/resume.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    quick,
    pinning: pinned
      ? "servers on core 0, load client, proxy and resume client on core 1"
      : "not pinned (no taskset)",
    rounds,
    secondsPerRound: seconds,
    throughput: loads,
    idleMemory: { ...plan, ...memory },
    cutToResumed: cuts,
  };
  await writeResults(dir, {
    [`resume${quick ? ".quick" : ""}.json`]: json(report),
  });
  const fmt = (n: number) => n.toLocaleString("en-US");
  console.log(
    [
      "## Resumable sessions (bench/scenarios/resume.ts)",
      "",
      `The same Switchboard echo server (bench/servers/resume_echo.ts) with ` +
      `\`resume: true\` and without, both on core 0 and loaded in the same ` +
      `window (msg/s is each one's share of the core): ${rounds} rounds of ` +
      `${seconds} s; msg/s is the median round, the ratio the median of the ` +
      `rounds' ratios (lowest-highest in brackets); the load client ` +
      `acknowledges every ${ACK_EVERY} echoes or ${
        ACK_BYTES / 1024
      } KiB of them, as the real client does; ` +
      `${report.pinning}; Deno ${Deno.version.deno}${
        quick ? " (quick run)" : ""
      }.`,
      "",
      "| load | without resume | with resume | ratio | server CPU µs/msg without / with |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...loads.map((l) =>
        `| ${l.load}, msg/s | ${fmt(l.plainPerSecond)} | ${
          fmt(l.resumePerSecond)
        } | ${l.ratio.toFixed(2)}x (${l.ratioRange[0].toFixed(2)}-${
          l.ratioRange[1].toFixed(2)
        }) | ${l.serverUsPerMessage.plain} / ${l.serverUsPerMessage.resume} |`
      ),
      `| idle memory, KiB per connection (${fmt(plan.count)} over ${
        fmt(plan.base)
      }) | ${memory.plainKiB} | ${memory.resumeKiB} | ${
        memory.ratio.toFixed(2)
      }x | |`,
      "",
      `Cut to resumed, through a TCP proxy on 127.0.0.1 that closes both ` +
      `sides, with \`initialDelay: 0\` (the default 500 ms backoff bound ` +
      `adds a random 0-500 ms on top): ${cuts.cuts} cuts` +
      (cuts.failed > 0 ? ` (${cuts.failed} not resumed within 5 s)` : "") +
      `, p50 ${cuts.p50Ms} ms, p99 ${cuts.p99Ms} ms, max ${cuts.maxMs} ms ` +
      `(the client saw the drop after ${cuts.detectP50Ms} ms at the median); ` +
      `${fmt(cuts.messages)} numbered messages echoed across them, ` +
      (cuts.exactlyOnceInOrder
        ? "every one once and in order"
        : "NOT every one once and in order") +
      (cuts.freshSessions > 0
        ? `, ${cuts.freshSessions} fresh sessions instead of a resume`
        : "") +
      ".",
    ].join("\n"),
  );
}

function start(kind: Kind, core: number | undefined): Promise<RunningServer> {
  return startServer(
    `the ${kind} echo server`,
    denoServer("resume_echo.ts", [kind], DENO_FLAGS),
    core,
  );
}

// ---------------------------------------------------------------------------
// The raw-TCP load client, session-aware.

interface SessionConn {
  readonly conn: Deno.TcpConn;
  readonly counter: FrameCounter;
  readonly resume: boolean;
  /** Data messages received. */
  received: number;
  /** The received count last acknowledged. */
  acked: number;
  /** An echo's size as the session counts it (text: 3 bytes a character). */
  size: number;
  /** Bytes received since the last ack. */
  bytes: number;
}

const encoder = new TextEncoder();
const NEW_SESSION = clientFrame(1, encoder.encode("\0N"));
const END_SESSION = clientFrame(1, encoder.encode("\0C"));

/**
 * Opens a WebSocket to `ws://127.0.0.1:port/ws`; with `resume`, offers the
 * session protocol and opens a new session.
 */
async function openConn(port: number, resume: boolean): Promise<SessionConn> {
  const { conn, counter, early } = await openWs(port, false, {
    ...(resume ? { protocol: RESUME_PROTOCOL } : {}),
    sessions: true,
  });
  try {
    const ws: SessionConn = {
      conn,
      counter,
      resume,
      received: 0,
      acked: 0,
      size: 0,
      bytes: 0,
    };
    if (counter.feed(early) > 0) throw new Error("Data before the session");
    if (resume) {
      // The server answers `\0N` with its `\0S{...}` greeting.
      await writeAll(conn, NEW_SESSION);
      const buf = new Uint8Array(4096);
      while (counter.controls === 0) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("Closed before the session greeting");
        if (counter.feed(buf.subarray(0, n)) > 0) {
          throw new Error("Data before the session");
        }
      }
    }
    return ws;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/**
 * Ends the session on purpose (`\0C`, as the real client's `close()` does,
 * so that the server does not keep it for its window), closes with 1000
 * and waits at most `ms` for the server's close.
 */
function closeConn(ws: SessionConn, ms = 1000): Promise<void> {
  return closeWs(ws, ms, ws.resume ? END_SESSION : undefined);
}

/**
 * What a session adds to the shared echo load: count the echoes,
 * acknowledge every `ACK_EVERY` of them or `ACK_BYTES` of their bytes as
 * the real client does, and end the session on purpose.
 */
const SESSION_HOOKS: EchoHooks<SessionConn> = {
  echoed(ws, k) {
    ws.received += k;
    ws.bytes += k * ws.size;
  },
  due(ws) {
    if (
      !ws.resume ||
      (ws.received - ws.acked < ACK_EVERY && ws.bytes < ACK_BYTES)
    ) return undefined;
    ws.acked = ws.received;
    ws.bytes = 0;
    return clientFrame(1, encoder.encode(`\0A${ws.received}`));
  },
  close: (ws) => closeConn(ws),
};

/**
 * One round: fresh connections to both servers, then both loads in the
 * same timed window (the servers share core 0, so whatever else the machine
 * does falls on both alike and the ratio is one of CPU cost per message).
 */
async function echoPair(
  servers: Record<Kind, RunningServer>,
  load: typeof LOADS[number],
  warmup: number,
  seconds: number,
  order: readonly Kind[],
): Promise<Record<Kind, Window>> {
  const payload = new Uint8Array(load.size).fill(
    load.opcode === 1 ? 0x61 : 0xa5,
  );
  const frame = clientFrame(load.opcode, payload);
  const conns: Partial<Record<Kind, SessionConn[]>> = {};
  for (const kind of order) {
    conns[kind] = await openMany(
      servers[kind].port,
      load.conns,
      10,
      (port) => openConn(port, kind === "resume"),
    );
    for (const ws of conns[kind]!) {
      ws.size = load.opcode === 1 ? load.size * 3 : load.size;
    }
  }
  const windows = await Promise.all(order.map((kind) =>
    timed(
      warmup,
      seconds,
      () => servers[kind].cpuSeconds(),
      (state) =>
        echoLoad(
          conns[kind]!,
          frame,
          load.inflight,
          state,
          3000,
          SESSION_HOOKS,
        ),
    )
  ));
  return Object.fromEntries(
    order.map((kind, i) => [kind, windows[i]!]),
  ) as Record<Kind, Window>;
}

/**
 * Memory per idle connection (as bench/lib/idle_memory.ts, with sessions
 * opened on the resume server): RSS growth from `base` to `base + count`
 * open connections, after a full GC each time, over `count`; each step on
 * every server before the next.
 */
async function idleMemory(
  servers: readonly RunningServer[],
  plan: { base: number; count: number },
): Promise<number[]> {
  const open: SessionConn[] = [];
  const reading = async (count: number) => {
    for (const [i, server] of servers.entries()) {
      open.push(
        ...await openMany(server.port, count, 50, (p) => openConn(p, i === 1)),
      );
    }
    await delay(300);
    for (const server of servers) await server.collectGarbage();
    await delay(200);
    return servers.map((server) => server.rssKiB());
  };
  try {
    const before = await reading(plan.base);
    const after = await reading(plan.count);
    return servers.map((_, i) => (after[i]! - before[i]!) / plan.count);
  } finally {
    await Promise.all(open.map((ws) => closeConn(ws)));
  }
}

// ---------------------------------------------------------------------------
// Cut to resumed.

/**
 * Cuts the proxy under a resume client `wanted` times (or until `seconds`
 * pass), while numbered messages go out every 2 ms and come back, and
 * times each cut to the client's `"resumed"`.
 */
async function cutRun(
  serverPort: number,
  wanted: number,
  seconds: number,
): Promise<CutResult> {
  await using proxy = new CutProxy(serverPort);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
    resume: true,
    initialDelay: 0,
    maxDelay: 1000,
    minUptime: 0,
  });
  let onResumed: (() => void) | undefined;
  let detectedAt = 0;
  let freshSessions = 0;
  let opens = 0;
  let opened!: () => void;
  const firstOpen = new Promise<void>((resolve) => opened = resolve);
  client.addEventListener("open", () => {
    if (++opens > 1) freshSessions++;
    opened();
  });
  client.addEventListener("reconnecting", () => {
    detectedAt = performance.now();
  });
  client.addEventListener("resumed", () => onResumed?.());
  // The echoes, checked in order.
  let expected = 0;
  let inOrder = true;
  let allBack: (() => void) | undefined;
  let sent = 0;
  const reader = (async () => {
    for await (const msg of client) {
      if (msg.data !== `m${expected}`) inOrder = false;
      expected++;
      if (expected === sent) allBack?.();
    }
  })();
  await withTimeout(firstOpen, 5000, "The resume client did not open");
  let sending = true;
  let sendError: unknown;
  const sender = (async () => {
    while (sending) {
      for (let i = 0; i < 5; i++) {
        client.send(`m${sent++}`).catch((error) => sendError ??= error);
      }
      await delay(2);
    }
  })();
  const samples: number[] = [];
  const detects: number[] = [];
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  await delay(50);
  while (samples.length < wanted && performance.now() < deadline) {
    await delay(2 + Math.random() * 8);
    const resumed = new Promise<void>((resolve) => onResumed = resolve);
    detectedAt = 0;
    const t0 = performance.now();
    proxy.cut();
    try {
      await withTimeout(resumed, 5000, "not resumed");
    } catch {
      failed++;
      if (failed >= 3) break;
      continue;
    }
    const t1 = performance.now();
    samples.push(t1 - t0);
    if (detectedAt > 0) detects.push(detectedAt - t0);
  }
  onResumed = undefined;
  sending = false;
  await sender;
  // Every echo back, at most 10 s.
  if (expected < sent) {
    await withTimeout(
      new Promise<void>((resolve) => allBack = resolve),
      10_000,
      "echoes missing",
    ).catch(() => {});
  }
  // A duplicate would show as one more message: give it a moment.
  await delay(100);
  const exactly = inOrder && expected === sent && sendError === undefined;
  client.close();
  await withTimeout(client.closed, 5000, "client did not close").catch(
    () => {},
  );
  await reader;
  const sorted = samples.sort((a, b) => a - b);
  detects.sort((a, b) => a - b);
  const ms = (v: number) => round(v, 2);
  return {
    cuts: sorted.length,
    failed,
    p50Ms: sorted.length ? ms(percentile(sorted, 50)) : NaN,
    p99Ms: sorted.length ? ms(percentile(sorted, 99)) : NaN,
    maxMs: sorted.length ? ms(sorted.at(-1)!) : NaN,
    detectP50Ms: detects.length ? ms(percentile(detects, 50)) : NaN,
    messages: sent,
    exactlyOnceInOrder: exactly,
    freshSessions,
  };
}

await main();
