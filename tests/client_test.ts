import assert from "node:assert/strict";
import {
  type ClientEvent,
  connect,
  OutboxFullError,
  SocketClosedError,
} from "../src/client/mod.ts";
import { type Message, route, type Socket } from "../mod.ts";
import { closeSocket } from "../src/_socket_internals.ts";
import { delay } from "./_helpers.ts";

const hostname = "127.0.0.1";

function once(target: EventTarget, type: string): Promise<ClientEvent> {
  return new Promise((resolve) =>
    target.addEventListener(type, (e) => resolve(e as ClientEvent), {
      once: true,
    })
  );
}

/** A port nothing listens on: taken from a listener that is closed again. */
function deadPort(): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * A server that can be stopped and started again on the same port. Each
 * connection is greeted with `hello <n>`, then text is recorded and echoed.
 */
function restartable(handler?: (socket: Socket) => Promise<void> | void) {
  const received: string[] = [];
  let handshakes = 0;
  const serve = route("/", async (socket) => {
    const n = ++handshakes;
    if (handler) return handler(socket);
    await socket.send(`hello ${n}`);
    for await (const msg of socket) {
      if (msg.type !== "text") continue;
      received.push(msg.data);
      await socket.send(`echo ${msg.data}`);
    }
  });
  let server: Deno.HttpServer<Deno.NetAddr> | undefined = Deno.serve(
    { port: 0, hostname, onListen() {} },
    serve,
  );
  const port = server.addr.port;
  return {
    port,
    url: `ws://${hostname}:${port}/`,
    received,
    get handshakes() {
      return handshakes;
    },
    async stop() {
      await server?.shutdown();
      server = undefined;
    },
    start() {
      server = Deno.serve({ port, hostname, onListen() {} }, serve);
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
}

async function take(
  it: AsyncIterator<{ data: string | Uint8Array }>,
  n: number,
): Promise<(string | Uint8Array)[]> {
  const got: (string | Uint8Array)[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) throw new Error(`the loop ended after ${i} of ${n}`);
    got.push(r.value.data);
  }
  return got;
}

Deno.test("the client reconnects after a server restart; queued messages arrive once, in order", async () => {
  await using srv = restartable();
  const client = connect(srv.url, { initialDelay: 10, maxDelay: 40 });
  const states: string[] = [client.state];
  client.addEventListener("statechange", () => states.push(client.state));
  let opens = 0;
  client.addEventListener("open", () => opens++);
  const it = client[Symbol.asyncIterator]();

  // Sent while connecting: queued, then flushed on open.
  const early = [client.send("a1"), client.send("a2")];
  assert.equal(client.queued, 2);
  await Promise.all(early);
  assert.deepEqual(await take(it, 3), ["hello 1", "echo a1", "echo a2"]);

  const reconnecting = once(client, "reconnecting");
  await srv.stop();
  const event = await reconnecting;
  assert.equal(client.state, "reconnecting");
  assert.equal(event.closeInfo?.code, 1001);

  // Sent while the server is away: held in the outbox.
  const late = ["b1", "b2", "b3"].map((m) => client.send(m));
  assert.equal(client.queued, 3);
  await delay(60); // a few refused attempts
  assert.equal(client.state, "reconnecting");
  srv.start();
  await Promise.all(late);
  assert.deepEqual(await take(it, 4), [
    "hello 2",
    "echo b1",
    "echo b2",
    "echo b3",
  ]);
  await client.send("c1");
  assert.deepEqual(await take(it, 1), ["echo c1"]);
  assert.deepEqual(srv.received, ["a1", "a2", "b1", "b2", "b3", "c1"]);
  assert.equal(srv.handshakes, 2);
  assert.equal(opens, 2);

  client.close(1000, "done");
  assert.deepEqual(await client.closed, {
    code: 1000,
    reason: "done",
    wasClean: true,
  });
  assert.equal((await it.next()).done, true);
  assert.deepEqual(states, [
    "connecting",
    "open",
    "reconnecting",
    "open",
    "closed",
  ]);
});

Deno.test("messages handed to a connection that drops are never sent twice nor reordered", async () => {
  const got: string[] = [];
  let handshakes = 0;
  // The first connection drops after its third message.
  await using srv = restartable(async (socket) => {
    const first = ++handshakes === 1;
    for await (const msg of socket) {
      got.push(msg.data as string);
      if (first && got.length === 3) closeSocket(socket, 1012, "restart");
    }
  });
  // Which sends were handed to the runtime before the drop depends on
  // timing (the handed ones are lost with the connection, the others go out
  // on the next one); either way none may arrive twice or out of order.
  const client = connect(srv.url, {
    initialDelay: 5,
    maxDelay: 20,
    highWaterMark: 1,
  });
  await once(client, "open");
  const reopened = new Promise((resolve) =>
    client.addEventListener(
      "reconnecting",
      () => client.addEventListener("open", resolve, { once: true }),
      { once: true },
    )
  );
  const sent: string[] = [];
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    sent.push(`m${i}`);
    sends.push(client.send(`m${i}`));
  }
  await reopened;
  await Promise.all(sends); // every one was handed to some connection
  for (let i = 20; i < 25; i++) {
    sent.push(`m${i}`);
    await client.send(`m${i}`);
  }
  for (let i = 0; i < 100 && !got.includes("m24"); i++) await delay(10);
  client.close();
  await client.closed;
  // What arrived is the sent sequence with at most a gap: in order, no
  // duplicates, everything sent after the reconnect present.
  const positions = got.map((m) => sent.indexOf(m));
  assert.ok(positions.every((p) => p >= 0), `unexpected ${got}`);
  for (let i = 1; i < positions.length; i++) {
    assert.ok(positions[i]! > positions[i - 1]!, `out of order: ${got}`);
  }
  assert.deepEqual(got.slice(-5), ["m20", "m21", "m22", "m23", "m24"]);
  assert.equal(handshakes, 2);
});

