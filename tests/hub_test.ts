import assert from "node:assert/strict";
import { route, type Socket } from "../mod.ts";
import { Hub, MemoryBackplane } from "../src/hub.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";

/**
 * A server whose connections are added to `hub`; `connect()` opens a client
 * and resolves with it and its id once the server has added it.
 */
function hubServer(hub: Hub, options = {}) {
  let arrived = deferred<{ id: string; socket: Socket }>();
  const srv = serve(route("/", async (socket) => {
    const id = hub.add(socket);
    arrived.resolve({ id, socket });
    for await (const _ of socket) { /* the tests only send from the hub */ }
  }, options));
  async function connect(): Promise<{ ws: WebSocket; id: string }> {
    const ws = await open(srv.url);
    const { id } = await arrived.promise;
    arrived = deferred();
    return { ws, id };
  }
  async function raw(): Promise<{ peer: RawPeer; id: string; socket: Socket }> {
    const peer = await RawPeer.connect(srv.port);
    await peer.handshake();
    const { id, socket } = await arrived.promise;
    arrived = deferred();
    return { peer, id, socket };
  }
  return { srv, connect, raw };
}

async function closeAll(clients: WebSocket[]): Promise<void> {
  await Promise.all(clients.map((ws) => {
    const closed = closeEvent(ws);
    ws.close();
    return closed;
  }));
}

Deno.test("join, leave and members track presence, and a closed socket leaves every room", async () => {
  await using hub = new Hub();
  const { srv, connect } = hubServer(hub);
  await using _ = srv;
  const a = await connect();
  const b = await connect();
  assert.equal(hub.size, 2);
  assert.ok(hub.join(a.id, "lobby"));
  assert.ok(hub.join(b.id, "lobby"));
  assert.ok(hub.join(a.id, "games"));
  assert.deepEqual(hub.members("lobby"), [a.id, b.id]);
  assert.deepEqual(hub.rooms(a.id), ["lobby", "games"]);
  assert.ok(hub.leave(b.id, "lobby"));
  assert.equal(hub.leave(b.id, "lobby"), false);
  assert.deepEqual(hub.members("lobby"), [a.id]);
  assert.equal(hub.join("nobody", "lobby"), false);

  a.ws.close();
  await closeEvent(a.ws);
  for (let i = 0; i < 100 && hub.size > 1; i++) await delay(5);
  assert.equal(hub.size, 1);
  assert.deepEqual(hub.members("lobby"), []);
  assert.deepEqual(hub.members("games"), []);
  assert.deepEqual(hub.rooms(a.id), []);
  await closeAll([b.ws]);
});

Deno.test("broadcast reaches the room but not the excepted sender nor other rooms", async () => {
  await using hub = new Hub();
  const { srv, connect } = hubServer(hub);
  await using _ = srv;
  const [a, b, c, d] = [
    await connect(),
    await connect(),
    await connect(),
    await connect(),
  ];
  for (const x of [a!, b!, c!]) hub.join(x.id, "lobby");
  hub.join(d!.id, "other");
  let strays = 0;
  a!.ws.onmessage = () => strays++;
  d!.ws.onmessage = () => strays++;
  const got = [collect(b!.ws, 2), collect(c!.ws, 2)];
  hub.broadcast("lobby", "hi", { except: a!.id });
  hub.broadcast("lobby", new Uint8Array([1, 2, 3]), { except: a!.id });
  for (const [text, bytes] of await Promise.all(got)) {
    assert.equal(text, "hi");
    assert.deepEqual([...new Uint8Array(bytes as ArrayBuffer)], [1, 2, 3]);
  }
  await delay(30);
  assert.equal(strays, 0);
  assert.throws(
    () => hub.broadcast("lobby", 42 as unknown as string),
    TypeError,
  );
  await closeAll([a!.ws, b!.ws, c!.ws, d!.ws]);
});

Deno.test("hubs sharing a MemoryBackplane broadcast across each other and send by id", async () => {
  await using backplane = new MemoryBackplane();
  await using one = new Hub({ backplane });
  await using two = new Hub({ backplane });
  await Promise.all([one.ready, two.ready]);
  const s1 = hubServer(one);
  const s2 = hubServer(two);
  await using _1 = s1.srv;
  await using _2 = s2.srv;
  const a = await s1.connect();
  const b = await s2.connect();
  one.join(a.id, "room");
  two.join(b.id, "room");
  const toB = collect(b.ws, 2);
  one.broadcast("room", "from one");
  one.send(b.id, new Uint8Array([9]));
  const [text, bytes] = await toB;
  assert.equal(text, "from one");
  assert.deepEqual([...new Uint8Array(bytes as ArrayBuffer)], [9]);
  const toA = collect(a.ws, 1);
  two.broadcast("room", "from two", { except: b.id });
  assert.deepEqual(await toA, ["from two"]);
  await closeAll([a.ws, b.ws]);
});

Deno.test("a slow connection never stalls the others and is closed with 1013 once too far behind", async () => {
  await using hub = new Hub({ maxQueuedMessages: 20 });
  const { srv, connect, raw } = hubServer(hub, { highWaterMark: 64 * 1024 });
  await using _ = srv;
  const fast = await connect();
  const slow = await raw(); // never reads
  hub.join(fast.id, "r");
  hub.join(slow.id, "r");
  const COUNT = 400;
  const payload = "x".repeat(64 * 1024);
  let received = 0;
  fast.ws.onmessage = () => received++;
  // The fast client keeps up batch by batch while the slow one reads
  // nothing: its backlog grows until the hub gives up on it.
  for (let sent = 0; sent < COUNT;) {
    for (let i = 0; i < 10; i++, sent++) hub.broadcast("r", payload);
    for (let i = 0; i < 1000 && received < sent; i++) await delay(2);
    assert.equal(received, sent, "the fast client was held up");
  }
  for (let i = 0; i < 200 && hub.members("r").length > 1; i++) await delay(5);
  assert.deepEqual(hub.members("r"), [fast.id]);
  assert.ok(slow.socket.readyState >= 2, "the slow socket was not closed");
  const close = await slow.peer.readClose();
  assert.equal(close?.code, 1013);
  assert.match(close.reason, /^Too slow/);
  slow.peer.close();
  await slow.socket.closed;
  await closeAll([fast.ws]);
});

Deno.test("Hub checks its options", async () => {
  assert.throws(() => new Hub({ maxQueuedMessages: 0 }), RangeError);
  assert.throws(() => new Hub({ channel: "" }), TypeError);
  assert.throws(
    () => new Hub({ backplane: {} as unknown as MemoryBackplane }),
    TypeError,
  );
  await using hub = new Hub();
  assert.deepEqual(hub.members("none"), []);
  hub.send("nobody", "goes to the backplane, heard by no one");
});
