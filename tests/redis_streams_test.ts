import assert from "node:assert/strict";
import { Hub, type PresenceMember } from "../src/hub.ts";
import {
  RedisBackplaneError,
  RedisStreamsBackplane,
  type RedisStreamsBackplaneOptions,
} from "../src/backplane/redis.ts";
import { connect, type RoomEvent } from "../src/client/mod.ts";
import { roomsContract, serveHubs } from "./_rooms_contract.ts";
import { RedisServer, until } from "./_redis.ts";
import { ServerProcess } from "./_server_process.ts";
import { CutProxy } from "./_cut_proxy.ts";
import { RoomsPeer } from "./_rooms_peer.ts";
import { delay, open } from "./_helpers.ts";

roomsContract("RedisStreamsBackplane", async ({ history }) => {
  const redis = new RedisServer();
  await redis.start();
  const quiet = () => {};
  const backplanes = await Promise.all(
    [0, 1].map(() =>
      RedisStreamsBackplane.connect({ url: redis.url, history, onError: quiet })
    ),
  );
  const hubs = backplanes.map((backplane) => new Hub({ backplane })) as [
    Hub,
    Hub,
  ];
  await Promise.all(hubs.map((hub) => hub.ready));
  const { urls, stop } = serveHubs(hubs);
  return {
    hubs,
    urls,
    async [Symbol.asyncDispose]() {
      await stop();
      await Promise.all(hubs.map((hub) => hub.close()));
      await Promise.all(backplanes.map((backplane) => backplane.close()));
      await redis.stop();
    },
  };
});

const FIXTURE = new URL("./fixtures/rooms_server.ts", import.meta.url).pathname;
const quiet = () => {};
const fast = { initialDelay: 20, maxDelay: 100, minUptime: 0 };

function startRooms(redisUrl: string, ...extra: string[]) {
  return ServerProcess.start(FIXTURE, ["--redis", redisUrl, ...extra]);
}

/** A hub on its own RedisStreamsBackplane, serving the rooms route. */
async function roomsServer(
  options: RedisStreamsBackplaneOptions,
): Promise<
  { hub: Hub; backplane: RedisStreamsBackplane; url: string } & AsyncDisposable
> {
  const backplane = await RedisStreamsBackplane.connect({
    onError: quiet,
    maxReconnectDelay: 100,
    ...options,
  });
  const hub = new Hub({ backplane });
  await hub.ready;
  const { urls, stop } = serveHubs([hub, hub]);
  return {
    hub,
    backplane,
    url: urls[0],
    async [Symbol.asyncDispose]() {
      await stop();
      await hub.close();
      await backplane.close();
    },
  };
}

Deno.test("three server processes: a client cut off for 2 s while 500 messages go to its room gets all 500 from another server, in order, once", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const [a, b, c] = await Promise.all(
    [0, 1, 2].map(() => startRooms(redis.url)),
  );
  await using _a = a!;
  await using _b = b!;
  await using _c = c!;
  await using proxy = new CutProxy(a!.port);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, fast);
  const room = client.rooms.join("big");
  const joins: RoomEvent[] = [];
  room.addEventListener("joined", (event) => joins.push(event));
  const got: string[] = [];
  const reading = (async () => {
    for await (const message of room) got.push(message.data as string);
  })();
  await until("joined", () => joins.length === 1);
  assert.equal(joins[0]!.recovered, false);
  await c!.json("/broadcast?room=big&count=10&prefix=before", "POST");
  await until("10 messages", () => got.length === 10);

  proxy.retarget(b!.port);
  proxy.refuse(2000);
  const cutAt = Date.now();
  proxy.cut();
  await c!.json("/broadcast?room=big&count=500&prefix=m", "POST");
  await until("500 more", () => got.length >= 510, 15_000);
  assert.ok(Date.now() - cutAt >= 1900, "it was away for 2 s");
  await delay(100);
  assert.deepEqual(got, [
    ...Array.from({ length: 10 }, (_, i) => `before${i}`),
    ...Array.from({ length: 500 }, (_, i) => `m${i}`),
  ]);
  assert.equal(joins.length, 2);
  assert.equal(joins[1]!.recovered, true);
  const members = await b!.json<PresenceMember[]>("/presence?room=big");
  assert.deepEqual(members.map((m) => m.serverId), [b!.info.serverId]);
  client.close();
  await client.closed;
  await reading;
});

Deno.test("presence across two processes; a kill -9'd server's members are gone within presenceTtl, with a leave", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const presenceTtl = 1500;
  const [a, b] = await Promise.all(
    [0, 1].map(() =>
      startRooms(redis.url, "--presence-ttl", String(presenceTtl))
    ),
  );
  await using _a = a!;
  await using _b = b!;
  await using alice = await RoomsPeer.open(
    `ws://127.0.0.1:${a!.port}/ws?name=alice`,
  );
  alice.join("p");
  await alice.joined("p");
  const bob = await RoomsPeer.open(`ws://127.0.0.1:${b!.port}/ws?name=bob`);
  bob.join("p");
  await bob.joined("p");
  const both = await a!.json<PresenceMember[]>("/presence?room=p");
  assert.deepEqual(both.map((m) => [m.serverId, m.data]), [
    [a!.info.serverId, { name: "alice" }],
    [b!.info.serverId, { name: "bob" }],
  ]);
  const bobId = both[1]!.id;
  const killedAt = Date.now();
  await b!.kill();
  await until(
    "bob gone from presence",
    async () => (await a!.json<unknown[]>("/presence?room=p")).length === 1,
    5000,
  );
  const took = Date.now() - killedAt;
  assert.ok(took <= presenceTtl + 500, `gone after ${took} ms`);
  await until(
    "the leave event on a",
    async () =>
      (await a!.json<string[]>("/events")).includes(`leave p ${bobId}`),
    presenceTtl,
  );
  await bob.close();
});

