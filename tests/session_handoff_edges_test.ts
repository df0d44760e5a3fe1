/**
 * Edge cases of the graceful hand-off of resumable sessions (a shared
 * store, `route.shutdown()`; the plain case is in session_handoff_test.ts):
 * a shutdown called twice, a handler that never reads or is blocked in a
 * send, a shutdown while a client's takeover is under way, sessions moved
 * along a chain of servers, 200 sessions at once, a store that is killed,
 * hangs or answers late.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MemorySessionStore, route } from "../mod.ts";
import { RedisSessionStore } from "../src/backplane/redis.ts";
import type { ClientEvent } from "../src/client/events.ts";
import type { SessionRecord, TakeCheck } from "../src/session/session_store.ts";
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
import { RedisServer } from "./_redis.ts";

/** An echo handler logging every message it takes; a run is `server:resumed`. */
const echo: Logging<string> = (server, log, runs) => async (socket) => {
  runs.push(`${server}:${socket.session!.resumed}`);
  for await (const msg of socket) {
    log.push(String(msg.data));
    await socket.send(`echo:${msg.data}`);
  }
};

/** A memory store whose `take` waits `ms` first (a slow store round trip). */
class SlowTakeStore extends MemorySessionStore {
  takeDelay = 0;
  override async take(
    id: string,
    ttl: number,
    client: TakeCheck,
  ): Promise<SessionRecord | undefined> {
    await delay(this.takeDelay);
    return super.take(id, ttl, client);
  }
}

const numbered = (n: number, prefix = "c") =>
  Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

bounded(
  "route.shutdown() called twice returns the same promise and hands the session off once",
  async () => {
    const store = new MemorySessionStore();
    const { runs, routeA, routeB } = routes(echo, { resume: { store } });
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url);
    await firstAnswer(client, got);
    s.toB();
    const resumed = once(client, "resumed");
    const first = routeA.shutdown();
    const second = routeA.shutdown();
    assert.equal(first, second);
    await first;
    await deadline(resumed, 5000, "resumed on b");
    await client.send("c2");
    await until(() => got.length === 2, 5000, "b answers");
    assert.deepEqual(got, ["echo:c1", "echo:c2"]);
    assert.deepEqual(runs, ["a:false", "b:true"]);
    await finish(client, reading, routeB);
  },
);

bounded(
  "a handler that never reads is handed off within shutdownTimeout and the next server's handler gets every message once",
  async () => {
    const store = new MemorySessionStore();
    const log: string[] = [];
    const routeA = route("/ws", async (socket) => {
      await socket.closed;
    }, { resume: { store }, shutdownTimeout: 400 });
    const routeB = route("/ws", echo("b", log, []), { resume: { store } });
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url);
    await once(client, "open");
    for (const c of numbered(10)) await client.send(c);
    await delay(100);
    s.toB();
    const resumed = once(client, "resumed");
    const started = Date.now();
    await routeA.shutdown();
    const took = Date.now() - started;
    assert.ok(took < 1000, `shutdown took ${took} ms`);
    await deadline(resumed, 5000, "resumed on b");
    await until(() => got.length >= 10, 5000, "b echoes");
    await delay(100);
    assert.deepEqual(log, numbered(10));
    await finish(client, reading, routeB);
  },
);

bounded(
  "a server that shuts down while a client's takeover is under way (a slow store) hands that session off too: nothing stays open on it",
  async () => {
    const store = new SlowTakeStore();
    const { log, runs, routeA, routeB } = routes(echo, { resume: { store } });
    const routeC = route("/ws", echo("c", log, runs), { resume: { store } });
    await using s = servers(routeA, routeB, routeC);
    const { client, got, reading } = resuming(s.url);
    const events: string[] = [];
    for (const type of ["open", "resumed", "reconnecting"]) {
      client.addEventListener(type, () => events.push(type));
    }
    await firstAnswer(client, got);
    store.takeDelay = 300;
    s.toB();
    await routeA.shutdown();
    // The client is now taking the session over on b, which waits for the
    // store: b shuts down meanwhile; the client should go on to c.
    await delay(100);
    s.to(2);
    await routeB.shutdown();
    store.takeDelay = 0;
    await delay(500);
    await client.send("c2");
    await until(() => got.length >= 2, 5000, "c2 answered");
    const stats = routeB.stats();
    assert.deepEqual(runs, ["a:false", "c:true"], `runs ${runs.join(" ")}`);
    assert.equal(stats.connections, 0, "nothing open on the stopped b");
    assert.deepEqual(got, ["echo:c1", "echo:c2"]);
    await finish(client, reading, routeC);
    await routeB.shutdown();
  },
);

