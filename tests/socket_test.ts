import assert from "node:assert/strict";
import WS from "npm:ws@8";
import {
  type CloseInfo,
  type Message,
  route,
  Socket,
  SocketClosedError,
} from "../mod.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";

/** A server whose handler gets each socket; returns the sockets as they come. */
function sockets(
  handler: (socket: Socket) => void | Promise<void>,
  options = {},
) {
  const accepted: Socket[] = [];
  const srv = serve(route("/", (socket) => {
    accepted.push(socket);
    return handler(socket);
  }, options));
  return { srv, accepted };
}

async function echo(socket: Socket): Promise<void> {
  for await (const msg of socket) await socket.send(msg.data);
}

Deno.test("text and binary echo keep their type", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  const ws = await open(srv.url);
  const got = collect(ws, 2);
  ws.send("héllo ✓");
  ws.send(new Uint8Array([0, 1, 2, 255]));
  const [text, binary] = await got;
  assert.equal(text, "héllo ✓");
  assert.ok(binary instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(binary)], [0, 1, 2, 255]);
  ws.close();
  await closeEvent(ws);
  await accepted[0]!.closed;
});

Deno.test("the loop yields typed messages to the server", async () => {
  const seen = deferred<Message[]>();
  const { srv } = sockets(async (socket) => {
    const messages: Message[] = [];
    for await (const msg of socket) messages.push(msg);
    seen.resolve(messages);
  });
  await using _ = srv;
  const ws = await open(srv.url);
  ws.send("a");
  ws.send(new Uint8Array([7]));
  ws.close(1000);
  await closeEvent(ws);
  const messages = await seen.promise;
  assert.equal(messages.length, 2);
  assert.deepEqual(messages[0], { type: "text", data: "a" });
  assert.equal(messages[1]!.type, "binary");
  assert.ok(messages[1]!.data instanceof Uint8Array);
  assert.deepEqual([...(messages[1]!.data as Uint8Array)], [7]);
});

Deno.test("10,000 messages arrive in order with none lost (npm:ws client)", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  const client = new WS(srv.url);
  await new Promise((resolve) => client.once("open", resolve));
  const n = 10_000;
  const got: string[] = [];
  const all = new Promise<void>((resolve) =>
    client.on("message", (data: Buffer) => {
      got.push(data.toString());
      if (got.length === n) resolve();
    })
  );
  for (let i = 0; i < n; i++) client.send(String(i));
  await all;
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)));
  const closed = new Promise((resolve) => client.once("close", resolve));
  client.close(1000);
  await closed;
  await accepted[0]!.closed;
});

Deno.test("a 16 MiB binary message makes the round trip intact", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  const ws = await open(srv.url);
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 255;
  big[big.length - 1] = 42;
  const got = collect(ws, 1);
  ws.send(big);
  const [back] = await got;
  assert.ok(back instanceof ArrayBuffer);
  assert.equal(back.byteLength, big.length);
  assert.deepEqual(new Uint8Array(back), big);
  ws.close();
  await closeEvent(ws);
  await accepted[0]!.closed;
});

Deno.test("messages that arrive before the loop starts are kept, in order", async () => {
  const start = deferred<void>();
  const result = deferred<string[]>();
  const { srv } = sockets(async (socket) => {
    await start.promise;
    const texts: string[] = [];
    for await (const msg of socket) {
      if (msg.type === "text") texts.push(msg.data);
    }
    result.resolve(texts);
  });
  await using _ = srv;
  const ws = await open(srv.url);
  for (let i = 0; i < 100; i++) ws.send(`m${i}`);
  await delay(100);
  ws.close();
  await closeEvent(ws);
  await delay(20);
  start.resolve();
  assert.deepEqual(
    await result.promise,
    Array.from({ length: 100 }, (_, i) => `m${i}`),
  );
});

