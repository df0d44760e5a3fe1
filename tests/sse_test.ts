/**
 * The fallback transport: the same Socket over a Server-Sent Events stream
 * and POSTs (route's `transports`), and the client falling back to it.
 */

import assert from "node:assert/strict";
import { type CloseInfo, type Message, route, Socket } from "../mod.ts";
import { type Client, connect, type Fetch } from "../src/client/mod.ts";
import { EventStreamSocket } from "../src/sse/client.ts";
import { Hub } from "../src/hub.ts";
import { RpcPeer } from "../src/rpc/mod.ts";
import { deferred, delay, open, serve } from "./_helpers.ts";
import { openStream, post } from "./_sse_helpers.ts";

const hostname = "127.0.0.1";
const BOTH = ["websocket", "sse"] as const;

/** An echo handler that records what it saw and how the socket closed. */
function echo() {
  const received: Message[] = [];
  const closes: CloseInfo[] = [];
  const handler = async (socket: Socket) => {
    for await (const msg of socket) {
      received.push(msg);
      await socket.send(msg.data);
    }
    closes.push(await socket.closed);
  };
  return { received, closes, handler };
}

/** A proxy on 127.0.0.1 that answers 502 to upgrades and forwards the rest. */
function refusingProxy(target: number, mode: "502" | "hang" = "502") {
  const hung: (() => void)[] = [];
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, (req) => {
    if (req.headers.get("upgrade") !== null) {
      if (mode === "hang") {
        return new Promise<Response>((resolve) =>
          hung.push(() => resolve(new Response("gone", { status: 504 })))
        );
      }
      return new Response("Bad gateway: no upgrades here\n", { status: 502 });
    }
    const url = new URL(req.url);
    url.port = String(target);
    return fetch(url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
    });
  });
  return {
    port: server.addr.port,
    async [Symbol.asyncDispose]() {
      for (const release of hung) release();
      await server.shutdown();
    },
  };
}

Deno.test("one handler serves a WebSocket client and a fallback client side by side", async () => {
  const { handler, received } = echo();
  await using server = serve(route("/ws", handler, { transports: [...BOTH] }));
  await using ws = connect(`${server.url}/ws`, { transports: ["websocket"] });
  await using sse = connect(`${server.url}/ws`, { transports: ["sse"] });
  await ws.send("via websocket");
  await sse.send("via sse");
  const a = ws[Symbol.asyncIterator]();
  const b = sse[Symbol.asyncIterator]();
  assert.deepEqual((await a.next()).value, {
    type: "text",
    data: "via websocket",
  });
  assert.deepEqual((await b.next()).value, { type: "text", data: "via sse" });
  assert.equal(ws.transport, "websocket");
  assert.equal(sse.transport, "sse");
  assert.deepEqual(received.map((m) => m.data).sort(), [
    "via sse",
    "via websocket",
  ]);
});

Deno.test("text and binary echo over the fallback, unchanged", async () => {
  const { handler, received } = echo();
  await using server = serve(route("/ws", handler, { transports: ["sse"] }));
  await using client = connect(`${server.url}/ws`, { transports: ["sse"] });
  const every = new Uint8Array(256).map((_, i) => i);
  const texts = [
    "plain",
    "",
    "line\nbreaks\r\nand\rreturns",
    'quotes " and \\ backslashes',
    "data: not an event\n\nevent: close",
    "héllo wörld, 你好, 🎉",
    "\u0000\u001f control",
  ];
  for (const text of texts) await client.send(text);
  await client.send(every);
  await client.send(new Uint8Array(0));
  await client.send(new Uint8Array(100_000).fill(7).buffer);
  const got: Message[] = [];
  for await (const msg of client) {
    got.push(msg);
    if (got.length === texts.length + 3) break;
  }
  assert.deepEqual(got.slice(0, texts.length).map((m) => m.data), texts);
  assert.ok(got.slice(0, texts.length).every((m) => m.type === "text"));
  const [all, empty, big] = got.slice(texts.length);
  assert.equal(all?.type, "binary");
  assert.deepEqual(all?.data, every);
  assert.deepEqual(empty, { type: "binary", data: new Uint8Array(0) });
  assert.equal(big?.type, "binary");
  assert.deepEqual(big?.data, new Uint8Array(100_000).fill(7));
  assert.equal(received.length, texts.length + 3);
});

