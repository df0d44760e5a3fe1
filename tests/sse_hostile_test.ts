/**
 * The fallback transport under attack: raw `fetch` and `Deno.connect` peers
 * that send what no well-behaved client sends (duplicate and malformed POSTs,
 * lying lengths, oversized bodies, streams dropped mid-message), and servers
 * that misbehave towards the reconnecting client. What a user of a WebSocket
 * library expects: a clear HTTP status with a plain reason, RFC 6455 close
 * codes, a server that keeps serving, and no accepted message lost or
 * delivered twice.
 */

import assert from "node:assert/strict";
import { type CloseInfo, route, type Socket } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { EventStreamSocket } from "../src/sse/client.ts";
import { EventStreamParser } from "../src/sse/wire.ts";
import { deferred, delay } from "./_helpers.ts";
import {
  closeOf,
  openStream,
  post,
  type RawStream,
  within,
} from "./_sse_helpers.ts";

const hostname = "127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `Deno.serve` on 127.0.0.1, port 0, shut down by `await using`. */
function listen(
  handler: (request: Request) => Response | Promise<Response>,
) {
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, handler);
  const port = server.addr.port;
  return {
    server,
    port,
    base: `http://${hostname}:${port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A handler that records the messages and the close of every session. */
function recorder() {
  const received: (string | Uint8Array)[] = [];
  const closes: CloseInfo[] = [];
  const handler = async (socket: Socket) => {
    for await (const msg of socket) received.push(msg.data);
    closes.push(await socket.closed);
  };
  return { received, closes, handler };
}

/** Waits, at most `ms`, until `test()` holds. */
async function until(test: () => boolean, ms = 2000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await delay(5);
  }
}

/**
 * Writes `bytes` on a new TCP connection and reads what comes back until the
 * server closes, or `ms` passes; then closes the connection.
 */
async function rawExchange(
  port: number,
  bytes: string | Uint8Array,
  ms = 500,
): Promise<string> {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
    return await readFor(conn, ms);
  } finally {
    conn.close();
  }
}

/**
 * Reads from a connection until it ends, `ms` passes, or `done(text)` holds
 * (by default: a whole response with no body or a Content-Length has come).
 */
async function readFor(
  conn: Deno.Conn,
  ms: number,
  done: (text: string) => boolean = complete,
): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  const deadline = Date.now() + ms;
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    const n = await within(conn.read(buffer), left, "timeout" as const);
    if (n === "timeout" || n === null) break;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    if (done(text)) break;
  }
  return text;
}

/** Whether `text` holds a whole response that has no body or its length. */
function complete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const head = text.slice(0, end + 2);
  if (/^HTTP\/1\.1 (204|304) /.test(head)) return true;
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(head);
  if (length === null) return false;
  return encoder.encode(text.slice(end + 4)).length >= Number(length[1]);
}

// ---------------------------------------------------------------------------
// Duplicate and concurrent POSTs

Deno.test("concurrent duplicate POSTs with one seq deliver the batch once, in order", async () => {
  const { received, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const url = `${s.base}/ws`;
  await using stream = await openStream(url);
  for (let seq = 0; seq < 3; seq++) {
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          post(url, stream.session, {
            seq,
            messages: [["t", `m${seq}`], ["b", btoa(String(seq))]],
          }),
      ),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 204);
      await answer.body?.cancel();
    }
  }
  await until(() => received.length >= 6);
  await delay(20);
  assert.deepEqual(received, [
    "m0",
    encoder.encode("0"),
    "m1",
    encoder.encode("1"),
    "m2",
    encoder.encode("2"),
  ]);
  await stream.cancel();
});

Deno.test("duplicate POSTs whose bodies arrive interleaved over raw TCP are delivered once", async () => {
  const { received, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  await using stream = await openStream(`${s.base}/ws`);
  const body = JSON.stringify({ seq: 0, messages: [["t", "once"]] });
  const head =
    `POST /ws?session=${stream.session} HTTP/1.1\r\nX-Switchboard-Secret: ${stream.secret}\r\n` +
    `Host: ${hostname}\r\nContent-Length: ${body.length}\r\n\r\n`;
  const half = Math.floor(body.length / 2);
  const conns = await Promise.all(
    Array.from({ length: 8 }, () => Deno.connect({ hostname, port: s.port })),
  );
  try {
    // Every body is half read by the server before any of them completes.
    for (const conn of conns) {
      await conn.write(encoder.encode(head + body.slice(0, half)));
    }
    await delay(30);
    for (const conn of conns.toReversed()) {
      await conn.write(encoder.encode(body.slice(half)));
    }
    for (const conn of conns) {
      const answer = await readFor(conn, 300);
      assert.match(answer, /^HTTP\/1\.1 204 /);
    }
  } finally {
    for (const conn of conns) conn.close();
  }
  await delay(20);
  assert.deepEqual(received, ["once"]);
  await stream.cancel();
});

// ---------------------------------------------------------------------------
// Malformed batches

Deno.test("a malformed seq (huge, negative, fractional, a string, missing) gets 400 with a plain reason, delivers nothing and closes with 1002", async () => {
  const { received, closes, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const url = `${s.base}/ws`;
  const bodies = [
    `{"seq":9007199254740992,"messages":[["t","x"]]}`,
    `{"seq":1e400,"messages":[["t","x"]]}`,
    `{"seq":-1,"messages":[["t","x"]]}`,
    `{"seq":-0.5,"messages":[["t","x"]]}`,
    `{"seq":0.5,"messages":[["t","x"]]}`,
    `{"seq":"0","messages":[["t","x"]]}`,
    `{"seq":null,"messages":[["t","x"]]}`,
    `{"messages":[["t","x"]]}`,
  ];
  for (const body of bodies) {
    await using stream = await openStream(url);
    const answer = await post(url, stream.session, body);
    assert.equal(answer.status, 400, body);
    assert.equal(answer.headers.get("content-type"), "text/plain");
    assert.match(await answer.text(), /^Bad request: .*seq/);
    assert.equal(closeOf(await stream.rest()).code, 1002);
  }
  await until(() => closes.length === bodies.length);
  assert.deepEqual(new Set(closes.map((c) => c.code)), new Set([1002]));
  assert.deepEqual(received, []);
});

Deno.test("bodies that are not batches get 400 with a plain reason, deliver nothing (not even the valid entries before) and close with 1002", async () => {
  const { received, closes, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const url = `${s.base}/ws`;
  const ok = ["t", "valid"];
  const bodies: unknown[] = [
    "",
    "not json",
    '{"seq":0,"messages":[["t","x"]]',
    "[0, []]",
    "null",
    "42",
    '"a string"',
    { seq: 0 },
    { seq: 0, messages: {} },
    { seq: 0, messages: "t" },
    { seq: 0, messages: [ok, "t"] },
    { seq: 0, messages: [ok, null] },
    { seq: 0, messages: [ok, []] },
    { seq: 0, messages: [ok, ["t"]] },
    { seq: 0, messages: [ok, ["t", 1]] },
    { seq: 0, messages: [ok, ["t", "a", "b"]] },
    { seq: 0, messages: [ok, ["b", null]] },
    { seq: 0, messages: [ok, ["x", "a"]] },
    { seq: 0, messages: [ok, ["T", "a"]] },
    { seq: 0, messages: [ok, ["b", "!!!!"]] },
    { seq: 0, messages: [ok, ["b", "a"]] },
    { seq: 0, messages: [ok, ["b", "YW=J"]] },
    { seq: 0, messages: [ok, ["c", "1000", ""]] },
    { seq: 0, messages: [ok, ["c", 1000]] },
    { seq: 0, messages: [ok, ["c", 1000, null]] },
  ];
  for (const body of bodies) {
    await using stream = await openStream(url);
    const answer = await post(url, stream.session, body);
    const label = JSON.stringify(body);
    assert.equal(answer.status, 400, label);
    assert.equal(answer.headers.get("content-type"), "text/plain");
    assert.match(await answer.text(), /^Bad request: \S.*\n$/, label);
    assert.equal(closeOf(await stream.rest()).code, 1002, label);
  }
  await until(() => closes.length === bodies.length);
  assert.deepEqual(new Set(closes.map((c) => c.code)), new Set([1002]));
  assert.deepEqual(received, []);
});

Deno.test("a close entry with a code a peer may not send or a reason over 123 bytes gets 400 and 1002; valid ones are echoed", async () => {
  const { received, closes, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const url = `${s.base}/ws`;
  const invalid: [number, string][] = [
    [0, ""],
    [999, ""],
    [1004, ""],
    [1005, ""],
    [1006, ""],
    [1015, ""],
    [1016, ""],
    [2999, ""],
    [5000, ""],
    [-1, ""],
    [1000.5, ""],
    [65_536 + 1000, ""],
    [1000, "x".repeat(124)],
    [4000, "é".repeat(62)],
  ];
  for (const [code, reason] of invalid) {
    await using stream = await openStream(url);
    const answer = await post(url, stream.session, {
      seq: 0,
      messages: [["t", "before"], ["c", code, reason]],
    });
    assert.equal(answer.status, 400, `code ${code}`);
    assert.match(await answer.text(), /^Bad request: .*close/);
    assert.equal(closeOf(await stream.rest()).code, 1002, `code ${code}`);
  }
  await until(() => closes.length === invalid.length);
  assert.deepEqual(new Set(closes.map((c) => c.code)), new Set([1002]));
  assert.deepEqual(received, [], "a refused batch delivers nothing");

  const valid: [number, string][] = [
    [1000, ""],
    [1001, "going"],
    [1011, "oops"],
    [3000, "x".repeat(123)],
    [4999, "é".repeat(61) + "x"],
  ];
  for (const [code, reason] of valid) {
    await using stream = await openStream(url);
    const answer = await post(url, stream.session, {
      seq: 0,
      messages: [["t", `before ${code}`], ["c", code, reason], [
        "t",
        "after the close",
      ]],
    });
    assert.equal(answer.status, 204);
    assert.deepEqual(closeOf(await stream.rest()), { code, reason });
  }
  await until(() => closes.length === invalid.length + valid.length);
  assert.deepEqual(
    closes.slice(invalid.length),
    valid.map(([code, reason]) => ({ code, reason, wasClean: true })),
  );
  assert.deepEqual(received, valid.map(([code]) => `before ${code}`));
});

Deno.test({
  name:
    "a batch whose body is not valid UTF-8 is refused (400) and delivers nothing",
  async fn() {
    const { received, closes, handler } = recorder();
    await using s = listen(route("/ws", handler, { transports: ["sse"] }));
    const url = `${s.base}/ws`;
    await using stream = await openStream(url);
    const body = new Uint8Array([
      ...encoder.encode('{"seq":0,"messages":[["t","a'),
      0xff,
      0xc3,
      ...encoder.encode('"]]}'),
    ]);
    const answer = await post(url, stream.session, body);
    assert.equal(answer.status, 400);
    await answer.body?.cancel();
    const { code } = closeOf(await stream.rest());
    assert.ok(code === 1007 || code === 1002, `closed with ${code}`);
    await until(() => closes.length === 1);
    assert.deepEqual(received, []);
  },
});

Deno.test({
  name:
    "a text entry with a lone surrogate is refused (400) and delivers nothing",
  async fn() {
    const { received, closes, handler } = recorder();
    await using s = listen(route("/ws", handler, { transports: ["sse"] }));
    const url = `${s.base}/ws`;
    await using stream = await openStream(url);
    const answer = await post(
      url,
      stream.session,
      '{"seq":0,"messages":[["t","x\\ud800y"]]}',
    );
    assert.equal(answer.status, 400);
    await answer.body?.cancel();
    const { code } = closeOf(await stream.rest());
    assert.ok(code === 1007 || code === 1002, `closed with ${code}`);
    await until(() => closes.length === 1);
    assert.deepEqual(received, []);
  },
});

// ---------------------------------------------------------------------------
// Lying lengths and oversized bodies

Deno.test("a Content-Length shorter than the body: 400, 1002, and the server keeps serving", async () => {
  const { received, closes, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const url = `${s.base}/ws`;
  await using stream = await openStream(url);
  const body = JSON.stringify({ seq: 0, messages: [["t", "cut"]] });
  const answer = await rawExchange(
    s.port,
    `POST /ws?session=${stream.session} HTTP/1.1\r\nX-Switchboard-Secret: ${stream.secret}\r\nHost: x\r\n` +
      `Content-Length: 10\r\n\r\n${body}`,
  );
  assert.match(answer, /^HTTP\/1\.1 400 [^]*Bad request: the body is not JSON/);
  assert.equal(closeOf(await stream.rest()).code, 1002);
  await until(() => closes.length === 1);
  assert.deepEqual(received, []);

  await using next = await openStream(url);
  const ok = await post(url, next.session, { seq: 0, messages: [["t", "ok"]] });
  assert.equal(ok.status, 204);
  await until(() => received.length === 1);
  assert.deepEqual(received, ["ok"]);
  await next.cancel();
});

Deno.test("a Content-Length longer than the body, then a hang-up: the session lives on and the retry is delivered once", async () => {
  const { received, handler } = recorder();
  const ws = route("/ws", handler, { transports: ["sse"] });
  await using s = listen(ws);
  const url = `${s.base}/ws`;
  await using stream = await openStream(url);
  const body = JSON.stringify({ seq: 0, messages: [["t", "whole"]] });
  const answer = await rawExchange(
    s.port,
    `POST /ws?session=${stream.session} HTTP/1.1\r\nX-Switchboard-Secret: ${stream.secret}\r\nHost: x\r\n` +
      `Content-Length: ${body.length + 100}\r\n\r\n${body}`,
    200,
  );
  assert.equal(answer, "", "no answer before the body is complete");
  await delay(20);
  assert.equal(ws.stats().connections, 1);
  const retry = await post(url, stream.session, body);
  assert.equal(retry.status, 204);
  const again = await post(url, stream.session, body);
  assert.equal(again.status, 204);
  await until(() => received.length === 1);
  await delay(20);
  assert.deepEqual(received, ["whole"]);
  await stream.cancel();
});

Deno.test("an invalid Content-Length gets 400 from the server and leaves the session alone", async () => {
  const { received, handler } = recorder();
  const ws = route("/ws", handler, { transports: ["sse"] });
  await using s = listen(ws);
  const url = `${s.base}/ws`;
  await using stream = await openStream(url);
  for (const length of ["abc", "-1", "2\r\nContent-Length: 3", "1e3"]) {
    const answer = await rawExchange(
      s.port,
      `POST /ws?session=${stream.session} HTTP/1.1\r\nX-Switchboard-Secret: ${stream.secret}\r\nHost: x\r\n` +
        `Content-Length: ${length}\r\n\r\n{}`,
    );
    assert.match(answer, /^HTTP\/1\.1 400 /, length);
  }
  assert.equal(ws.stats().connections, 1);
  const ok = await post(url, stream.session, {
    seq: 0,
    messages: [["t", "fine"]],
  });
  assert.equal(ok.status, 204);
  await until(() => received.length === 1);
  assert.deepEqual(received, ["fine"]);
  await stream.cancel();
});

Deno.test("a body over the limit gets 413 and closes with 1009, whether it says its length or comes chunked", async () => {
  const { received, closes, handler } = recorder();
  const ws = route("/ws", handler, {
    transports: ["sse"],
    maxMessageSize: 1000,
  });
  await using s = listen(ws);
  const url = `${s.base}/ws`;
  // Far past any batch limit a 1000-byte maxMessageSize can justify (today
  // 2 * maxMessageSize + 64 KiB).
  await using declared = await openStream(url);
  const early = await rawExchange(
    s.port,
    `POST /ws?session=${declared.session} HTTP/1.1\r\nX-Switchboard-Secret: ${declared.secret}\r\nHost: x\r\n` +
      `Content-Length: 10000000\r\n\r\n{"seq":0,`,
  );
  assert.match(early, /^HTTP\/1\.1 413 [^]*Payload too large/);
  assert.equal(closeOf(await declared.rest()).code, 1009);

  await using chunked = await openStream(url);
  let request =
    `POST /ws?session=${chunked.session} HTTP/1.1\r\nX-Switchboard-Secret: ${chunked.secret}\r\nHost: x\r\n` +
    `Transfer-Encoding: chunked\r\n\r\n`;
  const chunk = "y".repeat(8192);
  for (let i = 0; i < 64; i++) {
    request += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
  }
  request += "0\r\n\r\n";
  const late = await rawExchange(s.port, request);
  assert.match(late, /^HTTP\/1\.1 413 [^]*Payload too large/);
  assert.equal(closeOf(await chunked.rest()).code, 1009);

  await until(() => closes.length === 2);
  assert.deepEqual(closes.map((c) => c.code), [1009, 1009]);
  assert.deepEqual(received, []);
  assert.equal(ws.stats().connections, 0);
});

// ---------------------------------------------------------------------------
// Sessions, paths and headers

Deno.test("a POST to a session of another route gets 404 and leaves the session alone", async () => {
  const a = recorder();
  const b = recorder();
  const routeA = route("/a", a.handler, { transports: ["sse"] });
  const routeB = route("/b", b.handler, { transports: ["sse"] });
  await using s = listen((request) =>
    new URL(request.url).pathname === "/a" ? routeA(request) : routeB(request)
  );
  await using stream = await openStream(`${s.base}/a`);
  const wrong = await post(`${s.base}/b`, stream.session, {
    seq: 0,
    messages: [["t", "wrong"]],
  });
  assert.equal(wrong.status, 404);
  assert.equal(wrong.headers.get("content-type"), "text/plain");
  assert.match(await wrong.text(), /^Not found: no open session has this id/);
  const nowhere = await post(`${s.base}/c`, stream.session, {
    seq: 0,
    messages: [["t", "wrong"]],
  });
  assert.equal(nowhere.status, 404);
  await nowhere.body?.cancel();
  const right = await post(`${s.base}/a`, stream.session, {
    seq: 0,
    messages: [["t", "right"]],
  });
  assert.equal(right.status, 204);
  await until(() => a.received.length === 1);
  assert.deepEqual(a.received, ["right"]);
  assert.deepEqual(b.received, []);
  assert.equal(routeA.stats().connections, 1);
  await stream.cancel();
});

Deno.test("a GET asking for an event stream with Upgrade: websocket is a (bad) handshake: 400 with a plain reason, no session", async () => {
  const both = route("/ws", () => {}, { transports: ["websocket", "sse"] });
  const sseOnly = route("/ws", () => {}, { transports: ["sse"] });
  for (const ws of [both, sseOnly]) {
    await using s = listen(ws);
    const answer = await rawExchange(
      s.port,
      `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n` +
        `Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      300,
    );
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /content-type: text\/plain/i);
    assert.match(answer, /\r\n\r\nBad (request|WebSocket handshake): \S/);
    assert.doesNotMatch(answer, /event: open/);
    assert.equal(ws.stats().accepted, 0);
  }
});

