import assert from "node:assert/strict";
import WS from "npm:ws@8";
import { type CloseInfo, route, type Socket } from "../mod.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  handshakeHeaders,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";

async function echo(socket: Socket): Promise<void> {
  for await (const msg of socket) await socket.send(msg.data);
}

Deno.test("maxConnections refuses the next handshake with 503 and Retry-After", async () => {
  const ws = route("/", echo, { maxConnections: 2 });
  await using srv = serve(ws);
  const a = await open(srv.url);
  const b = await open(srv.url);
  {
    await using peer = await RawPeer.connect(srv.port);
    const res = await peer.request("GET", "/", handshakeHeaders());
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.match(res.body, /limit of 2 connections/);
  }
  a.close();
  await closeEvent(a);
  while (ws.stats().connections > 1) await delay(5);
  const c = await open(srv.url);
  for (const client of [b, c]) {
    client.close();
    await closeEvent(client);
  }
  await ws.shutdown();
  assert.equal(ws.stats().refused, 1);
});

Deno.test("maxMessagesPerSecond closes a flooding connection with 1008", async () => {
  const ws = route("/", echo, { maxMessagesPerSecond: 20 });
  await using srv = serve(ws);
  const polite = await open(srv.url);
  // Exactly one message over the limit: the peer sees the 1008 frame.
  const over = await open(srv.url);
  const overClosed = closeEvent(over);
  for (let i = 0; i < 21; i++) over.send(`m${i}`);
  const event = await overClosed;
  assert.equal(event.code, 1008);
  assert.match(event.reason, /rate limit/);
  // A real flood: Deno drops the TCP connection when frames keep coming
  // after its close frame, so the peer sees 1006; the server saw 1008.
  const flood = await open(srv.url);
  const floodClosed = closeEvent(flood);
  for (let i = 0; i < 500; i++) flood.send(`m${i}`);
  await floodClosed;
  // Ten messages a second for 1.5 s stays under the limit.
  const got = collect(polite, 15);
  for (let i = 0; i < 15; i++) {
    polite.send(`p${i}`);
    await delay(100);
  }
  assert.equal((await got).length, 15);
  polite.close();
  await closeEvent(polite);
  await ws.shutdown();
  assert.equal(ws.stats().closes["1008"], 2);
});

Deno.test("a loop that does not keep up closes with 1013 past maxQueuedMessages", async () => {
  const info = deferred<{ code: number }>();
  await using srv = serve(route("/", async (socket) => {
    info.resolve(await socket.closed); // never reads
  }, { maxQueuedMessages: 50 }));
  const ws = await open(srv.url);
  const closed = closeEvent(ws);
  for (let i = 0; i < 51; i++) ws.send("x");
  assert.equal((await closed).code, 1013);
  assert.equal((await info.promise).code, 1013);
});

Deno.test("sendTimeout closes a connection whose peer reads nothing, with bounded memory", async () => {
  const highWaterMark = 64 * 1024;
  const result = deferred<{ code: number; peak: number; error: unknown }>();
  await using srv = serve(route("/", async (socket) => {
    let peak = 0;
    let error: unknown;
    const chunk = new Uint8Array(16 * 1024);
    try {
      for (let i = 0; i < 100_000; i++) {
        await socket.send(chunk);
        peak = Math.max(peak, socket.bufferedAmount);
      }
    } catch (e) {
      error = e;
    }
    const { code } = await socket.closed;
    result.resolve({ code, peak, error });
  }, { highWaterMark, sendTimeout: 300 }));
  const client = new WS(srv.url);
  await new Promise((resolve) => client.once("open", resolve));
  const raw = client as unknown as {
    _socket: { pause(): void; resume(): void };
  };
  raw._socket.pause();
  await delay(1500);
  raw._socket.resume();
  const { code, peak, error } = await result.promise;
  assert.equal(code, 1008);
  assert.match(String(error), /Send timeout|1008/);
  assert.ok(peak <= highWaterMark + 16 * 1024, `peak ${peak}`);
  if (client.readyState !== WS.CLOSED) {
    await new Promise((resolve) => client.once("close", resolve));
  }
});

Deno.test("stats() counts connections, messages and closes by code", async () => {
  const ws = route("/", echo);
  await using srv = serve(ws);
  const a = await open(srv.url);
  const got = collect(a, 3);
  a.send("1");
  a.send("2");
  a.send("3");
  await got;
  assert.equal(ws.stats().connections, 1);
  a.close(4001, "bye");
  await closeEvent(a);
  while (ws.stats().connections > 0) await delay(5);
  const stats = ws.stats();
  assert.deepEqual(stats, {
    connections: 0,
    accepted: 1,
    refused: 0,
    messagesIn: 3,
    messagesOut: 3,
    closes: { "4001": 1 },
  });
});

Deno.test("shutdown() closes every socket with 1001, refuses new ones and waits for handlers", async () => {
  let finishedHandlers = 0;
  const ws = route("/", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
    await delay(50); // cleanup after the loop
    finishedHandlers++;
  });
  await using srv = serve(ws);
  const clients = await Promise.all([1, 2, 3].map(() => open(srv.url)));
  const closes = clients.map(closeEvent);
  await ws.shutdown();
  assert.equal(finishedHandlers, 3);
  for (const event of await Promise.all(closes)) {
    assert.equal(event.code, 1001);
    assert.equal(event.reason, "Server shutting down");
  }
  await using peer = await RawPeer.connect(srv.port);
  const res = await peer.request("GET", "/", handshakeHeaders());
  assert.equal(res.status, 503);
  assert.equal(ws.stats().closes["1001"], 3);
});

