/**
 * JSON-RPC calls per second and round-trip percentiles with 50 concurrent
 * callers on one connection: `RpcPeer` on both sides, against a hand-written
 * JSON-RPC floor (raw `Deno.upgradeWebSocket` server, raw `WebSocket` client,
 * a `Map` of pending ids) that shows what the peer itself costs.
 *
 * ```sh
 * deno run -A bench/scenarios/rpc.ts [--quick]
 * ```
 *
 * The server runs in a child process (pinned to core 0, this process to core
 * 1, when `taskset` is there). Prints a markdown section and writes
 * bench/results/rpc.json (rpc.quick.json with `--quick`). Under
 * `deno task bench` the rounds shrink to fit `BENCH_SECONDS`.
 *
 * @module
 */

import { route, Socket } from "../../mod.ts";
import { RpcPeer } from "../../src/rpc/mod.ts";

type Api = { add(params: [a: number, b: number]): number };

const CALLERS = 50;
const quick = Deno.args.includes("--quick") ||
  Deno.env.get("BENCH_QUICK") === "1";
const serveArg = Deno.args.find((arg) => arg.startsWith("--serve="));

if (serveArg !== undefined) {
  serve(serveArg.slice("--serve=".length));
} else {
  await main();
}

/** Child process: serves `add` on 127.0.0.1 and prints its port. */
function serve(kind: string): void {
  const handler = kind === "switchboard"
    ? route("/", (socket) => {
      new RpcPeer<Api>(socket, { methods: { add: ([a, b]) => a + b } });
    })
    : (request: Request): Response => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (event) => {
        const { params, id } = JSON.parse(event.data);
        socket.send(
          JSON.stringify({ jsonrpc: "2.0", result: params[0] + params[1], id }),
        );
      };
      return response;
    };
  Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: ({ port }) => console.log(`PORT ${port}`),
  }, handler);
}

interface Result {
  peer: string;
  calls: number;
  seconds: number;
  callsPerSecond: number;
  roundsCallsPerSecond: number[];
  p50Ms: number;
  p99Ms: number;
}

type Call = (a: number, b: number) => Promise<number>;

async function main(): Promise<void> {
  const pinned = await pinSelf();
  const rounds = quick ? 3 : 5;
  // Within the share of `deno task bench`'s budget it gives this script,
  // with a few seconds left for starting and stopping.
  const budget = Number(Deno.env.get("BENCH_SECONDS") ?? Infinity);
  const seconds = Math.max(
    0.25,
    Math.min(quick ? 1 : 2, (budget - 5) / (2 * rounds)),
  );
  const kinds = ["switchboard", "raw"] as const;
  await using switchboard = await startServer("switchboard", pinned);
  await using raw = await startServer("raw", pinned);
  const clients = [
    switchboardClient(`ws://127.0.0.1:${switchboard.port}/`),
    await rawClient(`ws://127.0.0.1:${raw.port}/`),
  ];
  for (const client of clients) await load(client.call, 0.5, []);
  // Rounds take turns, so that load from elsewhere on the machine falls on
  // both peers alike; each figure is the median round.
  const rates: number[][] = kinds.map(() => []);
  const latencies: number[][] = kinds.map(() => []);
  for (let turn = 0; turn < rounds; turn++) {
    for (const [k, client] of clients.entries()) {
      const calls = await load(client.call, seconds, latencies[k]!);
      rates[k]!.push(calls / seconds);
    }
  }
  for (const client of clients) await client.close();
  const results: Result[] = kinds.map((kind, k) => {
    const sorted = latencies[k]!.sort((a, b) => a - b);
    return {
      peer: kind === "switchboard"
        ? "RpcPeer (both sides)"
        : "hand-written floor (raw WebSocket, Map of ids)",
      calls: sorted.length,
      seconds: seconds * rounds,
      callsPerSecond: Math.round(median(rates[k]!)),
      roundsCallsPerSecond: rates[k]!.map(Math.round),
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
    };
  });
  const [peer, floor] = results as [Result, Result];
  const ratio = peer.callsPerSecond / floor.callsPerSecond;
  const report = {
    scenario: "rpc",
    command: `deno run -A bench/scenarios/rpc.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    callers: CALLERS,
    pinning: pinned
      ? "server on core 0, callers on core 1"
      : "not pinned (no taskset)",
    ratio: round(ratio),
    results,
  };
  await Deno.mkdir(new URL("../results/", import.meta.url), {
    recursive: true,
  });
  await Deno.writeTextFile(
    new URL(`../results/rpc${quick ? ".quick" : ""}.json`, import.meta.url),
    JSON.stringify(report, null, 2) + "\n",
  );
  console.log(
    [
      "## JSON-RPC calls (bench/scenarios/rpc.ts)",
      "",
      `${CALLERS} concurrent callers on one connection, each calling \`add\` ` +
      `in a loop: ${rounds} rounds of ${seconds} s per peer, taking turns, ` +
      `after 0.5 s of warm-up; calls/s is the median round, p50 and p99 ` +
      `cover every call; ${report.pinning}; Deno ${Deno.version.deno}.`,
      "",
      "| peer | calls/s | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: |",
      ...results.map((r) =>
        `| ${r.peer} | ${
          r.callsPerSecond.toLocaleString("en-US")
        } | ${r.p50Ms} | ${r.p99Ms} |`
      ),
      "",
      `RpcPeer runs at ${ratio.toFixed(2)}x the hand-written floor.`,
    ].join("\n"),
  );
}

