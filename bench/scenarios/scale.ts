/**
 * One server process holding 15,000 WebSocket connections with keepalive
 * on (3,000 with `--quick`):
 *
 * - memory per connection: the server's RSS growth (after a full garbage
 *   collection) from 1,000 open connections to all of them, per
 *   connection;
 * - the handshake rate while ramping up, and the server's CPU time per
 *   handshake;
 * - what keepalive costs at idle: the server's CPU share while every
 *   connection sits idle for two keepalive intervals (`keepAliveInterval`
 *   5 s: each is pinged every 5 s and answers with a pong), and its CPU time
 *   per ping;
 * - the round trip (p50, p99) of 64 B text on one connection among them all;
 * - a broadcast to all of them (a `Hub` room of every connection): the
 *   time until the last one has it, and deliveries per second over a burst
 *   of 10 broadcasts.
 *
 * ```sh
 * deno run -A bench/scenarios/scale.ts [--quick]
 * ```
 *
 * The server (bench/servers/scale.ts) runs pinned to core 0 and listens on
 * 127.0.0.1 to 127.0.0.4; the connections come from three client processes
 * (bench/lib/scale_client.ts: raw TCP, pongs answered, frames counted) on
 * core 1, each spreading its share over the four addresses: a process may
 * hold 20,000 open files here, and a client address and port pair reaches
 * each server address at most once. Every wait is bounded; the processes
 * are stopped at the end. Prints a markdown section and writes scale.json
 * and scale.svg (the server's RSS and open connections over the run;
 * scale.quick.* with `--quick`) to bench/results/local/, or to
 * bench/results/ when a full `deno task bench` runs it. Under `deno task
 * bench`, a budget (`BENCH_SECONDS`) under 45 s runs 5,000 connections and
 * says so.
 *
 * @module
 */

import { rssChart, type RssPhase, type RssSample } from "../lib/chart.ts";
import {
  denoServer,
  pinSelf,
  type RunningServer,
  startServer,
} from "../lib/process.ts";
import { benchBudget } from "../lib/budget.ts";
import { json, scenarioRun, writeResults } from "../lib/results.ts";
import { round } from "../lib/stats.ts";
import { startScaleClient } from "../lib/scale_client.ts";
import type { LoadProcess } from "../lib/load_process.ts";

const { quick, dir } = scenarioRun();
const budget = benchBudget();
/** A short budget runs fewer connections rather than being cut off. */
const shortened = !quick && budget < 45;
const CONNECTIONS = quick ? 3000 : shortened ? 5000 : 15_000;
/** Connections open when the memory baseline is read. */
const BASE = 1000;
const CLIENTS = 3;
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
/** Handshakes under way at once, per client process. */
const CONCURRENCY = 64;
/** keepAliveInterval, in seconds, and the idle window: two intervals. */
const KEEPALIVE = 5;
const IDLE_SECONDS = quick ? KEEPALIVE + 1 : 2 * KEEPALIVE;
const ECHO_SECONDS = quick ? 1 : 3;
const BURST = 10;
/** The longest wait for a broadcast to reach everyone. */
const BROADCAST_WAIT = 30;

interface Opened {
  opened: number;
  seconds: number;
}
interface Echo {
  samples: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}
interface Waited {
  complete: boolean;
  received: number;
  lastAt: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const pinned = await pinSelf();
  await using server = await startServer(
    "the scale server",
    denoServer(
      "scale.ts",
      [String(KEEPALIVE), HOSTS.slice(1).join(",")],
      ["-A", "--v8-flags=--expose-gc"],
    ),
    pinned ? 0 : undefined,
  );
  const clients: LoadProcess<unknown>[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      clients.push(await startScaleClient(server.port, pinned ? 1 : undefined));
    }
    const report = await measure(server, clients);
    await publish({
      ...report,
      pinning: pinned
        ? "server on core 0, the 3 client processes on core 1"
        : "not pinned (no taskset)",
      elapsedSeconds: round((performance.now() - started) / 1000, 1),
    });
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
  }
}

/** Samples the server's RSS and open connections every 250 ms. */
class Sampler {
  readonly samples: RssSample[] = [];
  readonly phases: RssPhase[] = [];
  #server: RunningServer;
  #start = performance.now();
  #timer: ReturnType<typeof setInterval>;
  #busy = false;

  constructor(server: RunningServer) {
    this.#server = server;
    this.#timer = setInterval(() => this.#sample(), 250);
  }

  /** Seconds since sampling started. */
  get t(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** Runs `work` as a named phase of the chart. */
  async phase<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = this.t;
    try {
      return await work();
    } finally {
      this.phases.push({ name, start, end: this.t });
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const t = this.t;
      const rssMiB = this.#server.rssKiB() / 1024;
      const stats = await (await fetch(
        `http://127.0.0.1:${this.#server.port}/stats`,
      )).json() as { connections: number };
      this.samples.push({ t, rssMiB, open: stats.connections });
    } catch {
      // The server is going away: the chart ends here.
    } finally {
      this.#busy = false;
    }
  }
}

