import assert from "node:assert/strict";
import { Hub, MemoryBackplane } from "../src/hub.ts";
import { roomsContract, serveHubs } from "./_rooms_contract.ts";
import { RoomsPeer } from "./_rooms_peer.ts";

roomsContract("MemoryBackplane", ({ history }) => {
  const backplane = new MemoryBackplane({ history });
  const hubs = [new Hub({ backplane }), new Hub({ backplane })] as const;
  const { urls, stop } = serveHubs(hubs);
  return Promise.resolve({
    hubs,
    urls,
    async [Symbol.asyncDispose]() {
      await stop();
      await Promise.all(hubs.map((hub) => hub.close()));
      await backplane.close();
    },
  });
});

Deno.test("MemoryBackplane keeps at most history messages per room, none older than historyTtl, at most maxHistoryBytes in all", async () => {
  await using backplane = new MemoryBackplane({
    history: 5,
    historyTtl: 200,
    maxHistoryBytes: 30,
  });
  await using hub = new Hub({ backplane });
  for (let i = 0; i < 8; i++) await hub.broadcast("a", `a${i}`);
  assert.deepEqual(
    (await hub.history("a")).map((m) => m.data),
    ["a3", "a4", "a5", "a6", "a7"],
  );
  // 10-byte messages in room b fill the byte budget: the oldest go first,
  // room a's included.
  for (let i = 0; i < 10; i++) await hub.broadcast("b", `b${i}`.padEnd(10));
  assert.deepEqual(await hub.history("a"), []);
  assert.deepEqual(
    (await hub.history("b")).map((m) => m.data.slice(0, 2)),
    ["b7", "b8", "b9"],
  );
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.deepEqual(await hub.history("b"), []);
  const position = await hub.broadcast("b", "new");
  assert.ok(position.offset.endsWith("-1"), "an emptied room starts again");
});

Deno.test("MemoryBackplane option errors name the option", () => {
  assert.throws(
    () => new MemoryBackplane({ history: 0 }),
    /^RangeError: Invalid history/,
  );
  assert.throws(
    () => new MemoryBackplane({ historyTtl: "1" as unknown as number }),
    /^TypeError: Invalid historyTtl/,
  );
  assert.throws(
    () => new MemoryBackplane({ maxHistoryBytes: -1 }),
    /^RangeError: Invalid maxHistoryBytes/,
  );
});

Deno.test("hub.join() with options rejects a since that is not a position and an unknown id; without options it answers false", async () => {
  await using hub = new Hub();
  assert.equal(hub.join("nobody", "r"), false);
  await assert.rejects(
    hub.join("nobody", "r", {}),
    (error: Error) =>
      error instanceof TypeError &&
      /no open connection has the id "nobody"/.test(error.message),
  );
  await assert.rejects(
    hub.join("nobody", "r", { since: { epoch: 1, offset: "1-1" } as never }),
    (error: Error) =>
      error instanceof TypeError && /^Invalid since/.test(error.message),
  );
});

Deno.test("a member that asks to join a room it is in again recovers from its since, keeps its presence, and gets a joined frame", async () => {
  await using hub = new Hub();
  const { urls, stop } = serveHubs([hub, hub]);
  await using _server = { [Symbol.asyncDispose]: stop };
  const joins: string[] = [];
  hub.addEventListener("join", (event) => joins.push(event.member.id));
  await using peer = await RoomsPeer.open(urls[0]);
  peer.join("again");
  await peer.joined("again");
  const positions = [];
  for (let i = 0; i < 3; i++) {
    positions.push(await hub.broadcast("again", `m${i}`));
  }
  await peer.waitFor(() => peer.messages("again").length === 3 || undefined);
  const before = peer.frames.length;
  peer.join("again", positions[0]);
  const joined = await peer.joined("again", before);
  assert.equal(joined.recovered, true);
  assert.deepEqual(joined.position, positions[2]);
  // m1 and m2 come again (a client.rooms room drops them by offset).
  assert.deepEqual(
    peer.frames.slice(before).map((f) => f.data ?? f.type),
    ["m1", "m2", "joined"],
  );
  await hub.broadcast("again", "live");
  await peer.waitFor(() => peer.messages("again").length === 6 || undefined);
  assert.equal(peer.messages("again").at(-1)?.data, "live");
  assert.equal(joins.length, 1, "one join in presence");
  assert.equal((await hub.presence("again")).length, 1);
});