/**
 * `CALLERS` loops calling `add` for `seconds`; adds every round trip's time
 * to `latencies` and returns the number of calls.
 */
async function load(
  call: Call,
  seconds: number,
  latencies: number[],
): Promise<number> {
  const before = latencies.length;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = 0; performance.now() < end; i++) {
        const start = performance.now();
        const sum = await call(caller, i);
        latencies.push(performance.now() - start);
        if (sum !== caller + i) throw new Error(`add gave ${sum}`);
      }
    }),
  );
  return latencies.length - before;
}

function switchboardClient(
  url: string,
): { call: Call; close(): Promise<void> } {
  const peer = new RpcPeer<Record<never, never>, Api>(
    new Socket(new WebSocket(url)),
  );
  return {
    call: (a, b) => peer.call("add", [a, b]),
    close: () => peer[Symbol.asyncDispose](),
  };
}

async function rawClient(
  url: string,
): Promise<{ call: Call; close(): Promise<void> }> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const pending = new Map<number, (result: number) => void>();
  let nextId = 0;
  ws.onmessage = (event) => {
    const { result, id } = JSON.parse(event.data);
    pending.get(id)?.(result);
    pending.delete(id);
  };
  return {
    call: (a, b) =>
      new Promise((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        ws.send(
          JSON.stringify({ jsonrpc: "2.0", method: "add", params: [a, b], id }),
        );
      }),
    close: () =>
      new Promise((resolve) => {
        ws.onclose = () => resolve();
        ws.close();
      }),
  };
}

/** Starts the server child process and reads its port. */
async function startServer(
  kind: string,
  pinned: boolean,
): Promise<{ port: number } & AsyncDisposable> {
  const deno = [Deno.execPath(), "run", "-A", import.meta.filename!];
  const args = [...deno, `--serve=${kind}`];
  const child = new Deno.Command(pinned ? "taskset" : args[0]!, {
    args: pinned ? ["-c", "0", ...args] : args.slice(1),
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/PORT \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the ${kind} server did not start`);
    text += value;
  }
  reader.releaseLock();
  const port = Number(/PORT (\d+)/.exec(text)![1]);
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** Pins every thread of this process to core 1; false when it cannot. */
async function pinSelf(): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-a", "-p", "-c", "1", String(Deno.pid)],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ??
    NaN;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
