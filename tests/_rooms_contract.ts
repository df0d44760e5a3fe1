/**
 * The durable-rooms semantics every stream backplane must give a Hub
 * (positions, history and its limits, recovery at the seam, presence),
 * registered once per backplane: the memory one in hub_streams_test.ts,
 * Redis Streams in redis_streams_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Hub, Position, PresenceEvent } from "../src/hub.ts";
import { compareOffsets, sequenceOf } from "../src/hub/wire.ts";
import { roomsRoute } from "./fixtures/rooms_server.ts";
import { delay, open } from "./_helpers.ts";
import { type Frame, RoomsPeer } from "./_rooms_peer.ts";
import { until } from "./_redis.ts";

/** Two hubs that share a backplane (two servers), each serving WebSockets. */
export interface Servers extends AsyncDisposable {
  readonly hubs: readonly [Hub, Hub];
  /** The `/ws` URL of each hub's server. */
  readonly urls: readonly [string, string];
}

/** Serves each hub's rooms route on a free port; disposing stops them. */
export function serveHubs(hubs: readonly [Hub, Hub]): {
  urls: [string, string];
  stop(): Promise<void>;
} {
  const servers = hubs.map((hub) =>
    Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      roomsRoute(hub),
    )
  );
  const urls = servers.map((server) =>
    `ws://127.0.0.1:${server.addr.port}/ws`
  ) as [string, string];
  return {
    urls,
    async stop() {
      await Promise.all(servers.map((server) => server.shutdown()));
    },
  };
}

/** The data of a peer's message frames in one room. */
function texts(frames: Frame[]): string[] {
  return frames.map((frame) => frame.data as string);
}

/** Asserts offsets strictly grow (one epoch). */
function assertIncreasing(positions: Position[]): void {
  for (let i = 1; i < positions.length; i++) {
    assert.equal(positions[i]!.epoch, positions[0]!.epoch);
    assert.ok(
      compareOffsets(positions[i - 1]!.offset, positions[i]!.offset) < 0,
      `offset ${i} does not grow: ${
        JSON.stringify(positions.slice(i - 1, i + 1))
      }`,
    );
  }
}

/**
 * Registers the contract's tests.
 *
 * @param label Names the backplane in the test names.
 * @param servers Makes two hubs on one new backplane (with `history`).
 */