Deno.test("1,000 messages each way, in order, once, with a POST retried after its answer was lost", async () => {
  const fromClient: string[] = [];
  const serverClosed = deferred<CloseInfo>();
  await using server = serve(route("/ws", async (socket) => {
    const sending = (async () => {
      for (let i = 0; i < 1000; i++) await socket.send(`s${i}`);
    })();
    for await (const msg of socket) {
      fromClient.push(msg.data as string);
      if (fromClient.length === 1000) break;
    }
    await sending;
    serverClosed.resolve(await socket.closed);
  }, { transports: ["sse"] }));
  let posts = 0;
  let dropped = 0;
  // The third POST reaches the server, but its answer is "lost".
  const lossy: Fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (init?.method === "POST" && ++posts === 3) {
      dropped++;
      await response.body?.cancel();
      throw new TypeError("network error: connection reset");
    }
    return response;
  };
  await using client = connect(`${server.url}/ws`, {
    transports: ["sse"],
    fetch: lossy,
  });
  // Ten at a time with a pause between, so many POSTs carry batches.
  const sending = (async () => {
    for (let i = 0; i < 1000; i += 10) {
      for (let j = i; j < i + 10; j++) client.send(`c${j}`);
      await delay(1);
    }
  })();
  const fromServer: string[] = [];
  const reader = client[Symbol.asyncIterator]();
  while (fromServer.length < 1000) {
    const { value, done } = await reader.next();
    if (done) break;
    fromServer.push(value.data as string);
  }
  await sending;
  const info = await serverClosed.promise;
  assert.equal(dropped, 1);
  assert.ok(posts > 3, `only ${posts} POSTs`);
  assert.deepEqual(fromServer, Array.from({ length: 1000 }, (_, i) => `s${i}`));
  assert.deepEqual(fromClient, Array.from({ length: 1000 }, (_, i) => `c${i}`));
  assert.equal(info.code, 1000);
});

Deno.test("the server's close code and reason reach the fallback client; the client's reach the server", async () => {
  const closes: CloseInfo[] = [];
  await using server = serve(route("/ws", async (socket) => {
    for await (const msg of socket) {
      if (msg.data === "kick") socket.close(4001, "kicked: bye");
    }
    closes.push(await socket.closed);
  }, { transports: ["sse"] }));
  const kicked = connect(`${server.url}/ws`, { transports: ["sse"] });
  await kicked.send("kick");
  for await (const _ of kicked) { /* until the server closes */ }
  assert.deepEqual(await kicked.closed, {
    code: 4001,
    reason: "kicked: bye",
    wasClean: true,
  });
  assert.equal(kicked.state, "closed");

  const leaving = connect(`${server.url}/ws`, { transports: ["sse"] });
  await leaving.send("hi");
  await delay(50);
  leaving.close(3001, "see you");
  assert.deepEqual(await leaving.closed, {
    code: 3001,
    reason: "see you",
    wasClean: true,
  });
  while (closes.length < 2) await delay(10);
  assert.deepEqual(closes, [
    { code: 4001, reason: "kicked: bye", wasClean: true },
    { code: 3001, reason: "see you", wasClean: true },
  ]);
});

Deno.test("a proxy that answers 502 to upgrades: the client falls back within 2 s and works", async () => {
  const { handler } = echo();
  await using server = serve(route("/ws", handler, { transports: [...BOTH] }));
  await using proxy = refusingProxy(server.port);
  const started = performance.now();
  await using client = connect(`ws://${hostname}:${proxy.port}/ws`, {
    transports: [...BOTH],
  });
  const states: string[] = [];
  client.addEventListener("statechange", () => states.push(client.state));
  await client.send("through the proxy");
  const { value } = await client[Symbol.asyncIterator]().next();
  const elapsed = performance.now() - started;
  assert.deepEqual(value, { type: "text", data: "through the proxy" });
  assert.equal(client.transport, "sse");
  assert.ok(elapsed < 2000, `fell back after ${elapsed.toFixed(0)} ms`);
  assert.deepEqual(states, ["open"]);
});