overBoth(
  "two servers shut down one after another: the session moves from a to b to c with every message once both ways",
  async (over) => {
    const store = new MemorySessionStore();
    const options = {
      resume: { store },
      transports: ["websocket", "sse"] as const,
    };
    const { log, runs, routeA, routeB } = routes(echo, options);
    const chain = [routeA, routeB, route("/ws", echo("c", log, runs), options)];
    await using s = servers(...chain);
    const { client, got, reading } = resuming(s.url, over);
    await once(client, "open");
    const onB = once(client, "resumed");
    const count = 90;
    const stops: Promise<void>[] = [];
    for (let i = 1; i <= count; i++) {
      await client.send(`c${i}`);
      if (i === 30 || i === 60) {
        const next = i / 30;
        // b stops once the session is on it.
        if (next === 2) await deadline(onB, 8000, "resumed on b");
        s.to(next);
        stops.push(chain[next - 1]!.shutdown());
      }
      if (i % 10 === 0) await delay(5);
    }
    await deadline(Promise.all(stops), 10_000, "shutdowns");
    await until(() => got.length >= count, 10_000, "every echo");
    await delay(100);
    assert.deepEqual(log, numbered(count));
    assert.deepEqual(got, numbered(count).map((c) => `echo:${c}`));
    assert.deepEqual(runs, ["a:false", "b:true", "c:true"]);
    await finish(client, reading, chain[2]!);
  },
  30_000,
);

bounded(
  "200 sessions handed off at once: shutdown ends within shutdownTimeout and each resumes on the next server with its messages once",
  async () => {
    const store = new MemorySessionStore();
    const { log, routeA, routeB } = routes(
      echo,
      { resume: { store } },
      { shutdownTimeout: 3000 },
    );
    await using s = servers(routeA, routeB);
    const n = 200;
    const read = Array.from(
      { length: n },
      () => resuming(s.url, { maxDelay: 200 }),
    );
    const clients = read.map((r) => r.client);
    const got = read.map((r) => r.got);
    const readings = read.map((r) => r.reading);
    await Promise.all(clients.map((c) => once(c, "open")));
    await Promise.all(clients.map((c, i) => c.send(`k${i}-1`)));
    await until(() => got.every((g) => g.length === 1), 10_000, "a answers");
    s.toB();
    const resumed = clients.map((c) => once(c, "resumed"));
    // Messages in flight as the shutdown starts.
    const sending = Promise.all(clients.map((c, i) => c.send(`k${i}-2`)));
    const started = Date.now();
    await routeA.shutdown();
    const took = Date.now() - started;
    assert.ok(took < 3500, `shutdown took ${took} ms`);
    assert.equal(routeA.stats().connections, 0, "nothing left open on a");
    await sending;
    await deadline(Promise.all(resumed), 15_000, "every client resumed");
    await until(() => got.every((g) => g.length === 2), 10_000, "b answers");
    await delay(100);
    got.forEach((g, i) =>
      assert.deepEqual(g, [`echo:k${i}-1`, `echo:k${i}-2`])
    );
    assert.equal(log.length, 2 * n);
    await Promise.all(clients.map((c) => (c.close(), c.closed)));
    await Promise.all(readings);
    await routeB.shutdown();
  },
  40_000,
);

bounded(
  "a handler blocked in await socket.send (the client's acknowledgements held back) is handed off: the client still gets every echo once",
  async () => {
    const store = new MemorySessionStore();
    const { routeA, routeB } = routes(echo, { resume: { store } }, {
      resume: { store, maxUnacked: 4 },
      shutdownTimeout: 800,
    });
    await using s = servers(routeA, routeB);
    await using proxy = new CutProxy(s.a.addr.port);
    let url = wsUrl(proxy.port);
    const { client, got, reading } = resuming(() => url);
    let reconnecting: ClientEvent | undefined;
    client.addEventListener("reconnecting", (e) => {
      reconnecting ??= e as ClientEvent;
    });
    await once(client, "open");
    await client.send("c0");
    await until(() => got.length === 1, 5000, "a answers");
    proxy.hold();
    for (const c of numbered(20)) client.send(c);
    await delay(200);
    proxy.release();
    // The handler is now blocked: the client's acks lag one round trip.
    proxy.hold();
    await delay(200);
    url = wsUrl(s.b.addr.port);
    const resumed = once(client, "resumed");
    const stopped = routeA.shutdown();
    await delay(700);
    await proxy.release();
    await stopped;
    await deadline(resumed, 5000, "resumed on b");
    await until(() => got.length >= 21, 8000, "every echo");
    await delay(200);
    assert.equal(reconnecting?.closeInfo?.code, 1012);
    assert.deepEqual(got, ["c0", ...numbered(20)].map((c) => `echo:${c}`));
    await finish(client, reading, routeB);
  },
);

/** What {@linkcode redisHandoff} saw. */
interface RedisHandoff {
  took: number;
  left: number;
  closeCode: number | undefined;
  events: string[];
  got: string[];
}

