/**
 * Hostile input over raw TCP: frames that break RFC 6455, written byte by
 * byte. For each, what Deno puts on the wire, what the server's `Socket`
 * reports when its loop ends, and that the server goes on serving the next
 * good client.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import type { Buffer } from "node:buffer";
import { type CloseInfo, type Message, route, type Socket } from "../mod.ts";
import {
  closeEvent,
  collect,
  delay,
  handshakeHeaders,
  open,
  RawPeer,
  serve,
  type TestServer,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

interface FrameOptions {
  fin?: boolean;
  mask?: boolean;
  /** The RSV1-3 bits, 0-7, as in the top nibble's lower three bits. */
  rsv?: number;
  /** Forces a 16-bit (126) or 64-bit (127) length field. */
  lengthField?: 126 | 127;
}

/** One client frame as bytes: what `RawPeer.frame` writes, plus RSV bits. */
function frameBytes(
  opcode: number,
  payload: Uint8Array | string,
  { fin = true, mask = true, rsv = 0, lengthField }: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  const field = lengthField ??
    (data.length < 126 ? 0 : data.length < 65536 ? 126 : 127);
  if (field === 0) head.push(m | data.length);
  else if (field === 126) {
    head.push(m | 126, data.length >> 8, data.length & 255);
  } else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push(
      (data.length >>> 24) & 255,
      (data.length >>> 16) & 255,
      (data.length >>> 8) & 255,
      data.length & 255,
    );
  }
  const key = [0x37, 0xfa, 0x21, 0x3d];
  if (mask) head.push(...key);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  for (let i = 0; i < data.length; i++) {
    out[head.length + i] = mask ? data[i]! ^ key[i & 3]! : data[i]!;
  }
  return out;
}

/** A close frame's payload: the code in two bytes, then the reason bytes. */
function closePayload(code: number, reason: Uint8Array = new Uint8Array(0)) {
  const out = new Uint8Array(2 + reason.length);
  out[0] = code >> 8;
  out[1] = code & 255;
  out.set(reason, 2);
  return out;
}

/** The bytes of `parts`, one after another. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Bytes that are not UTF-8: a lone continuation byte and a truncated pair. */
const INVALID_UTF8 = new Uint8Array([0x68, 0x69, 0x80, 0xc3]);

/**
 * An echo server built with `route()` that hands each accepted socket to the
 * test, and records what the handlers threw.
 */