Deno.test("the loop ends with the peer's close code and reason", async () => {
  const info = deferred<CloseInfo>();
  const { srv } = sockets(async (socket) => {
    for await (const _ of socket) { /* drain */ }
    info.resolve(await socket.closed);
  });
  await using _ = srv;
  const ws = await open(srv.url);
  ws.close(4321, "done here");
  await closeEvent(ws);
  assert.deepEqual(await info.promise, {
    code: 4321,
    reason: "done here",
    wasClean: true,
  });
});

Deno.test("a close frame without a code is reported as 1005", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  await using peer = await RawPeer.connect(srv.port);
  await peer.handshake();
  await peer.frame(8, new Uint8Array(0));
  assert.equal((await peer.readClose())?.code, 1005);
  const info = await accepted[0]!.closed;
  assert.equal(info.code, 1005);
  assert.equal(info.wasClean, true);
});

Deno.test("a connection dropped mid-message is reported as 1006, not clean", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  const peer = await RawPeer.connect(srv.port);
  await peer.handshake();
  await peer.frame(1, "hello");
  // half a frame, then the TCP connection goes away
  await peer.write(new Uint8Array([0x81, 0x80 | 100, 1, 2, 3, 4, 65, 66]));
  peer.close();
  const info = await accepted[0]!.closed;
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
});

Deno.test("closed settles once even when the runtime reports two closes", async () => {
  // Deno fires close twice after a keepalive timeout (1001, then 1005).
  const target = new EventTarget() as WebSocket;
  Object.assign(target, {
    readyState: 1,
    protocol: "",
    binaryType: "blob",
    send() {},
    close() {},
  });
  const socket = new Socket(target);
  target.dispatchEvent(
    new CloseEvent("close", {
      code: 1001,
      reason: "No response",
      wasClean: false,
    }),
  );
  target.dispatchEvent(new CloseEvent("close", { code: 1005, wasClean: true }));
  assert.deepEqual(await socket.closed, {
    code: 1001,
    reason: "No response",
    wasClean: false,
  });
  target.dispatchEvent(new CloseEvent("close", { code: 0, wasClean: false }));
  assert.equal((await socket.closed).code, 1001);
});

Deno.test("code 0 from the runtime becomes 1006 with the error's message", async () => {
  const target = new EventTarget() as WebSocket;
  Object.assign(target, { readyState: 1, send() {}, close() {} });
  const socket = new Socket(target);
  target.dispatchEvent(new ErrorEvent("error", { message: "Invalid UTF-8" }));
  target.dispatchEvent(new CloseEvent("close", { code: 0, wasClean: false }));
  assert.deepEqual(await socket.closed, {
    code: 1006,
    reason: "Invalid UTF-8",
    wasClean: false,
  });
});

Deno.test("send after close rejects with an error naming the code", async () => {
  const { srv, accepted } = sockets(() => {});
  await using _ = srv;
  const ws = await open(srv.url);
  ws.close(4000, "bye");
  await closeEvent(ws);
  const socket = accepted[0]!;
  await socket.closed;
  await assert.rejects(socket.send("late"), (error: unknown) => {
    assert.ok(error instanceof SocketClosedError);
    assert.equal(error.code, 4000);
    assert.match(error.message, /closed with code 4000/);
    return true;
  });
});

Deno.test("send while closing rejects too", async () => {
  const { srv, accepted } = sockets(() => {});
  await using _ = srv;
  const ws = await open(srv.url);
  const socket = accepted[0]!;
  socket.close(1000, "server done");
  await assert.rejects(socket.send("late"), /closing with code 1000/);
  assert.equal((await closeEvent(ws)).code, 1000);
  await socket.closed;
});

Deno.test("send rejects data of the wrong type with a TypeError", async () => {
  const { srv, accepted } = sockets(() => {});
  await using _ = srv;
  const ws = await open(srv.url);
  const socket = accepted[0]!;
  await assert.rejects(
    socket.send(42 as unknown as string),
    TypeError,
  );
  ws.close();
  await closeEvent(ws);
  await socket.closed;
});

