/**
 * The reconnecting client against hostile or broken servers: the inbox
 * bound, sendTimeout, idleTimeout, the outbox bounds while open, refused
 * handshakes, final closes, and the typed events.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type ClientEvent,
  type CloseInfo,
  connect,
  OutboxFullError,
} from "../src/client/mod.ts";
import { route, type Socket } from "../mod.ts";
import { delay } from "./_helpers.ts";

const hostname = "127.0.0.1";
const flags = { sanitizeOps: true, sanitizeResources: true };

/** Resolves with the next event of `type`, or rejects after `ms`. */
function next(
  target: EventTarget,
  type: string,
  ms = 10_000,
): Promise<ClientEvent> {
  return within(
    new Promise((resolve) =>
      target.addEventListener(type, (e) => resolve(e as ClientEvent), {
        once: true,
      })
    ),
    ms,
    `no ${type} event`,
  );
}

/** `promise`, or a rejection naming `what` after `ms` (timer cleared). */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A route on a real server; counts handshakes. */
function server(handler: (socket: Socket) => Promise<void> | void) {
  let handshakes = 0;
  const srv = Deno.serve(
    { port: 0, hostname, onListen() {} },
    route("/", (socket) => {
      handshakes++;
      return handler(socket);
    }),
  );
  return {
    url: `ws://${hostname}:${srv.addr.port}/`,
    get handshakes() {
      return handshakes;
    },
    [Symbol.asyncDispose]: () => srv.shutdown(),
  };
}

/**
 * A WebSocket server that completes the handshake and then never reads nor
 * writes again: what a stuck or hostile server looks like to a client.
 */
