/**
 * The chat example on Redis Streams (issue 18), as its page uses it: the
 * reconnecting client's `rooms`, recent history on a fresh join, and the
 * member list of the whole cluster.
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import { startExample } from "./_example_process.ts";
import { RedisServer, until } from "./_redis.ts";

interface Members {
  type: "members";
  room: string;
  names: string[];
  servers: number;
}

Deno.test("chat on two processes and Redis Streams: a fresh page gets the room's recent messages, a reload again, and the member list of both servers", async () => {
  await using redis = new RedisServer();
  await redis.start();
  await using one = await startExample("chat.ts", ["--redis", redis.url]);
  await using two = await startExample("chat.ts", ["--redis", redis.url]);
  const page = (port: number, name: string) => {
    const client = connect(`ws://127.0.0.1:${port}/ws?name=${name}`);
    const room = client.rooms.join("lobby");
    const texts: string[] = [];
    const members: Members[] = [];
    const reading = Promise.all([
      (async () => {
        for await (const m of room) {
          texts.push(JSON.parse(m.data as string).text);
        }
      })(),
      (async () => {
        for await (const m of client) {
          members.push(JSON.parse(m.data as string));
        }
      })(),
    ]);
    return {
      client,
      texts,
      members,
      async close() {
        client.close();
        await client.closed;
        await reading;
      },
    };
  };
  const alice = page(one.port, "alice");
  await until("alice is in", () => alice.members.length > 0);
  for (let i = 0; i < 60; i++) await alice.client.send(`hello ${i}`);
  await until("alice's 60 echoes", () => alice.texts.length === 60);

  const bob = page(two.port, "bob");
  await until("bob has the last 50", () => bob.texts.length === 50);
  assert.deepEqual(
    bob.texts,
    Array.from({ length: 50 }, (_, i) => `hello ${10 + i}`),
  );
  await until(
    "the cluster's member list",
    () =>
      bob.members.some((m) => m.names.length === 2) &&
      alice.members.some((m) => m.names.length === 2),
  );
  const list = bob.members.findLast((m) => m.names.length === 2)!;
  assert.deepEqual([...list.names].sort(), ["alice", "bob"]);
  assert.equal(list.servers, 2);

  // A reload: a new page on the other server gets the recent messages too.
  await bob.close();
  await until(
    "bob left alice's list",
    () => alice.members.at(-1)?.names.length === 1,
  );
  await alice.client.send("while bob reloads");
  const again = page(one.port, "bob");
  await until("the reload has the last 50", () => again.texts.length === 50);
  assert.equal(again.texts.at(-1), "while bob reloads");
  await again.close();
  await alice.close();
});