Deno.test({
  name: "a GET asking for an event stream with Upgrade: h2c gets the stream",
  async fn() {
    for (const transports of [["websocket", "sse"], ["sse"]] as const) {
      const ws = route("/ws", () => {}, { transports });
      await using s = listen(ws);
      const answer = await rawExchange(
        s.port,
        `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n` +
          `Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
          `HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
        300,
      );
      assert.match(answer, /^HTTP\/1\.1 200 /, transports.join());
      assert.match(answer, /event: open/);
      await until(() => ws.stats().connections === 0);
    }
  },
});

// ---------------------------------------------------------------------------
// Streams that go away

Deno.test("many streams opened and dropped (abort, cancel, TCP close before and after the open event): connections back to 0, every session gone", async () => {
  const ended: CloseInfo[] = [];
  const ws = route("/ws", async (socket) => {
    for await (const _ of socket) { /* until the end */ }
    ended.push(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0.05 });
  await using s = listen(ws);
  const url = `${s.base}/ws`;
  const sessions: string[] = [];

  for (let i = 0; i < 15; i++) {
    await using stream = await openStream(url);
    sessions.push(stream.session);
    await stream.cancel();
  }
  for (let i = 0; i < 15; i++) {
    const abort = new AbortController();
    const response = await fetch(url, {
      headers: { accept: "text/event-stream" },
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    abort.abort();
    await response.body?.cancel().catch(() => {});
  }
  const request =
    `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`;
  for (let i = 0; i < 15; i++) {
    const conn = await Deno.connect({ hostname, port: s.port });
    await conn.write(encoder.encode(request));
    if (i % 2 === 0) {
      const text = await readFor(conn, 500, (t) => t.includes('"}\n\n'));
      const id = /"session":"([^"]+)"/.exec(text)?.[1];
      if (id) sessions.push(id);
    }
    conn.close();
  }
  await until(
    () => ws.stats().connections === 0 && ended.length === ws.stats().accepted,
    3000,
    "every session to end",
  );
  const stats = ws.stats();
  assert.ok(stats.accepted >= 30, `accepted ${stats.accepted}`);
  assert.deepEqual(stats.closes, { 1006: stats.accepted });
  assert.ok(ended.every((info) => info.code === 1006 && !info.wasClean));
  for (const session of sessions) {
    const answer = await post(url, session, { seq: 0, messages: [] });
    assert.equal(answer.status, 404);
    await answer.body?.cancel();
  }
  // And it still serves.
  await using stream = await openStream(url);
  assert.equal(ws.stats().connections, 1);
  await stream.cancel();
  await until(() => ws.stats().connections === 0);
});

Deno.test("a client that closes its stream in the middle of a large message: 1006 on the server, which keeps serving", async () => {
  const ended: CloseInfo[] = [];
  const sendErrors: unknown[] = [];
  const ws = route("/ws", async (socket) => {
    try {
      for (let i = 0; i < 20; i++) await socket.send("z".repeat(1 << 20));
    } catch (error) {
      sendErrors.push(error);
    }
    ended.push(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0 });
  await using s = listen(ws);
  const conn = await Deno.connect({ hostname, port: s.port });
  await conn.write(
    encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
    ),
  );
  const buffer = new Uint8Array(16 * 1024);
  let got = 0;
  while (got < 100_000) {
    const n = await conn.read(buffer);
    if (n === null) break;
    got += n;
  }
  conn.close();
  await until(() => ended.length === 1, 3000, "the session to end");
  assert.equal(ended[0]?.code, 1006);
  assert.equal(ended[0]?.wasClean, false);
  assert.equal(ws.stats().connections, 0);
  await using stream = await openStream(`${s.base}/ws`);
  await stream.cancel();
  await until(() => ended.length === 2, 3000, "the second session to end");
});

Deno.test("a stream cut in the middle of an event: the client delivers nothing partial and ends with 1006", async () => {
  await using s = listen((request) => {
    if (request.headers.get("upgrade") !== null) {
      return new Response("no upgrades\n", { status: 502 });
    }
    return new Response(
      `event: open\ndata: {"session":"s","protocol":""}\n\n` +
        `event: text\ndata: "whole"\n\nevent: text\ndata: "hal`,
      { headers: { "content-type": "text/event-stream" } },
    );
  });
  const client = connect(`ws://${hostname}:${s.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  const got: unknown[] = [];
  for await (const msg of client) got.push(msg.data);
  const info = await client.closed;
  assert.deepEqual(got, ["whole"]);
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
});

// ---------------------------------------------------------------------------
// Handler errors and shutdown

Deno.test("a handler that throws on a fallback session: 1011 reaches the client as a close event, the server keeps serving", async () => {
  const errors: unknown[] = [];
  let calls = 0;
  const ws = route("/ws", async (socket) => {
    calls++;
    if (calls === 1) throw new Error("sync boom");
    if (calls === 2) {
      await socket.send("about to fail");
      throw new Error("async boom");
    }
    for await (const msg of socket) await socket.send(msg.data);
  }, {
    transports: ["sse"],
    onError: (error) => errors.push(error),
  });
  await using s = listen(ws);
  const url = `${s.base}/ws`;

  await using first = await openStream(url);
  assert.deepEqual(closeOf(await first.rest()), {
    code: 1011,
    reason: "Internal server error",
  });

  const client = connect(`ws://${hostname}:${s.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  const got: unknown[] = [];
  for await (const msg of client) got.push(msg.data);
  assert.deepEqual(got, ["about to fail"]);
  assert.deepEqual(await client.closed, {
    code: 1011,
    reason: "Internal server error",
    wasClean: true,
  });
  assert.deepEqual(errors.map((e) => (e as Error).message), [
    "sync boom",
    "async boom",
  ]);

  await using third = await openStream(url);
  const answer = await post(url, third.session, {
    seq: 0,
    messages: [["t", "still here"]],
  });
  assert.equal(answer.status, 204);
  await third.cancel();
  await until(() => ws.stats().connections === 0);
  assert.deepEqual(ws.stats().closes, { 1011: 2, 1006: 1 });
});

Deno.test("the route's shutdown with fallback sessions open: every client gets 1001 and Deno.serve's shutdown completes", async () => {
  const ended: CloseInfo[] = [];
  const ws = route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
    ended.push(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0.05 });
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, ws);
  const url = `http://${hostname}:${server.addr.port}/ws`;
  const streams: RawStream[] = [];
  const client = connect(`ws://${hostname}:${server.addr.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  try {
    for (let i = 0; i < 5; i++) streams.push(await openStream(url));
    await client.send("hi");
    const echoed = await client[Symbol.asyncIterator]().next();
    assert.equal(echoed.value?.data, "hi");
    assert.equal(ws.stats().connections, 6);

    const started = Date.now();
    await ws.shutdown();
    for (const stream of streams) {
      assert.deepEqual(closeOf(await stream.rest()), {
        code: 1001,
        reason: "Server shutting down",
      });
    }
    assert.equal((await client.closed).code, 1001);
    const refused = await fetch(url, {
      headers: { accept: "text/event-stream" },
    });
    assert.equal(refused.status, 503);
    await refused.body?.cancel();
    const result = await within(
      server.shutdown().then(() => "finished"),
      2000,
      "hung",
    );
    assert.equal(result, "finished", "Deno.serve's shutdown did not complete");
    assert.ok(Date.now() - started < 2000);
    assert.equal(ended.length, 6);
    assert.deepEqual(ws.stats().closes, { 1001: 6 });
  } finally {
    client.close();
    for (const stream of streams) await stream.cancel();
    await server.shutdown();
  }
});

Deno.test({
  name:
    "the route's shutdown with a client that does not read its stream: the session is not reported closed cleanly",
  async fn() {
    const stalled = deferred<void>();
    const closed = deferred<CloseInfo>();
    const ws = route("/ws", async (socket) => {
      const chunk = new Uint8Array(64 * 1024);
      try {
        for (let i = 0; i < 200; i++) {
          const sent = socket.send(chunk);
          if (await within(sent.then(() => false), 200, true)) {
            stalled.resolve();
            await sent;
          }
        }
      } catch { /* closed by the shutdown */ }
      closed.resolve(await socket.closed);
    }, { transports: ["sse"], keepAliveInterval: 0, shutdownTimeout: 300 });
    const server = Deno.serve({ hostname, port: 0, onListen() {} }, ws);
    const conn = await Deno.connect({ hostname, port: server.addr.port });
    try {
      await conn.write(
        encoder.encode(
          `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
        ),
      );
      await stalled.promise;
      await ws.shutdown();
      const info = await within(closed.promise, 4000, undefined);
      assert.ok(info, "the session never ended");
      assert.equal(info.code, 1001);
      assert.equal(info.wasClean, false, "the client never got the close");
    } finally {
      // Deno.serve's shutdown waits for this response, which is stuck on a
      // write to a client that reads nothing, until the client goes away.
      conn.close();
      await server.shutdown();
    }
  },
});

