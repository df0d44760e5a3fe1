import assert from "node:assert/strict";
import { route, Socket } from "../mod.ts";
import { Hub } from "../src/hub.ts";
import { MAX_STALL_MS, STALL_MS } from "../src/hub/_slow.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A server whose connections join the hub's room "r"; `members` maps each
 * id to its server-side socket. `options` go to `route()`.
 */
function roomServer(hub: Hub, options: { highWaterMark?: number } = {}) {
  const members = new Map<string, Socket>();
  let arrived = deferred<string>();
  const srv = serve(route("/", async (socket) => {
    const id = hub.add(socket);
    hub.join(id, "r");
    members.set(id, socket);
    arrived.resolve(id);
    for await (const _ of socket) { /* the tests only send from the hub */ }
  }, options));
  async function next(): Promise<string> {
    const id = await arrived.promise;
    arrived = deferred();
    return id;
  }
  return { srv, members, next };
}

/** What the sockets of the room hold in Deno's send buffers, in all. */
function bufferedInAll(members: Map<string, Socket>): number {
  let sum = 0;
  for (const socket of members.values()) {
    if (socket.readyState <= 1) sum += socket.bufferedAmount;
  }
  return sum;
}

Deno.test("a hub keeps what 20 members that read nothing hold within maxBufferedBytes, closes them with 1013 and still delivers every message in order to a reader", async () => {
  const maxBufferedBytes = 8 * MiB;
  await using hub = new Hub({ maxBufferedBytes });
  const { srv, members, next } = roomServer(hub);
  await using _ = srv;
  const reader = await open(srv.url);
  const readerId = await next();
  const slow: { peer: RawPeer; id: string }[] = [];
  // Disposed before the server, so that a failed check cannot leave it
  // waiting for connections that read nothing.
  await using _peers = {
    [Symbol.asyncDispose]() {
      for (const { peer } of slow) peer.close();
      reader.close();
      return Promise.resolve();
    },
  };
  for (let i = 0; i < 20; i++) {
    const peer = await RawPeer.connect(srv.port);
    await peer.handshake();
    slow.push({ peer, id: await next() });
  }
  const COUNT = 50;
  const received: number[] = [];
  reader.onmessage = (event) => {
    const bytes = new Uint8Array(event.data as ArrayBuffer);
    assert.equal(bytes.byteLength, MiB);
    received.push(bytes[0]! | bytes[MiB - 1]! << 8);
  };
  let peakBuffered = 0;
  for (let i = 0; i < COUNT; i++) {
    const message = new Uint8Array(MiB);
    message[0] = i & 0xff;
    message[MiB - 1] = i >> 8;
    hub.broadcast("r", message);
    peakBuffered = Math.max(peakBuffered, bufferedInAll(members));
    // The reader keeps up; the others fall behind.
    for (let t = 0; t < 1000 && received.length <= i; t++) await delay(2);
  }
  assert.deepEqual(received, Array.from({ length: COUNT }, (_, i) => i));
  assert.ok(
    peakBuffered <= maxBufferedBytes,
    `the members held ${peakBuffered} bytes, over ${maxBufferedBytes}`,
  );
  assert.deepEqual(hub.members("r"), [readerId]);
  for (const { peer, id } of slow) {
    assert.ok(members.get(id)!.readyState >= 2, "a slow member stayed open");
    const close = await peer.readClose();
    assert.equal(close?.code, 1013);
    assert.match(close.reason, /^Too slow: /);
    peer.close();
    await members.get(id)!.closed;
  }
  const closed = closeEvent(reader);
  reader.close();
  await closed;
});

Deno.test("a member over its highWaterMark waits in the hub's queue and gets every message once it reads", async () => {
  await using hub = new Hub({ maxBufferedBytes: 64 * MiB });
  const { srv, members, next } = roomServer(hub);
  await using _ = srv;
  await using peer = await RawPeer.connect(srv.port);
  await peer.handshake();
  const id = await next();
  const COUNT = 40;
  for (let i = 0; i < COUNT; i++) {
    const message = new Uint8Array(MiB);
    message[0] = i;
    hub.broadcast("r", message);
  }
  // Nothing was read yet: the socket was handed about its highWaterMark
  // (1 MiB) and the rest waits in the hub, not in Deno's buffer.
  assert.ok(
    members.get(id)!.bufferedAmount <= 2 * MiB,
    `the socket holds ${members.get(id)!.bufferedAmount} bytes`,
  );
  for (let i = 0; i < COUNT; i++) {
    const frame = await peer.readFrame();
    assert.equal(frame?.payload.byteLength, MiB);
    assert.equal(frame.payload[0], i);
  }
  assert.deepEqual(hub.members("r"), [id]);
  peer.close();
  await members.get(id)!.closed;
});