export function roomsContract(
  label: string,
  servers: (options: { history: number }) => Promise<Servers>,
): void {
  Deno.test(`${label}: broadcast resolves to its position; history returns the messages after since, oldest first, bounded by limit (default 100, at most 1,000)`, async () => {
    await using s = await servers({ history: 50 });
    const [a, b] = s.hubs;
    const positions = await Promise.all(
      Array.from({ length: 400 }, (_, i) => a.broadcast("h", `m${i}`)),
    );
    assertIncreasing(positions);
    assert.deepEqual(positions.map((p) => sequenceOf(p.offset)).slice(0, 3), [
      1,
      2,
      3,
    ]);
    const page = await b.history("h", { since: positions[389], limit: 5 });
    assert.deepEqual(page.map((m) => m.data), [
      "m390",
      "m391",
      "m392",
      "m393",
      "m394",
    ]);
    assert.deepEqual(page.map((m) => m.position), positions.slice(390, 395));
    assert.ok(page.every((m) => m.room === "h"));
    const newest = await b.history("h", { limit: 10 });
    assert.deepEqual(
      newest.map((m) => m.data),
      Array.from({ length: 10 }, (_, i) => `m${390 + i}`),
    );
    const byDefault = await a.history("h");
    assert.ok(byDefault.length >= 50 && byDefault.length <= 100);
    assert.equal(byDefault.at(-1)?.data, "m399");
    assertIncreasing(byDefault.map((m) => m.position));
    await assert.rejects(
      a.history("h", { since: positions[0] }),
      (error: Error) =>
        error instanceof RangeError && /trimmed/.test(error.message),
    );
    await assert.rejects(
      a.history("h", { since: { ...positions[399]!, epoch: "another" } }),
      (error: Error) =>
        error instanceof RangeError && /epoch/.test(error.message),
    );
    await assert.rejects(a.history("h", { limit: 1001 }), RangeError);
    await assert.rejects(a.history("h", { limit: 0 }), RangeError);
    await assert.rejects(
      a.history("h", { limit: "5" as unknown as number }),
      TypeError,
    );
    await assert.rejects(
      a.history("h", { since: { epoch: "e", offset: "x" } }),
      TypeError,
    );
    assert.deepEqual(await a.history("never-used"), []);
    const all = await a.history("h", { since: positions[349], limit: 1000 });
    assert.equal(all.length, 50);
  });

  Deno.test(`${label}: a member that rejoins on the other server with since gets every message it missed, then the live ones, once and in order, while broadcasts go on`, async () => {
    await using s = await servers({ history: 1000 });
    const [a] = s.hubs;
    const first = await RoomsPeer.open(s.urls[0]);
    first.join("r");
    const joined = await first.joined("r");
    assert.equal(joined.recovered, false);
    for (let i = 0; i < 10; i++) a.broadcast("r", `m${i}`);
    await first.waitFor(() => first.messages("r").length === 10 || undefined);
    const last = first.messages("r").at(-1)!.position;
    await first.close();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.broadcast("r", `m${10 + i}`)),
    );
    // Broadcasts go on while the member rejoins on the other server.
    let sent = 60;
    const going = (async () => {
      while (sent < 110) {
        a.broadcast("r", `m${sent++}`);
        if (sent % 5 === 0) await delay(1);
      }
    })();
    await using second = await RoomsPeer.open(s.urls[1]);
    second.join("r", last);
    const rejoined = await second.joined("r");
    assert.equal(rejoined.recovered, true);
    await going;
    await second.waitFor(() => second.messages("r").length >= 100 || undefined);
    await delay(50);
    const got = second.messages("r");
    assert.deepEqual(
      texts(got),
      Array.from({ length: 100 }, (_, i) => `m${10 + i}`),
    );
    assertIncreasing([last, ...got.map((f) => f.position)]);
    // The joined frame sits at the seam: before it, what was missed.
    const at = second.frames.indexOf(rejoined);
    for (const [i, frame] of second.frames.entries()) {
      if (frame.type !== "message") continue;
      const order = compareOffsets(
        frame.position.offset,
        rejoined.position.offset,
      );
      assert.ok(
        i < at ? order <= 0 : order > 0,
        `frame ${i} is on the wrong side`,
      );
    }
  });

  Deno.test(`${label}: a join without since, with another epoch's since, or with one older than the history is not recovered and gets nothing from before`, async () => {
    await using s = await servers({ history: 50 });
    const [a] = s.hubs;
    const positions = await Promise.all(
      Array.from({ length: 400 }, (_, i) => a.broadcast("g", `old${i}`)),
    );
    let top = positions[399]!;
    const cases: [string, Position | undefined][] = [
      ["no since", undefined],
      ["another epoch", { epoch: "another", offset: top.offset }],
      ["older than the history", positions[0]],
    ];
    for (const [why, since] of cases) {
      await using peer = await RoomsPeer.open(s.urls[1]);
      // A server's first member of a room may get what was written within
      // a round trip to Redis before it joined (never less than what came
      // after): join well after the last message.
      await delay(100);
      peer.join("g", since);
      const joined = await peer.joined("g");
      assert.equal(joined.recovered, false, why);
      assert.deepEqual(joined.position, top, why);
      const live = await a.broadcast("g", `live ${why}`);
      await peer.waitFor(() => peer.messages("g").length === 1 || undefined);
      assert.deepEqual(peer.frames.map((f) => f.type), ["joined", "message"]);
      assert.deepEqual(peer.messages("g")[0]!.position, live, why);
      top = live;
    }
  });

  Deno.test(`${label}: presence lists the members of both servers with serverId, joinedAt and data; join and leave events fire on both hubs`, async () => {
    await using s = await servers({ history: 10 });
    const [a, b] = s.hubs;
    const seen: Record<string, string[]> = { a: [], b: [] };
    for (const [name, hub] of [["a", a], ["b", b]] as const) {
      const note = (event: PresenceEvent) =>
        seen[name]!.push(
          `${event.type} ${event.room} ${
            (event.member.data as { name: string }).name
          }`,
        );
      hub.addEventListener("join", note);
      hub.addEventListener("leave", note);
    }
    const before = Date.now();
    await using alice = await RoomsPeer.open(`${s.urls[0]}?name=alice`);
    alice.join("p");
    await alice.joined("p");
    const bob = await RoomsPeer.open(`${s.urls[1]}?name=bob`);
    bob.join("p");
    await bob.joined("p");
    await until(
      "both joins heard on both hubs",
      () => seen.a!.length === 2 && seen.b!.length === 2,
    );
    assert.deepEqual(seen.a, ["join p alice", "join p bob"]);
    assert.deepEqual(seen.b, ["join p alice", "join p bob"]);
    for (const hub of [a, b]) {
      const members = await hub.presence("p");
      assert.deepEqual(
        members.map((m) => [m.serverId, m.data]),
        [[a.serverId, { name: "alice" }], [b.serverId, { name: "bob" }]],
      );
      for (const member of members) {
        assert.equal(typeof member.id, "string");
        assert.ok(member.joinedAt >= before && member.joinedAt <= Date.now());
      }
    }
    assert.deepEqual(a.members("p").length, 1);
    await bob.close();
    await until(
      "the leave heard on both hubs",
      () => seen.a!.length === 3 && seen.b!.length === 3,
    );
    assert.equal(seen.a!.at(-1), "leave p bob");
    assert.equal(seen.b!.at(-1), "leave p bob");
    assert.deepEqual(
      (await b.presence("p")).map((m) => m.data),
      [{ name: "alice" }],
    );
    assert.deepEqual(await a.presence("nobody-here"), []);
  });

  Deno.test(`${label}: a member joined with positions gets every room message with its position; a plain member gets the data as it is`, async () => {
    await using s = await servers({ history: 10 });
    const [a, b] = s.hubs;
    await using framed = await RoomsPeer.open(s.urls[1]);
    framed.join("f");
    await framed.joined("f");
    const plain = await open(`${s.urls[1]}?plain=f`);
    const got: unknown[] = [];
    plain.binaryType = "arraybuffer";
    plain.onmessage = (event) => got.push(event.data);
    await until("the plain member is in", () => b.members("f").length === 2);
    const text = await a.broadcast("f", "hello");
    const bytes = await a.broadcast("f", new Uint8Array([1, 2, 255]));
    await framed.waitFor(() => framed.messages("f").length === 2 || undefined);
    const [first, second] = framed.messages("f");
    assert.deepEqual(first, {
      type: "message",
      room: "f",
      position: text,
      data: "hello",
    });
    assert.deepEqual(second, {
      type: "message",
      room: "f",
      position: bytes,
      data: "AQL/",
      binary: true,
    });
    await until("the plain member has both", () => got.length === 2);
    assert.equal(got[0], "hello");
    assert.deepEqual(
      new Uint8Array(got[1] as ArrayBuffer),
      new Uint8Array([1, 2, 255]),
    );
    const closed = new Promise((resolve) => plain.onclose = resolve);
    plain.close();
    await closed;
  });
}