// ---------------------------------------------------------------------------
// The reconnecting client against misbehaving servers

/**
 * A server that refuses upgrades (502) and answers every event-stream GET
 * with 200 and a comment, but never the open event: a proxy that buffers.
 */
function silentStreams() {
  const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
  const server = listen((request) => {
    if (request.headers.get("upgrade") !== null) {
      return new Response("Bad gateway\n", { status: 502 });
    }
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controllers.push(controller);
          controller.enqueue(encoder.encode(": buffered by a proxy\n\n"));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  });
  return Object.assign(server, {
    streams: () => controllers.length,
    /** Ends every stream, so that the server can shut down. */
    end() {
      for (const controller of controllers) {
        try {
          controller.close();
        } catch { /* already closed */ }
      }
    },
  });
}

Deno.test({
  name:
    "a stream that answers 200 but never sends the open event: the client gives up on it and retries",
  async fn() {
    await using s = silentStreams();
    const client = connect(`ws://${hostname}:${s.port}/ws`, {
      transports: ["websocket", "sse"],
      openTimeout: 200,
      initialDelay: 10,
      maxDelay: 20,
    });
    const reconnecting = deferred<void>();
    client.addEventListener("reconnecting", () => reconnecting.resolve());
    try {
      const retried = await within(
        reconnecting.promise.then(() => true),
        2000,
        false,
      );
      assert.ok(
        retried,
        `still ${client.state} after 2 s, ${s.streams()} stream(s)`,
      );
    } finally {
      client.close();
      s.end();
    }
  },
});

