/**
 * The receiving side of bench/scenarios/fanout_paired.ts, as a process of
 * its own (see load_process.ts): `subscribers` raw-TCP WebSocket
 * connections (the load client's, which count frames without decoding
 * them) and one sender, on one hub server (bench/servers/hub.ts):
 *
 * ```sh
 * deno run -A bench/lib/fanout_client.ts <port> <subscribers> <warm-up s>
 * ```
 *
 * Every connection answers pings (the servers' keepalive closes one that
 * does not). The sender keeps `IN_FLIGHT` broadcasts of 64 B text under way (sent and
 * not yet delivered to every subscriber), so that the server always has
 * work and never a backlog that grows; each window answers
 * `{"deliveries":N,"seconds":s,"total":T}`: the deliveries counted while
 * it was open, and with those of the broadcasts still under way when it
 * closed, which it waits for.
 *
 * @module
 */

import {
  clientFrame,
  countFrames,
  drop,
  openWs,
  repeat,
  writeAll,
  type WsConn,
} from "./load_client.ts";
import {
  type LoadProcess,
  serveLoad,
  startLoadProcess,
} from "./load_process.ts";

/** Broadcasts under way at once. */
export const IN_FLIGHT = 16;
const READ_BYTES = 8 * 1024;

/** What one window delivered. */
export interface FanOutWindow {
  /** Deliveries while the window was open. */
  deliveries: number;
  seconds: number;
  /** Deliveries from the window's start until every broadcast arrived. */
  total: number;
}

/**
 * Starts a fan-out client process and waits until it has warmed up.
 *
 * @param port The hub server's port.
 * @param subscribers How many connections receive each broadcast.
 * @param warmup Seconds of load before it is ready.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to end it.
 */
export function startFanOutClient(
  port: number,
  subscribers: number,
  warmup: number,
  core: number | undefined,
): Promise<LoadProcess<FanOutWindow>> {
  return startLoadProcess(
    `the fan-out client of port ${port}`,
    "bench/lib/fanout_client.ts",
    [String(port), String(subscribers), String(warmup)],
    core,
  );
}

async function main(): Promise<void> {
  const [port, count, warmup = 0.5] = Deno.args.map(Number);
  if (!port || !count) {
    throw new Error("usage: fanout_client.ts <port> <subscribers> <warm-up>");
  }
  const subscribers: WsConn[] = [];
  for (let i = 0; i < count; i++) {
    subscribers.push(await openWs(port, false, { path: "/", pong: true }));
  }
  const sender = await openWs(port, false, { path: "/", pong: true });
  const frame = clientFrame(1, new Uint8Array(64).fill(0x6d));
  let sent = 0;
  let delivered = 0;
  let sending = false;
  let writing = false;
  let wake: (() => void) | undefined;
  // Sends what the window allows, in one write; called after every read.
  const pump = (): void => {
    if (wake && delivered >= sent * count) wake();
    if (!sending || writing) return;
    const room = IN_FLIGHT - Math.ceil((sent * count - delivered) / count);
    if (room <= 0) return;
    writing = true;
    sent += room;
    writeAll(sender.conn, repeat(frame, room)).then(() => {
      writing = false;
      pump();
    });
  };
  const reading = subscribers.map((ws) =>
    countFrames(ws, READ_BYTES, (messages) => {
      delivered += messages;
      pump();
    })
  );
  // Every subscriber is in the room once one broadcast reached them all.
  const settled = (): Promise<void> =>
    new Promise((resolve) => {
      wake = () => {
        wake = undefined;
        resolve();
      };
      pump();
    });
  const window = async (seconds: number): Promise<FanOutWindow> => {
    const before = delivered;
    sending = true;
    pump();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const start = performance.now();
    const from = delivered;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const deliveries = delivered - from;
    const elapsed = (performance.now() - start) / 1000;
    sending = false;
    await settled();
    return { deliveries, seconds: elapsed, total: delivered - before };
  };
  sent = 1;
  await writeAll(sender.conn, frame);
  await settled();
  await window(warmup);
  await serveLoad((line) => window(Number(line)));
  // Dropped, not closed: a close handshake would need a second reader.
  for (const ws of [...subscribers, sender]) drop(ws);
  await Promise.all(reading);
}

if (import.meta.main) await main();
