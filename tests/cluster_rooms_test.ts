/**
 * The big test: a round-robin TCP balancer in front of three server
 * processes (resumable sessions in a RedisSessionStore, one room on Redis
 * Streams), clients (80% WebSocket, 20% fallback-only) in one room with
 * `resume`, each sending numbered messages and receiving the room's; one
 * server is killed (kill -9) mid-run and started again. Every client ends
 * with every room message exactly once and in the room's order, every
 * message sent enters the room exactly once, and the room's presence is
 * the clients that are connected, and every rejoin says `recovered: true`
 * (the room's history holds the whole run). CLUSTER_ROOM_CLIENTS=100 for
 * the full size (20 by default, to keep the suite short).
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import type { Client } from "../src/client/mod.ts";
import { until as poll } from "./_redis.ts";
import { cluster } from "./_cluster.ts";
import { deadline, delay, fast, until } from "./_session_helpers.ts";

const CLIENTS = Number(Deno.env.get("CLUSTER_ROOM_CLIENTS") ?? 20);
const COUNT = 20;

interface Member {
  client: Client;
  got: string[];
  moved: number;
  joins: number;
  /** Rejoins that said `recovered: false`: after how many, to which seam. */
  gaps: string[];
  events: string[];
}

Deno.test(
  `${CLIENTS} clients in one room behind the balancer while a server is killed and started again: every room message exactly once and in order for everyone, every sent message in the room once, presence matches`,
  () =>
    deadline(
      (async () => {
        // The room keeps the whole run: a moved client's gap (from its
        // last message on the killed server to its rejoin on another, a
        // second or more under load) is then always in the history. With
        // the default 1,000 and 100 clients it is not: such rejoins say
        // `recovered: false` and skip to the seam, as documented.
        const history = String(CLIENTS * COUNT);
        await using c = await cluster(["a", "b", "c"], true, [
          "--hub",
          "--history",
          history,
        ]);
        const { nodes, balancer } = c;
        const members: Member[] = [];
        const joined: Promise<unknown>[] = [];
        for (let i = 0; i < CLIENTS; i++) {
          const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
            ...fast,
            resume: true,
            transports: i % 5 === 4 ? ["sse"] : ["websocket"],
          });
          const member: Member = {
            client,
            got: [],
            moved: 0,
            joins: 0,
            gaps: [],
            events: [],
          };
          for (const type of ["open", "reconnecting", "resumed"]) {
            client.addEventListener(type, () => member.events.push(type));
          }
          client.addEventListener("resumed", (event) => {
            if (event.moved) member.moved++;
          });
          const room = client.rooms.join("r");
          room.addEventListener("joined", (event) => {
            if (member.joins++ > 0 && !event.recovered) {
              member.gaps.push(
                `after ${member.got.length} to ${event.position.offset}`,
              );
            }
          });
          joined.push(
            new Promise((resolve) =>
              room.addEventListener("joined", resolve, { once: true })
            ),
          );
          (async () => {
            for await (const message of room) {
              member.got.push(String(message.data));
            }
          })();
          members.push(member);
        }
        await deadline(Promise.all(joined), 10_000, "every client joined");
        const chaos = (async () => {
          await delay(200);
          await nodes[1]!.kill();
          await delay(500);
          await nodes[1]!.start();
        })();
        for (let n = 1; n <= COUNT; n++) {
          members.forEach((member, i) => member.client.send(`c${i}:${n}`));
          await delay(25);
        }
        await chaos;
        const total = CLIENTS * COUNT;
        await until(
          () => members.every((member) => member.got.length >= total),
          30_000,
          "every client has every room message",
        ).catch((error) => {
          const counts = members.map((member) =>
            member.got.length < total
              ? `${member.got.length}[${member.client.state} j${member.joins} ${member.events}]`
              : member.got.length
          );
          const gaps = members.flatMap((member, i) =>
            member.gaps.map((gap) => `c${i} ${gap}`)
          );
          const missing: string[] = [];
          for (let i = 0; i < CLIENTS; i++) {
            for (let n = 1; n <= COUNT; n++) {
              if (!members[0]!.got.includes(`c${i}:${n}`)) {
                missing.push(`c${i}:${n}${members[i]!.moved ? "(moved)" : ""}`);
              }
            }
          }
          throw new Error(
            `${error.message}: ${
              counts.join(" ")
            } of ${total}; missing ${missing}; rejoins not recovered: ${gaps}`,
          );
        });
        await delay(300);
        assert.deepEqual(
          members.flatMap((member) => member.gaps),
          [],
          "every rejoin recovered",
        );
        const order = members[0]!.got;
        assert.equal(new Set(order).size, total, "a message entered twice");
        for (let i = 0; i < CLIENTS; i++) {
          for (let n = 1; n <= COUNT; n++) {
            assert.ok(order.includes(`c${i}:${n}`), `c${i}:${n} is missing`);
          }
        }
        for (const member of members) assert.deepEqual(member.got, order);
        // Each client's own messages in the order it sent them.
        for (let i = 0; i < CLIENTS; i++) {
          const own = order.filter((m) => m.startsWith(`c${i}:`));
          assert.deepEqual(
            own,
            Array.from({ length: COUNT }, (_, n) => `c${i}:${n + 1}`),
          );
        }
        const moved = members.filter((member) => member.moved > 0).length;
        assert.ok(moved > 0, "some clients were on the killed server");
        const ids = members.map((member) => member.client.session!.id).sort();
        await poll("presence matches the connected clients", async () => {
          const response = await fetch(
            `http://127.0.0.1:${nodes[0]!.port}/presence`,
          );
          const present = (await response.json() as string[]).sort();
          return JSON.stringify(present) === JSON.stringify(ids);
        }, 15_000);
        console.log(`${moved} of ${CLIENTS} clients moved to another server`);
        for (const member of members) member.client.close();
        await Promise.all(members.map((member) => member.client.closed));
      })(),
      60_000,
      "rooms",
    ),
);