Deno.test("after a Redis restart without persistence the epoch changes: live members and rejoining ones get recovered: false; appends past maxBuffered are dropped, the others written in order", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const errors: string[] = [];
  await using server = await roomsServer({
    url: redis.url,
    maxBuffered: 2,
    onError: (error) => errors.push(error.message),
  });
  const { hub, backplane } = server;
  await using live = await RoomsPeer.open(server.url);
  live.join("e");
  await live.joined("e");
  const old = await hub.broadcast("e", "before");
  await live.waitFor(() => live.messages("e")[0]);

  await redis.stop();
  await until("the loss is seen", () => !backplane.connected);
  const during = ["d0", "d1", "d2"].map((data) => hub.broadcast("e", data));
  const dropped = await during[2]!.then(() => undefined, (error) => error);
  assert.ok(dropped instanceof RedisBackplaneError);
  assert.match(dropped.message, /^Dropping messages/);
  assert.equal(backplane.dropped, 1);
  await redis.start();
  const [d0, d1] = await Promise.all(during.slice(0, 2));
  assert.notEqual(d0!.epoch, old.epoch, "a new epoch");
  assert.deepEqual([d0!.offset.split("-")[1], d1!.offset.split("-")[1]], [
    "1",
    "2",
  ]);

  // The live member hears of the reset, then gets the new epoch's messages.
  await live.waitFor(() => live.messages("e").length === 3 || undefined);
  const reset = live.frames.filter((f) => f.type === "joined")[1]!;
  assert.equal(reset.recovered, false);
  assert.equal(reset.position.epoch, d0!.epoch);
  assert.deepEqual(live.messages("e").map((f) => f.data), [
    "before",
    "d0",
    "d1",
  ]);

  await using back = await RoomsPeer.open(server.url);
  back.join("e", old);
  const joined = await back.joined("e");
  assert.equal(joined.recovered, false);
  assert.deepEqual(joined.position, d1);
  await assert.rejects(hub.history("e", { since: old }), /epoch/);
  assert.ok(errors.some((e) => e.startsWith("Lost the connection to Redis")));
  assert.ok(errors.some((e) => e.includes("1 messages were dropped")));
});

Deno.test("with appendonly yes (appendfsync always), a Redis killed and restarted keeps every acknowledged message and the epoch: a member recovers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-aof-" });
  try {
    await using redis = new RedisServer(undefined, { appendonlyDir: dir });
    await redis.start();
    await using server = await roomsServer({ url: redis.url });
    const { hub, backplane } = server;
    const positions = await Promise.all(
      Array.from({ length: 200 }, (_, i) => hub.broadcast("d", `m${i}`)),
    );
    await redis.stop();
    await redis.start();
    await until("reconnected", () => backplane.connected);
    const kept = await hub.history("d", { limit: 1000 });
    assert.deepEqual(kept.map((m) => m.position), positions);
    const next = await hub.broadcast("d", "next");
    assert.equal(next.epoch, positions[0]!.epoch);
    assert.ok(next.offset.endsWith("-201"));
    await using peer = await RoomsPeer.open(server.url);
    peer.join("d", positions[99]);
    const joined = await peer.joined("d");
    assert.equal(joined.recovered, true);
    await peer.waitFor(() => peer.messages("d").length === 101 || undefined);
    assert.deepEqual(
      peer.messages("d").map((f) => f.data),
      [...Array.from({ length: 100 }, (_, i) => `m${100 + i}`), "next"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a publisher whose reply is lost sends the message again and it is written once, at the position it first got", async () => {
  await using redis = new RedisServer();
  await redis.start();
  await using proxy = new CutProxy(redis.port);
  await using server = await roomsServer({
    url: `redis://127.0.0.1:${proxy.port}`,
  });
  const { hub } = server;
  await using peer = await RoomsPeer.open(server.url);
  peer.join("i");
  await peer.joined("i");
  await hub.broadcast("i", "first");
  proxy.dropAnswerTo("only-once");
  const once = await hub.broadcast("i", "only-once");
  assert.ok(proxy.cuts >= 1, "the reply was cut");
  await hub.broadcast("i", "after");
  const history = await hub.history("i");
  assert.deepEqual(history.map((m) => m.data), ["first", "only-once", "after"]);
  assert.deepEqual(history[1]!.position, once);
  await peer.waitFor(() => peer.messages("i").length === 3 || undefined);
  await delay(50);
  assert.deepEqual(peer.messages("i").map((f) => f.data), [
    "first",
    "only-once",
    "after",
  ]);
});

Deno.test("the first member of a room on a server gets a message another server writes just after it joined, however late its server's first read of Redis", async () => {
  await using redis = new RedisServer();
  await redis.start();
  await using proxy = new CutProxy(redis.port);
  await using a = await roomsServer({ url: redis.url });
  await using b = await roomsServer({ url: `redis://127.0.0.1:${proxy.port}` });
  proxy.hold();
  const member = await open(`${b.url}?plain=late`);
  const got: string[] = [];
  member.onmessage = (event) => got.push(event.data);
  await until("joined on b", () => b.hub.members("late").length === 1);
  await delay(20);
  await a.hub.broadcast("late", "written while b waits for Redis");
  await proxy.release();
  await until("the message", () => got.length === 1);
  assert.deepEqual(got, ["written while b waits for Redis"]);
  const closed = new Promise((resolve) => member.onclose = resolve);
  member.close();
  await closed;
});