Deno.test("shutdown() gives up waiting after shutdownTimeout", async () => {
  const release = deferred<void>();
  const ws = route("/", async (socket) => {
    for await (const _ of socket) { /* read */ }
    await release.promise; // a handler that hangs after its loop
  }, { shutdownTimeout: 200 });
  await using srv = serve(ws);
  const client = await open(srv.url);
  const started = Date.now();
  await ws.shutdown();
  const took = Date.now() - started;
  assert.ok(took >= 150 && took < 2000, `took ${took} ms`);
  await closeEvent(client);
  release.resolve();
});

Deno.test("aborting the route's signal shuts it down", async () => {
  const controller = new AbortController();
  const ws = route("/", echo, { signal: controller.signal });
  await using srv = serve(ws);
  const client = await open(srv.url);
  const closed = closeEvent(client);
  controller.abort();
  const event = await closed;
  assert.equal(event.code, 1001);
  await ws.shutdown();
});

Deno.test("route() validates its limits", () => {
  assert.throws(() => route("/", echo, { maxConnections: 0 }), RangeError);
  assert.throws(
    () => route("/", echo, { maxMessagesPerSecond: -5 }),
    RangeError,
  );
  assert.throws(() => route("/", echo, { shutdownTimeout: -1 }), RangeError);
  assert.throws(() => route("/", echo, { sendTimeout: -1 }), RangeError);
  assert.throws(() => route("/", echo, { maxQueuedMessages: 0 }), RangeError);
  assert.throws(
    () => route("/", echo, { maxConnections: "10" as unknown as number }),
    TypeError,
  );
});

/** One binary frame of `size` zero bytes with a zero mask key. */
function zeroFrame(size: number): Uint8Array {
  const out = new Uint8Array(14 + size);
  out.set([
    0x82,
    0x80 | 127,
    0,
    0,
    0,
    0,
    (size >>> 24) & 255,
    (size >>> 16) & 255,
    (size >>> 8) & 255,
    size & 255,
  ]);
  return out;
}

// Issue 22: a client that sends and reads nothing stalls the README's echo
// loop on send(); what it keeps sending waits in the inbox. A count bound
// alone lets 100,000 messages of up to 16 MiB wait: the bytes are bounded too.
Deno.test("with default options an echo loop stalled by a client that reads nothing closes it with 1013 once 64 MiB wait", async () => {
  let server: Socket | undefined;
  await using srv = serve(route("/", async (socket) => {
    server = socket;
    for await (const msg of socket) await socket.send(msg.data);
  }));
  const peer = await RawPeer.connect(srv.port);
  await peer.handshake();
  const frame = zeroFrame(1024 * 1024);
  let sent = 0;
  try {
    // The server starts closing (its signal aborts) once the bound is hit;
    // the peer reads nothing, so the close handshake never completes.
    for (; sent < 256 && !server?.signal.aborted; sent++) {
      await peer.write(frame);
    }
  } catch {
    // The server dropped the connection under us: that is the bound too.
  }
  await delay(100);
  const reason = server?.signal.reason as { code: number; reason: string };
  peer.close();
  const info = await server!.closed;
  assert.ok(sent < 100, `${sent} MiB sent before the server closed`);
  assert.equal(reason.code, 1013);
  assert.match(reason.reason, /More than 67108864 bytes waiting for the loop/);
  assert.equal(info.code, 1013);
});

Deno.test("maxQueuedMessageBytes bounds the inbox of a server socket and of the reconnecting client", async () => {
  const closed = deferred<CloseInfo>();
  await using srv = serve(route("/", async (socket) => {
    socket.closed.then(closed.resolve);
    await delay(200);
    for await (const _ of socket) { /* reads late */ }
  }, { maxQueuedMessageBytes: 64 * 1024, maxMessageSize: 16 * 1024 }));
  const ws = await open(srv.url);
  for (let i = 0; i < 10; i++) ws.send(new Uint8Array(10 * 1024));
  const info = await closed.promise;
  assert.equal(info.code, 1013);
  assert.match(info.reason, /More than 65536 bytes/);
  await closeEvent(ws);

  const { connect } = await import("../src/client/mod.ts");
  const sentAll = deferred<void>();
  await using pusher = serve(route("/", async (socket) => {
    for (let i = 0; i < 8 && socket.readyState <= 1; i++) {
      await socket.send(new Uint8Array(16 * 1024));
    }
    sentAll.resolve();
    await socket.closed;
  }));
  const client = connect(pusher.url, {
    maxRetries: 0,
    maxMessageSize: 16 * 1024,
    maxQueuedMessageBytes: 64 * 1024,
  });
  await sentAll.promise;
  const end = await client.closed;
  assert.equal(end.code, 1013);
  assert.match(end.reason, /More than 65536 bytes waiting for the loop/);
  // What arrived before the bound stays readable.
  let read = 0;
  for await (const _ of client) read++;
  assert.equal(read, 4);
});

Deno.test("maxQueuedMessageBytes is checked: a number of at least maxMessageSize", () => {
  assert.throws(
    () =>
      route("/", () => {}, {
        maxQueuedMessageBytes: 1000,
        maxMessageSize: 2000,
      }),
    /Invalid maxQueuedMessageBytes: expected at least maxMessageSize \(2000\), got 1000/,
  );
  assert.throws(
    () =>
      route("/", () => {}, { maxQueuedMessageBytes: "1" as unknown as number }),
    TypeError,
  );
});