/** Sends `text` and asserts that the client's next message is its echo. */
async function echoes(client: Client, text: string): Promise<void> {
  await client.send(text);
  assert.equal((await client[Symbol.asyncIterator]().next()).value?.data, text);
}

Deno.test('a path that refuses upgrades (transports: ["sse"]) and an upgrade that never answers both fall back', async () => {
  const { handler } = echo();
  await using sseOnly = serve(route("/ws", handler, { transports: ["sse"] }));
  const refused = await fetch(`http://${hostname}:${sseOnly.port}/ws`, {
    headers: {
      upgrade: "websocket",
      connection: "upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /does not accept WebSocket upgrades/);
  await using a = connect(`${sseOnly.url}/ws`, { transports: [...BOTH] });
  await echoes(a, "a");
  assert.equal(a.transport, "sse");

  await using both = serve(route("/ws", handler, { transports: [...BOTH] }));
  await using proxy = refusingProxy(both.port, "hang");
  const started = performance.now();
  await using b = connect(`ws://${hostname}:${proxy.port}/ws`, {
    transports: [...BOTH],
    openTimeout: 300,
  });
  await echoes(b, "b");
  const elapsed = performance.now() - started;
  assert.equal(b.transport, "sse");
  assert.ok(elapsed >= 290 && elapsed < 2000, `${elapsed.toFixed(0)} ms`);
});

Deno.test('transports: ["sse", "websocket"] tries the fallback first and falls back to a WebSocket when the stream is refused', async () => {
  const { handler } = echo();
  await using both = serve(route("/ws", handler, { transports: [...BOTH] }));
  await using first = connect(`${both.url}/ws`, {
    transports: ["sse", "websocket"],
  });
  await echoes(first, "first");
  assert.equal(first.transport, "sse");

  await using wsOnly = serve(route("/ws", handler));
  const started = performance.now();
  await using client = connect(`${wsOnly.url}/ws`, {
    transports: ["sse", "websocket"],
  });
  await echoes(client, "refused stream");
  assert.equal(client.transport, "websocket");
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 1000, `${elapsed.toFixed(0)} ms: no retry delay`);
});

Deno.test("a WebSocket that opened and closed is not a reason to fall back", async () => {
  let connections = 0;
  await using server = serve(route("/ws", (socket) => {
    if (++connections === 1) socket.close(3000, "go away once");
  }, { transports: [...BOTH] }));
  await using client = connect(`${server.url}/ws`, {
    transports: [...BOTH],
    initialDelay: 10,
    minUptime: 0,
  });
  const reconnecting = new Promise((resolve) =>
    client.addEventListener("reconnecting", resolve, { once: true })
  );
  await reconnecting;
  while (client.state !== "open") await delay(10);
  assert.equal(client.transport, "websocket");
  assert.equal(connections, 2);
});

Deno.test("the fallback client reconnects after a server restart: queued messages arrive once, in order", async () => {
  const received: string[] = [];
  const handler = async (socket: Socket) => {
    for await (const msg of socket) received.push(msg.data as string);
  };
  // Deno.serve's shutdown() waits for open responses, event streams too:
  // the route's own shutdown() ends them first (1001, which the client
  // retries).
  let ws = route("/ws", handler, { transports: ["sse"] });
  let server = Deno.serve({ hostname, port: 0, onListen() {} }, ws);
  const port = server.addr.port;
  const client = connect(`ws://${hostname}:${port}/ws`, {
    transports: [...BOTH],
    initialDelay: 20,
    maxDelay: 100,
  });
  try {
    await client.send("before");
    while (received.length < 1) await delay(10);
    await ws.shutdown();
    await server.shutdown();
    while (client.state !== "reconnecting") await delay(10);
    const queued = ["q1", "q2", "q3"].map((m) => client.send(m));
    ws = route("/ws", handler, { transports: ["sse"] });
    server = Deno.serve({ hostname, port, onListen() {} }, ws);
    await Promise.all(queued);
    while (received.length < 4) await delay(10);
    await delay(100);
    assert.deepEqual(received, ["before", "q1", "q2", "q3"]);
    assert.equal(client.transport, "sse");
  } finally {
    client.close();
    await client.closed;
    await ws.shutdown();
    await server.shutdown();
  }
});

Deno.test("sessions: unknown or closed ids get 404, ids are random UUIDs, seq keeps order and drops repeats", async () => {
  const received: Message[] = [];
  const handler = async (socket: Socket) => {
    for await (const msg of socket) received.push(msg);
  };
  await using server = serve(route("/ws", handler, { transports: ["sse"] }));
  const base = `http://${hostname}:${server.port}/ws`;
  const unknown = await post(base, crypto.randomUUID(), {
    seq: 0,
    messages: [["t", "x"]],
  });
  assert.equal(unknown.status, 404);
  assert.match(await unknown.text(), /no open session/);

  const a = await openStream(base);
  const b = await openStream(base);
  assert.match(
    a.session,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.notEqual(a.session, b.session);
  assert.equal(a.response.headers.get("cache-control"), "no-cache, no-store");
  assert.equal(a.response.headers.get("x-accel-buffering"), "no");

  const first = await post(base, a.session, { seq: 0, messages: [["t", "1"]] });
  assert.equal(first.status, 204);
  const again = await post(base, a.session, { seq: 0, messages: [["t", "1"]] });
  assert.equal(again.status, 204);
  const future = await post(base, a.session, {
    seq: 5,
    messages: [["t", "5"]],
  });
  assert.equal(future.status, 409);
  assert.match(await future.text(), /expected seq 1/);
  const second = await post(base, a.session, {
    seq: 1,
    messages: [["t", "2"], ["c", 1000, ""]],
  });
  assert.equal(second.status, 204);
  const after = await post(base, a.session, { seq: 2, messages: [] });
  assert.equal(after.status, 404);
  await a.cancel();
  await b.cancel();
  while (received.length < 2) await delay(10);
  assert.deepEqual(received.map((m) => m.data), ["1", "2"]);
});

Deno.test("origins are checked on the stream and on POSTs (403)", async () => {
  const { handler } = echo();
  await using server = serve(
    route("/ws", handler, {
      transports: ["sse"],
      allowedOrigins: ["https://good.example"],
    }),
  );
  const base = `http://${hostname}:${server.port}/ws`;
  const bad = await fetch(base, {
    headers: { accept: "text/event-stream", origin: "https://evil.example" },
  });
  assert.equal(bad.status, 403);
  await bad.body?.cancel();
  const good = await openStream(base, { origin: "https://good.example" });
  assert.equal(good.response.status, 200);
  const forged = await post(base, good.session, {
    seq: 0,
    messages: [["t", "x"]],
  }, { origin: "https://evil.example" });
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
  await good.cancel();
});

Deno.test("a message over maxMessageSize gets 413 and closes the session with 1009; a malformed POST gets 400 and 1002", async () => {
  const { handler, closes, received } = echo();
  await using server = serve(
    route("/ws", handler, { transports: ["sse"], maxMessageSize: 1000 }),
  );
  const base = `http://${hostname}:${server.port}/ws`;
  const s = await openStream(base);
  const big = await post(base, s.session, {
    seq: 0,
    messages: [["t", "ok"], ["t", "x".repeat(1001)]],
  });
  assert.equal(big.status, 413);
  assert.match(await big.text(), /1001 bytes exceeds the limit of 1000/);
  let rest = "";
  for (;;) {
    const { value, done } = await s.reader!.read();
    if (done) break;
    rest += value;
  }
  assert.match(rest, /event: close\ndata: \{"code":1009,/);
  while (closes.length < 1) await delay(10);
  assert.equal(closes[0]?.code, 1009);
  assert.equal(received.length, 0, "a refused batch delivers nothing");

  const huge = await openStream(base);
  const body = await post(base, huge.session, "y".repeat(200_000));
  assert.equal(body.status, 413);
  await body.body?.cancel();

  const m = await openStream(base);
  const malformed = await post(base, m.session, "{not json");
  assert.equal(malformed.status, 400);
  assert.match(await malformed.text(), /not JSON/);
  while (closes.length < 3) await delay(10);
  assert.deepEqual(closes.map((c) => c.code), [1009, 1009, 1002]);
  await huge.cancel();
  await m.cancel();
});

Deno.test("a client whose stream goes away ends the Socket with 1006; keepalive comments flow", async () => {
  const closed = deferred<CloseInfo>();
  await using server = serve(route("/ws", async (socket) => {
    for await (const _ of socket) { /* reads until the end */ }
    closed.resolve(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0.05 }));
  const s = await openStream(`http://${hostname}:${server.port}/ws`);
  let text = "";
  while (!text.includes(": keepalive\n\n")) {
    const { value, done } = await s.reader!.read();
    if (done) break;
    text += value;
  }
  assert.match(text, /: keepalive\n\n/);
  await s.cancel();
  const info = await closed.promise;
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
});

Deno.test("send() over the fallback waits when the client does not read the stream", async () => {
  const stalled = deferred<number>();
  const ended = deferred<void>();
  await using server = serve(route("/ws", async (socket) => {
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    for (let i = 0; i < 1000; i++) {
      const timeout = delay(300).then(() => "stalled" as const);
      const result = await Promise.race([socket.send(chunk), timeout]);
      if (result === "stalled") {
        stalled.resolve(sent);
        break;
      }
      sent++;
    }
    socket.close();
    ended.resolve();
  }, { transports: ["sse"], highWaterMark: 64 * 1024 }));
  const s = await openStream(`http://${hostname}:${server.port}/ws`);
  const sent = await stalled.promise;
  // Bounded by the high-water mark plus what the kernel's buffers hold.
  assert.ok(sent < 1000, `sent ${sent} chunks`);
  await s.cancel();
  await ended.promise;
});

Deno.test("limits, stats and shutdown count fallback sessions", async () => {
  const handlerDone = deferred<CloseInfo>();
  const ws = route("/ws", async (socket) => {
    for await (const _ of socket) { /* until shutdown */ }
    handlerDone.resolve(await socket.closed);
  }, { transports: [...BOTH], maxConnections: 1 });
  await using server = serve(ws);
  await using client = connect(`${server.url}/ws`, { transports: ["sse"] });
  while (client.state !== "open") await delay(10);
  const full = await fetch(`http://${hostname}:${server.port}/ws`, {
    headers: { accept: "text/event-stream" },
  });
  assert.equal(full.status, 503);
  assert.equal(full.headers.get("retry-after"), "1");
  await full.body?.cancel();
  assert.equal(ws.stats().connections, 1);
  await ws.shutdown();
  assert.deepEqual(await handlerDone.promise, {
    code: 1001,
    reason: "Server shutting down",
    wasClean: true,
  });
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(ws.stats().closes, { 1001: 1 });
});

Deno.test("other requests on the path get 400; transports is validated", async () => {
  await using server = serve(route("/ws", () => {}, { transports: [...BOTH] }));
  const plainGet = await fetch(`http://${hostname}:${server.port}/ws`);
  assert.equal(plainGet.status, 400);
  assert.match(await plainGet.text(), /event streams/);
  assert.throws(() => route("/ws", () => {}, { transports: [] }), TypeError);
  assert.throws(
    // @ts-expect-error: not a transport
    () => route("/ws", () => {}, { transports: ["longpoll"] }),
    /unknown transport "longpoll"/,
  );
  assert.throws(
    // @ts-expect-error: not a transport
    () => connect("ws://127.0.0.1:1/", { transports: ["carrier-pigeon"] }),
    TypeError,
  );
  assert.throws(
    () => connect("ws://127.0.0.1:1/", { openTimeout: -1 }),
    RangeError,
  );
});

Deno.test("RPC and the hub work over the fallback unchanged", async () => {
  type Api = { add(params: [number, number]): number };
  // RPC beside the hub's plain text: JSON-RPC messages are JSON objects.
  const filter = (msg: Message) =>
    msg.type === "text" && msg.data.startsWith("{");
  const hub = new Hub();
  await using server = serve(route("/ws", async (socket) => {
    const id = hub.add(socket);
    hub.join(id, "room");
    new RpcPeer<Api>(socket, { methods: { add: ([a, b]) => a + b }, filter });
    await socket.closed;
  }, { transports: [...BOTH] }));
  const viaSse = new Socket(
    new EventStreamSocket(
      `${server.url}/ws`,
      [],
      fetch,
    ) as unknown as WebSocket,
  );
  const viaWs = new Socket(await open(`${server.url}/ws`));
  try {
    const seen = deferred<string>();
    const peer = new RpcPeer<Record<string, never>, Api>(viaSse, {
      filter,
      onOther: (msg) => seen.resolve(msg.data as string),
    });
    assert.equal(await peer.call("add", [2, 3]), 5);
    while (hub.members("room").length < 2) await delay(10);
    hub.broadcast("room", "to everyone");
    const [a, b] = await Promise.all([
      viaWs[Symbol.asyncIterator]().next(),
      seen.promise,
    ]);
    assert.equal(a.value?.data, "to everyone");
    assert.equal(b, "to everyone");
  } finally {
    viaSse.close();
    viaWs.close();
    await Promise.all([viaSse.closed, viaWs.closed]);
    await hub.close();
  }
});

Deno.test("subprotocols are offered and chosen over the fallback too", async () => {
  const chosen = deferred<string>();
  await using server = serve(
    route("/ws", async (socket) => {
      chosen.resolve(socket.protocol);
      for await (const msg of socket) await socket.send(msg.data);
    }, { transports: ["sse"], protocols: ["v2", "v1"] }),
  );
  const socket = new Socket(
    new EventStreamSocket(
      `${server.url}/ws`,
      ["v1", "v2"],
      fetch,
    ) as unknown as WebSocket,
  );
  await socket.send("ping");
  const { value } = await socket[Symbol.asyncIterator]().next();
  assert.equal(value?.data, "ping");
  assert.equal(await chosen.promise, "v1");
  assert.equal(socket.protocol, "v1");
  socket.close();
  assert.deepEqual(await socket.closed, {
    code: 1000,
    reason: "",
    wasClean: true,
  });
});

Deno.test("a close entry with a forbidden code or a long reason is a protocol error (400, then 1002)", async () => {
  const closes: CloseInfo[] = [];
  await using server = serve(route("/ws", async (socket) => {
    for await (const _ of socket) { /* until the end */ }
    closes.push(await socket.closed);
  }, { transports: ["sse"] }));
  const base = `http://${hostname}:${server.port}/ws`;
  for (
    const entry of [["c", 1005, ""], ["c", 999, ""], ["c", 5000, ""], [
      "c",
      1000,
      "é".repeat(62),
    ]]
  ) {
    const s = await openStream(base);
    const answer = await post(base, s.session, { seq: 0, messages: [entry] });
    assert.equal(answer.status, 400);
    assert.match(await answer.text(), /close entry/);
    await s.cancel();
  }
  while (closes.length < 4) await delay(10);
  assert.deepEqual(closes.map((c) => c.code), [1002, 1002, 1002, 1002]);
});

Deno.test("a handler that closes with 1008 Unauthorized over the fallback: the client sees 1008 and the reason, and does not come back", async () => {
  let sessions = 0;
  await using server = serve(route("/ws", (socket) => {
    sessions++;
    socket.close(1008, "Unauthorized");
  }, { transports: ["sse"] }));
  const client = connect(`${server.url}/ws`, {
    transports: ["sse"],
    initialDelay: 10,
  });
  const info = await client.closed;
  assert.equal(info.code, 1008);
  assert.equal(info.reason, "Unauthorized");
  await delay(100);
  assert.equal(sessions, 1);
  assert.equal(client.state, "closed");
  for (const code of [1001, 1011, 1013, 4000]) {
    const closed = deferred<CloseInfo>();
    await using s = serve(route("/ws", (socket) => {
      socket.close(code, `code ${code}`);
    }, { transports: ["sse"] }));
    const raw = new EventStreamSocket(`${s.url}/ws`, [], fetch);
    raw.addEventListener("close", (e) => {
      const { code, reason } = e as CloseEvent;
      closed.resolve({ code, reason, wasClean: true });
    });
    const got = await closed.promise;
    assert.deepEqual([got.code, got.reason], [code, `code ${code}`]);
  }
});

/**
 * A fallback server inside `fetch`: the stream is a ReadableStream the test
 * writes events to, each chunk as one read; POST bodies are recorded, and
 * each answer waits for `answer()` when `hold` is set.
 */
function inProcessServer() {
  const encoder = new TextEncoder();
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  const held: (() => void)[] = [];
  const server = {
    /** The entries of each POST, in order. */
    posts: [] as unknown[][][],
    hold: false,
    /** Writes events to the stream in one chunk. */
    write(events: string[]) {
      stream?.enqueue(encoder.encode(events.join("")));
    },
    /** Answers the POSTs held so far. */
    answer() {
      for (const release of held.splice(0)) release();
    },
    fetch: (async (_input, init) => {
      if (init?.method !== "POST") {
        // As over a network, the answer comes in a later task.
        await delay(1);
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              stream = controller;
              controller.enqueue(encoder.encode(
                'event: open\ndata: {"session":"s","protocol":"","secret":"k"}\n\n',
              ));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      const { messages } = JSON.parse(String(init.body)) as {
        messages: unknown[][];
      };
      server.posts.push(messages);
      if (server.hold) await new Promise<void>((r) => held.push(r));
      if (messages.some((entry) => entry[0] === "c")) {
        server.write(['event: close\ndata: {"code":1000,"reason":""}\n\n']);
        stream?.close();
      }
      return new Response(null, { status: 204 });
    }) as Fetch,
  };
  return server;
}

Deno.test("the fallback client sends the answers to a burst of messages in one POST, also when the burst arrives with the answer to a POST", async () => {
  const server = inProcessServer();
  const client = connect("ws://127.0.0.1:9/ws", {
    transports: ["sse"],
    maxRetries: 0,
    fetch: server.fetch,
  });
  const texts = (from: number) =>
    Array.from(
      { length: 10 },
      (_, i) => `event: text\ndata: ${JSON.stringify(`m${from + i}`)}\n\n`,
    );
  const answered = (async () => {
    let count = 0;
    // Each message is answered as a user's loop answers it: some promise
    // hops after the one before.
    for await (const msg of client) {
      await client.send(`re ${msg.data}`);
      if (++count === 20) break;
    }
  })();
  await new Promise((resolve) =>
    client.addEventListener("open", resolve, { once: true })
  );
  server.hold = true;
  server.write(texts(0));
  while (server.posts.length < 1) await delay(5);
  await delay(20);
  // The second burst arrives in the same task as the answer to the POST
  // that carries the answers to the first.
  server.write(texts(10));
  server.answer();
  while (server.posts.length < 2) await delay(5);
  server.hold = false;
  server.answer();
  await answered;
  await client.closed;
  const sizes = server.posts.map((entries) =>
    entries.filter((entry) => entry[0] === "t").length
  );
  assert.deepEqual(sizes.slice(0, 2), [10, 10]);
  assert.deepEqual(
    server.posts.flat().filter((entry) => entry[0] === "t"),
    Array.from({ length: 20 }, (_, i) => ["t", `re m${i}`]),
  );
});
