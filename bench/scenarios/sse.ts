/**
 * The fallback transport against the WebSocket it stands in for: one
 * Switchboard echo server (`route()` with `transports: ["websocket", "sse"]`)
 * and Switchboard's own client (`connect()` with `transports: ["websocket"]`
 * or `["sse"]`) on both sides, so that only the transport differs. Measures
 *
 * - the round trip of a 64 B text with one connection and one message in
 *   flight (p50 and p99, µs);
 * - the messages per second echoed with 10 connections, each keeping 10
 *   messages of 64 B text in flight.
 *
 * ```sh
 * deno run -A bench/scenarios/sse.ts [--quick]
 * ```
 *
 * The server runs in a child process pinned to core 0, this process (the
 * clients) to core 1, when `taskset` is there. Every echo is checked (same
 * text, in order), and a phase in which nothing comes back for 5 s fails
 * that transport instead of hanging. 3 rounds (1 with `--quick`), the
 * transports taking turns; each figure is the median round, with its spread.
 * Prints a markdown section and writes sse.json (sse.quick.json with
 * `--quick`) to bench/results/local/, or to bench/results/ when a full
 * `deno task bench` runs it. The server is bench/servers/switchboard.ts
 * with `--sse`. Under `deno task bench` the windows shrink to fit
 * `BENCH_SECONDS`.
 *
 * @module
 */

import { connect, type Message } from "@switchboard/switchboard/client";
import {
  denoServer,
  ownCpuSeconds,
  pinSelf,
  type RunningServer,
  startServer,
} from "../lib/process.ts";
import { benchBudget } from "../lib/budget.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import {
  CONNECTIONS,
  drain,
  type EchoConn,
  echoWindow,
  IN_FLIGHT,
  payload,
  SIZE,
} from "../lib/echo_load.ts";
import {
  median,
  pct,
  percentile,
  round,
  summarize,
  type Summary,
} from "../lib/stats.ts";

const { quick, dir } = scenarioRun();

/** A phase with no echo for this long fails its transport. */
const STALL_MS = 5000;
const TRANSPORTS = ["websocket", "sse"] as const;
type Kind = typeof TRANSPORTS[number];
const NAMES: Record<Kind, string> = {
  websocket: "WebSocket",
  sse: "SSE fallback",
};

/** One client connection and its reader, with sequence numbers. */
type Conn = EchoConn<Message>;

/**
 * What the phases of one transport share: a progress count and a stall
 * check, armed only while a phase of this transport runs.
 */
class Guard {
  progress = 0;
  error: Error | undefined;
  #conns: Conn[];
  #timer: ReturnType<typeof setInterval>;
  #armed = false;
  #seen = -1;
  #since = 0;

  constructor(kind: Kind, conns: Conn[]) {
    this.#conns = conns;
    this.#timer = setInterval(() => {
      if (!this.#armed || this.error) return;
      if (this.progress !== this.#seen) {
        this.#seen = this.progress;
        this.#since = performance.now();
      } else if (performance.now() - this.#since > STALL_MS) {
        this.error = new Error(
          `${NAMES[kind]}: no echo for ${STALL_MS / 1000} s`,
        );
        // Ends every reader, so that the loops waiting on them stop.
        for (const conn of this.#conns) conn.client.close();
      }
    }, 250);
  }

  /** A phase starts: echoes are expected from now on. */
  arm(): void {
    this.#armed = true;
    this.#seen = this.progress;
    this.#since = performance.now();
  }

  /** The phase is over: nothing is expected until the next one. */
  disarm(): void {
    this.#armed = false;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

async function open(url: string, kind: Kind): Promise<Conn> {
  const client = connect(url, { transports: [kind], maxRetries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`${NAMES[kind]}: did not open within 5 s`));
    }, 5000);
    client.addEventListener("open", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
    client.addEventListener("close", () => {
      clearTimeout(timer);
      reject(new Error(`${NAMES[kind]}: closed before it opened`));
    }, { once: true });
  });
  if (client.transport !== kind) {
    throw new Error(`asked for ${kind}, got ${client.transport}`);
  }
  return {
    client,
    reader: client[Symbol.asyncIterator](),
    sent: 0,
    received: 0,
  };
}