/**
 * A hand-off from a to b over a RedisSessionStore that `fail` breaks just
 * before a's shutdown; `recover` runs once it is done, and the client then
 * sends one more message.
 */
async function redisHandoff(
  fail: (redis: RedisServer) => Promise<void>,
  recover: () => void,
): Promise<RedisHandoff> {
  await using redis = new RedisServer();
  await redis.start();
  await using storeA = await RedisSessionStore.connect({ url: redis.url });
  await using storeB = await RedisSessionStore.connect({ url: redis.url });
  const { routeA, routeB } = routes(echo, { resume: { store: storeB } }, {
    resume: { store: storeA },
    shutdownTimeout: 1000,
  });
  await using s = servers(routeA, routeB);
  const { client, got, reading } = resuming(s.url);
  const events: string[] = [];
  let closeCode: number | undefined;
  for (const type of ["open", "resumed", "reconnecting"]) {
    client.addEventListener(type, (e) => {
      events.push(type);
      if (type === "reconnecting") {
        closeCode ??= (e as ClientEvent).closeInfo?.code;
      }
    });
  }
  await firstAnswer(client, got);
  await fail(redis);
  s.toB();
  const started = Date.now();
  try {
    await routeA.shutdown();
  } finally {
    recover();
  }
  const took = Date.now() - started;
  const left = routeA.stats().connections;
  await s.a.shutdown();
  await client.send("c2");
  await until(() => got.length >= 2, 5000, "c2 answered").catch(() => {});
  await delay(100);
  await finish(client, reading, routeB);
  return { took, left, closeCode, events, got };
}

bounded(
  "a hand-off whose store was killed still ends within shutdownTimeout and closes the connection with 1012",
  async () => {
    const seen = await redisHandoff((redis) => redis.stop(), () => {});
    assert.ok(seen.took < 1500, `shutdown took ${seen.took} ms`);
    assert.equal(seen.left, 0, "nothing left open when shutdown() resolved");
    assert.equal(seen.closeCode, 1012);
  },
);

bounded(
  "a hand-off whose store hangs (redis-server stopped) still closes the connection with 1012 within shutdownTimeout, and the client resumes on the next server once the store is back",
  async () => {
    let pid = 0;
    const seen = await redisHandoff(async (redis) => {
      pid = redisPid(redis);
      Deno.kill(pid, "SIGSTOP");
      await delay(10);
    }, () => Deno.kill(pid, "SIGCONT"));
    assert.ok(seen.took < 1500, `shutdown took ${seen.took} ms`);
    assert.equal(seen.left, 0, "nothing left open when shutdown() resolved");
    assert.equal(seen.closeCode, 1012);
    assert.deepEqual(seen.events, ["open", "reconnecting", "resumed"]);
    assert.deepEqual(seen.got, ["echo:c1", "echo:c2"]);
  },
);

/** The PID of a test's redis-server (by its port). */
function redisPid(redis: RedisServer): number {
  const out = new Deno.Command("pgrep", {
    args: ["-f", `redis-server.*:${redis.port}`],
  }).outputSync();
  const pid = Number(
    new TextDecoder().decode(out.stdout).trim().split("\n")[0],
  );
  assert.ok(pid > 0, "redis-server's pid");
  return pid;
}

/** A memory store whose `update` answers `ms` late (a slow store). */
class SlowUpdateStore extends MemorySessionStore {
  updateDelay = 0;
  override async update(
    ...args: Parameters<MemorySessionStore["update"]>
  ): Promise<boolean> {
    const answer = super.update(...args);
    await delay(this.updateDelay);
    return answer;
  }
}

bounded(
  "a handler's first send while its session is being stored for the hand-off is not lost silently: it rejects, or the client gets it",
  async () => {
    const store = new SlowUpdateStore();
    let first: "resolved" | "rejected" | undefined;
    const routeA = route("/ws", async (socket) => {
      await delay(150);
      await socket.send("hello").then(
        () => first = "resolved",
        () => first = "rejected",
      );
      await socket.closed;
    }, { resume: { store } });
    const routeB = route("/ws", echo("b", [], []), { resume: { store } });
    await using s = servers(routeA, routeB);
    const { client, got, reading } = resuming(s.url);
    await once(client, "open");
    const resumed = once(client, "resumed");
    await delay(50);
    s.toB();
    store.updateDelay = 300;
    await routeA.shutdown();
    store.updateDelay = 0;
    const event = await deadline(resumed, 5000, "resumed on b");
    await until(() => first !== undefined, 5000, "the send settled");
    await delay(100);
    assert.ok(
      first === "rejected" || got.includes("hello") || event.missed! > 0,
      `the send ${first}, the client got ${
        JSON.stringify(got)
      }, missed ${event.missed}`,
    );
    await finish(client, reading, routeB);
  },
);
