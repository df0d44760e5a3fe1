/**
 * One of the client processes of bench/scenarios/scale.ts (see
 * load_process.ts): it holds thousands of raw-TCP WebSocket connections
 * (the load client's, frames counted, not decoded), answers every ping
 * with a pong as a browser does, and on command:
 *
 * - `open <host> <count> <concurrency>`: opens `count` more connections to
 *   `ws://<host>:<port>/ws`, `concurrency` at a time: `{opened, seconds}`;
 * - `pings`: the pings answered so far: `{pings}`;
 * - `echo <seconds>`: round trips of 64 B text on its first connection, one
 *   at a time: `{samples, p50Us, p99Us, maxUs}`;
 * - `arm <count>`: counts each connection's messages from now, up to
 *   `count`: `{connections}`;
 * - `blast <count>`: sends `count` messages `all:<n>` on its first
 *   connection (the server broadcasts each to every connection):
 *   `{sentAt}`;
 * - `wait <seconds>`: waits (at most `seconds`) until every connection
 *   has the `count` messages `arm` set: `{complete, received, lastAt}`,
 *   `lastAt` when the last of them arrived.
 *
 * Times (`sentAt`, `lastAt`) are milliseconds since the epoch with
 * sub-millisecond precision (`performance.timeOrigin + performance.now()`),
 * comparable across the processes of one machine.
 *
 * ```sh
 * deno run -A bench/lib/scale_client.ts <port>
 * ```
 *
 * @module
 */

import {
  clientFrame,
  countFrames,
  drop,
  openMany,
  openWs,
  writeAll,
  type WsConn,
} from "./load_client.ts";
import {
  type LoadProcess,
  serveLoad,
  startLoadProcess,
} from "./load_process.ts";
import { percentile, round } from "./stats.ts";

/** Bytes read at a time per connection: frames here are small. */
const READ_BYTES = 2048;

/**
 * Starts a scale client process.
 *
 * @param port The server's port.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to drop its connections and end it.
 */
export function startScaleClient(
  port: number,
  core: number | undefined,
): Promise<LoadProcess<unknown>> {
  return startLoadProcess(
    `the scale client of port ${port}`,
    "bench/lib/scale_client.ts",
    [String(port)],
    core,
  );
}

/** Milliseconds since the epoch, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

interface Held {
  ws: WsConn;
  /** Messages since `arm`. */
  got: number;
}

async function main(): Promise<void> {
  const port = Number(Deno.args[0]);
  if (!port) throw new Error("usage: scale_client.ts <port>");
  const held: Held[] = [];
  const reading: Promise<void>[] = [];
  let target = Infinity;
  let done = 0;
  let lastAt = 0;
  let onDone: (() => void) | undefined;
  let onFirst: (() => void) | undefined;
  const text = clientFrame(1, new Uint8Array(64).fill(0x61));

  const read = (h: Held): Promise<void> =>
    countFrames(h.ws, READ_BYTES, (got) => {
      if (got === 0) return;
      if (h === held[0]) onFirst?.();
      const before = h.got;
      h.got += got;
      if (before < target && h.got >= target) {
        lastAt = epochMs();
        if (++done === held.length) onDone?.();
      }
    });
  const open = async (host: string, count: number, concurrency: number) => {
    const start = performance.now();
    const opened = await openMany(
      port,
      count,
      concurrency,
      () => openWs(port, false, { hostname: host, pong: true }),
    );
    for (const ws of opened) {
      const h = { ws, got: 0 };
      held.push(h);
      reading.push(read(h));
    }
    return {
      opened: opened.length,
      seconds: round((performance.now() - start) / 1000, 3),
    };
  };
  const echo = async (seconds: number) => {
    const first = held[0];
    if (first === undefined) throw new Error("no connection to echo on");
    const samples: number[] = [];
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const start = performance.now();
      const back = new Promise<void>((resolve) => onFirst = resolve);
      await writeAll(first.ws.conn, text);
      await back;
      samples.push((performance.now() - start) * 1000);
    }
    onFirst = undefined;
    samples.sort((a, b) => a - b);
    return {
      samples: samples.length,
      p50Us: round(percentile(samples, 50), 1),
      p99Us: round(percentile(samples, 99), 1),
      maxUs: round(samples.at(-1) ?? 0, 1),
    };
  };
  const wait = async (seconds: number) => {
    const count = target;
    if (done < held.length) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        onDone = resolve;
        timer = setTimeout(resolve, seconds * 1000);
      });
      clearTimeout(timer);
      onDone = undefined;
    }
    target = Infinity;
    return {
      complete: done === held.length,
      received: held.reduce((sum, h) => sum + Math.min(h.got, count), 0),
      lastAt,
    };
  };

  await serveLoad(async (line) => {
    const [name, ...args] = line.split(" ");
    switch (name) {
      case "open":
        return await open(args[0]!, Number(args[1]), Number(args[2]));
      case "pings":
        return {
          pings: held.reduce((sum, h) => sum + h.ws.counter.pings, 0),
        };
      case "echo":
        return await echo(Number(args[0]));
      case "arm":
        for (const h of held) h.got = 0;
        target = Number(args[0]);
        done = 0;
        lastAt = 0;
        return { connections: held.length };
      case "blast": {
        const first = held[0];
        if (first === undefined) throw new Error("no connection to send on");
        const frames = Array.from(
          { length: Number(args[0]) },
          (_, i) => clientFrame(1, new TextEncoder().encode(`all:${i}`)),
        );
        const sentAt = epochMs();
        for (const frame of frames) await writeAll(first.ws.conn, frame);
        return { sentAt };
      }
      case "wait":
        return await wait(Number(args[0]));
      default:
        throw new Error(`unknown command ${line}`);
    }
  });
  for (const h of held) drop(h.ws);
  await Promise.all(reading);
}

if (import.meta.main) await main();
