import assert from "node:assert/strict";
import { Hub, MemoryBackplane } from "../src/hub.ts";
import { roomsContract, serveHubs } from "./_rooms_contract.ts";

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