/**
 * A WebSocket server that completes one handshake and then never reads,
 * so the client's send buffer fills up; `drop()` cuts the connection.
 */
function stalledServer() {
  const listener = Deno.listen({ hostname, port: 0 });
  let conn: Deno.Conn | undefined;
  const ready = (async () => {
    conn = await listener.accept();
    const buf = new Uint8Array(8192);
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? "";
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
  })();
  return {
    port: listener.addr.port,
    ready,
    drop() {
      conn?.close();
      listener.close();
    },
  };
}

Deno.test("sends not yet handed to a dropped connection go out once, in order, on the next one", async () => {
  const stalled = stalledServer();
  const port = stalled.port;
  const client = connect(`ws://${hostname}:${port}/`, {
    initialDelay: 5,
    maxDelay: 20,
    highWaterMark: 1,
  });
  await once(client, "open");
  await stalled.ready;
  // Handed to the runtime at once; the peer never reads it.
  await client.send(new Uint8Array(16 * 1024 * 1024));
  const handed: number[] = [];
  const sends = [1, 2, 3, 4, 5].map((i) =>
    client.send(`m${i}`).then(() => void handed.push(i))
  );
  await delay(50);
  assert.deepEqual(handed, [], "the send buffer should still be full");
  const reconnecting = once(client, "reconnecting");
  stalled.drop();
  assert.equal((await reconnecting).closeInfo?.code, 1006);

  const got: Message[] = [];
  const serveRecording = route("/", async (socket) => {
    for await (const msg of socket) got.push(msg);
  });
  const server = Deno.serve({ port, hostname, onListen() {} }, serveRecording);
  await Promise.all(sends);
  assert.deepEqual(handed, [1, 2, 3, 4, 5]);
  await client.send("after");
  for (let i = 0; i < 100 && got.length < 6; i++) await delay(10);
  // The 16 MiB message was handed to the dropped connection: not sent again.
  assert.deepEqual(got.map((m) => m.data), [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "after",
  ]);
  client.close();
  await client.closed;
  await server.shutdown();
});

Deno.test("retry delays stay within the backoff bounds and maxRetries ends the loop", async () => {
  const initialDelay = 8, factor = 2, maxDelay = 30, maxRetries = 6;
  const client = connect(`ws://${hostname}:${deadPort()}/`, {
    initialDelay,
    factor,
    maxDelay,
    maxRetries,
  });
  const events: { attempt: number; delay: number; at: number }[] = [];
  client.addEventListener("reconnecting", (e) => {
    const { attempt, delay } = e as ClientEvent;
    events.push({ attempt, delay, at: performance.now() });
  });
  const finalEvent = once(client, "close");
  const started = performance.now();
  const messages = [];
  for await (const msg of client) messages.push(msg);
  const info = await client.closed;
  const ended = performance.now();

  assert.equal(messages.length, 0);
  assert.equal(client.state, "closed");
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  assert.deepEqual((await finalEvent).closeInfo, info);
  assert.deepEqual(events.map((e) => e.attempt), [1, 2, 3, 4, 5, 6]);
  let total = 0;
  for (const [i, { attempt, delay }] of events.entries()) {
    const cap = Math.min(maxDelay, initialDelay * factor ** (attempt - 1));
    assert.ok(
      delay >= 0 && delay <= cap,
      `retry ${attempt}: ${delay} > ${cap}`,
    );
    total += delay;
    const next = events[i + 1]?.at ?? ended;
    // The next attempt starts no earlier than the delay (1 ms timer slack).
    assert.ok(next - events[i]!.at >= delay - 1, `retry ${attempt} too early`);
  }
  // Full jitter: not every delay sits at its cap.
  assert.ok(
    events.some(({ attempt, delay }) =>
      delay < Math.min(maxDelay, initialDelay * factor ** (attempt - 1))
    ),
  );
  assert.ok(ended - started >= total - 1);
  await assert.rejects(client.send("x"), SocketClosedError);
});

