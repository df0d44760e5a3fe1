/**
 * `deno task soak [--quick]`: a soak test of a Switchboard echo server under
 * connection churn. Starts the server (this file with `--serve`) as its own
 * process, opens 2,000 connections and keeps them, then runs 20,000
 * connect/echo/close cycles 50 at a time, and at the end closes the 2,000.
 * The server's RSS (`VmRSS` in /proc/<pid>/status) is sampled every second.
 *
 * It passes when, after the churn, the server's RSS is within 10% of where it
 * was after the first 2,000 connections (both read the same way: after V8's
 * memory-reducing full GC, once RSS is steady), no connection is left open
 * on the server, and every echo came back. Writes bench/results/soak.json and
 * soak.svg (soak.quick.* with `--quick`); exits 1 on a failed check.
 * Everything runs on 127.0.0.1. A run takes about 40 s and stops its churn
 * early past 145 s, so it ends within three minutes; `--quick` (200 held,
 * 2,000 cycles) takes about 15 s. `--held` and `--cycles` override the counts;
 * `--raw` runs the same load against a raw `Deno.upgradeWebSocket` echo
 * server, the control (writes soak.raw.*).
 *
 * The load client (this process) needs about 2,000 + 100 file descriptors
 * and the server as many: `ulimit -n 8192` first if the limit is lower (the
 * run checks /proc/self/limits and says so).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { route } from "../mod.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    serve: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    raw: { type: "boolean", default: false },
    held: { type: "string" },
    cycles: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

const USAGE = `Usage: deno task soak [--quick]

Soak test of a Switchboard echo server: 2,000 held connections, then 20,000
connect/echo/close cycles 50 at a time, RSS sampled every second.
  --quick           200 held connections and 2,000 cycles
  --raw             the control: a raw Deno.upgradeWebSocket echo server
  --held <n>        held connections (default 2000)
  --cycles <n>      connect/echo/close cycles (default 20000)
Writes bench/results/soak.{json,svg} (soak.quick.*, soak.raw.* with the
flags).`;

/** What the server's /stats endpoint answers. */
interface ServerStats {
  open: number;
  opened: number;
  closed: Record<string, number>;
  messagesIn: number;
  messagesOut: number;
  memory?: Deno.MemoryUsage;
}

/**
 * The server under test: a `route()` echo at /ws, counters at /stats, and a
 * full GC at /gc (with `--v8-flags=--expose-gc`). Prints `port <n>`.
 */
function serve(raw: boolean): void {
  const stats: ServerStats = {
    open: 0,
    opened: 0,
    closed: {},
    messagesIn: 0,
    messagesOut: 0,
  };
  const gc = (globalThis as { gc?: (options?: unknown) => void }).gc;
  function other(request: Request): Response {
    const { pathname } = new URL(request.url);
    if (pathname === "/stats") {
      return Response.json({ ...stats, memory: Deno.memoryUsage() });
    }
    if (pathname === "/gc" && gc) {
      // V8's memory-reducing full GC: also shrinks the young generation and
      // gives pooled pages back, as V8 does by itself when idle
      gc({ type: "major", execution: "sync", flavor: "last-resort" });
      return new Response("ok\n");
    }
    return new Response("Not found\n", { status: 404 });
  }
  const switchboard = route("/ws", async (socket) => {
    stats.open++;
    stats.opened++;
    try {
      for await (const msg of socket) {
        stats.messagesIn++;
        await socket.send(msg.data);
        stats.messagesOut++;
      }
    } finally {
      const { code } = await socket.closed;
      stats.closed[code] = (stats.closed[code] ?? 0) + 1;
      stats.open--;
    }
  }, { fallback: other });
  // The control: Deno's own WebSocket with onmessage, no Switchboard.
  function denoRaw(request: Request): Response {
    if (new URL(request.url).pathname !== "/ws") return other(request);
    const { socket, response } = Deno.upgradeWebSocket(request);
    stats.open++;
    stats.opened++;
    socket.onmessage = (e) => {
      stats.messagesIn++;
      socket.send(e.data);
      stats.messagesOut++;
    };
    socket.onclose = (e) => {
      const code = e.code === 0 ? 1006 : e.code;
      stats.closed[code] = (stats.closed[code] ?? 0) + 1;
      stats.open--;
    };
    return response;
  }
  const server = Deno.serve(
    {
      port: 0,
      hostname: "127.0.0.1",
      onListen: ({ port }) => console.log(`port ${port}`),
    },
    raw ? denoRaw : switchboard,
  );
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
}

