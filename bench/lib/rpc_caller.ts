/**
 * One side's callers of bench/scenarios/rpc.ts, as a process of its own so
 * that two sides measured in the same window share their core the way two
 * servers do (the kernel's fair share), not one event loop:
 *
 * ```sh
 * deno run -A bench/lib/rpc_caller.ts switchboard|raw <url> <warm-up s>
 * ```
 *
 * Connects, runs `CALLERS` loops calling `add` for the warm-up, prints
 * `ready`, then for each line `<seconds>` on standard input runs the loops
 * for that long and prints `{"calls":N,"p50Ms":x,"p99Ms":y}`; an empty line
 * or the end of the input closes the connection and exits.
 *
 * `switchboard` is `RpcPeer` over a `Socket`; `raw` the hand-written floor:
 * a raw `WebSocket`, `JSON.stringify` and a `Map` of pending ids.
 *
 * @module
 */

import { Socket } from "../../mod.ts";
import { RpcPeer } from "@switchboard/switchboard/rpc";
import type { Api } from "../servers/rpc.ts";
import { ROOT } from "./process.ts";
import { percentile, round } from "./stats.ts";
import { closeWebSocket, openWebSocket } from "./websocket.ts";

/** Concurrent callers on the one connection. */
export const CALLERS = 50;

type Call = (a: number, b: number) => Promise<number>;

interface Caller {
  call: Call;
  close(): Promise<void>;
}

/** What one window of calls gave. */
export interface CallWindow {
  calls: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * `CALLERS` loops calling `add` for `seconds`.
 *
 * @param call One call.
 * @param seconds How long.
 * @returns The calls made and their round-trip percentiles.
 */
export async function callFor(
  call: Call,
  seconds: number,
): Promise<CallWindow> {
  const latencies: number[] = [];
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
  latencies.sort((a, b) => a - b);
  return {
    calls: latencies.length,
    p50Ms: round(percentile(latencies, 50), 3),
    p99Ms: round(percentile(latencies, 99), 3),
  };
}

function switchboardCaller(url: string): Caller {
  const peer = new RpcPeer<Record<never, never>, Api>(
    new Socket(new WebSocket(url)),
  );
  return {
    call: (a, b) => peer.call("add", [a, b]),
    close: () => peer[Symbol.asyncDispose](),
  };
}

async function rawCaller(url: string): Promise<Caller> {
  const ws = await openWebSocket(url);
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
    close: async () => {
      await closeWebSocket(ws);
    },
  };
}

/** A caller process, from {@linkcode startCaller}. */
export interface CallerProcess extends AsyncDisposable {
  /** Runs the callers for `seconds` and returns what they did. */
  run(seconds: number): Promise<CallWindow>;
}

/**
 * Starts a caller process and waits until it has warmed up.
 *
 * @param kind `switchboard` or `raw`.
 * @param url The server's URL.
 * @param warmup Seconds of calls before it is ready.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to end it.
 */
export async function startCaller(
  kind: "switchboard" | "raw",
  url: string,
  warmup: number,
  core: number | undefined,
): Promise<CallerProcess> {
  const args = ["run", "-A", `${ROOT}bench/lib/rpc_caller.ts`, kind, url];
  args.push(String(warmup));
  const child = new Deno.Command(
    core === undefined ? Deno.execPath() : "taskset",
    {
      args: core === undefined
        ? args
        : ["-c", String(core), Deno.execPath(), ...args],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    },
  ).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream()).getReader();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  // A caller that stops answering fails the run rather than hanging it.
  const next = async (): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const { value, done } = await Promise.race([
      lines.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the ${kind} caller did not answer`)),
          30_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (done) throw new Error(`the ${kind} caller exited`);
    return value;
  };
  const ready = await next().catch((error) => {
    child.kill("SIGKILL");
    throw error;
  });
  if (ready !== "ready") throw new Error(`the ${kind} caller said ${ready}`);
  return {
    async run(seconds) {
      await writer.write(encoder.encode(`${seconds}\n`));
      return JSON.parse(await next()) as CallWindow;
    },
    async [Symbol.asyncDispose]() {
      await writer.write(encoder.encode("\n")).catch(() => {});
      await writer.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** Splits decoded text into lines. */
class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (rest) controller.enqueue(rest);
      },
    });
  }
}

async function main(): Promise<void> {
  const [kind, url, warmup = "0.5"] = Deno.args;
  if ((kind !== "switchboard" && kind !== "raw") || url === undefined) {
    throw new Error("usage: rpc_caller.ts switchboard|raw <url> <warm-up s>");
  }
  const caller = kind === "raw" ? await rawCaller(url) : switchboardCaller(url);
  await callFor(caller.call, Number(warmup));
  console.log("ready");
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let rest = "";
  read: for await (const text of lines) {
    const got = (rest + text).split("\n");
    rest = got.pop() ?? "";
    for (const line of got) {
      if (line.trim() === "") break read;
      console.log(JSON.stringify(await callFor(caller.call, Number(line))));
    }
  }
  await caller.close();
}

if (import.meta.main) await main();
