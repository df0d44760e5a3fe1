/**
 * One side's callers of bench/scenarios/rpc.ts, as a process of its own
 * (see load_process.ts):
 *
 * ```sh
 * deno run -A bench/lib/rpc_caller.ts switchboard|raw <url> <warm-up s>
 * ```
 *
 * Connects, runs `CALLERS` loops calling `add` for the warm-up, then serves
 * windows of calls as {@linkcode serveLoad} says, each answered with
 * `{"calls":N,"p50Ms":x,"p99Ms":y}`.
 *
 * `switchboard` is `RpcPeer` over a `Socket`; `raw` the hand-written floor:
 * a raw `WebSocket`, `JSON.stringify` and a `Map` of pending ids.
 *
 * @module
 */

import { Socket } from "../../mod.ts";
import { RpcPeer } from "@switchboard/switchboard/rpc";
import type { Api } from "../servers/rpc.ts";
import {
  type LoadProcess,
  serveLoad,
  startLoadProcess,
} from "./load_process.ts";
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

/**
 * Starts a caller process and waits until it has warmed up.
 *
 * @param kind `switchboard` or `raw`.
 * @param url The server's URL.
 * @param warmup Seconds of calls before it is ready.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to end it.
 */
export function startCaller(
  kind: "switchboard" | "raw",
  url: string,
  warmup: number,
  core: number | undefined,
): Promise<LoadProcess<CallWindow>> {
  return startLoadProcess(
    `the ${kind} caller`,
    "bench/lib/rpc_caller.ts",
    [kind, url, String(warmup)],
    core,
  );
}

async function main(): Promise<void> {
  const [kind, url, warmup = "0.5"] = Deno.args;
  if ((kind !== "switchboard" && kind !== "raw") || url === undefined) {
    throw new Error("usage: rpc_caller.ts switchboard|raw <url> <warm-up s>");
  }
  const caller = kind === "raw" ? await rawCaller(url) : switchboardCaller(url);
  await callFor(caller.call, Number(warmup));
  await serveLoad((line) => callFor(caller.call, Number(line)));
  await caller.close();
}

if (import.meta.main) await main();