/** One RSS sample. */
interface Sample {
  /** Seconds since the server started. */
  t: number;
  rssMiB: number;
  /** Connections open on the server at the last /stats read. */
  open: number;
  phase: string;
}

interface Phase {
  name: string;
  start: number;
  end: number;
}

interface Config {
  held: number;
  cycles: number;
  concurrency: number;
  /** Seconds the whole run may take before the churn stops early. */
  budget: number;
}

const FULL: Config = {
  held: 2_000,
  cycles: 20_000,
  concurrency: 50,
  budget: 170,
};
const QUICK: Config = { held: 200, cycles: 2_000, concurrency: 50, budget: 60 };

const decoder = new TextDecoder();
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of `pid` in MiB, or NaN once the process is gone. */
function rssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    return kib / 1024;
  } catch {
    return NaN;
  }
}

/** The soft limit on open files, from /proc/self/limits. */
function openFileLimit(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    return Number(/^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1]) ||
      Infinity;
  } catch {
    return Infinity;
  }
}

/** Opens a WebSocket; rejects on error or after `ms`. */
function openWs(url: string, ms = 10_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error("open timed out"));
    }, ms);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = (e) => {
      clearTimeout(timer);
      reject(new Error((e as ErrorEvent).message || "error"));
    };
  });
}

/** Sends `text` and resolves with whether the same text came back. */
function echo(ws: WebSocket, text: string, ms = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ms);
    function done(ok: boolean) {
      clearTimeout(timer);
      ws.removeEventListener("message", onMessage);
      ws.removeEventListener("close", onClose);
      resolve(ok);
    }
    function onMessage(e: MessageEvent) {
      done(e.data === text);
    }
    function onClose() {
      done(false);
    }
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    ws.send(text);
  });
}

/** Closes with 1000 and resolves with the close code the client saw. */
function closeWs(ws: WebSocket, ms = 10_000): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), ms);
    ws.addEventListener("close", (e) => {
      clearTimeout(timer);
      resolve(e.code);
    }, { once: true });
    ws.close(1000);
  });
}

