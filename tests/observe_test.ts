/**
 * The observer hook of the core (src/observe.ts): what route(), upgrade(),
 * a hub, an RPC peer and the fallback transport tell an `observe` option.
 */

import assert from "node:assert/strict";
import {
  HandshakeError,
  type Observer,
  route,
  Socket,
  upgrade,
} from "../mod.ts";
import { Hub } from "../src/hub.ts";
import { RpcError, RpcPeer } from "../src/rpc/mod.ts";
import { connect } from "../src/client/mod.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  handshakeHeaders,
  open,
  serve,
} from "./_helpers.ts";
import { within } from "./_sse_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";

/** An observer that writes what it is told as lines of text. */
function recorder(): {
  observer: Observer;
  log: string[];
  closed: Promise<void>;
} {
  const log: string[] = [];
  const closed = deferred<void>();
  const observer: Observer = {
    handshake: (e) =>
      log.push(`handshake ${e.transport} ${e.route} ${e.status}`),
    connection(e) {
      log.push(`open ${e.transport} ${e.route}`);
      return {
        message: (direction, data) =>
          log.push(
            typeof data === "string"
              ? `${direction} text ${new TextEncoder().encode(data).length}`
              : `${direction} binary ${data.byteLength}`,
          ),
        close(info) {
          log.push(`close ${info.code}`);
          closed.resolve();
        },
      };
    },
  };
  return { observer, log, closed: closed.promise };
}

Deno.test("route() tells its observer of handshakes, connections, each message in and out, and the close", async () => {
  const { observer, log, closed } = recorder();
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { observe: observer, allowedOrigins: ["http://ok.example"] }));
  const refused = await fetch(`http://127.0.0.1:${srv.port}/ws`, {
    headers: { ...handshakeHeaders(), origin: "http://evil.example" },
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 403);
  // Requests that ask for no connection are not handshakes.
  await (await fetch(`http://127.0.0.1:${srv.port}/ws`)).body?.cancel();
  await (await fetch(`http://127.0.0.1:${srv.port}/other`)).body?.cancel();
  const ws = await open(`${srv.url}/ws`);
  ws.send("héllo");
  await collect(ws, 1);
  ws.send(new Uint8Array([1, 2, 3]));
  await collect(ws, 1);
  ws.close(1000);
  await closeEvent(ws);
  await closed;
  assert.deepEqual(log, [
    "handshake websocket /ws 403",
    "open websocket /ws",
    "handshake websocket /ws 101",
    "in text 6",
    "out text 6",
    "in binary 3",
    "out binary 3",
    "close 1000",
  ]);
});