/** Waits for the next echo and checks it is the one expected. */
async function echo(conn: Conn, guard: Guard): Promise<void> {
  const result = await conn.reader.next();
  if (result.done) {
    const { code, reason } = await conn.client.closed;
    throw guard.error ??
      new Error(`the connection closed (${code} ${reason}) mid-phase`);
  }
  const expected = payload(conn.received++);
  if (result.value.type !== "text" || result.value.data !== expected) {
    throw new Error(
      `echo ${conn.received - 1} came back as ${
        JSON.stringify(String(result.value.data).slice(-16))
      }, not ...${expected.slice(-16)}`,
    );
  }
  guard.progress++;
}

/** Round trips, one in flight, until `seconds` pass; µs each. */
async function latency(
  conn: Conn,
  guard: Guard,
  seconds: number,
): Promise<number[]> {
  const samples: number[] = [];
  guard.arm();
  try {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const start = performance.now();
      await conn.client.send(payload(conn.sent++));
      await echo(conn, guard);
      samples.push((performance.now() - start) * 1000);
    }
  } finally {
    guard.disarm();
  }
  return samples;
}

interface Rate {
  messagesPerSecond: number;
  /** Shares of one core over the window. */
  serverCpu: number;
  clientCpu: number;
  /** Server and client CPU time per echoed message, µs. */
  serverUs: number;
  clientUs: number;
}

/**
 * `IN_FLIGHT` messages in flight on each connection for `seconds`: each echo
 * received before the window ends counts and is replaced by a new message;
 * what is still in flight then is drained, uncounted.
 */
async function throughput(
  conns: Conn[],
  guard: Guard,
  seconds: number,
  server: RunningServer,
): Promise<Rate> {
  guard.arm();
  try {
    return await window(conns, guard, seconds, server);
  } finally {
    guard.disarm();
  }
}

async function window(
  conns: Conn[],
  guard: Guard,
  seconds: number,
  server: RunningServer,
): Promise<Rate> {
  const cpu0 = ownCpuSeconds(), serverCpu0 = server.cpuSeconds();
  const next = (conn: Conn) => echo(conn, guard);
  const { count, elapsed } = await echoWindow(conns, seconds, next);
  const cpu = ownCpuSeconds() - cpu0,
    serverCpu = server.cpuSeconds() - serverCpu0;
  await drain(conns, next);
  return {
    messagesPerSecond: count / seconds,
    serverCpu: serverCpu / elapsed,
    clientCpu: cpu / elapsed,
    serverUs: serverCpu / count * 1e6,
    clientUs: cpu / count * 1e6,
  };
}