Deno.test({
  name:
    "close() while the fallback stream has not sent its open event settles closed at once",
  async fn() {
    await using s = silentStreams();
    const client = connect(`ws://${hostname}:${s.port}/ws`, {
      transports: ["sse"],
    });
    try {
      await until(() => s.streams() === 1, 2000, "the stream request");
      client.close(1000, "bye");
      const info = await within(client.closed, 1000, undefined);
      assert.ok(info, `close() did not settle closed (${client.state})`);
      assert.equal(client.state, "closed");
    } finally {
      s.end();
    }
  },
});

Deno.test({
  name:
    "a burst of messages each within maxMessageSize is delivered whole, whatever their encoding on the wire",
  async fn() {
    const samples: [string, () => string | Uint8Array][] = [
      ["binary", () => new Uint8Array(1000).fill(7)],
      ["2-byte text", () => "é".repeat(500)],
      ["control characters", () => "\u0001".repeat(1000)],
    ];
    for (const [label, make] of samples) {
      const { received, closes, handler } = recorder();
      await using s = listen(
        route("/ws", handler, { transports: ["sse"], maxMessageSize: 1000 }),
      );
      await using client = connect(`ws://${hostname}:${s.port}/ws`, {
        transports: ["sse"],
        maxRetries: 0,
      });
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) sends.push(client.send(make()));
      await Promise.allSettled(sends);
      await within(
        until(() => received.length === 200 || closes.length > 0, 3000),
        3000,
        undefined,
      ).catch(() => {});
      assert.deepEqual(closes, [], label);
      assert.equal(received.length, 200, label);
    }
  },
});