Deno.test("Hub checks maxBufferedBytes and refuses a message larger than it", async () => {
  assert.throws(() => new Hub({ maxBufferedBytes: 0 }), RangeError);
  assert.throws(() => new Hub({ maxBufferedBytes: 1.5 }), RangeError);
  assert.throws(
    () => new Hub({ maxBufferedBytes: "1" as unknown as number }),
    TypeError,
  );
  await using hub = new Hub({ maxBufferedBytes: 1024 });
  assert.throws(
    () => hub.broadcast("r", new Uint8Array(1025)),
    (error: Error) =>
      error instanceof RangeError && /maxBufferedBytes/.test(error.message),
  );
  assert.throws(() => hub.send("someone", "é".repeat(513)), RangeError);
  hub.broadcast("r", "x".repeat(1024));
});

// 20 x 100 KiB is about twice the budget, but a member below its
// highWaterMark is not behind: the copies that do not fit wait in the hub
// (once for all of them) until the first ones are written. With the
// defaults: a 70 KB message to a room of 1,000 members.
Deno.test("one broadcast to 20 members that read, larger than maxBufferedBytes in all, reaches every one and closes none", async () => {
  const maxBufferedBytes = 1024 * KiB;
  await using hub = new Hub({ maxBufferedBytes });
  const { srv, members, next } = roomServer(hub);
  await using _ = srv;
  const clients: WebSocket[] = [];
  for (let i = 0; i < 20; i++) {
    clients.push(await open(srv.url));
    await next();
  }
  const closes: number[] = [];
  for (const ws of clients) {
    ws.addEventListener("close", (e) => closes.push(e.code));
  }
  const got = Promise.allSettled(clients.map((ws) => collect(ws, 1)));
  hub.broadcast("r", "x".repeat(100 * KiB));
  const buffered = bufferedInAll(members);
  const results = await got;
  await Promise.all(clients.map((ws) => {
    const closed = closeEvent(ws);
    ws.close();
    return closed;
  }));
  const failed = results.filter((r) => r.status === "rejected").length;
  assert.equal(
    failed,
    0,
    `${failed} of 20 reading members did not get the broadcast (closes: ${
      closes.filter((c) => c !== 1005 && c !== 1000).join(",")
    })`,
  );
  assert.ok(
    buffered <= maxBufferedBytes,
    `the members held ${buffered} bytes, over ${maxBufferedBytes}`,
  );
});

Deno.test("messages waiting in the hub for many members count once against maxBufferedBytes", async () => {
  // Counted once per member, the 36 messages left waiting for each of the
  // 10 members (5.6 MiB) would be over the 2 MiB budget; counted once,
  // with the 640 KiB the sockets hold, they are 1.2 MiB.
  const maxBufferedBytes = 2 * MiB;
  await using hub = new Hub({ maxBufferedBytes });
  const { srv, members, next } = roomServer(hub, { highWaterMark: 64 * KiB });
  await using _ = srv;
  const peers: { peer: RawPeer; id: string }[] = [];
  await using _peers = {
    [Symbol.asyncDispose]() {
      for (const { peer } of peers) peer.close();
      return Promise.resolve();
    },
  };
  for (let i = 0; i < 10; i++) {
    const peer = await RawPeer.connect(srv.port);
    await peer.handshake();
    peers.push({ peer, id: await next() });
  }
  const COUNT = 40;
  for (let i = 0; i < COUNT; i++) {
    const message = new Uint8Array(16 * KiB);
    message[0] = i;
    hub.broadcast("r", message);
  }
  assert.ok(
    bufferedInAll(members) <= maxBufferedBytes,
    `the members held ${bufferedInAll(members)} bytes`,
  );
  for (const { peer } of peers) {
    for (let i = 0; i < COUNT; i++) {
      const frame = await peer.readFrame();
      assert.equal(frame?.opcode, 2, `frame ${i} is not binary`);
      assert.equal(frame.payload.byteLength, 16 * KiB);
      assert.equal(frame.payload[0], i);
    }
  }
  assert.equal(hub.members("r").length, 10);
  for (const { peer, id } of peers) {
    peer.close();
    await members.get(id)!.closed;
  }
});