Deno.test("maxRetries 0 never reconnects", async () => {
  await using srv = restartable();
  const client = connect(srv.url, { maxRetries: 0, initialDelay: 5 });
  await once(client, "open");
  await srv.stop();
  const info = await client.closed;
  assert.equal(info.code, 1001);
  assert.equal(client.state, "closed");
  assert.equal(srv.handshakes, 1);
});

Deno.test("a server that closes with 1008 is not retried", async () => {
  await using srv = restartable((socket) =>
    closeSocket(socket, 1008, "not allowed")
  );
  const client = connect(srv.url, { initialDelay: 5, maxDelay: 5 });
  let retries = 0;
  client.addEventListener("reconnecting", () => retries++);
  for await (const _ of client) assert.fail("no message expected");
  assert.deepEqual(await client.closed, {
    code: 1008,
    reason: "not allowed",
    wasClean: true,
  });
  await delay(40);
  assert.equal(srv.handshakes, 1);
  assert.equal(retries, 0);
});

Deno.test("close codes 4000-4999 end the client by default; finalCodes changes the set", async () => {
  {
    await using srv = restartable((socket) => socket.close(4001, "banned"));
    const client = connect(srv.url, { initialDelay: 5, maxDelay: 5 });
    assert.equal((await client.closed).code, 4001);
    await delay(30);
    assert.equal(srv.handshakes, 1);
  }
  {
    await using srv = restartable((socket) => socket.close(4001, "retry me"));
    const client = connect(srv.url, {
      initialDelay: 1,
      maxDelay: 1,
      maxRetries: 2,
      finalCodes: (code) => code === 4002,
    });
    assert.equal((await client.closed).code, 4001);
    assert.equal(srv.handshakes, 3);
  }
  {
    await using srv = restartable((socket) => socket.close(3005, "stop"));
    const client = connect(srv.url, { initialDelay: 1, finalCodes: [3005] });
    assert.equal((await client.closed).code, 3005);
    assert.equal(srv.handshakes, 1);
  }
});

Deno.test("abort stops an open client and a pending retry", async () => {
  {
    await using srv = restartable();
    const controller = new AbortController();
    const client = connect(srv.url, {
      initialDelay: 5,
      signal: controller.signal,
    });
    const it = client[Symbol.asyncIterator]();
    assert.deepEqual(await take(it, 1), ["hello 1"]);
    controller.abort();
    assert.equal((await it.next()).done, true);
    assert.deepEqual(await client.closed, {
      code: 1000,
      reason: "Aborted",
      wasClean: true,
    });
    await assert.rejects(client.send("late"), SocketClosedError);
    await delay(30);
    assert.equal(srv.handshakes, 1);
  }
  {
    const controller = new AbortController();
    const client = connect(`ws://${hostname}:${deadPort()}/`, {
      initialDelay: 60_000,
      maxDelay: 60_000,
      signal: controller.signal,
    });
    await once(client, "reconnecting");
    const queued = client.send("never");
    controller.abort();
    await assert.rejects(queued, SocketClosedError);
    assert.deepEqual(await client.closed, {
      code: 1000,
      reason: "Aborted",
      wasClean: false,
    });
    assert.equal(client.state, "closed");
  }
  {
    const client = connect(`ws://${hostname}:1/`, {
      signal: AbortSignal.abort(),
    });
    assert.equal(client.state, "closed");
    assert.equal((await client.closed).reason, "Aborted");
  }
});

Deno.test("close() while connecting or waiting ends the client without retrying", async () => {
  await using srv = restartable();
  const client = connect(srv.url, { initialDelay: 5 });
  client.close(4000, "never mind");
  const info = await client.closed;
  assert.equal(info.code, 4000);
  assert.equal(client.state, "closed");
  client.close(); // idempotent

  const waiting = connect(`ws://${hostname}:${deadPort()}/`, {
    initialDelay: 60_000,
    maxDelay: 60_000,
  });
  await once(waiting, "reconnecting");
  await waiting[Symbol.asyncDispose]();
  assert.deepEqual(await waiting.closed, {
    code: 1000,
    reason: "",
    wasClean: false,
  });
});