async function soak(
  config: Config,
  quick: boolean,
  raw: boolean,
): Promise<boolean> {
  const limit = openFileLimit();
  const needed = config.held + 2 * config.concurrency + 100;
  if (limit < needed) {
    console.error(
      `The open file limit is ${limit}; this run needs about ${needed}. ` +
        `Raise it with ulimit -n ${2 * needed} first.`,
    );
    return false;
  }
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const deadline = config.budget;

  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--serve",
      ...(raw ? ["--raw"] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let head = "";
  while (!head.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the soak server exited before listening");
    head += decoder.decode(value);
  }
  const port = Number(/port (\d+)/.exec(head)?.[1]);
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  const origin = `http://127.0.0.1:${port}`;
  const url = `ws://127.0.0.1:${port}/ws`;
  const pid = child.pid;

  async function stats(): Promise<ServerStats> {
    return await (await fetch(`${origin}/stats`)).json();
  }
  /**
   * The server's RSS once it has settled: after V8's memory-reducing full GC
   * (which V8 otherwise runs by itself only after some idle seconds, up to
   * 30 s here), sampled every second until four samples agree within 1%
   * (5 to 15 s).
   */
  async function settledRss(): Promise<number> {
    const window: number[] = [];
    await (await fetch(`${origin}/gc`)).text();
    for (let i = 1; i <= 15; i++) {
      await delay(1000);
      window.push(rssMiB(pid));
      if (window.length > 4) window.shift();
      const spread = Math.max(...window) - Math.min(...window);
      if (i >= 5 && spread <= 0.01 * Math.min(...window)) break;
    }
    return window.reduce((a, b) => a + b, 0) / window.length;
  }

  const samples: Sample[] = [];
  const phases: Phase[] = [];
  let phase = "start";
  let lastOpen = 0;
  function enter(name: string) {
    const t = elapsed();
    const current = phases.at(-1);
    if (current) current.end = t;
    phases.push({ name, start: t, end: t });
    phase = name;
    console.log(`${t.toFixed(1).padStart(6)} s  ${name}`);
  }
  const sampler = setInterval(() => {
    samples.push({ t: elapsed(), rssMiB: rssMiB(pid), open: lastOpen, phase });
    stats().then((s) => lastOpen = s.open, () => {});
  }, 1000);
  samples.push({ t: elapsed(), rssMiB: rssMiB(pid), open: 0, phase });

  let sent = 0;
  let answered = 0;
  let lost = 0;
  const errors: Record<string, number> = {};
  const clientCloses: Record<string, number> = {};
  const fail = (error: unknown) => {
    const key = error instanceof Error ? error.message : String(error);
    errors[key] = (errors[key] ?? 0) + 1;
  };

  // Phase 1: the held connections, opened 100 at a time.
  enter(`open ${config.held} held connections`);
  const held: WebSocket[] = [];
  for (let i = 0; i < config.held; i += 100) {
    const batch = await Promise.allSettled(
      Array.from(
        { length: Math.min(100, config.held - i) },
        async (_, j) => {
          const ws = await openWs(url);
          sent++;
          if (await echo(ws, `hold ${i + j}`)) answered++;
          else lost++;
          return ws;
        },
      ),
    );
    for (const result of batch) {
      if (result.status === "fulfilled") held.push(result.value);
      else fail(result.reason);
    }
  }
  lastOpen = (await stats()).open;
  enter("settle and GC (baseline)");
  const baseline = await settledRss();
  const baselineStats = await stats();
  const baselineHeap = baselineStats.memory!;
  console.log(
    `        held ${held.length}, server open ${baselineStats.open}, ` +
      `RSS ${baseline.toFixed(1)} MiB`,
  );

  // Phase 2: the churn, `concurrency` workers taking cycles from a counter.
  enter(`churn ${config.cycles} cycles, ${config.concurrency} at a time`);
  let next = 0;
  let done = 0;
  const churnStarted = performance.now();
  const churnDeadline = deadline - 25;
  async function worker(): Promise<void> {
    while (next < config.cycles && elapsed() < churnDeadline) {
      const n = next++;
      try {
        const ws = await openWs(url);
        sent++;
        if (await echo(ws, `cycle ${n}`)) answered++;
        else lost++;
        const code = await closeWs(ws);
        clientCloses[code] = (clientCloses[code] ?? 0) + 1;
        done++;
      } catch (error) {
        fail(error);
      }
    }
  }
  const progress = setInterval(() => {
    stats().then((s) => {
      const m = s.memory!;
      const mib = (n: number) => (n / 1048576).toFixed(1);
      console.log(
        `${elapsed().toFixed(1).padStart(6)} s    ${done} cycles, RSS ${
          rssMiB(pid).toFixed(1)
        } MiB (heap ${mib(m.heapUsed)}/${mib(m.heapTotal)}, external ${
          mib(m.external)
        })`,
      );
    }, () => {});
  }, 5_000);
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  clearInterval(progress);
  const churnSeconds = (performance.now() - churnStarted) / 1000;

  enter("settle and GC (after churn)");
  const after = await settledRss();
  const afterStats = await stats();
  const afterHeap = afterStats.memory!;
  console.log(
    `        server open ${afterStats.open}, RSS ${after.toFixed(1)} MiB`,
  );

  // Phase 3: the held connections echo once more and close.
  enter(`echo and close the ${held.length} held connections`);
  await Promise.all(held.map(async (ws, i) => {
    if (ws.readyState !== WebSocket.OPEN) {
      lost++;
      sent++;
      return;
    }
    sent++;
    if (await echo(ws, `bye ${i}`)) answered++;
    else lost++;
    const code = await closeWs(ws);
    clientCloses[code] = (clientCloses[code] ?? 0) + 1;
  }));
  let finalStats = await stats();
  for (let i = 0; i < 50 && finalStats.open > 0; i++) {
    await delay(100);
    finalStats = await stats();
  }
  lastOpen = finalStats.open;
  enter("end");
  const end = rssMiB(pid);
  clearInterval(sampler);
  samples.push({ t: elapsed(), rssMiB: end, open: finalStats.open, phase });

  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await Promise.all([child.status, drain]);
  clearTimeout(killer);

  const expectedConnections = config.held + config.cycles;
  const growth = (after - baseline) / baseline;
  const closedTotal = Object.values(finalStats.closed).reduce(
    (a, b) => a + b,
    0,
  );
  const checks = {
    allCyclesRan: done === config.cycles,
    allConnectionsServed: finalStats.opened === expectedConnections,
    rssWithin10Percent: Math.abs(growth) <= 0.10,
    noConnectionLeftOpen: finalStats.open === 0 &&
      closedTotal === finalStats.opened,
    noMessageLost: lost === 0 && answered === sent &&
      finalStats.messagesIn === sent && finalStats.messagesOut === sent,
    noClientErrors: Object.keys(errors).length === 0,
  };
  // With --quick the base is small (about 50 MiB for 200 connections) and
  // the one-time growth of a first churn (compiled code, runtime pools, about
  // 5 MiB) alone can pass 10% of it: the bound is judged on full runs only.
  const judged = (check: string) => !(quick && check === "rssWithin10Percent");
  const pass = Object.entries(checks).every(([check, ok]) =>
    ok || !judged(check)
  );
  const results = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    server: raw ? "raw Deno.upgradeWebSocket" : "Switchboard route()",
    quick,
    config,
    pass,
    checks,
    seconds: Number(elapsed().toFixed(1)),
    churn: {
      cycles: done,
      seconds: Number(churnSeconds.toFixed(1)),
      cyclesPerSecond: Math.round(done / churnSeconds),
    },
    rssMiB: {
      start: Number(samples[0]!.rssMiB.toFixed(1)),
      afterHeld: Number(baseline.toFixed(1)),
      afterChurn: Number(after.toFixed(1)),
      end: Number(end.toFixed(1)),
      peak: Number(Math.max(...samples.map((s) => s.rssMiB)).toFixed(1)),
      growthAfterChurn: Number((growth * 100).toFixed(1)),
      v8HeapAfterHeld: heapMiB(baselineHeap),
      v8HeapAfterChurn: heapMiB(afterHeap),
    },
    connections: {
      expected: expectedConnections,
      openedOnServer: finalStats.opened,
      closedOnServer: finalStats.closed,
      openOnServerAtEnd: finalStats.open,
      closesSeenByClients: clientCloses,
    },
    messages: {
      sent,
      answered,
      lost,
      serverIn: finalStats.messagesIn,
      serverOut: finalStats.messagesOut,
    },
    errors,
    phases: phases.map((p) => ({
      ...p,
      start: Number(p.start.toFixed(1)),
      end: Number(p.end.toFixed(1)),
    })),
    samples: samples.map((s) => ({
      ...s,
      t: Number(s.t.toFixed(2)),
      rssMiB: Number(s.rssMiB.toFixed(2)),
    })),
  };

  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const name = `soak${raw ? ".raw" : ""}${quick ? ".quick" : ""}`;
  await Deno.writeTextFile(
    new URL(`${name}.json`, dir),
    JSON.stringify(results, null, 2) + "\n",
  );
  await Deno.writeTextFile(
    new URL(`${name}.svg`, dir),
    chart(
      results.samples,
      results.phases,
      baseline,
      config,
      results.pass,
      raw ? "raw Deno echo server (the control)" : "Switchboard echo server",
    ),
  );

  console.log(
    `\nRSS after ${config.held} held: ${
      baseline.toFixed(1)
    } MiB; after ${done} ` +
      `cycles: ${after.toFixed(1)} MiB (${growth >= 0 ? "+" : ""}${
        (growth * 100).toFixed(1)
      }%); peak ${results.rssMiB.peak} MiB`,
  );
  console.log(
    `churn: ${done} cycles in ${churnSeconds.toFixed(1)} s ` +
      `(${results.churn.cyclesPerSecond}/s)`,
  );
  console.log(
    `server: opened ${finalStats.opened}, open at end ${finalStats.open}, ` +
      `closes ${JSON.stringify(finalStats.closed)}`,
  );
  console.log(
    `messages: sent ${sent}, answered ${answered}, lost ${lost}; ` +
      `server in ${finalStats.messagesIn}, out ${finalStats.messagesOut}`,
  );
  if (Object.keys(errors).length > 0) {
    console.log(`client errors: ${JSON.stringify(errors)}`);
  }
  for (const [check, ok] of Object.entries(checks)) {
    const mark = ok ? "pass" : judged(check) ? "FAIL" : "info";
    console.log(
      `${mark}  ${check}${judged(check) ? "" : " (not judged with --quick)"}`,
    );
  }
  console.log(
    `${
      pass ? "PASS" : "FAIL"
    }: wrote bench/results/${name}.json and ${name}.svg`,
  );
  return pass;
}