/**
 * An open WebSocket stand-in for a hub member: one that reads writes what
 * it is sent at once; one that reads nothing keeps it all in its
 * `bufferedAmount`, for ever. A test may make it stop reading.
 */
class MemberWebSocket extends EventTarget {
  binaryType = "arraybuffer";
  protocol = "";
  url = "";
  readyState = 1;
  bufferedAmount = 0;
  received: Uint8Array[] = [];
  closedWith: [number, string] | undefined;
  constructor(public reads: boolean) {
    super();
  }
  send(data: ArrayBuffer | Uint8Array): void {
    const bytes = new Uint8Array(data);
    this.received.push(bytes);
    if (!this.reads) this.bufferedAmount += bytes.byteLength;
  }
  close(code = 1000, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = [code, reason];
    setTimeout(() =>
      this.dispatchEvent(
        new CloseEvent("close", { code, reason, wasClean: true }),
      )
    );
  }
}

/**
 * A hub with `maxBufferedBytes`, and the members of its room "r" in this
 * order: sockets with a `highWaterMark` of 64 KiB over stand-ins that read
 * or read nothing. Each has been sent 1 KiB already (first byte 255), so
 * the one that reads has shown that it does. Disposing of it closes the
 * members, waits until they have closed, then disposes of the hub.
 */
async function standIns(maxBufferedBytes: number, reads: boolean[]) {
  const hub = new Hub({ maxBufferedBytes });
  const members = reads.map((r) => {
    const ws = new MemberWebSocket(r);
    const socket = new Socket(ws as unknown as WebSocket, {
      highWaterMark: 64 * KiB,
    });
    hub.join(hub.add(socket), "r");
    return { ws, socket };
  });
  hub.broadcast("r", new Uint8Array(KiB).fill(255));
  await delay(5);
  return {
    hub,
    members,
    async [Symbol.asyncDispose](): Promise<void> {
      for (const { socket } of members) socket.close();
      await Promise.all(members.map(({ socket }) => socket.closed));
      await hub[Symbol.asyncDispose]();
    },
  };
}

/** The first byte of each message a stand-in was sent. */
function firstBytes(ws: MemberWebSocket): number[] {
  return ws.received.map((bytes) => bytes[0]!);
}

