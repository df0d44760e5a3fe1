import assert from "node:assert/strict";
import WS from "npm:ws@8";
import { route, type Socket } from "../mod.ts";
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