/**
 * A proxy in front of a route that answers the first `failures` POSTs with
 * 500, forwarding them first (`lost`: the server got them, the answer was
 * lost) or not (`dropped`).
 */
function failingProxy(target: number, failures: number, mode: string) {
  let posts = 0;
  const forward = async (request: Request) => {
    const url = new URL(request.url);
    url.port = String(target);
    const body = request.method === "POST" ? await request.text() : undefined;
    const init: RequestInit = {
      method: request.method,
      headers: request.headers,
    };
    if (body !== undefined) init.body = body;
    return fetch(url, init);
  };
  const proxy = listen(async (request) => {
    if (request.headers.get("upgrade") !== null) {
      return new Response("Bad gateway\n", { status: 502 });
    }
    if (request.method !== "POST") return forward(request);
    if (++posts > failures) return forward(request);
    if (mode === "lost") await (await forward(request)).body?.cancel();
    else await request.body?.cancel();
    return new Response("Internal server error\n", { status: 500 });
  });
  return Object.assign(proxy, { posts: () => posts });
}

for (const mode of ["dropped", "lost"]) {
  Deno.test(`POSTs answered 500 three times (${mode}), then 204: every message arrives once, in order`, async () => {
    const { received, handler } = recorder();
    await using target = listen(
      route("/ws", handler, { transports: ["websocket", "sse"] }),
    );
    await using proxy = failingProxy(target.port, 3, mode);
    const client = connect(`ws://${hostname}:${proxy.port}/ws`, {
      transports: ["websocket", "sse"],
      maxRetries: 0,
    });
    const first = ["a", "b", "c"];
    await Promise.all(first.map((text) => client.send(text)));
    await until(() => received.length === 3, 3000, "the first batch");
    await client.send("d");
    await client.send(new Uint8Array([1, 2, 3]));
    await until(() => received.length === 5, 2000, "the second batch");
    await delay(50);
    assert.deepEqual(received, [
      "a",
      "b",
      "c",
      "d",
      new Uint8Array([1, 2, 3]),
    ]);
    assert.equal(client.state, "open");
    assert.equal(client.transport, "sse");
    assert.ok(proxy.posts() >= 5, `${proxy.posts()} POSTs`);
    client.close();
    assert.equal((await client.closed).code, 1000);
  });
}