/** Waits (at most `ms`) until `done()`. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await delay(5);
}

// What the CI run that stalled was left with: the budget full of the
// newest message held by sockets at their highWaterMark that read nothing
// and have nothing queued in the hub, so none of them is behind, while
// the same message waits for the budget for a member that reads.
Deno.test("a message waiting for a budget held by full sockets that read nothing reaches the reader, and one of them is closed with 1013", async () => {
  const maxBufferedBytes = 130 * KiB;
  await using room = await standIns(maxBufferedBytes, [false, false, true]);
  const { hub, members } = room;
  const [a, b, reader] = members as [
    (typeof members)[0],
    (typeof members)[0],
    (typeof members)[0],
  ];
  const message = new Uint8Array(64 * KiB);
  message[0] = 7;
  hub.broadcast("r", message);
  assert.deepEqual(firstBytes(a.ws), [255, 7]);
  assert.deepEqual(firstBytes(b.ws), [255, 7]);
  assert.deepEqual(firstBytes(reader.ws), [255], "the budget had room");
  await until(() => reader.ws.received.length > 1, 1500);
  assert.deepEqual(firstBytes(reader.ws), [255, 7], "the reader got nothing");
  const closed = [a, b].filter(({ ws }) => ws.closedWith !== undefined);
  assert.equal(closed.length, 1, "closed more than needed");
  assert.equal(closed[0]!.ws.closedWith![0], 1013);
  assert.match(
    closed[0]!.ws.closedWith![1],
    /^Too slow: the hub's buffers are full \(maxBufferedBytes 133120\)$/,
  );
  const held = members.filter(({ ws }) => ws.readyState === 1)
    .reduce((sum, { ws }) => sum + ws.bufferedAmount, 0);
  assert.ok(held <= maxBufferedBytes, `the members hold ${held} bytes`);
  assert.equal(hub.members("r").length, 2);
});

// Each member that reads nothing holds less than its highWaterMark, and
// messages wait for all three only because the budget is full: nobody is
// behind. Before, nothing ever freed the budget.
Deno.test("members that read nothing, each below its highWaterMark, are closed with 1013 when they hold the budget, and the reader gets every message in order", async () => {
  const maxBufferedBytes = 102 * KiB;
  await using room = await standIns(maxBufferedBytes, [false, false, true]);
  const { hub, members } = room;
  const reader = members[2]!;
  for (let i = 0; i < 2; i++) {
    const message = new Uint8Array(40 * KiB);
    message[0] = i;
    hub.broadcast("r", message);
  }
  assert.deepEqual(firstBytes(reader.ws), [255], "the budget had room");
  await until(() => reader.ws.received.length > 2, 1500);
  assert.deepEqual(firstBytes(reader.ws), [255, 0, 1]);
  for (const { ws } of members.slice(0, 2)) {
    assert.deepEqual(firstBytes(ws), [255, 0]);
    assert.equal(ws.closedWith?.[0], 1013);
    assert.match(ws.closedWith[1], /^Too slow: /);
  }
  assert.equal(reader.ws.readyState, 1);
  assert.equal(hub.members("r").length, 1);
});

// Closing a member does not free what Deno holds for it: making room for
// members that never wrote anything would let each member of a room that
// reads nothing take a copy in turn (docs/scale-out.md: one big broadcast
// to 100 such members keeps the budget's copies, not 100).
Deno.test("a room of members that read nothing keeps one broadcast's copies within maxBufferedBytes and closes none while it waits", async () => {
  const maxBufferedBytes = 132 * KiB;
  await using room = await standIns(maxBufferedBytes, [
    false,
    false,
    false,
    false,
  ]);
  const { hub, members } = room;
  hub.broadcast("r", new Uint8Array(64 * KiB));
  await delay(3 * STALL_MS);
  const held = members.reduce((sum, { ws }) => sum + ws.bufferedAmount, 0);
  assert.ok(held <= maxBufferedBytes, `the members hold ${held} bytes`);
  assert.deepEqual(members.map(({ ws }) => ws.closedWith), [
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  assert.deepEqual(members.map(({ ws }) => ws.received.length), [2, 2, 1, 1]);
});

// Its pace, measured on 1 KiB written long before the hub looked, says
// that the 65 KiB it holds would take minutes: the reader must not wait
// that long.
Deno.test("a member seen writing only a small message long ago that then reads nothing is closed with 1013 within MAX_STALL_MS when it holds the budget a reader waits for", async () => {
  await using room = await standIns(100 * KiB, [true, true]);
  const { hub, members } = room;
  const [quiet, reader] = members as [
    (typeof members)[0],
    (typeof members)[0],
  ];
  await delay(300);
  quiet.ws.reads = false;
  const message = new Uint8Array(64 * KiB);
  message[0] = 9;
  const start = Date.now();
  hub.broadcast("r", message);
  assert.deepEqual(firstBytes(quiet.ws), [255, 9]);
  assert.deepEqual(firstBytes(reader.ws), [255], "the budget had room");
  await until(() => reader.ws.received.length > 1, MAX_STALL_MS + 2000);
  const waited = Date.now() - start;
  assert.deepEqual(firstBytes(reader.ws), [255, 9], "the reader got nothing");
  assert.ok(
    waited >= STALL_MS,
    `the quiet member was closed after ${waited} ms`,
  );
  assert.equal(quiet.ws.closedWith?.[0], 1013);
  assert.match(quiet.ws.closedWith[1], /^Too slow: the hub's buffers are full/);
  assert.equal(reader.ws.readyState, 1);
});