Deno.test("upgrade() with observe reports a refused handshake and an accepted connection without a route", async () => {
  const { observer, log, closed } = recorder();
  await using srv = serve((request) => {
    try {
      const { socket, response } = upgrade(request, { observe: [observer] });
      (async () => {
        for await (const msg of socket) socket.close(4000, String(msg.data));
      })();
      return response;
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
  });
  const refused = await fetch(`http://127.0.0.1:${srv.port}/`, {
    headers: { ...handshakeHeaders(), "sec-websocket-version": "8" },
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 426);
  const ws = await open(srv.url);
  ws.send("bye");
  assert.equal((await closeEvent(ws)).code, 4000);
  await closed;
  assert.deepEqual(log, [
    "handshake websocket undefined 426",
    "handshake websocket undefined 101",
    "open websocket undefined",
    "in text 3",
    "close 4000",
  ]);
});

Deno.test("a connection over the fallback transport is reported as sse, with an event stream's 200", async () => {
  const { observer, log, closed } = recorder();
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { observe: observer, transports: ["websocket", "sse"] }));
  const client = connect(`http://127.0.0.1:${srv.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  await client.send("hi");
  for await (const msg of client) {
    assert.equal(msg.data, "hi");
    break;
  }
  await client.closed;
  await closed;
  assert.deepEqual(log.slice(0, 2), ["open sse /ws", "handshake sse /ws 200"]);
  assert.deepEqual(log.slice(2, 4), ["in text 2", "out text 2"]);
  assert.match(log.at(-1)!, /^close \d+$/);
});

Deno.test("an observer that throws is logged and the connection goes on", async () => {
  const errors: string[] = [];
  const consoleError = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    const broken: Observer = {
      handshake() {
        throw new Error("handshake hook broke");
      },
      connection: () => ({
        message() {
          throw new Error("message hook broke");
        },
        close() {
          throw new Error("close hook broke");
        },
      }),
    };
    await using srv = serve(route("/ws", async (socket) => {
      for await (const msg of socket) await socket.send(msg.data);
    }, { observe: broken }));
    const ws = await open(`${srv.url}/ws`);
    ws.send("still here");
    assert.deepEqual(await collect(ws, 1), ["still here"]);
    ws.close();
    await closeEvent(ws);
  } finally {
    console.error = consoleError;
  }
  assert.ok(errors.some((line) => line.includes("message hook broke")));
  assert.ok(
    errors.every((line) => line.startsWith("Switchboard: an observer threw")),
  );
});

Deno.test("observe must be an object or a list of objects", () => {
  assert.throws(
    () => route("/ws", () => {}, { observe: 5 as unknown as Observer }),
    { name: "TypeError", message: /Invalid observe/ },
  );
  assert.throws(
    () => new Hub({ observe: [null as unknown as Observer] }),
    TypeError,
  );
});

Deno.test("a hub tells its observer of itself; stats() counts rooms, members and deliveries", async () => {
  let seen: Hub | undefined;
  let unobserved = false;
  await using srv = serve(route("/ws", async (socket, request) => {
    const room = new URL(request.url).searchParams.get("room")!;
    const id = hub.add(socket);
    hub.join(id, room);
    for await (const msg of socket) hub.broadcast(room, msg.data);
  }));
  const hub = new Hub({
    observe: {
      hub(observed) {
        seen = observed as Hub;
        return () => unobserved = true;
      },
    },
  });
  assert.equal(seen, hub);
  const a = await open(`${srv.url}/ws?room=lobby`);
  const b = await open(`${srv.url}/ws?room=lobby`);
  const c = await open(`${srv.url}/ws?room=games`);
  while (hub.size < 3) await new Promise((r) => setTimeout(r, 5));
  const got = Promise.all([collect(a, 1), collect(b, 1)]);
  a.send("hello lobby");
  await got;
  assert.deepEqual(hub.stats(), {
    connections: 3,
    rooms: { lobby: 2, games: 1 },
    deliveries: 2,
  });
  for (const ws of [a, b, c]) ws.close();
  await Promise.all([a, b, c].map(closeEvent));
  await hub.close();
  assert.ok(unobserved);
});

Deno.test("RpcPeer tells its observer of calls and requests served with their error codes, and adds the call's fields to the request", async () => {
  const served: string[] = [];
  const calls: string[] = [];
  const requests: Record<string, unknown>[] = [];
  const serverSide: Observer = {
    rpcServe(method, request) {
      requests.push(request);
      return {
        run: (handler) => {
          served.push(`run ${method}`);
          return handler();
        },
        end: (code) => served.push(`end ${method} ${code}`),
      };
    },
  };
  const clientSide: Observer = {
    rpcCall: (method, id) => ({
      fields: { traceparent: `tp-${id}`, id: "not this one" },
      end: (error) =>
        calls.push(
          `${method} ${error instanceof RpcError ? error.code : error}`,
        ),
    }),
  };
  const done = deferred<void>();
  await using srv = serve(route("/rpc", (socket) => {
    const peer = new RpcPeer(socket, {
      observe: serverSide,
      methods: {
        add: ([a, b]: [number, number]) => a + b,
        fail: () => {
          throw RpcError.invalidParams("nope");
        },
        crash: () => {
          throw new Error("bug");
        },
      },
      onError: () => {},
    });
    peer.closed.then(() => done.resolve());
  }));
  const peer = new RpcPeer(new Socket(new WebSocket(`${srv.url}/rpc`)), {
    observe: clientSide,
  });
  assert.equal(await peer.call("add", [1, 2]), 3);
  await assert.rejects(peer.call("fail"), { code: -32602 });
  await assert.rejects(peer.call("crash"), { code: -32603 });
  await assert.rejects(peer.call("missing"), { code: -32601 });
  await peer.notify("add", [1, 1]);
  peer.close();
  await peer.closed;
  await done.promise;
  assert.deepEqual(calls, [
    "add undefined",
    "fail -32602",
    "crash -32603",
    "missing -32601",
  ]);
  assert.deepEqual(served, [
    "run add",
    "end add undefined",
    "run fail",
    "end fail -32602",
    "run crash",
    "end crash -32603",
    "end missing -32601",
  ]);
  assert.deepEqual(requests.map((r) => [r.traceparent, r.id]), [
    ["tp-1", 1],
    ["tp-2", 2],
    ["tp-3", 3],
    ["tp-4", 4],
  ]);
});

Deno.test("a resumable session is one connection to the observer, told of each resume", async () => {
  const log: string[] = [];
  const closed = deferred<void>();
  const observer: Observer = {
    connection(e) {
      log.push(`open ${e.transport}`);
      return {
        message: (direction) => log.push(direction),
        resumed: () => log.push("resumed"),
        close(info) {
          log.push(`close ${info.code}`);
          closed.resolve();
        },
      };
    },
  };
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { resume: true, observe: observer }));
  await using proxy = new CutProxy(srv.port);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
    resume: true,
    initialDelay: 5,
    maxDelay: 40,
    minUptime: 0,
  });
  const reader = client[Symbol.asyncIterator]();
  await client.send("one");
  assert.equal(
    (await within(reader.next(), 5000, undefined))?.value?.data,
    "one",
  );
  const resumed = new Promise((resolve) =>
    client.addEventListener("resumed", resolve, { once: true })
  );
  proxy.cut();
  assert.ok(await within(resumed, 5000, false), "the client resumed");
  while (!log.includes("resumed")) await delay(5);
  await client.send("two");
  assert.equal(
    (await within(reader.next(), 5000, undefined))?.value?.data,
    "two",
  );
  client.close();
  await client.closed;
  assert.ok(await within(closed.promise.then(() => true), 5000, false));
  assert.deepEqual(log, [
    "open websocket",
    "in",
    "out",
    "resumed",
    "in",
    "out",
    "close 1000",
  ]);
});

Deno.test("an authenticated route and upgrade() tell their observer of the handshake once authenticate has decided: 401 refused, 101 accepted", async () => {
  const { observer, log, closed } = recorder();
  const authenticate = (
    _request: Request,
    { token }: { token?: string | undefined },
  ) => Promise.resolve(token === "good" ? { sub: "alice" } : undefined);
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { observe: observer, authenticate }));
  const refused = await fetch(`http://127.0.0.1:${srv.port}/ws`, {
    headers: handshakeHeaders(),
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  const ws = await open(`${srv.url}/ws?access_token=good`);
  ws.send("hi");
  await collect(ws, 1);
  ws.close(1000);
  await closeEvent(ws);
  await closed;
  assert.deepEqual(log, [
    "handshake websocket /ws 401",
    // As without authenticate: the handler starts before the 101 is told.
    "open websocket /ws",
    "handshake websocket /ws 101",
    "in text 2",
    "out text 2",
    "close 1000",
  ]);

  const seen = recorder();
  await using plain = serve(async (request) => {
    try {
      const { socket, response } = await upgrade(request, {
        observe: seen.observer,
        authenticate,
      });
      socket.close(1000);
      return response;
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
  });
  const no = await fetch(`http://127.0.0.1:${plain.port}/`, {
    headers: handshakeHeaders(),
  });
  await no.body?.cancel();
  assert.equal(no.status, 401);
  const yes = await open(`${plain.url}/?access_token=good`);
  await closeEvent(yes);
  await seen.closed;
  assert.deepEqual(seen.log.slice(0, 3), [
    "handshake websocket undefined 401",
    "handshake websocket undefined 101",
    "open websocket undefined",
  ]);
});