Deno.test("close validates the code and the reason, and is idempotent", async () => {
  const { srv, accepted } = sockets(() => {});
  await using _ = srv;
  const ws = await open(srv.url);
  const socket = accepted[0]!;
  // A server socket may send every wire code (1001 included, issue 14);
  // the reserved and out-of-range ones stay refused.
  for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000, 1000.5]) {
    assert.throws(() => socket.close(code), RangeError, `code ${code}`);
  }
  assert.throws(() => socket.close(1000, "x".repeat(124)), RangeError);
  assert.throws(() => socket.close(1000, "é".repeat(62)), RangeError);
  assert.throws(() => socket.close("1000" as unknown as number), TypeError);
  assert.equal(socket.readyState, 1);
  socket.close(4999, "é".repeat(61));
  socket.close(1000, "again");
  socket.close();
  const event = await closeEvent(ws);
  assert.equal(event.code, 4999);
  assert.equal((await socket.closed).code, 4999);
});

Deno.test("a break in the loop closes the socket with 1000", async () => {
  const { srv, accepted } = sockets(async (socket) => {
    for await (const msg of socket) {
      if (msg.type === "text" && msg.data === "stop") break;
    }
  });
  await using _ = srv;
  const ws = await open(srv.url);
  ws.send("stop");
  const event = await closeEvent(ws);
  assert.equal(event.code, 1000);
  assert.equal((await accepted[0]!.closed).code, 1000);
});

Deno.test("a throw in the loop closes the socket with 1000 and reaches the caller", async () => {
  const thrown = deferred<unknown>();
  const { srv, accepted } = sockets(async (socket) => {
    try {
      for await (const _ of socket) throw new Error("boom");
    } catch (error) {
      thrown.resolve(error);
    }
  });
  await using _ = srv;
  const ws = await open(srv.url);
  ws.send("x");
  assert.equal((await closeEvent(ws)).code, 1000);
  assert.match(String(await thrown.promise), /boom/);
  await accepted[0]!.closed;
});

Deno.test("await using closes the socket when the scope ends", async () => {
  const { srv, accepted } = sockets(async (socket) => {
    await using s = socket;
    await s.send("hi");
  });
  await using _ = srv;
  const ws = await open(srv.url);
  const event = await closeEvent(ws);
  assert.equal(event.code, 1000);
  assert.equal((await accepted[0]!.closed).code, 1000);
});

Deno.test("a second concurrent loop over one socket is a TypeError", async () => {
  const { srv, accepted } = sockets(() => {});
  await using _ = srv;
  const ws = await open(srv.url);
  const socket = accepted[0]!;
  const first = socket[Symbol.asyncIterator]();
  assert.throws(() => socket[Symbol.asyncIterator](), TypeError);
  await first.return?.();
  await closeEvent(ws);
  await socket.closed;
});

/** A WebSocket stand-in that is still connecting and records what it is told. */
function connectingTarget() {
  const target = new EventTarget();
  const listening: string[] = [];
  const sent: unknown[] = [];
  const closes: [number, string][] = [];
  const add = target.addEventListener.bind(target);
  const remove = target.removeEventListener.bind(target);
  Object.assign(target, {
    readyState: 0,
    bufferedAmount: 0,
    url: "",
    send: (data: unknown) => sent.push(data),
    close: (code: number, reason: string) => closes.push([code, reason]),
    addEventListener(...args: Parameters<EventTarget["addEventListener"]>) {
      listening.push(args[0]);
      add(...args);
    },
    removeEventListener(
      ...args: Parameters<EventTarget["removeEventListener"]>
    ) {
      listening.splice(listening.indexOf(args[0]), 1);
      remove(...args);
    },
  });
  const open = () => {
    Object.assign(target, { readyState: 1 });
    target.dispatchEvent(new Event("open"));
  };
  return { ws: target as WebSocket, listening, sent, closes, open };
}