async function measure(server: RunningServer, clients: LoadProcess<unknown>[]) {
  const sampler = new Sampler(server);
  try {
    // The baseline: the first connections, spread like the rest.
    await openAll(clients, BASE);
    await server.collectGarbage();
    const baseKiB = server.rssKiB();
    log(`${BASE} connections, RSS ${(baseKiB / 1024).toFixed(1)} MiB`);

    const ramp = await sampler.phase("ramp-up", async () => {
      const cpu0 = server.cpuSeconds();
      const start = performance.now();
      const opened = await openAll(clients, CONNECTIONS - BASE);
      const seconds = (performance.now() - start) / 1000;
      const cpu = server.cpuSeconds() - cpu0;
      return {
        handshakes: opened,
        seconds: round(seconds, 2),
        perSecond: Math.round(opened / seconds),
        serverCpu: round(cpu / seconds, 3),
        serverUsPerHandshake: round(cpu / opened * 1e6, 1),
      };
    });
    log(
      `ramp-up: ${ramp.handshakes} handshakes in ${ramp.seconds} s (${ramp.perSecond}/s, ${ramp.serverUsPerHandshake} µs of server CPU each)`,
    );
    const memory = await sampler.phase("GC", async () => {
      await server.collectGarbage();
      const fullKiB = server.rssKiB();
      return {
        baseMiB: round(baseKiB / 1024, 1),
        fullMiB: round(fullKiB / 1024, 1),
        perConnectionKiB: round((fullKiB - baseKiB) / (CONNECTIONS - BASE), 2),
      };
    });
    log(`memory: ${memory.perConnectionKiB} KiB per connection`);

    const idle = await sampler.phase("idle, keepalive", async () => {
      const pings0 = await totalPings(clients);
      const cpu0 = server.cpuSeconds();
      const start = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
      const seconds = (performance.now() - start) / 1000;
      const cpu = server.cpuSeconds() - cpu0;
      const pings = (await totalPings(clients)) - pings0;
      return {
        seconds: round(seconds, 2),
        pings,
        pingsPerSecond: Math.round(pings / seconds),
        serverCpu: round(cpu / seconds, 4),
        serverUsPerPing: pings > 0 ? round(cpu / pings * 1e6, 1) : null,
      };
    });
    log(
      `idle: ${idle.pings} pings answered, server CPU ${
        (idle.serverCpu * 100).toFixed(2)
      }% (${idle.serverUsPerPing} µs per ping)`,
    );

    const echo = await sampler.phase(
      "echo",
      () => clients[0]!.command<Echo>(`echo ${ECHO_SECONDS}`),
    );
    log(`echo: p50 ${echo.p50Us} µs, p99 ${echo.p99Us} µs`);

    const broadcast = await sampler.phase("broadcast", async () => {
      const one = await broadcastTo(clients, 1);
      const cpu0 = server.cpuSeconds();
      const burst = await broadcastTo(clients, BURST);
      // Read once every client has answered: a little after the last
      // delivery, so an upper bound.
      const cpu = server.cpuSeconds() - cpu0;
      return {
        toLastMs: one.ms,
        oneComplete: one.complete,
        burst: BURST,
        burstMs: burst.ms,
        burstComplete: burst.complete,
        deliveriesPerSecond: Math.round(burst.received / (burst.ms / 1000)),
        serverCpu: round(cpu / (burst.ms / 1000), 2),
        serverUsPerDelivery: round(cpu / burst.received * 1e6, 2),
      };
    });
    log(
      `broadcast: the last of ${CONNECTIONS} has it after ${broadcast.toLastMs} ms; ${broadcast.deliveriesPerSecond} deliveries/s over ${BURST}`,
    );
    return {
      scenario: "scale",
      command: `deno run -A bench/scenarios/scale.ts${quick ? " --quick" : ""}`,
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      quick,
      shortened,
      connections: CONNECTIONS,
      clientProcesses: clients.length,
      hosts: HOSTS,
      keepAliveIntervalSeconds: KEEPALIVE,
      ramp,
      memory,
      idle,
      echo,
      broadcast,
      chart: {
        samples: sampler.samples.map((s) => ({
          t: round(s.t, 2),
          rssMiB: round(s.rssMiB, 1),
          open: s.open,
        })),
        phases: sampler.phases.map((p) => ({
          name: p.name,
          start: round(p.start, 2),
          end: round(p.end, 2),
        })),
      },
    };
  } finally {
    sampler.stop();
  }
}