/** Deno.memoryUsage() in MiB, one decimal. */
function heapMiB(m: Deno.MemoryUsage): Record<string, number> {
  const mib = (n: number) => Number((n / 1048576).toFixed(1));
  return {
    heapUsed: mib(m.heapUsed),
    heapTotal: mib(m.heapTotal),
    external: mib(m.external),
  };
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

/** A line chart of RSS (and open connections) over time, as SVG. */
function chart(
  samples: readonly Sample[],
  phases: readonly Phase[],
  baseline: number,
  config: Config,
  pass: boolean,
  server: string,
): string {
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
  const rssMax = niceCeil(Math.max(baseline * 1.15, ...rssValues));
  const openMax = niceCeil(Math.max(1, ...samples.map((s) => s.open)));
  const x = (t: number) => left + (t / tMax) * w;
  const y = (mib: number) => top + h - (mib / rssMax) * h;
  const yOpen = (n: number) => top + h - (n / openMax) * h;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="15" font-weight="bold">Soak: the ${server}'s RSS over time</text>`,
    `<text x="${left}" y="38">${
      escape(
        `${config.held} connections held, then ${config.cycles} connect/echo/close cycles ${config.concurrency} at a time, then the held ones closed`,
      )
    }</text>`,
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
      }" fill="#666" font-size="10">${escape(p.name)}</text>`,
    );
  });
  // baseline and the 10% band around it
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
    `<text x="${left}" y="${top - 14}" fill="${pass ? "#2a9d8f" : "#c1121f"}">${
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

if (import.meta.main) {
  if (flags.help) {
    console.log(USAGE);
  } else if (flags.serve) {
    serve(flags.raw);
  } else {
    const config = { ...(flags.quick ? QUICK : FULL) };
    if (flags.held) config.held = Number(flags.held);
    if (flags.cycles) config.cycles = Number(flags.cycles);
    const ok = await soak(config, flags.quick, flags.raw);
    Deno.exit(ok ? 0 : 1);
  }
}
