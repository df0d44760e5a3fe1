/**
 * Hub fan-out, as the fan-out scenarios measure it: hub servers
 * (bench/servers/hub.ts) in child processes, 1,000 subscribers in one room
 * spread over them and one sender, timed from the first send to the last
 * delivery.
 *
 * @module
 */

import { denoServer, type RunningServer, startServer } from "./process.ts";
import { closeWebSocket, openWebSocket } from "./websocket.ts";

/** One fan-out measurement. */
export interface FanoutResult {
  setup: string;
  subscribers: number;
  messages: number;
  seconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
}

/**
 * Starts a hub server.
 *
 * @param backplane `memory`, a redis:// URL (pub/sub), or `streams` and a
 * redis:// URL (Redis Streams).
 * @returns The running server.
 */
export function startHub(...backplane: string[]): Promise<RunningServer> {
  return startServer(
    `the ${backplane.join(" ")} hub server`,
    denoServer("hub.ts", backplane),
  );
}

/**
 * Opens the subscribers (spread over `ports`) and the sender, then times
 * `messages` broadcasts of 64 B until every subscriber has every one.
 *
 * @param setup Names the row.
 * @param ports The hub servers' ports; the sender is on the first.
 * @param subscribers How many receive.
 * @param messages How many are sent.
 * @returns The figures.
 * @throws {Error} When not everything arrived within 120 s.
 */
export async function measureFanout(
  setup: string,
  ports: number[],
  subscribers: number,
  messages: number,
): Promise<FanoutResult> {
  const clients: WebSocket[] = [];
  let received = 0;
  const total = subscribers * messages;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => finish = resolve);
  const onMessage = () => {
    if (++received === total) finish();
  };
  try {
    for (let i = 0; i < subscribers; i++) {
      const ws = await openHub(ports[i % ports.length]!);
      ws.onmessage = onMessage;
      clients.push(ws);
    }
    const sender = await openHub(ports[0]!);
    clients.push(sender);
    // Every server must have the subscribers in the room before timing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const payload = "m".repeat(60);
    const started = performance.now();
    for (let i = 0; i < messages; i++) {
      sender.send(`${payload}${i}`.slice(-64));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`${setup}: only ${received} of ${total} in 120 s`)),
        120_000,
      );
    });
    await Promise.race([done, late]).finally(() => clearTimeout(timer));
    const seconds = (performance.now() - started) / 1000;
    return {
      setup,
      subscribers,
      messages,
      seconds,
      deliveriesPerSecond: total / seconds,
      messagesPerSecond: messages / seconds,
    };
  } finally {
    await Promise.all(clients.map((ws) => closeWebSocket(ws)));
  }
}

/**
 * Opens a WebSocket to a hub server.
 *
 * @param port The server's port.
 * @param query Appended to the URL.
 * @returns The open socket.
 */
export function openHub(port: number, query = ""): Promise<WebSocket> {
  return openWebSocket(`ws://127.0.0.1:${port}/${query}`).catch(() => {
    throw new Error(`cannot connect to port ${port}`);
  });
}