function echoServer(): {
  srv: TestServer;
  next: () => Promise<Socket>;
  errors: unknown[];
  /** Resolves, once the socket's loop has ended, with what it yielded. */
  yielded: (socket: Socket) => Promise<Message[]>;
} {
  const waiting: ((socket: Socket) => void)[] = [];
  const ready: Socket[] = [];
  const errors: unknown[] = [];
  const loops = new Map<Socket, Promise<Message[]>>();
  const srv = serve(route("/", (socket) => {
    const loop = (async () => {
      const messages: Message[] = [];
      for await (const msg of socket) {
        messages.push(msg);
        await socket.send(msg.data);
      }
      return messages;
    })();
    loops.set(socket, loop);
    const take = waiting.shift();
    if (take) take(socket);
    else ready.push(socket);
    return loop.then(() => {});
  }, { keepAliveInterval: 0, onError: (error) => errors.push(error) }));
  return {
    srv,
    errors,
    yielded: (socket) => loops.get(socket)!,
    next: () => {
      const socket = ready.shift();
      return socket
        ? Promise.resolve(socket)
        : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Connects a raw peer, completes the handshake, returns it with its socket. */
async function hostilePeer(
  server: ReturnType<typeof echoServer>,
): Promise<{ peer: RawPeer; socket: Socket }> {
  const peer = await RawPeer.connect(server.srv.port);
  const accepted = server.next();
  await peer.handshake();
  return { peer, socket: await accepted };
}

/**
 * What the raw peer sees next from the server: `"dropped"` when the TCP
 * connection ends without a close frame, else `close <code>`.
 */
async function onTheWire(peer: RawPeer): Promise<string> {
  const close = await peer.readClose();
  return close === null ? "dropped" : `close ${close.code}`;
}

/** A good Deno client gets its text and binary messages echoed. */
async function assertStillServes(
  server: ReturnType<typeof echoServer>,
): Promise<void> {
  const ws = await open(server.srv.url);
  const accepted = server.next();
  const got = collect(ws, 2);
  ws.send("still here");
  ws.send(new Uint8Array([1, 2, 3]));
  const [text, binary] = await got;
  assert.equal(text, "still here");
  assert.deepEqual([...new Uint8Array(binary as ArrayBuffer)], [1, 2, 3]);
  ws.close(1000);
  assert.equal((await closeEvent(ws)).code, 1000);
  assert.deepEqual(await (await accepted).closed, {
    code: 1000,
    reason: "",
    wasClean: true,
  });
}

interface ProtocolErrorCase {
  /** The input, as the test name says it. */
  input: string;
  bytes: () => Uint8Array;
  /** What Deno does on the wire. */
  wire: string;
  /** What the loop's `closed` reports. */
  code: number;
  /** Deno's error message, carried as the reason. */
  reason: RegExp;
  /** Whether the loop sees a clean close. @default {false} */
  wasClean?: boolean;
}

const GOOD_TEXT = frameBytes(TEXT, "ok");

/**
 * Protocol errors: each is preceded by a good message that must be echoed,
 * so the case shows the connection was open and working until the bad frame.
 */
const PROTOCOL_ERRORS: ProtocolErrorCase[] = [
  {
    input: "RSV1 set on a text frame (no extension negotiated)",
    bytes: () => frameBytes(TEXT, "hi", { rsv: 4 }),
    wire: "dropped",
    code: 1006,
    reason: /^Reserved bits are not zero$/,
  },
  {
    input: "RSV2 and RSV3 set on a binary frame",
    bytes: () => frameBytes(BINARY, new Uint8Array([1]), { rsv: 3 }),
    wire: "dropped",
    code: 1006,
    reason: /^Reserved bits are not zero$/,
  },
  {
    input: "unknown data opcode 0x3",
    bytes: () => frameBytes(0x3, "hi"),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid value$/,
  },
  {
    input: "unknown control opcode 0xB",
    bytes: () => frameBytes(0xb, ""),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid value$/,
  },
  {
    input: "invalid UTF-8 in a text message",
    bytes: () => frameBytes(TEXT, INVALID_UTF8),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid UTF-8$/,
  },
  {
    input: "invalid UTF-8 split across the fragments of a text message",
    bytes: () =>
      concat([
        frameBytes(TEXT, new Uint8Array([0x68, 0xe2]), { fin: false }),
        frameBytes(CONTINUATION, new Uint8Array([0x28, 0xa1])),
      ]),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid UTF-8$/,
  },
  {
    input: "invalid UTF-8 in a close reason",
    bytes: () => frameBytes(CLOSE, closePayload(1000, INVALID_UTF8)),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid UTF-8$/,
  },
  {
    input: "a ping of 126 bytes (control frames carry at most 125)",
    bytes: () => frameBytes(PING, new Uint8Array(126)),
    wire: "dropped",
    code: 1006,
    reason: /^Ping frame too large$/,
  },
  {
    // RFC 6455 5.5: control frames carry at most 125 bytes. Deno takes this
    // one as a normal close and answers 1000; Switchboard reports the
    // violation as 1002.
    input: "a close frame of 126 bytes, which Deno accepts against RFC 6455",
    bytes: () => frameBytes(CLOSE, closePayload(1000, new Uint8Array(124))),
    wire: "close 1000",
    code: 1002,
    reason: /^Close frame over 125 bytes$/,
    wasClean: false,
  },
  {
    input: "a fragmented ping (FIN clear on a control frame)",
    bytes: () =>
      concat([
        frameBytes(PING, "a", { fin: false }),
        frameBytes(CONTINUATION, "b"),
      ]),
    wire: "dropped",
    code: 1006,
    reason: /^Control frame must not be fragmented$/,
  },
  {
    input: "a continuation frame without a start",
    bytes: () => frameBytes(CONTINUATION, "orphan"),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid continuation frame$/,
  },
  {
    input: "a new text frame while a fragmented message is open",
    bytes: () =>
      concat([
        frameBytes(TEXT, "first half", { fin: false }),
        frameBytes(TEXT, "another start"),
      ]),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid fragment$/,
  },
  {
    input: "a close frame with a 1-byte payload",
    bytes: () => frameBytes(CLOSE, new Uint8Array([0x03])),
    wire: "dropped",
    code: 1006,
    reason: /^Invalid close frame$/,
  },
  {
    input: "a 64-bit length with the top bit set",
    bytes: () =>
      new Uint8Array([0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]),
    wire: "dropped",
    code: 1006,
    reason: /^Frame too large$/,
  },
  ...[999, 1004, 1005, 1006, 1015, 5000].map((code): ProtocolErrorCase => ({
    input: `a close frame with the forbidden code ${code}`,
    bytes: () => frameBytes(CLOSE, closePayload(code, encoder.encode("x"))),
    wire: "close 1002",
    code: 1006,
    reason: /^Invalid close code$/,
  })),
];

for (const c of PROTOCOL_ERRORS) {
  Deno.test(`hostile: ${c.input} -> Deno ${c.wire}, the loop sees ${c.code}, the server goes on`, async () => {
    const server = echoServer();
    await using _ = server.srv;
    const { peer, socket } = await hostilePeer(server);
    await using _peer = peer;
    await peer.write(GOOD_TEXT);
    const echoed = await peer.readFrame();
    assert.equal(echoed?.opcode, TEXT);
    assert.equal(decoder.decode(echoed!.payload), "ok");
    await peer.write(c.bytes());
    assert.equal(await onTheWire(peer), c.wire);
    const info: CloseInfo = await socket.closed;
    assert.equal(info.code, c.code, JSON.stringify(info));
    assert.equal(info.wasClean, c.wasClean ?? false, JSON.stringify(info));
    assert.match(info.reason, c.reason, JSON.stringify(info));
    assert.deepEqual(await server.yielded(socket), [
      { type: "text", data: "ok" },
    ]);
    peer.close();
    await assertStillServes(server);
    assert.deepEqual(server.errors, []);
  });
}

Deno.test("hostile: unmasked client frames are accepted by Deno against RFC 6455, and echoed", async () => {
  const server = echoServer();
  await using _ = server.srv;
  const { peer, socket } = await hostilePeer(server);
  await using _peer = peer;
  await peer.write(frameBytes(TEXT, "not masked", { mask: false }));
  const echoed = await peer.readFrame();
  assert.equal(echoed?.opcode, TEXT);
  assert.equal(decoder.decode(echoed!.payload), "not masked");
  await peer.write(frameBytes(CLOSE, closePayload(1000), { mask: false }));
  assert.equal(await onTheWire(peer), "close 1000");
  assert.deepEqual(await socket.closed, {
    code: 1000,
    reason: "",
    wasClean: true,
  });
  assert.deepEqual(await server.yielded(socket), [
    { type: "text", data: "not masked" },
  ]);
  peer.close();
  await assertStillServes(server);
});

Deno.test("hostile: a non-minimal 64-bit length for 2 bytes is accepted by Deno against RFC 6455", async () => {
  const server = echoServer();
  await using _ = server.srv;
  const { peer, socket } = await hostilePeer(server);
  await using _peer = peer;
  await peer.write(frameBytes(TEXT, "hi", { lengthField: 127 }));
  const echoed = await peer.readFrame();
  assert.equal(decoder.decode(echoed!.payload), "hi");
  await peer.write(frameBytes(CLOSE, closePayload(1000)));
  assert.equal(await onTheWire(peer), "close 1000");
  assert.equal((await socket.closed).code, 1000);
  peer.close();
  await assertStillServes(server);
});

Deno.test("hostile: a flood of 10,000 pings gets every pong, then the echo, and a clean close", async () => {
  const server = echoServer();
  await using _ = server.srv;
  const { peer, socket } = await hostilePeer(server);
  await using _peer = peer;
  const pings = 10_000;
  const batch: Uint8Array[] = [];
  for (let i = 0; i < pings; i++) {
    batch.push(frameBytes(PING, String(i % 1000)));
  }
  // the largest ping allowed, 125 bytes, is answered in full too
  batch.push(frameBytes(PING, new Uint8Array(125).fill(7)));
  batch.push(frameBytes(TEXT, "after the flood"));
  await peer.write(concat(batch));
  let pongs = 0;
  let last: Uint8Array | undefined;
  for (let i = 0; i < pings + 2; i++) {
    const frame = await peer.readFrame();
    assert.ok(frame, `the connection ended after ${pongs} pongs`);
    if (frame.opcode === PONG) {
      if (pongs < pings) {
        assert.equal(decoder.decode(frame.payload), String(pongs % 1000));
      }
      pongs++;
      last = frame.payload;
    } else {
      assert.equal(frame.opcode, TEXT);
      assert.equal(decoder.decode(frame.payload), "after the flood");
      break;
    }
  }
  assert.equal(pongs, pings + 1);
  assert.deepEqual(last, new Uint8Array(125).fill(7));
  await peer.write(
    frameBytes(CLOSE, closePayload(1000, encoder.encode("bye"))),
  );
  assert.equal(await onTheWire(peer), "close 1000");
  assert.deepEqual(await socket.closed, {
    code: 1000,
    reason: "bye",
    wasClean: true,
  });
  // pings never reach the loop
  assert.deepEqual(await server.yielded(socket), [
    { type: "text", data: "after the flood" },
  ]);
  peer.close();
  await assertStillServes(server);
});

Deno.test("hostile: 100,000 one-byte fragments arrive as one intact message", async () => {
  const server = echoServer();
  await using _ = server.srv;
  const { peer, socket } = await hostilePeer(server);
  await using _peer = peer;
  const fragments = 100_000;
  const alphabet = "abcdefghijklmnopqrstuvwxyz";
  const expected = Array.from(
    { length: fragments },
    (_, i) => alphabet[i % 26],
  ).join("");
  // each fragment is 7 bytes (2 head, 4 key, 1 payload); written in batches
  // of 10,000 frames
  const batchSize = 10_000;
  for (let start = 0; start < fragments; start += batchSize) {
    const frames: Uint8Array[] = [];
    for (let i = start; i < start + batchSize; i++) {
      const opcode = i === 0 ? TEXT : CONTINUATION;
      frames.push(
        frameBytes(opcode, expected[i]!, { fin: i === fragments - 1 }),
      );
    }
    await peer.write(concat(frames));
  }
  const echoed = await peer.readFrame();
  assert.equal(echoed?.opcode, TEXT);
  assert.equal(echoed!.payload.length, fragments);
  assert.equal(decoder.decode(echoed!.payload), expected);
  await peer.write(frameBytes(CLOSE, closePayload(1000)));
  assert.equal(await onTheWire(peer), "close 1000");
  assert.equal((await socket.closed).code, 1000);
  assert.deepEqual(await server.yielded(socket), [
    { type: "text", data: expected },
  ]);
  peer.close();
  await assertStillServes(server);
});

Deno.test("hostile: a TCP reset in the middle of a message -> the loop sees 1006 'Connection reset by peer', the server goes on", async () => {
  const server = echoServer();
  await using _ = server.srv;
  // Deno.connect's close() sends FIN; node:net can send RST (SO_LINGER 0)
  const tcp = net.connect(server.srv.port, "127.0.0.1");
  await new Promise((resolve) => tcp.once("connect", resolve));
  const accepted = server.next();
  const head = Object.entries(handshakeHeaders())
    .map(([name, value]) => `${name}: ${value}\r\n`).join("");
  tcp.write(`GET / HTTP/1.1\r\n${head}\r\n`);
  const response: Buffer = await new Promise((resolve) =>
    tcp.once("data", resolve)
  );
  assert.match(response.toString(), /^HTTP\/1.1 101/);
  const socket = await accepted;
  const frame = frameBytes(BINARY, new Uint8Array(1000));
  await new Promise((resolve) => tcp.write(frame.subarray(0, 500), resolve));
  await delay(20);
  const gone = new Promise((resolve) => tcp.once("close", resolve));
  tcp.resetAndDestroy();
  await gone;
  const info = await socket.closed;
  assert.equal(info.code, 1006, JSON.stringify(info));
  assert.equal(info.wasClean, false);
  assert.match(info.reason, /^Connection reset by peer/);
  // half a message never reaches the loop
  assert.deepEqual(await server.yielded(socket), []);
  await assertStillServes(server);
});

Deno.test("hostile: a TCP FIN in the middle of a message -> the loop sees 1006 'Unexpected EOF', the server goes on", async () => {
  const server = echoServer();
  await using _ = server.srv;
  const { peer, socket } = await hostilePeer(server);
  const frame = frameBytes(TEXT, "x".repeat(1000));
  await peer.write(frame.subarray(0, 500));
  await delay(20);
  peer.close();
  const info = await socket.closed;
  assert.equal(info.code, 1006, JSON.stringify(info));
  assert.equal(info.wasClean, false);
  assert.equal(info.reason, "Unexpected EOF");
  assert.deepEqual(await server.yielded(socket), []);
  await assertStillServes(server);
});