Deno.test("a connecting socket listens for open only once a send or a close waits for it", async () => {
  const idle = connectingTarget();
  const socket = new Socket(idle.ws);
  assert.deepEqual(idle.listening, ["message", "close", "error"]);
  assert.equal(socket.readyState, 0);
  // Open underneath with no event yet: the socket reads the runtime's state.
  Object.assign(idle.ws, { readyState: 1 });
  assert.equal(socket.readyState, 1);
  await socket.send("now");
  assert.deepEqual(idle.sent, ["now"]);
  assert.deepEqual(idle.listening, ["message", "close", "error"]);

  const early = connectingTarget();
  const sending = new Socket(early.ws);
  const sent = sending.send("early");
  assert.deepEqual(early.listening, ["message", "close", "error", "open"]);
  assert.deepEqual(early.sent, []);
  early.open();
  await sent;
  assert.deepEqual(early.sent, ["early"]);
  assert.equal(sending.readyState, 1);

  const closing = connectingTarget();
  const closed = new Socket(closing.ws);
  const waiting = closed.send("first");
  closed.close(4000, "bye");
  assert.equal(closed.readyState, 2);
  assert.deepEqual(closing.closes, []);
  closing.open();
  await waiting;
  assert.deepEqual(closing.sent, ["first"]);
  assert.deepEqual(closing.closes, [[4000, "bye"]]);
});

Deno.test("a client WebSocket can be wrapped and sends before it opens", async () => {
  const { srv, accepted } = sockets(echo);
  await using _ = srv;
  await using client = new Socket(new WebSocket(srv.url));
  assert.equal(client.readyState, 0);
  await client.send("early");
  const it = client[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value, { type: "text", data: "early" });
  await it.return?.();
  assert.equal((await client.closed).code, 1000);
  await accepted[0]!.closed;
});

Deno.test("a client whose connection is refused ends the loop with 1006", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new Socket(new WebSocket(`ws://127.0.0.1:${port}`));
  const pending = client.send("never");
  const messages: Message[] = [];
  for await (const msg of client) messages.push(msg);
  assert.equal(messages.length, 0);
  const info = await client.closed;
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  await assert.rejects(pending, SocketClosedError);
});

Deno.test("backpressure: a client that does not read never lets bufferedAmount pass highWaterMark plus one message", async () => {
  const highWaterMark = 64 * 1024;
  const chunk = new Uint8Array(16 * 1024);
  const total = 2000;
  let peak = 0;
  let sent = 0;
  const finished = deferred<void>();
  const { srv, accepted } = sockets(async (socket) => {
    while (sent < total) {
      await socket.send(chunk);
      sent++;
      peak = Math.max(peak, socket.bufferedAmount);
    }
    finished.resolve();
  }, { highWaterMark });
  await using _ = srv;
  const client = new WS(srv.url);
  await new Promise((resolve) => client.once("open", resolve));
  const raw = client as unknown as {
    _socket: { pause(): void; resume(): void };
  };
  // Stop reading from TCP: the kernel's buffers fill, then Deno's.
  raw._socket.pause();
  await delay(1000);
  assert.ok(sent < total, `the sender was never held back (sent ${sent})`);
  assert.ok(peak > 0, "the send buffer never filled");
  assert.ok(
    peak <= highWaterMark + chunk.byteLength,
    `bufferedAmount peaked at ${peak}`,
  );
  let received = 0;
  client.on("message", () => received++);
  raw._socket.resume();
  await finished.promise;
  assert.ok(peak <= highWaterMark + chunk.byteLength, `peak ${peak}`);
  while (received < total) await delay(10);
  const closed = new Promise((resolve) => client.once("close", resolve));
  client.close();
  await closed;
  await accepted[0]!.closed;
});

Deno.test("backpressure: waiting sends go out in order once the peer reads", async () => {
  const n = 200;
  const chunk = 32 * 1024;
  const { srv, accepted } = sockets(async (socket) => {
    const sends: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const data = new Uint8Array(chunk);
      data[0] = i;
      sends.push(socket.send(data));
    }
    await Promise.all(sends);
  }, { highWaterMark: 16 * 1024 });
  await using _ = srv;
  const client = new WS(srv.url);
  await new Promise((resolve) => client.once("open", resolve));
  const raw = client as unknown as {
    _socket: { pause(): void; resume(): void };
  };
  raw._socket.pause();
  const got: number[] = [];
  const all = new Promise<void>((resolve) =>
    client.on("message", (data: Buffer) => {
      got.push(data[0]!);
      if (got.length === n) resolve();
    })
  );
  await delay(100);
  raw._socket.resume();
  await all;
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => i & 255));
  const closed = new Promise((resolve) => client.once("close", resolve));
  client.close();
  await closed;
  await accepted[0]!.closed;
});

