/**
 * A graceful shutdown of a route whose sessions are in a shared store hands
 * them off: their state is stored, they are released (not deleted), and
 * their clients are told to reconnect (1012), so that another server resumes
 * them with nothing lost or doubled, as it would after a crash.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MemorySessionStore, route } from "../mod.ts";
import type { ClientEvent } from "../src/client/events.ts";
import {
  bounded,
  deadline,
  delay,
  once,
  overBoth,
  until,
} from "./_session_helpers.ts";
import {
  finish,
  firstAnswer,
  type Logging,
  resuming,
  routes,
  servers,
  wsUrl,
} from "./_handoff_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";
import { RpcPeer } from "../src/rpc/mod.ts";

/** Messages the client sends; the first server goes down halfway. */
const COUNT = 200;

/** One run of the handler: where, whether it took over, how it ended. */
interface Run {
  server: string;
  resumed: boolean;
  code?: number;
}

/**
 * An echo handler that logs every message it takes, across its runs on
 * every server.
 */
const echo: Logging<Run> = (server, log, runs) => async (socket) => {
  const run: Run = { server, resumed: socket.session!.resumed };
  runs.push(run);
  for await (const msg of socket) {
    log.push(String(msg.data));
    await delay(1);
    await socket.send(`echo:${msg.data}`);
  }
  run.code = (await socket.closed).code;
};

overBoth(
  "a graceful shutdown with a shared store hands sessions off: the client resumes on another server with every message once both ways, and the handler there sees socket.session.resumed",
  async (over) => {
    const store = new MemorySessionStore();
    const { log, runs, routeA, routeB } = routes(echo, {
      resume: { store },
      transports: ["websocket", "sse"],
    });
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url, over);
    const events: string[] = [];
    let reconnecting: ClientEvent | undefined;
    for (const type of ["open", "resumed", "reconnecting"]) {
      client.addEventListener(type, (event) => {
        events.push(type);
        if (type === "reconnecting") reconnecting ??= event as ClientEvent;
      });
    }
    await once(client, "open");
    const resumed = once(client, "resumed");
    let stopped: Promise<void> | undefined;
    for (let i = 1; i <= COUNT; i++) {
      await client.send(`c${i}`);
      if (i === COUNT / 2) {
        await until(() => got.length >= 20, 5000, "a answers");
        s.toB();
        const started = Date.now();
        stopped = routeA.shutdown().then(() => {
          // Handed off well within shutdownTimeout (10 s).
          assert.ok(Date.now() - started < 5000, "a shut down in time");
        });
      }
      if (i % 10 === 0) await delay(2);
    }
    await deadline(stopped!, 8000, "a's shutdown");
    const event = await deadline(resumed, 8000, "resumed on b");
    assert.equal(event.moved, true);
    await until(() => got.length >= COUNT, 8000, "every echo");
    await delay(100);
    const expected = Array.from({ length: COUNT }, (_, i) => `c${i + 1}`);
    assert.deepEqual(log, expected, "the handlers took each message once");
    assert.deepEqual(got, expected.map((c) => `echo:${c}`));
    assert.equal(reconnecting?.closeInfo?.code, 1012);
    assert.deepEqual(events, ["open", "reconnecting", "resumed"]);
    assert.deepEqual(runs, [
      { server: "a", resumed: false, code: 1012 },
      { server: "b", resumed: true },
    ]);
    assert.equal(client.session!.resumes, 1);
    await finish(client, reading, routeB, [
      () => runs[1]?.code !== undefined,
      "b's run ends",
    ]);
  },
  30_000,
);

bounded(
  "a graceful shutdown with a shared store hands off a session that waits for its client: the client resumes it on another server",
  async () => {
    const store = new MemorySessionStore();
    const { log, runs, routeA, routeB } = routes(echo, { resume: { store } });
    await using s = servers(routeA, routeB);
    await using proxy = new CutProxy(s.a.addr.port);
    const { client, got, reading } = resuming(wsUrl(proxy.port));
    await firstAnswer(client, got);
    await delay(100);
    // The connection drops and the client is kept away: the session waits
    // on a for its client while a shuts down.
    proxy.refuse(60_000);
    proxy.cut();
    await once(client, "reconnecting");
    const started = Date.now();
    await routeA.shutdown();
    assert.ok(Date.now() - started < 5000, "a shut down in time");
    assert.equal(runs[0]?.code, 1012);
    const resumed = once(client, "resumed");
    proxy.retarget(s.b.addr.port);
    proxy.refuse(0);
    await deadline(resumed, 5000, "resumed on b");
    await client.send("c2");
    await until(() => got.length === 2, 5000, "b answers");
    assert.deepEqual(got, ["echo:c1", "echo:c2"]);
    assert.deepEqual(log, ["c1", "c2"]);
    assert.deepEqual(runs.map((r) => [r.server, r.resumed]), [
      ["a", false],
      ["b", true],
    ]);
    await finish(client, reading, routeB);
  },
);

