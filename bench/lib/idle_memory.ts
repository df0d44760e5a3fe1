/**
 * Memory per idle connection, measured the same way for every server: the
 * growth of the server's RSS from `base` open connections to `base + count`,
 * divided by `count`, each reading taken after a full garbage collection.
 *
 * Measuring from a server with no connection at all would count what the
 * first connections make a process grow by once (V8's heap spaces, the
 * allocator's arenas, the runtime's buffers): about 6 MB for raw Deno, 2.9
 * KiB a connection over 2,000 of them, which hides real differences between
 * servers. The `base` connections absorb that growth, so the figure is what
 * one more connection costs.
 *
 * @module
 */

import { closeWs, openMany, openWs, type WsConn } from "./load_client.ts";
import type { RunningServer } from "./process.ts";

/** How many connections an idle-memory reading opens. */
export interface IdlePlan {
  /** Opened first, before the first reading. */
  readonly base: number;
  /** Opened next; the growth is divided by this. */
  readonly count: number;
}

/**
 * Measures the memory per idle connection of one or more servers at once:
 * each step is taken on every server before the next step.
 *
 * @param servers Running servers with the GET /gc endpoint of
 * bench/servers/.
 * @param plan How many connections to open.
 * @returns KiB per connection, one figure per server, in order.
 */
export async function idleMemory(
  servers: readonly RunningServer[],
  plan: IdlePlan,
): Promise<number[]> {
  const open: WsConn[] = [];
  try {
    const before = await reading(servers, plan.base, open);
    const after = await reading(servers, plan.count, open);
    return servers.map((_, i) =>
      ((after[i] as number) - (before[i] as number)) / plan.count
    );
  } finally {
    await Promise.all(open.map((ws) => closeWs(ws)));
  }
}

/** Opens `count` more connections to each server, then reads their RSS. */
async function reading(
  servers: readonly RunningServer[],
  count: number,
  open: WsConn[],
): Promise<number[]> {
  for (const server of servers) {
    open.push(
      ...await openMany(server.port, count, 50, (port) => openWs(port)),
    );
  }
  await sleep(300);
  for (const server of servers) await server.collectGarbage();
  await sleep(200);
  return servers.map((server) => server.rssKiB());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