// ---------------------------------------------------------------------------
// The client's event-stream reader: linear, and bounded by maxMessageSize

Deno.test("a 32 MiB line with no end parses in well under a second (linear, not quadratic)", () => {
  const events: string[] = [];
  const parser = new EventStreamParser((_, data) => events.push(data));
  const chunk = "x".repeat(64 * 1024);
  const started = performance.now();
  parser.push("event: text\ndata: ");
  for (let i = 0; i < 512; i++) parser.push(chunk);
  parser.push("\r");
  parser.push("\n\n");
  const ms = performance.now() - started;
  assert.equal(events.length, 1);
  assert.equal(events[0]!.length, 32 * 1024 * 1024);
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("a chunk of 50,000 short events parses in well under a second", () => {
  let count = 0;
  const parser = new EventStreamParser(() => count++);
  const chunk = "event: text\ndata: 1\n\n".repeat(50_000);
  const started = performance.now();
  parser.push(chunk);
  const ms = performance.now() - started;
  assert.equal(count, 50_000);
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("the reader splits CR, LF and CRLF across chunks as the standard says", () => {
  const events: [string, string][] = [];
  const parser = new EventStreamParser((e, d) => events.push([e, d]), 100);
  for (const piece of ["event: a\r", "\ndata: 1\r", "data: 2\n", "\r", ""]) {
    parser.push(piece);
  }
  parser.push(": comment\r\n\r\ndata:3\n\n");
  assert.deepEqual(events, [["a", "1\n2"], ["message", "3"]]);
  const capped = new EventStreamParser(() => {}, 100);
  capped.push("data: " + "x".repeat(90));
  assert.throws(() => capped.push("x".repeat(10)), RangeError);
  const event = new EventStreamParser(() => {}, 100);
  for (let i = 0; i < 10; i++) event.push("data: 123456789\n");
  assert.throws(() => event.push("data: 123456789\n"), RangeError);
});

/**
 * A server whose stream sends the open event, then `line` over and over
 * (up to `limit` bytes) without the blank line that would end the event.
 */
function endlessStream(line: string, limit: number) {
  let sent = 0;
  const cancelled = deferred<number>();
  const chunk = encoder.encode(line.repeat(Math.ceil(65_536 / line.length)));
  const server = listen(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(
            `event: open\ndata: {"session":"s","protocol":"","secret":"k"}\n\n`,
          ));
        },
        pull(controller) {
          if (sent >= limit) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
        cancel() {
          cancelled.resolve(sent);
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  return Object.assign(server, { sent: () => sent, cancelled });
}

for (
  const [label, line] of [
    [
      "endless data: lines",
      "data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
    ],
    ["an unterminated line", "x"],
  ]
) {
  Deno.test(`${label} from the server close the fallback client with 1009 at about 4/3 of maxMessageSize`, async () => {
    const max = 1024 * 1024;
    await using s = endlessStream(line!, 64 * max);
    const socket = new EventStreamSocket(
      `ws://${hostname}:${s.port}/ws`,
      [],
      fetch,
      max,
    );
    const closed = deferred<CloseEvent>();
    socket.addEventListener("close", (e) => closed.resolve(e as CloseEvent));
    const event = await within(closed.promise, 5000, undefined);
    assert.ok(event, `not closed after ${s.sent()} bytes`);
    assert.equal(event.code, 1009);
    assert.match(event.reason, /longer than \d+ characters/);
    const sent = await s.cancelled.promise;
    // The cap is 4/3 x 1 MiB + 1 KiB; the rest was in flight (the kernel's
    // buffers on both ends): far from the 64 MiB on offer.
    assert.ok(sent < 16 * max, `${sent} bytes were sent`);
  });
}

Deno.test("a 32 MiB unterminated line is refused at the cap by the client of connect(), with 1009", async () => {
  await using s = endlessStream("y", 32 * 1024 * 1024);
  const client = connect(`ws://${hostname}:${s.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  const started = performance.now();
  const info = await within(client.closed, 10_000, undefined);
  assert.ok(info, `not closed after ${s.sent()} bytes`);
  assert.equal(info.code, 1009);
  const sent = await s.cancelled.promise;
  assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes were sent`);
  assert.ok(performance.now() - started < 8000);
});

Deno.test("a text message of control characters at maxMessageSize travels within the line cap", async () => {
  const text = "\u0001".repeat(1000) + "é";
  await using s = listen(
    route("/ws", async (socket) => {
      await socket.send(text);
      for await (const _ of socket) { /* until the close */ }
    }, { transports: ["sse"] }),
  );
  const socket = new EventStreamSocket(
    `ws://${hostname}:${s.port}/ws`,
    [],
    fetch,
    1002,
  );
  const got = deferred<string>();
  const closed = deferred<CloseEvent>();
  socket.addEventListener(
    "message",
    (e) => got.resolve((e as MessageEvent).data),
  );
  socket.addEventListener("close", (e) => closed.resolve(e as CloseEvent));
  assert.equal(await within(got.promise, 2000, "nothing"), text);
  socket.close(1000, "done");
  assert.equal((await closed.promise).code, 1000);
});

// ---------------------------------------------------------------------------
// POSTs bound to their stream: the session's secret and origin

Deno.test("a POST without the session's secret, or with a wrong one, gets 403 with a plain reason and leaves the session untouched", async () => {
  const { received, closes, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const base = `${s.base}/ws`;
  await using stream = await openStream(base);
  assert.match(stream.secret, /^[A-Za-z0-9+/=]{32}$/);
  const body = { seq: 0, messages: [["t", "forged"]] };
  const missing = await post(base, stream.session, body, {
    "x-switchboard-secret": "",
  });
  assert.equal(missing.status, 403);
  assert.match(await missing.text(), /^Forbidden: .*secret/);
  const wrong = stream.secret.slice(0, -2) +
    (stream.secret.endsWith("AA") ? "BB" : "AA");
  for (const secret of [wrong, stream.secret.slice(1), stream.secret + "x"]) {
    const refused = await post(base, stream.session, body, {
      "x-switchboard-secret": secret,
    });
    assert.equal(refused.status, 403, secret);
    assert.match(await refused.text(), /^Forbidden: wrong secret/);
  }
  const ok = await post(base, stream.session, {
    seq: 0,
    messages: [["t", "real"]],
  });
  assert.equal(ok.status, 204);
  await until(() => received.length === 1, 2000, "the real message");
  await delay(50);
  assert.deepEqual(received, ["real"]);
  assert.deepEqual(closes, []);
});

Deno.test("the fallback client sends the secret in X-Switchboard-Secret, never in the URL", async () => {
  const { received, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const posts: { url: string; secret: string | null }[] = [];
  const recording = (input: string | URL | Request, init?: RequestInit) => {
    if (init?.method === "POST") {
      posts.push({
        url: String(input),
        secret: new Headers(init.headers).get("x-switchboard-secret"),
      });
    }
    return fetch(input, init);
  };
  const client = connect(`ws://${hostname}:${s.port}/ws`, {
    transports: ["sse"],
    fetch: recording,
  });
  await client.send("hello");
  await until(() => received.length === 1, 2000, "the message");
  client.close();
  await client.closed;
  assert.ok(posts.length >= 1);
  for (const { url, secret } of posts) {
    assert.ok(secret !== null && secret.length === 32, `secret ${secret}`);
    assert.ok(!url.includes(secret), url);
    assert.deepEqual([...new URL(url).searchParams.keys()], ["session"]);
  }
});

Deno.test("with default options, a POST from another origin than the stream's gets 403, even with the secret", async () => {
  const { received, handler } = recorder();
  await using s = listen(route("/ws", handler, { transports: ["sse"] }));
  const base = `${s.base}/ws`;
  await using stream = await openStream(base, {
    origin: "https://good.example",
  });
  const body = { seq: 0, messages: [["t", "x"]] };
  for (const origin of ["https://evil.example", "null", undefined]) {
    const refused = await post(
      base,
      stream.session,
      body,
      origin === undefined ? {} : { origin },
    );
    assert.equal(refused.status, 403, String(origin));
    assert.match(await refused.text(), /^Forbidden: origin/);
  }
  const ok = await post(base, stream.session, body, {
    origin: "https://good.example",
  });
  assert.equal(ok.status, 204);
  await until(() => received.length === 1, 2000, "the message");
});

Deno.test("with allowedOrigins, POSTs from a bad origin or without the stream's origin get 403", async () => {
  const { received, handler } = recorder();
  await using s = listen(route("/ws", handler, {
    transports: ["sse"],
    allowedOrigins: ["https://good.example"],
  }));
  const base = `${s.base}/ws`;
  await using stream = await openStream(base, {
    origin: "https://good.example",
  });
  const body = { seq: 0, messages: [["t", "x"]] };
  const bad = await post(base, stream.session, body, {
    origin: "https://evil.example",
  });
  assert.equal(bad.status, 403);
  await bad.body?.cancel();
  const none = await post(base, stream.session, body);
  assert.equal(none.status, 403);
  await none.body?.cancel();
  const good = await post(base, stream.session, body, {
    origin: "https://good.example",
  });
  assert.equal(good.status, 204);
  await until(() => received.length === 1, 2000, "the message");
});

// ---------------------------------------------------------------------------
// Sessions whose stream reads nothing

Deno.test("a session whose stream takes nothing for two keepalive intervals closes with 1008", async () => {
  const closed = deferred<CloseInfo>();
  const ws = route("/ws", async (socket) => {
    const chunk = new Uint8Array(256 * 1024);
    try {
      for (let i = 0; i < 400; i++) await socket.send(chunk);
    } catch { /* closed while waiting */ }
    closed.resolve(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0.1 });
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, ws);
  const conn = await Deno.connect({ hostname, port: server.addr.port });
  try {
    await conn.write(encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
    ));
    const info = await within(closed.promise, 5000, undefined);
    assert.ok(info, "the session is still open");
    assert.equal(info.code, 1008);
    assert.match(
      info.reason,
      /^Idle timeout: the client read nothing for 200 ms/,
    );
    assert.equal(ws.stats().connections, 0);
  } finally {
    conn.close();
    await ws.shutdown();
    await server.shutdown();
  }
});

Deno.test("a client that reads its stream is not timed out while the server sends more than the buffers hold", async () => {
  const sent = deferred<number>();
  const closes: CloseInfo[] = [];
  const ws = route("/ws", async (socket) => {
    const chunk = new Uint8Array(64 * 1024);
    let count = 0;
    try {
      for (; count < 300; count++) await socket.send(chunk);
    } catch { /* closed */ }
    sent.resolve(count);
    socket.close();
    closes.push(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 0.1, highWaterMark: 65536 });
  await using _server = listen(ws);
  const response = await fetch(`http://${hostname}:${_server.port}/ws`, {
    headers: { accept: "text/event-stream" },
  });
  const reader = response.body!.getReader();
  // Reads for about 1 s (ten intervals), while 300 x 64 KiB go out, and
  // answers each keepalive it reads, as the fallback client does.
  const started = Date.now();
  let bytes = 0;
  let text = "";
  let session: { session: string; secret: string } | undefined;
  let seq = 0;
  const answers: Promise<void>[] = [];
  while (Date.now() - started < 1000) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    text = text.slice(-16) + decoder.decode(value, { stream: true });
    session ??= JSON.parse(/data: (\{.*\})\n/.exec(text)![1]!);
    const keepalives = text.split(": keepalive\n").length - 1;
    if (keepalives > 0) text = text.slice(text.lastIndexOf(": keepalive\n"));
    for (let i = 0; i < keepalives; i++) {
      answers.push(
        fetch(`${response.url}?session=${session!.session}`, {
          method: "POST",
          headers: { "x-switchboard-secret": session!.secret },
          body: JSON.stringify({ seq: seq++, messages: [] }),
        }).then((answer) => answer.body?.cancel()),
      );
    }
  }
  await reader.cancel();
  await sent.promise;
  await Promise.all(answers);
  assert.ok(bytes > 0);
  assert.ok(answers.length > 0, "no keepalive came through the data");
  assert.notEqual(closes[0]?.code, 1008, JSON.stringify(closes));
  assert.notEqual(closes[0]?.code, 1001, JSON.stringify(closes));
  await ws.shutdown();
});

// ---------------------------------------------------------------------------
// Liveness: the client answers keepalives with POSTs

Deno.test("a session whose client reads its stream but never POSTs closes with 1001 two keepalive intervals after its first keepalive", async () => {
  const closed = deferred<CloseInfo>();
  const ws = route("/ws", async (socket) => {
    for await (const _ of socket) { /* until the end */ }
    closed.resolve(await socket.closed);
  }, { transports: ["sse"], keepAliveInterval: 1 });
  await using s = listen(ws);
  const started = Date.now();
  await using stream = await openStream(`${s.base}/ws`);
  // Reads everything (the keepalives too) and answers nothing.
  const text = await stream.rest(6000);
  const elapsed = Date.now() - started;
  assert.equal((text.match(/: keepalive\n\n/g) ?? []).length, 2, text);
  assert.deepEqual(closeOf(text), {
    code: 1001,
    reason: "Idle timeout: the client answered no keepalive for 2000 ms",
  });
  // The first keepalive within one interval of the open, the close two
  // intervals after it (with a margin for a loaded machine).
  assert.ok(elapsed >= 1900 && elapsed < 4500, `closed after ${elapsed} ms`);
  const info = await closed.promise;
  assert.equal(info.code, 1001);
  await until(() => ws.stats().connections === 0);
  assert.deepEqual(ws.stats().closes, { 1001: 1 });
});

Deno.test("a fallback client with the same keepalive interval stays open for four intervals, its answers delivering no message", async () => {
  const { received, closes, handler } = recorder();
  const ws = route("/ws", handler, {
    transports: ["sse"],
    keepAliveInterval: 1,
  });
  await using s = listen(ws);
  const posts: number[] = [];
  const client = new EventStreamSocket(
    `ws://${hostname}:${s.port}/ws`,
    [],
    (input, init) => {
      if (init?.method === "POST") posts.push(Date.now());
      return fetch(input, init);
    },
  );
  const closedEvent = new Promise<CloseEvent>((resolve) =>
    client.addEventListener("close", (event) => resolve(event as CloseEvent))
  );
  await new Promise((resolve) => client.addEventListener("open", resolve));
  await delay(4500);
  assert.equal(client.readyState, 1, "the client was closed");
  assert.equal(ws.stats().connections, 1);
  assert.deepEqual(closes, []);
  // One answer per keepalive: one POST per interval, and no message.
  assert.ok(posts.length >= 3 && posts.length <= 5, `${posts.length} POSTs`);
  assert.deepEqual(received, []);
  assert.equal(ws.stats().messagesIn, 0);
  client.close(1000, "done");
  assert.equal((await closedEvent).code, 1000);
  await until(() => closes.length === 1);
  await ws.shutdown();
});