bounded(
  "a handler still busy at half of shutdownTimeout: what its loop had not taken goes to the next server, and at most the message it was working on is taken twice",
  async () => {
    const store = new MemorySessionStore();
    // A slow handler that does not await its sends (nor see them fail).
    const slow: Logging<Run> = (server, log, runs) => async (socket) => {
      const run: Run = { server, resumed: socket.session!.resumed };
      runs.push(run);
      for await (const msg of socket) {
        log.push(String(msg.data));
        socket.send(`echo:${msg.data}`).catch(() => {});
        await delay(50);
      }
      run.code = (await socket.closed).code;
    };
    const { log, runs, routeA, routeB } = routes(
      slow,
      { resume: { store } },
      { shutdownTimeout: 300 },
    );
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url);
    await once(client, "open");
    const resumed = once(client, "resumed");
    const count = 20;
    for (let i = 1; i <= count; i++) client.send(`c${i}`);
    await until(() => log.length >= 2, 5000, "a takes two");
    s.toB();
    await routeA.shutdown();
    assert.equal(runs[0]?.code, 1012);
    await deadline(resumed, 5000, "resumed on b");
    await until(() => got.length >= count, 8000, "every echo");
    await delay(100);
    const expected = Array.from({ length: count }, (_, i) => `c${i + 1}`);
    // The message in the works is taken again on b (with its echo), as
    // after a crash; nothing else is.
    const dedup = (list: string[]) => list.filter((c, i) => list[i - 1] !== c);
    assert.deepEqual(dedup(log), expected);
    assert.ok(log.length <= count + 1, `taken twice: ${log.join(" ")}`);
    assert.deepEqual(dedup(got), expected.map((c) => `echo:${c}`));
    assert.ok(got.length <= count + 1, `echoed twice: ${got.join(" ")}`);
    assert.ok(log.indexOf("c20") > 0 && runs[1]?.server === "b");
    await finish(client, reading, routeB);
  },
);

bounded(
  "a graceful shutdown hands an RPC peer's session off without waiting out shutdownTimeout: every call is answered once",
  async () => {
    const store = new MemorySessionStore();
    const served: number[] = [];
    const rpc = () =>
      route("/ws", async (socket) => {
        await new RpcPeer(socket, {
          methods: {
            echo: ([id]: [number]) => {
              served.push(id);
              return id;
            },
          },
        }).closed;
      }, { resume: { store } });
    const routeA = rpc();
    const routeB = rpc();
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming<number>(
      s.url,
      {},
      (data) => JSON.parse(data).id,
    );
    await once(client, "open");
    const resumed = once(client, "resumed");
    const call = (id: number) =>
      client.send(
        JSON.stringify({ jsonrpc: "2.0", id, method: "echo", params: [id] }),
      );
    for (let id = 1; id <= 50; id++) await call(id);
    await until(() => got.length >= 20, 5000, "a answers");
    s.toB();
    const started = Date.now();
    const stopped = routeA.shutdown();
    for (let id = 51; id <= 100; id++) await call(id);
    await stopped;
    // The default shutdownTimeout is 10 s; the hand-off waits for none of it.
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
    await deadline(resumed, 5000, "resumed on b");
    await until(() => got.length >= 100, 5000, "100 answers");
    await delay(100);
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(got, ids);
    assert.deepEqual(served, ids);
    await finish(client, reading, routeB);
  },
);

bounded(
  "without a shared store a graceful shutdown still ends the sessions: 1001 and a new session on the next server",
  async () => {
    const { runs, routeA, routeB } = routes(echo, { resume: true });
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url);
    await firstAnswer(client, got);
    s.toB();
    const reopened = once(client, "open");
    await routeA.shutdown();
    const event = await deadline(reopened, 5000, "a new session on b");
    assert.equal(event.resumed, false);
    assert.deepEqual(runs.map((r) => [r.server, r.resumed, r.code]), [
      ["a", false, 1001],
      ["b", false, undefined],
    ]);
    await finish(client, reading, routeB);
  },
);