Deno.test("an over-size message closes with 1009 and never reaches the loop", async () => {
  const seen: Message[] = [];
  const { srv, accepted } = sockets(async (socket) => {
    for await (const msg of socket) seen.push(msg);
  }, { maxMessageSize: 1024 });
  await using _ = srv;
  const ws = await open(srv.url);
  ws.send("x".repeat(1024));
  ws.send(new Uint8Array(1025));
  const event = await closeEvent(ws);
  assert.equal(event.code, 1009);
  const info = await accepted[0]!.closed;
  assert.equal(info.code, 1009);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.data, "x".repeat(1024));
});

Deno.test("an over-size text message is measured in UTF-8 bytes", async () => {
  const { srv, accepted } = sockets(echo, { maxMessageSize: 10 });
  await using _ = srv;
  const ws = await open(srv.url);
  const got = collect(ws, 1);
  ws.send("ééééé"); // 10 bytes: accepted
  assert.deepEqual(await got, ["ééééé"]);
  ws.send("éééééé"); // 12 bytes
  assert.equal((await closeEvent(ws)).code, 1009);
  await accepted[0]!.closed;
});

Deno.test("aborting the signal closes with 1001", async () => {
  const controller = new AbortController();
  const { srv, accepted } = sockets(echo, { signal: controller.signal });
  await using _ = srv;
  const ws = await open(srv.url);
  controller.abort();
  assert.equal((await closeEvent(ws)).code, 1001);
  assert.equal((await accepted[0]!.closed).code, 1001);
});

Deno.test("Socket validates its options", () => {
  const target = new EventTarget() as WebSocket;
  Object.assign(target, { readyState: 3, send() {}, close() {} });
  assert.throws(() => new Socket(target, { highWaterMark: 0 }), RangeError);
  assert.throws(() => new Socket(target, { maxMessageSize: -1 }), RangeError);
  assert.throws(
    () => new Socket(target, { highWaterMark: "1" as unknown as number }),
    TypeError,
  );
  assert.throws(() => new Socket({} as WebSocket), TypeError);
});

Deno.test("a runtime that refuses a library close code still gets a close, with 1000", async () => {
  // Browsers throw on close(1009); the socket must not stay half closed.
  const calls: [number, string][] = [];
  const target = new EventTarget() as WebSocket;
  Object.assign(target, {
    readyState: 1,
    send() {},
    close(code: number, reason: string) {
      if (code !== 1000 && (code < 3000 || code > 4999)) {
        throw new DOMException("invalid code", "InvalidAccessError");
      }
      calls.push([code, reason]);
      target.dispatchEvent(
        new CloseEvent("close", { code, reason, wasClean: true }),
      );
    },
  });
  const socket = new Socket(target, { maxMessageSize: 4 });
  target.dispatchEvent(new MessageEvent("message", { data: "too long" }));
  assert.deepEqual(calls, [[
    1000,
    "Message of 8 bytes exceeds the limit of 4",
  ]]);
  assert.equal((await socket.closed).code, 1000);
});

Deno.test("a client Socket reports the subprotocol the server chose once open", async () => {
  const chosen = deferred<string>();
  await using server = serve(
    route("/", (socket) => chosen.resolve(socket.protocol), {
      protocols: ["v2", "v1"],
    }),
  );
  const socket = new Socket(new WebSocket(server.url, ["v1", "v2"]));
  assert.equal(socket.protocol, "");
  await socket.send("opened");
  while (socket.readyState !== 1) await delay(5);
  assert.equal(await chosen.promise, "v1");
  assert.equal(socket.protocol, "v1");
  socket.close();
  await socket.closed;
});
