/**
 * Switchboard's own client (`connect()`) on one transport, as a process of
 * its own (see load_process.ts), for bench/scenarios/sse_paired.ts:
 *
 * ```sh
 * deno run -A bench/lib/echo_client.ts <url> websocket|sse <warm-up s>
 * ```
 *
 * Opens `CONNECTIONS` clients with `transports: [<transport>]`, each keeping
 * `IN_FLIGHT` messages of 64 B text in flight against an echo server, every
 * echo checked (same text, in order): the load of echo_load.ts. Each window answers
 * `{"messages":N,"seconds":s,"cpuSeconds":c}`: the echoes that came back
 * while it was open and this process's CPU time over it; what is still in
 * flight when it closes is drained, uncounted.
 *
 * @module
 */

import { connect } from "@switchboard/switchboard/client";
import {
  type LoadProcess,
  serveLoad,
  startLoadProcess,
} from "./load_process.ts";
import { ownCpuSeconds } from "./process.ts";
import {
  CONNECTIONS,
  drain,
  type EchoConn,
  echoWindow,
  payload,
} from "./echo_load.ts";

/** The echo client's load: its connections, and the messages each keeps in flight. */
export { CONNECTIONS, IN_FLIGHT } from "./echo_load.ts";

/** What one window echoed. */
export interface EchoWindow {
  messages: number;
  seconds: number;
  /** The client process's CPU time over the window. */
  cpuSeconds: number;
}

/**
 * Starts an echo client process and waits until it has warmed up.
 *
 * @param url The route's `ws://` URL.
 * @param transport `websocket` or `sse`.
 * @param warmup Seconds of load before it is ready.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to close its clients and end it.
 */
export function startEchoClient(
  url: string,
  transport: "websocket" | "sse",
  warmup: number,
  core: number | undefined,
): Promise<LoadProcess<EchoWindow>> {
  return startLoadProcess(
    `the ${transport} echo client`,
    "bench/lib/echo_client.ts",
    [url, transport, String(warmup)],
    core,
  );
}

type Conn = EchoConn;

async function open(url: string, transport: "websocket" | "sse") {
  const client = connect(url, { transports: [transport], maxRetries: 0 });
  await new Promise<void>((resolve, reject) => {
    client.addEventListener("open", () => resolve(), { once: true });
    client.addEventListener(
      "close",
      () => reject(new Error(`${transport}: closed before it opened`)),
      { once: true },
    );
  });
  return {
    client,
    reader: client[Symbol.asyncIterator](),
    sent: 0,
    received: 0,
  };
}

async function echo(conn: Conn): Promise<void> {
  const result = await conn.reader.next();
  const expected = payload(conn.received++);
  const got = (result.value as { data?: unknown } | undefined)?.data;
  if (result.done || got !== expected) {
    throw new Error(`echo ${conn.received - 1} did not come back as sent`);
  }
}

async function window(conns: Conn[], seconds: number): Promise<EchoWindow> {
  const cpu0 = ownCpuSeconds();
  const { count, elapsed } = await echoWindow(conns, seconds, echo);
  const cpuSeconds = ownCpuSeconds() - cpu0;
  await drain(conns, echo);
  return { messages: count, seconds: elapsed, cpuSeconds };
}

async function main(): Promise<void> {
  const [url, transport, warmup = "0.5"] = Deno.args;
  if (!url || (transport !== "websocket" && transport !== "sse")) {
    throw new Error("usage: echo_client.ts <url> websocket|sse <warm-up>");
  }
  const conns: Conn[] = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => open(url, transport)),
  );
  await window(conns, Number(warmup));
  await serveLoad((line) => window(conns, Number(line)));
  await Promise.all(conns.map(async ({ client }) => {
    client.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.closed,
      new Promise((resolve) => timer = setTimeout(resolve, 6000)),
    ]);
    clearTimeout(timer);
  }));
}

if (import.meta.main) await main();
