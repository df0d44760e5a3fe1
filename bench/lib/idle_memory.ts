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
 * One growth is left in it: V8 grows its young generation while connections
 * open, the more the more their objects survive, and a full collection keeps
 * it. Opening 2,000 connections grows it by about 8 MB for raw Deno (4 KiB a
 * connection) and more for a server whose connections hold more, so the
 * reading amplifies a difference in the JS heap about threefold. The live
 * reading ({@linkcode idleMemoryLive}) takes it out: after the RSS reading,
 * `count` more connections, each reading after V8's memory-reducing
 * collection, which gives the young generation back.
 *
 * @module
 */

import { closeWs, openMany, openWs, type WsConn } from "./load_client.ts";
import type { RunningServer } from "./process.ts";
import { delay } from "./wait.ts";

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
  return (await measure(servers, plan, false)).rss;
}

/**
 * {@linkcode idleMemory}, then the live reading: `plan.count` more
 * connections to each server, the RSS growth over them read after V8's
 * memory-reducing collection (the servers' GET /gc?reduce) on both sides.
 * What V8 keeps of its young generation is then out of the figure; what the
 * connections' objects and the runtime's buffers hold is in it.
 *
 * @param servers Running Deno servers of bench/servers/.
 * @param plan How many connections to open (`base + 2 * count` in all).
 * @returns KiB per connection, one figure per server in order, for each
 * reading.
 */
export async function idleMemoryLive(
  servers: readonly RunningServer[],
  plan: IdlePlan,
): Promise<{ rss: number[]; live: number[] }> {
  const { rss, live } = await measure(servers, plan, true);
  return { rss, live: live as number[] };
}

async function measure(
  servers: readonly RunningServer[],
  plan: IdlePlan,
  live: boolean,
): Promise<{ rss: number[]; live?: number[] }> {
  const open: WsConn[] = [];
  const growth = (before: number[], after: number[]) =>
    servers.map((_, i) =>
      ((after[i] as number) - (before[i] as number)) / plan.count
    );
  try {
    const before = await reading(servers, plan.base, open);
    const after = await reading(servers, plan.count, open);
    if (!live) return { rss: growth(before, after) };
    const liveBefore = await reading(servers, 0, open, true);
    const liveAfter = await reading(servers, plan.count, open, true);
    return {
      rss: growth(before, after),
      live: growth(liveBefore, liveAfter),
    };
  } finally {
    await Promise.all(open.map((ws) => closeWs(ws)));
  }
}

/**
 * Opens `count` more connections to each server, then reads their RSS after
 * a full collection (a memory-reducing one with `reduce`).
 */
async function reading(
  servers: readonly RunningServer[],
  count: number,
  open: WsConn[],
  reduce = false,
): Promise<number[]> {
  for (const server of servers) {
    open.push(
      ...await openMany(server.port, count, 50, (port) => openWs(port)),
    );
  }
  await delay(300);
  for (const server of servers) await server.collectGarbage(reduce);
  await delay(200);
  return servers.map((server) => server.rssKiB());
}