/** Opens `count` more connections, split over the clients and the hosts. */
async function openAll(
  clients: LoadProcess<unknown>[],
  count: number,
): Promise<number> {
  const opened = await Promise.all(clients.map(async (client, c) => {
    let got = 0;
    for (const [h, host] of HOSTS.entries()) {
      const slot = c * HOSTS.length + h, slots = clients.length * HOSTS.length;
      const share = Math.floor(count / slots) + (slot < count % slots ? 1 : 0);
      if (share === 0) continue;
      const done = await client.command<Opened>(
        `open ${host} ${share} ${CONCURRENCY}`,
      );
      got += done.opened;
    }
    return got;
  }));
  return opened.reduce((a, b) => a + b, 0);
}

async function totalPings(clients: LoadProcess<unknown>[]): Promise<number> {
  const got = await Promise.all(
    clients.map((c) => c.command<{ pings: number }>("pings")),
  );
  return got.reduce((sum, { pings }) => sum + pings, 0);
}

/**
 * `count` broadcasts sent by the first client to everyone: the time from
 * the first send until the last connection had them all.
 */
async function broadcastTo(
  clients: LoadProcess<unknown>[],
  count: number,
): Promise<{ ms: number; received: number; complete: boolean }> {
  await Promise.all(clients.map((c) => c.command(`arm ${count}`)));
  const { sentAt } = await clients[0]!.command<{ sentAt: number }>(
    `blast ${count}`,
  );
  const waited = await Promise.all(
    clients.map((c) => c.command<Waited>(`wait ${BROADCAST_WAIT}`)),
  );
  const lastAt = Math.max(...waited.map((w) => w.lastAt));
  return {
    ms: round(lastAt - sentAt, 1),
    received: waited.reduce((sum, w) => sum + w.received, 0),
    complete: waited.every((w) => w.complete),
  };
}

type Report = Awaited<ReturnType<typeof measure>> & {
  pinning: string;
  elapsedSeconds: number;
};

async function publish(report: Report): Promise<void> {
  const name = `scale${quick ? ".quick" : ""}`;
  const svg = rssChart({
    samples: report.chart.samples,
    phases: report.chart.phases,
    server: "scale server",
    title: `Scale: one server process, ${
      CONNECTIONS.toLocaleString("en-US")
    } connections, keepalive every ${KEEPALIVE} s`,
    subtitle:
      `RSS and open connections over the run: ramp-up from ${BASE}, GC, idle (pings answered), echo on one connection, broadcasts to all`,
  });
  await writeResults(dir, {
    [`${name}.json`]: json(report),
    [`${name}.svg`]: svg,
  });
  const { ramp, memory, idle, echo, broadcast } = report;
  const n = (v: number) => v.toLocaleString("en-US");
  console.log(
    [
      `## Scale: ${
        n(CONNECTIONS)
      } connections in one process (bench/scenarios/scale.ts)`,
      "",
      `${n(CONNECTIONS)} connections to one Switchboard server (\`route()\` ` +
      `with \`keepAliveInterval: ${KEEPALIVE}\`, every connection in one ` +
      `\`Hub\` room), opened by ${report.clientProcesses} client processes ` +
      `over ${HOSTS.length} loopback addresses, ${CONCURRENCY} handshakes ` +
      `at a time each${
        shortened ? " (fewer than 15,000 to fit the budget)" : ""
      }${quick ? " (quick run)" : ""}; ${report.pinning}; Deno ${report.deno}.`,
      "",
      "| metric | value |",
      "| --- | ---: |",
      `| memory per connection (RSS, ${n(BASE)} → ${
        n(CONNECTIONS)
      }, after GC) | ${memory.perConnectionKiB} KiB |`,
      `| server RSS at ${n(CONNECTIONS)} connections | ${memory.fullMiB} MiB |`,
      `| handshakes per second while ramping up | ${n(ramp.perSecond)} |`,
      `| server CPU per handshake | ${ramp.serverUsPerHandshake} µs |`,
      `| server CPU at idle, keepalive on (${
        n(idle.pingsPerSecond)
      } pings/s answered) | ${(idle.serverCpu * 100).toFixed(2)}% of a core |`,
      `| server CPU per ping and pong | ${idle.serverUsPerPing ?? "—"} µs |`,
      `| round trip of one active connection, p50 / p99 | ${echo.p50Us} / ${echo.p99Us} µs |`,
      `| broadcast to all: until the last has it | ${broadcast.toLastMs} ms${
        broadcast.oneComplete ? "" : " (not all arrived)"
      } |`,
      `| broadcast deliveries per second (${BURST} broadcasts) | ${
        n(broadcast.deliveriesPerSecond)
      }${broadcast.burstComplete ? "" : " (not all arrived)"} |`,
      `| server CPU per delivery (share of a core during the burst) | ${broadcast.serverUsPerDelivery} µs (${
        Math.round(broadcast.serverCpu * 100)
      }%) |`,
      "",
      `![The scale run](${name}.svg)`,
    ].join("\n"),
  );
}

function log(text: string): void {
  console.error(`[scale] ${text}`);
}

// Last, so that every class and constant above is defined when main runs.
await main();
