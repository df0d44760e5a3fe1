import assert from "node:assert/strict";
import { Hub } from "../src/hub.ts";
import { connect, type RoomEvent } from "../src/client/mod.ts";
import { serveHubs } from "./_rooms_contract.ts";
import { CutProxy } from "./_cut_proxy.ts";
import { until } from "./_redis.ts";

const fast = { initialDelay: 20, maxDelay: 100, minUptime: 0 };

Deno.test("client.rooms rejoins after a cut with its last position and gets what it missed once, in order; rooms frames never reach the client's own loop", async () => {
  await using hub = new Hub();
  const { urls, stop } = serveHubs([hub, hub]);
  await using _server = { [Symbol.asyncDispose]: stop };
  const port = Number(new URL(urls[0]).port);
  await using proxy = new CutProxy(port);
  const client = connect(
    `ws://127.0.0.1:${proxy.port}/ws?plain=chat`,
    fast,
  );
  const room = client.rooms.join("r");
  assert.equal(client.rooms.join("r"), room, "joining twice is one room");
  const joins: RoomEvent[] = [];
  room.addEventListener("joined", (event) => joins.push(event));
  const got: { data: string | Uint8Array; offset: string }[] = [];
  const reading = (async () => {
    for await (const message of room) {
      got.push({ data: message.data, offset: message.position.offset });
    }
  })();
  const plain: string[] = [];
  const loop = (async () => {
    for await (const message of client) plain.push(message.data as string);
  })();
  await until("joined", () => joins.length === 1);
  assert.deepEqual(room.position, joins[0]!.position);
  for (let i = 0; i < 5; i++) await hub.broadcast("r", `a${i}`);
  await hub.broadcast("r", new Uint8Array([7, 8]));
  await until("six", () => got.length === 6);
  assert.deepEqual(got[5]!.data, new Uint8Array([7, 8]));
  proxy.refuse(300);
  proxy.cut();
  for (let i = 0; i < 20; i++) await hub.broadcast("r", `b${i}`);
  await until("rejoined", () => joins.length === 2);
  assert.equal(joins[1]!.recovered, true);
  await hub.broadcast("r", "live");
  await until("all", () => got.length === 27);
  assert.deepEqual(got.map((m) => m.data).slice(6), [
    ...Array.from({ length: 20 }, (_, i) => `b${i}`),
    "live",
  ]);
  assert.equal(room.position?.offset, got.at(-1)!.offset);
  assert.equal(new Set(got.map((m) => m.offset)).size, 27);
  // The app's own messages still come through the client's loop, and
  // nothing else does.
  await hub.broadcast("chat", "plain hello");
  await until("the plain message", () => plain.length === 1);
  assert.deepEqual(plain, ["plain hello"]);
  assert.ok(client.rooms.leave("r"));
  assert.equal(client.rooms.get("r"), undefined);
  await reading;
  await until("left on the server", () => hub.members("r").length === 0);
  client.close();
  await client.closed;
  await loop;
});