function stuckServer() {
  const listener = Deno.listen({ hostname, port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      const buffer = new Uint8Array(8192);
      const n = await conn.read(buffer);
      const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
      const accept = createHash("sha1")
        .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
        .digest("base64");
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
            `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ),
      );
    }
  })().catch(() => {});
  return {
    url: `ws://${hostname}:${listener.addr.port}/`,
    get connections() {
      return conns.length;
    },
    /**
     * Drops every connection: a client's close handshake with this server
     * never completes otherwise (Deno waits for the server's close frame).
     */
    hangUp() {
      for (const conn of conns.splice(0)) conn.close();
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      this.hangUp();
      // The client's sockets see the TCP close and finish.
      await delay(200);
    },
  };
}

/** An HTTP server answering every request with `status`; counts them. */
function refusing(status: number) {
  let requests = 0;
  const srv = Deno.serve({ port: 0, hostname, onListen() {} }, async (req) => {
    requests++;
    await req.body?.cancel();
    return new Response("no", { status });
  });
  return {
    url: `ws://${hostname}:${srv.addr.port}/`,
    get requests() {
      return requests;
    },
    [Symbol.asyncDispose]: () => srv.shutdown(),
  };
}

Deno.test({
  name:
    "past maxQueuedMessages unread, the client closes the connection with 1013 and keeps what it received",
  ...flags,
  async fn() {
    await using srv = server(async (socket) => {
      for (let i = 0; i < 20; i++) await socket.send(`m${i}`);
      await socket.closed;
    });
    const client = connect(srv.url, { maxQueuedMessages: 5, maxRetries: 0 });
    const info = await within(client.closed, 5000, "the client did not close");
    assert.deepEqual(info, {
      code: 1013,
      reason: "More than 5 messages waiting for the loop",
      wasClean: false,
    });
    const got: string[] = [];
    for await (const msg of client) got.push(msg.data as string);
    assert.deepEqual(got, ["m0", "m1", "m2", "m3", "m4"]);
  },
});

Deno.test({
  name:
    "a full inbox (1013) is retried like any other drop, and a reading app is never cut off",
  ...flags,
  async fn() {
    await using srv = server(async (socket) => {
      for (let i = 0; i < 20; i++) await socket.send(`m${i}`);
      await socket.closed;
    });
    const client = connect(srv.url, {
      maxQueuedMessages: 5,
      initialDelay: 5,
      maxDelay: 5,
    });
    const retry = await next(client, "reconnecting");
    assert.equal(retry.closeInfo?.code, 1013);
    client.close();
    await client.closed;

    // The same flood to a loop that keeps up never trips the bound.
    const reader = connect(srv.url, { maxQueuedMessages: 5, maxRetries: 0 });
    let n = 0;
    for await (const _ of reader) if (++n === 20) break;
    assert.equal(n, 20);
    assert.equal((await reader.closed).code, 1000);
  },
});

Deno.test({
  name:
    "while open, sends waiting for a send buffer that never drains are bounded by maxQueued and maxQueuedBytes",
  ...flags,
  async fn() {
    await using srv = stuckServer();
    const chunk = new Uint8Array(64 * 1024);
    {
      const client = connect(srv.url, {
        maxQueued: 10,
        maxQueuedBytes: 1024 * 1024 * 1024,
        highWaterMark: 64 * 1024,
        sendTimeout: 0,
        maxRetries: 0,
      });
      await next(client, "open");
      const sends: Promise<void>[] = [];
      let full: unknown;
      // 64 MiB if nothing stopped it: far past the kernel's buffers.
      for (let i = 0; i < 1024 && full === undefined; i++) {
        const sent = client.send(chunk);
        sends.push(sent.catch(() => {}));
        await Promise.race([sent.catch((e) => full = e), delay(0)]);
      }
      assert.ok(full instanceof OutboxFullError, "no OutboxFullError");
      assert.equal(full.limit, "maxQueued");
      client.close();
      srv.hangUp();
      await client.closed;
      await Promise.all(sends);
    }
    {
      const client = connect(srv.url, {
        maxQueuedBytes: 256 * 1024,
        highWaterMark: 64 * 1024,
        sendTimeout: 0,
        maxRetries: 0,
      });
      await next(client, "open");
      const sends: Promise<void>[] = [];
      let full: unknown;
      for (let i = 0; i < 1024 && full === undefined; i++) {
        const sent = client.send(chunk);
        sends.push(sent.catch(() => {}));
        await Promise.race([sent.catch((e) => full = e), delay(0)]);
      }
      assert.ok(full instanceof OutboxFullError, "no OutboxFullError");
      assert.equal(full.limit, "maxQueuedBytes");
      assert.match(full.message, /maxQueuedBytes is 262144 bytes/);
      client.close();
      srv.hangUp();
      await client.closed;
      await Promise.all(sends);
    }
  },
});

Deno.test({
  name:
    "sendTimeout leaves a server that reads nothing and reconnects; the waiting sends settle",
  ...flags,
  async fn() {
    await using srv = stuckServer();
    const client = connect(srv.url, {
      sendTimeout: 300,
      highWaterMark: 64 * 1024,
      maxQueuedBytes: 64 * 1024 * 1024,
      initialDelay: 5,
      maxDelay: 5,
    });
    await next(client, "open");
    const retry = next(client, "reconnecting");
    const sends: Promise<unknown>[] = [];
    let done = false;
    retry.finally(() => done = true).catch(() => {});
    const chunk = new Uint8Array(256 * 1024);
    const started = Date.now();
    while (!done && Date.now() - started < 10_000) {
      if (client.state === "open") sends.push(client.send(chunk));
      await delay(5);
    }
    const event = await retry;
    assert.deepEqual(event.closeInfo, {
      code: 1006,
      reason: "Send timeout: the server read nothing for 300 ms",
      wasClean: false,
    });
    await next(client, "open");
    assert.equal(srv.connections, 2);
    // Every send made while open was handed to the dropped connection.
    const results = await Promise.allSettled(sends);
    assert.ok(results.every((r) => r.status === "fulfilled"));
    client.close();
    srv.hangUp();
    await client.closed;
  },
});

Deno.test({
  name:
    "idleTimeout reconnects when nothing arrives, and not while the server sends",
  ...flags,
  async fn() {
    {
      await using srv = server((socket) => socket.closed.then(() => {}));
      const client = connect(srv.url, {
        idleTimeout: 300,
        initialDelay: 5,
        maxDelay: 5,
      });
      await next(client, "open");
      const started = Date.now();
      const event = await next(client, "reconnecting", 5000);
      assert.ok(Date.now() - started >= 290);
      assert.deepEqual(event.closeInfo, {
        code: 1006,
        reason: "Idle timeout: nothing arrived from the server for 300 ms",
        wasClean: false,
      });
      client.close();
      await client.closed;
    }
    {
      let ended = Promise.resolve();
      await using srv = server((socket) => {
        let open = true;
        socket.closed.then(() => open = false);
        ended = (async () => {
          while (open) {
            await socket.send("tick").catch(() => {});
            await delay(50);
          }
        })();
      });
      const client = connect(srv.url, { idleTimeout: 300 });
      let retries = 0;
      client.addEventListener("reconnecting", () => retries++);
      await next(client, "open");
      await delay(1200);
      assert.equal(retries, 0);
      assert.equal(client.state, "open");
      client.close();
      await client.closed;
      await ended;
    }
  },
});

Deno.test({
  name:
    "a handshake refused with 404 ends the client with 1006 'Handshake refused: 404'",
  ...flags,
  async fn() {
    for (const status of [404, 403, 401, 400]) {
      await using srv = refusing(status);
      const client = connect(srv.url, { initialDelay: 5, maxDelay: 5 });
      let retries = 0;
      client.addEventListener("reconnecting", () => retries++);
      const info = await within(client.closed, 5000, `${status} retried`);
      assert.deepEqual(info, {
        code: 1006,
        reason: `Handshake refused: ${status}`,
        wasClean: false,
      });
      assert.equal(retries, 0);
      assert.equal(srv.requests, 1);
    }
  },
});

Deno.test({
  name: "a handshake answered 408, 429 or 5xx is retried",
  ...flags,
  async fn() {
    for (const status of [408, 429, 500, 503]) {
      await using srv = refusing(status);
      const client = connect(srv.url, {
        initialDelay: 1,
        maxDelay: 1,
        maxRetries: 2,
      });
      const info = await client.closed;
      assert.equal(info.code, 1006);
      assert.doesNotMatch(info.reason, /Handshake refused/);
      assert.equal(srv.requests, 3, `${status}`);
    }
  },
});

Deno.test({
  name:
    "over the fallback, and after falling back, a 404 ends the client as well",
  ...flags,
  async fn() {
    {
      await using srv = refusing(404);
      const client = connect(srv.url, {
        transports: ["sse"],
        initialDelay: 5,
        maxDelay: 5,
      });
      assert.deepEqual(await within(client.closed, 5000, "404 retried"), {
        code: 1006,
        reason: "Handshake refused: 404",
        wasClean: false,
      });
      assert.equal(srv.requests, 1);
    }
    {
      await using srv = refusing(404);
      const client = connect(srv.url, {
        transports: ["websocket", "sse"],
        initialDelay: 5,
        maxDelay: 5,
      });
      assert.equal(
        (await within(client.closed, 5000, "404 retried")).reason,
        "Handshake refused: 404",
      );
      assert.equal(client.transport, "sse");
      assert.equal(srv.requests, 2);
    }
  },
});

Deno.test({
  name:
    "a handler closing with 1008 'Unauthorized' leaves the client closed, not reconnecting",
  ...flags,
  async fn() {
    await using srv = server((socket) => socket.close(1008, "Unauthorized"));
    const client = connect(srv.url, { initialDelay: 5, maxDelay: 5 });
    let retries = 0;
    client.addEventListener("reconnecting", () => retries++);
    for await (const _ of client) assert.fail("no message expected");
    const info: CloseInfo = await client.closed;
    assert.deepEqual(info, {
      code: 1008,
      reason: "Unauthorized",
      wasClean: true,
    });
    await delay(50);
    assert.equal(client.state, "closed");
    assert.equal(retries, 0);
    assert.equal(srv.handshakes, 1);
  },
});

Deno.test({
  name:
    "client events are typed: reconnecting listeners read attempt without a cast",
  ...flags,
  async fn() {
    const listener = Deno.listen({ hostname, port: 0 });
    const { port } = listener.addr;
    listener.close();
    const client = connect(`ws://${hostname}:${port}/`, {
      initialDelay: 1,
      maxDelay: 1,
      maxRetries: 2,
    });
    const attempts: number[] = [];
    const states: string[] = [];
    const onRetry = (e: ClientEvent) => attempts.push(e.attempt);
    client.addEventListener("reconnecting", onRetry);
    client.addEventListener("statechange", (e) => states.push(e.state));
    let final: CloseInfo | undefined;
    client.addEventListener("close", (e) => final = e.closeInfo);
    const info = await client.closed;
    client.removeEventListener("reconnecting", onRetry);
    assert.deepEqual(attempts, [1, 2]);
    assert.deepEqual(states, ["reconnecting", "closed"]);
    assert.deepEqual(final, info);
  },
});

Deno.test("connect() checks maxQueuedMessages, sendTimeout and idleTimeout", () => {
  const url = `ws://${hostname}:1/`;
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ maxQueuedMessages: 0 }, RangeError, /^Invalid maxQueuedMessages/],
    [{ maxQueuedMessages: "5" }, TypeError, /^Invalid maxQueuedMessages/],
    [{ sendTimeout: -1 }, RangeError, /^Invalid sendTimeout/],
    [{ sendTimeout: "30000" }, TypeError, /^Invalid sendTimeout/],
    [{ sendTimeout: 2 ** 31 }, RangeError, /^Invalid sendTimeout/],
    [{ idleTimeout: NaN }, RangeError, /^Invalid idleTimeout/],
    [{ idleTimeout: 2 ** 31 }, RangeError, /^Invalid idleTimeout/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => connect(url, options), (error: unknown) => {
      assert.ok(error instanceof type, JSON.stringify(options));
      assert.match((error as Error).message, message);
      return true;
    });
  }
});