Deno.test("leaving the loop early closes the client with 1000", async () => {
  await using srv = restartable();
  const client = connect(srv.url);
  for await (const msg of client) {
    assert.equal(msg.data, "hello 1");
    break;
  }
  assert.equal((await client.closed).code, 1000);
  assert.throws(() => {
    client[Symbol.asyncIterator]();
    client[Symbol.asyncIterator]();
  }, TypeError);
});

Deno.test("a full outbox rejects with OutboxFullError", async () => {
  const client = connect(`ws://${hostname}:${deadPort()}/`, {
    initialDelay: 60_000,
    maxDelay: 60_000,
    maxQueued: 2,
    maxQueuedBytes: 8,
  });
  const a = client.send("abc");
  const b = client.send(new Uint8Array([1, 2]));
  await assert.rejects(client.send("c"), (error: unknown) => {
    assert.ok(error instanceof OutboxFullError);
    assert.equal(error.limit, "maxQueued");
    assert.match(error.message, /maxQueued is 2 messages/);
    return true;
  });
  assert.equal(client.queued, 2);
  client.close();
  await assert.rejects(a, SocketClosedError);
  await assert.rejects(b, SocketClosedError);

  const small = connect(`ws://${hostname}:${deadPort()}/`, {
    initialDelay: 60_000,
    maxDelay: 60_000,
    maxQueuedBytes: 5,
  });
  await assert.rejects(small.send("héllo"), (error: unknown) => {
    assert.ok(error instanceof OutboxFullError);
    assert.equal(error.limit, "maxQueuedBytes");
    return true;
  });
  await assert.rejects(small.send(42 as unknown as string), TypeError);
  small.close();
  await small.closed;
  await client.closed;
});

Deno.test("binary messages keep their type and bytes are copied into the outbox", async () => {
  await using srv = restartable(async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  });
  const client = connect(srv.url);
  const bytes = new Uint8Array([1, 2, 3]);
  const sent = client.send(bytes);
  bytes[0] = 99; // after send(): the queued copy is unaffected
  await sent;
  const it = client[Symbol.asyncIterator]();
  const r = await it.next();
  assert.equal(r.done, false);
  assert.equal(r.value.type, "binary");
  assert.deepEqual([...(r.value.data as Uint8Array)], [1, 2, 3]);
  client.close();
  await client.closed;
});

Deno.test("connect() checks its options", () => {
  const url = `ws://${hostname}:1/`;
  const cases: [Record<string, unknown>, ErrorConstructor][] = [
    [{ initialDelay: -1 }, RangeError],
    [{ initialDelay: "5" }, TypeError],
    [{ maxDelay: Infinity }, RangeError],
    [{ maxDelay: 2 ** 31 }, RangeError],
    [{ minUptime: -5 }, RangeError],
    [{ initialDelay: 100, maxDelay: 50 }, RangeError],
    [{ factor: 0.5 }, RangeError],
    [{ factor: NaN }, RangeError],
    [{ maxRetries: 1.5 }, RangeError],
    [{ maxRetries: -1 }, RangeError],
    [{ maxRetries: "3" }, TypeError],
    [{ maxQueued: -1 }, RangeError],
    [{ maxQueuedBytes: 0.5 }, RangeError],
    [{ highWaterMark: 0 }, RangeError],
    [{ finalCodes: "4000" }, TypeError],
    [{ finalCodes: [4000.5] }, TypeError],
    [{ protocols: [1] }, TypeError],
    [{ signal: {} }, TypeError],
  ];
  for (const [options, type] of cases) {
    assert.throws(
      () => connect(url, options),
      (error: unknown) => {
        assert.ok(error instanceof type, `${JSON.stringify(options)}`);
        assert.match((error as Error).message, /^Invalid \w+/);
        return true;
      },
    );
  }
});

Deno.test("the shipped browser bundle is the current build of src/client/mod.ts", async () => {
  const { buildClient, OUTPUT } = await import("../tools/build_client.ts");
  const built = await buildClient();
  const committed = await Deno.readTextFile(
    new URL(`../${OUTPUT}`, import.meta.url),
  );
  assert.ok(
    committed === built,
    `${OUTPUT} is out of date: run deno task build:client`,
  );
  const { CLIENT_SCRIPT } = await import("../src/_client_bundle.ts");
  // Browser-safe: nothing of the Deno namespace made it into the bundle.
  assert.doesNotMatch(CLIENT_SCRIPT, /\bDeno\./);
  assert.match(CLIENT_SCRIPT, /^export \{[^}]*\bconnect\b/m);
});