interface Side {
  /** Every connection opened: the round-trip one first, then the others. */
  conns: Conn[];
  guard: Guard;
  p50: number[];
  p99: number[];
  samples: number;
  rates: Rate[];
  error?: string;
}

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  const reps = quick ? 1 : 3;
  // Seconds per window: full run about 30 s, quick about 8 s, less when
  // `deno task bench` gives this script less (about 5 s goes to starting,
  // connecting, warming up and closing).
  const planned = { latency: quick ? 1 : 2, throughput: quick ? 1.5 : 2.5 };
  const warmup = quick ? 0.3 : 0.5;
  const budget = benchBudget();
  const fixed = 5 + 2 * 2 * warmup;
  const scale = Math.max(
    0.1,
    Math.min(
      1,
      (budget - fixed) /
        (reps * TRANSPORTS.length * (planned.latency + planned.throughput)),
    ),
  );
  const windows = {
    latency: round(planned.latency * scale, 2),
    throughput: round(planned.throughput * scale, 2),
  };

  await using server = await startServer(
    "Switchboard",
    denoServer("switchboard.ts", ["--sse"]),
    pinned ? 0 : undefined,
  );
  const url = `ws://127.0.0.1:${server.port}/ws`;
  log(
    `server on port ${server.port}, ${reps} rounds of ${windows.latency} s + ${windows.throughput} s per transport`,
  );

  const sides = {} as Record<Kind, Side>;
  for (const kind of TRANSPORTS) {
    const conns: Conn[] = [];
    const side: Side = {
      conns,
      guard: new Guard(kind, conns),
      p50: [],
      p99: [],
      samples: 0,
      rates: [],
    };
    sides[kind] = side;
    try {
      // Every connection that opens is kept, to be closed at the end.
      const opened = await Promise.allSettled(
        Array.from({ length: 1 + CONNECTIONS }, () => open(url, kind)),
      );
      for (const result of opened) {
        if (result.status === "fulfilled") conns.push(result.value);
      }
      const failed = opened.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
      await latency(conns[0]!, side.guard, warmup);
      await throughput(conns.slice(1), side.guard, warmup, server);
    } catch (error) {
      side.error = messageOf(error);
      log(`${kind} setup failed: ${side.error}`);
    }
  }

  for (let rep = 0; rep < reps; rep++) {
    // Take turns, and change who goes first, so that load from elsewhere on
    // the machine falls on both alike.
    const order = rep % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse();
    for (const kind of order) {
      const side = sides[kind];
      if (side.error) continue;
      try {
        const samples = await latency(
          side.conns[0]!,
          side.guard,
          windows.latency,
        );
        samples.sort((a, b) => a - b);
        side.p50.push(percentile(samples, 50));
        side.p99.push(percentile(samples, 99));
        side.samples += samples.length;
        const rate = await throughput(
          side.conns.slice(1),
          side.guard,
          windows.throughput,
          server,
        );
        side.rates.push(rate);
        log(
          `#${rep + 1} ${kind}: p50 ${side.p50.at(-1)!.toFixed(0)} µs, p99 ${
            side.p99.at(-1)!.toFixed(0)
          } µs (${samples.length} round trips); ${
            Math.round(rate.messagesPerSecond)
          } msgs/s (server ${pct(rate.serverCpu)}, ${
            rate.serverUs.toFixed(1)
          } µs/msg; client ${pct(rate.clientCpu)}, ${
            rate.clientUs.toFixed(1)
          } µs/msg)`,
        );
      } catch (error) {
        side.error = messageOf(error);
        log(`#${rep + 1} ${kind} failed: ${side.error}`);
      }
    }
  }

  for (const kind of TRANSPORTS) {
    const side = sides[kind];
    side.guard.stop();
    await Promise.all(side.conns.map((conn) => closeConn(conn)));
  }

  const results = Object.fromEntries(TRANSPORTS.map((kind) => {
    const side = sides[kind];
    const rates = side.rates;
    return [kind, {
      transport: NAMES[kind],
      error: side.error ?? null,
      roundTrips: side.samples,
      p50Us: side.p50.length ? summarize(side.p50.map(round1)) : null,
      p99Us: side.p99.length ? summarize(side.p99.map(round1)) : null,
      messagesPerSecond: rates.length
        ? summarize(rates.map((r) => Math.round(r.messagesPerSecond)))
        : null,
      serverCpu: rates.length
        ? round(median(rates.map((r) => r.serverCpu)), 3)
        : null,
      serverUsPerMessage: rates.length
        ? round1(median(rates.map((r) => r.serverUs)))
        : null,
      clientCpu: rates.length
        ? round(median(rates.map((r) => r.clientCpu)), 3)
        : null,
      clientUsPerMessage: rates.length
        ? round1(median(rates.map((r) => r.clientUs)))
        : null,
    }];
  })) as Record<Kind, Row>;
  const ws = results.websocket, sse = results.sse;
  const ratios = {
    p50: quotient(sse.p50Us, ws.p50Us),
    p99: quotient(sse.p99Us, ws.p99Us),
    messagesPerSecond: quotient(sse.messagesPerSecond, ws.messagesPerSecond),
  };
  const pinning = pinned
    ? "server on core 0, clients on core 1"
    : "not pinned (no taskset or one core)";
  const report = {
    scenario: "sse",
    command: `deno run -A bench/scenarios/sse.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    quick,
    pinning,
    reps,
    seconds: windows,
    connections: CONNECTIONS,
    inFlight: IN_FLIGHT,
    messageBytes: SIZE,
    ratios,
    results,
    elapsedSeconds: round((performance.now() - started) / 1000, 1),
  };
  await writeResults(dir, {
    [`sse${quick ? ".quick" : ""}.json`]: json(report),
  });

  const cell = (summary: Summary | null, digits = 0) =>
    summary === null ? "—" : `${
      summary.median.toLocaleString("en-US", {
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      })
    }${
      summary.runs.length > 1 ? ` ±${(summary.spread * 50).toFixed(1)}%` : ""
    }`;
  const times = (r: number | null) => r === null ? "—" : `${r.toFixed(2)}x`;
  const cpu = (row: Row) =>
    row.serverCpu === null
      ? `${row.transport}: no figures`
      : `${row.transport} ${pct(row.serverCpu)} of the server's core (${
        row.serverUsPerMessage!.toFixed(1)
      } µs/msg), ${pct(row.clientCpu!)} of the client's (${
        row.clientUsPerMessage!.toFixed(1)
      } µs/msg)`;
  const failures = TRANSPORTS.filter((kind) => results[kind].error !== null)
    .map((kind) => `- ${NAMES[kind]} failed: ${results[kind].error}`);
  console.log(
    [
      "## Fallback transport: WebSocket and SSE (bench/scenarios/sse.ts)",
      "",
      `One Switchboard echo server (\`route()\` with both transports) and ` +
      `Switchboard's \`connect()\` client, with \`transports: ["websocket"]\` ` +
      `or \`["sse"]\`; 64 B text messages, each echo checked. Round trip: ` +
      `1 connection, 1 message in flight, ${windows.latency} s per round. ` +
      `Throughput: ${CONNECTIONS} connections × ${IN_FLIGHT} messages in ` +
      `flight, ${windows.throughput} s per round. ${reps} round${
        reps > 1 ? "s" : ""
      } per transport, taking turns, after ${warmup} s of warm-up; each ` +
      `figure is the median round${
        reps > 1 ? " ± half the spread between rounds" : ""
      }${quick ? " (quick run)" : ""}; ${pinning}; Deno ${Deno.version.deno}.`,
      "",
      "| metric | WebSocket | SSE fallback | SSE / WebSocket |",
      "| --- | ---: | ---: | ---: |",
      `| round trip p50, µs | ${cell(ws.p50Us)} | ${cell(sse.p50Us)} | ${
        times(ratios.p50)
      } |`,
      `| round trip p99, µs | ${cell(ws.p99Us)} | ${cell(sse.p99Us)} | ${
        times(ratios.p99)
      } |`,
      `| echoed msgs/s, ${CONNECTIONS} × ${IN_FLIGHT} in flight | ${
        cell(ws.messagesPerSecond)
      } | ${cell(sse.messagesPerSecond)} | ${
        times(ratios.messagesPerSecond)
      } |`,
      "",
      `CPU during the throughput rounds: ${cpu(ws)}; ${cpu(sse)}.`,
      ...(failures.length ? ["", ...failures] : []),
    ].join("\n"),
  );
  if (failures.length) Deno.exitCode = 1;
}

interface Row {
  transport: string;
  error: string | null;
  roundTrips: number;
  p50Us: Summary | null;
  p99Us: Summary | null;
  messagesPerSecond: Summary | null;
  serverCpu: number | null;
  serverUsPerMessage: number | null;
  clientCpu: number | null;
  clientUsPerMessage: number | null;
}

/** Closes a client; gives up waiting after 6 s (the SSE close waits 5). */
async function closeConn(conn: Conn): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  conn.client.close();
  await Promise.race([
    conn.client.closed,
    new Promise((resolve) => timer = setTimeout(resolve, 6000)),
  ]);
  clearTimeout(timer);
}

function quotient(a: Summary | null, b: Summary | null): number | null {
  return a === null || b === null || b.median === 0
    ? null
    : round(a.median / b.median, 2);
}

function round1(value: number): number {
  return round(value, 1);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function log(text: string): void {
  console.error(`[sse] ${text}`);
}

// Last, so that every class and constant above is defined when main runs.
await main();
