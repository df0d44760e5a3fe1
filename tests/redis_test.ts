import assert from "node:assert/strict";
import { Hub } from "../src/hub.ts";
import {
  RedisBackplane,
  type RedisBackplaneError,
  type RedisBackplaneOptions,
} from "../src/backplane/redis.ts";
import { closeEvent, collect, delay, open } from "./_helpers.ts";
import { freePort, RedisServer, until } from "./_redis.ts";
import { ServerProcess } from "./_server_process.ts";

const FIXTURE = new URL("./fixtures/hub_server.ts", import.meta.url).pathname;

interface State {
  connected: boolean;
  buffered: number;
  dropped: number;
  errors: string[];
}

/** A `deno run` hub server process (tests/fixtures/hub_server.ts). */
class HubServer implements AsyncDisposable {
  readonly #process: ServerProcess;

  private constructor(process: ServerProcess) {
    this.#process = process;
  }

  static async start(redisUrl: string, ...extra: string[]): Promise<HubServer> {
    return new HubServer(
      await ServerProcess.start(FIXTURE, ["--redis", redisUrl, ...extra]),
    );
  }

  url(room: string): string {
    return `ws://127.0.0.1:${this.#process.port}/ws?room=${room}`;
  }

  state(): Promise<State> {
    return this.#process.json("/state");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#process[Symbol.asyncDispose]();
  }
}

async function closeAll(clients: WebSocket[]): Promise<void> {
  await Promise.all(clients.map((ws) => {
    const closed = closeEvent(ws);
    ws.close();
    return closed;
  }));
}

Deno.test("two server processes on one Redis relay a room's broadcasts both ways", async () => {
  await using redis = new RedisServer();
  await redis.start();
  await using a = await HubServer.start(redis.url);
  await using b = await HubServer.start(redis.url);
  const alice = await open(a.url("lobby"));
  const bob = await open(b.url("lobby"));
  const elsewhere = await open(b.url("other"));
  let strays = 0;
  elsewhere.onmessage = () => strays++;

  const toBob = collect(bob, 1);
  alice.send("hello from a");
  assert.deepEqual(await toBob, ["hello from a"]);
  const toAlice = collect(alice, 1);
  bob.send("hello from b");
  assert.deepEqual(await toAlice, ["hello from b"]);
  await delay(50);
  assert.equal(strays, 0, "a client in another room got a message");
  await closeAll([alice, bob, elsewhere]);
});

Deno.test("a Redis restart mid-stream: the hubs recover, buffered messages arrive in order, overflow is counted and reported", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const flags = ["--max-buffered", "5", "--resend-delay", "500"];
  await using a = await HubServer.start(redis.url, ...flags);
  await using b = await HubServer.start(redis.url, ...flags);
  const alice = await open(a.url("r"));
  const carol = await open(a.url("r")); // local to alice's server
  const bob = await open(b.url("r"));

  const before = [collect(bob, 3), collect(carol, 3)];
  for (let i = 0; i < 3; i++) alice.send(`before-${i}`);
  for (const got of await Promise.all(before)) {
    assert.deepEqual(got, ["before-0", "before-1", "before-2"]);
  }

  await redis.stop();
  await until(
    "both hubs see Redis gone",
    async () => !(await a.state()).connected && !(await b.state()).connected,
  );

  // Local rooms keep working while Redis is away.
  const local = collect(carol, 8);
  for (let i = 0; i < 8; i++) alice.send(`during-${i}`);
  assert.deepEqual(
    await local,
    Array.from({ length: 8 }, (_, i) => `during-${i}`),
  );
  await until("a buffers 5 and drops 3", async () => {
    const state = await a.state();
    return state.buffered === 5 && state.dropped === 3;
  });

  const resent = collect(bob, 6);
  await redis.start();
  await until("both hubs reconnect and a resends", async () => {
    const [sa, sb] = [await a.state(), await b.state()];
    return sa.connected && sb.connected && sa.buffered === 0;
  });
  alice.send("after");
  assert.deepEqual(await resent, [
    "during-0",
    "during-1",
    "during-2",
    "during-3",
    "during-4",
    "after",
  ]);
  const back = collect(alice, 1);
  bob.send("b is back");
  assert.deepEqual(await back, ["b is back"]);

  const { errors, dropped } = await a.state();
  assert.equal(dropped, 3);
  assert.ok(errors.some((e) => e.startsWith("Lost the connection to Redis")));
  assert.ok(errors.some((e) => e.startsWith("Dropping messages")));
  assert.ok(errors.some((e) => e.includes("3 messages were dropped")));
  await closeAll([alice, carol, bob]);
});

Deno.test("1,000 messages fan out to 200 clients across two processes, none lost, in order per sender", async () => {
  await using redis = new RedisServer();
  await redis.start();
  await using a = await HubServer.start(redis.url);
  await using b = await HubServer.start(redis.url);
  const clients: WebSocket[] = [];
  for (let i = 0; i < 100; i++) {
    clients.push(await open(a.url("fan")), await open(b.url("fan")));
  }
  const PER_SENDER = 500;
  const [senderA, senderB] = [clients[0]!, clients[1]!];
  const done = Promise.all(clients.map((ws) => {
    const next = { A: 0, B: 0 };
    const expected = ws === senderA || ws === senderB
      ? PER_SENDER
      : 2 * PER_SENDER;
    let got = 0;
    return new Promise<void>((resolve, reject) => {
      ws.onmessage = (event) => {
        const [from, n] = String(event.data).split(":") as ["A" | "B", string];
        if (Number(n) !== next[from]) {
          reject(new Error(`from ${from}: got ${n}, expected ${next[from]}`));
        }
        next[from]++;
        if (++got === expected) resolve();
      };
    });
  }));
  for (let i = 0; i < PER_SENDER; i++) {
    senderA.send(`A:${i}`);
    senderB.send(`B:${i}`);
  }
  await done;
  await closeAll(clients);
});

Deno.test("RedisBackplane carries messages between two hubs in one process", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const errors: RedisBackplaneError[] = [];
  const onError = (error: RedisBackplaneError) => errors.push(error);
  await using one = await RedisBackplane.connect({ url: redis.url, onError });
  await using two = await RedisBackplane.connect({ url: redis.url, onError });
  const seen: string[] = [];
  const stop = await two.subscribe("c", (message) => seen.push(message));
  for (let i = 0; i < 5; i++) one.publish("c", `m${i}`);
  await until("five messages", () => seen.length === 5);
  assert.deepEqual(seen, ["m0", "m1", "m2", "m3", "m4"]);
  await stop();
  await using hub = new Hub({ backplane: one });
  await hub.ready;
  assert.ok(one.connected);
  assert.equal(errors.length, 0);
  await assert.rejects(
    RedisBackplane.connect({ url: redis.url, maxBuffered: 0 }),
    RangeError,
  );
});

/** Rejects if `promise` has not settled within `ms` (so a hang fails). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still pending after ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with what `promise` rejects with; fails if it fulfils. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

Deno.test("connect() to a port where nothing listens rejects after connectTimeout, naming the URL without its password and the cause", async () => {
  const port = freePort();
  const errors: RedisBackplaneError[] = [];
  const startedAt = performance.now();
  const error = await within(
    5_000,
    rejection(RedisBackplane.connect({
      url: `redis://someone:s3cret@127.0.0.1:${port}`,
      connectTimeout: 500,
      onError: (error) => errors.push(error),
    })),
  );
  const took = performance.now() - startedAt;
  assert.ok(error instanceof Error);
  assert.ok(error.cause instanceof Error, "the client's error is the cause");
  assert.match(error.cause.message, /^connect ECONNREFUSED/);
  assert.equal(
    error.message,
    `Cannot reach Redis at redis://someone@127.0.0.1:${port} within 500 ms: ${error.cause.message}`,
  );
  assert.ok(!error.message.includes("s3cret"));
  assert.ok(took >= 450 && took < 3_000, `rejected after ${took} ms`);
  // It never had a connection: nothing about losing one.
  assert.deepEqual(errors.map((e) => e.message), []);
});

Deno.test("connect() to a server that accepts but never answers rejects after connectTimeout and closes its sockets", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      // Read until the client hangs up, answering nothing.
      held.push(conn.readable.pipeTo(new WritableStream()).catch(() => {}));
    }
  })();
  const url = `redis://127.0.0.1:${listener.addr.port}`;
  const error = await within(
    5_000,
    rejection(RedisBackplane.connect({ url, connectTimeout: 400 })),
  );
  assert.ok(error instanceof Error);
  assert.equal(
    error.message,
    `Cannot reach Redis at ${url} within 400 ms: no answer`,
  );
  assert.ok(held.length >= 2, `${held.length} connections reached us`);
  // Both clients hung up on us: the reads end.
  await within(2_000, Promise.all(held));
  listener.close();
  await accepting.catch(() => {});
});

Deno.test("connect() stops when its signal aborts and rejects with the signal's reason", async () => {
  const url = `redis://127.0.0.1:${freePort()}`;
  const controller = new AbortController();
  const reason = new Error("the app is stopping");
  const startedAt = performance.now();
  const connecting = rejection(RedisBackplane.connect({
    url,
    signal: controller.signal,
  }));
  await delay(300);
  controller.abort(reason);
  assert.equal(await within(2_000, connecting), reason);
  const took = performance.now() - startedAt;
  assert.ok(took < 2_000, `rejected ${took} ms after connect()`);

  const aborted = AbortSignal.abort();
  const early = await rejection(
    RedisBackplane.connect({ url, signal: aborted }),
  );
  assert.equal(early, aborted.reason);
  assert.equal((early as Error).name, "AbortError");
});

Deno.test("connect() waits for a Redis that starts within connectTimeout", async () => {
  await using redis = new RedisServer();
  const connecting = RedisBackplane.connect({
    url: redis.url,
    connectTimeout: 8_000,
  });
  await delay(400);
  await redis.start();
  await using backplane = await within(9_000, connecting);
  assert.ok(backplane.connected);
  const seen: string[] = [];
  await backplane.subscribe("up", (message) => seen.push(message));
  backplane.publish("up", "hello");
  await until("the message", () => seen.length === 1);
});

Deno.test("RedisBackplane.connect() option errors name the option", async () => {
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp | string][] =
    [
      [
        { url: "http://127.0.0.1:6379" },
        TypeError,
        /^Invalid url: .*redis:\/\//,
      ],
      [{ url: "not a url" }, TypeError, /^Invalid url: /],
      [{ url: 6379 }, TypeError, /^Invalid url: /],
      [
        { resendDelay: "500" },
        TypeError,
        "Invalid resendDelay: expected a number of milliseconds, got string",
      ],
      [{ resendDelay: -1 }, RangeError, /^Invalid resendDelay: /],
      [{ connectTimeout: "5000" }, TypeError, /^Invalid connectTimeout: /],
      [{ connectTimeout: 0 }, RangeError, /^Invalid connectTimeout: /],
      [{ connectTimeout: 2 ** 31 }, RangeError, /^Invalid connectTimeout: /],
      [
        { maxReconnectDelay: 3_600_000_000 },
        RangeError,
        /^Invalid maxReconnectDelay: /,
      ],
      [{ signal: "stop" }, TypeError, /^Invalid signal: /],
      [{ maxBuffered: 0 }, RangeError, /^Invalid maxBuffered: /],
    ];
  for (const [options, type, message] of cases) {
    const error = await rejection(
      RedisBackplane.connect(options as RedisBackplaneOptions),
    );
    assert.ok(error instanceof type, `${JSON.stringify(options)}: ${error}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
  }
  // The password of a URL that is refused is not repeated.
  const error = await rejection(
    RedisBackplane.connect({ url: "http://me:s3cret@127.0.0.1:6379" }),
  );
  assert.ok(!(error as Error).message.includes("s3cret"));
});

Deno.test("after an outage with a full buffer, the dropped total reported matches backplane.dropped, and nothing says Redis is unreachable once it is back", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const reports: { message: string; dropped: number }[] = [];
  await using backplane = await RedisBackplane.connect({
    url: redis.url,
    maxBuffered: 100,
    maxReconnectDelay: 100,
    resendDelay: 600,
    onError: ({ message, dropped }) => reports.push({ message, dropped }),
  });
  // Steady publishing, one message every 10 ms, across the whole outage.
  let n = 0;
  const publisher = setInterval(
    () => backplane.publish("steady", `m${n++}`),
    10,
  );
  try {
    await delay(200);
    await redis.stop();
    await until("the loss is seen", () => !backplane.connected);
    await delay(2_000);
    assert.ok(backplane.dropped > 0, "the buffer filled and messages dropped");
    await redis.start();
    await until("reconnected", () => backplane.connected);
    const reconnectedAt = reports.length;
    await until("the buffer is resent", () => backplane.buffered === 0);
    await delay(200);
    clearInterval(publisher);
    // Drops went on during the resend wait, so the count grew after the
    // connection was back; the report must include them.
    const totals = reports.flatMap(({ message }) => {
      const found = /(\d+) messages were dropped while it was unreachable/
        .exec(message);
      return found ? [Number(found[1])] : [];
    });
    assert.deepEqual(totals, [backplane.dropped], JSON.stringify(reports));
    const unreachable = reports.filter(({ message }) =>
      message.includes("Redis is unreachable")
    );
    assert.equal(unreachable.length, 1, JSON.stringify(reports));
    assert.ok(
      !reports.slice(reconnectedAt).some(({ message }) =>
        message.startsWith("Dropping messages")
      ),
      JSON.stringify(reports),
    );
  } finally {
    clearInterval(publisher);
  }
});

Deno.test("with the default delays, resent messages wait longer than maxReconnectDelay, so a server that reconnects one attempt later still gets them", async () => {
  await using redis = new RedisServer();
  await redis.start();
  const quiet = () => {};
  await using sender = await RedisBackplane.connect({
    url: redis.url,
    onError: quiet,
  });
  await using receiver = await RedisBackplane.connect({
    url: redis.url,
    onError: quiet,
  });
  const seen: { message: string; at: number }[] = [];
  await receiver.subscribe(
    "late",
    (message) => seen.push({ message, at: performance.now() }),
  );
  await redis.stop();
  await until("the loss is seen", () => !sender.connected);
  for (let i = 0; i < 5; i++) sender.publish("late", `m${i}`);
  // Long enough for the waits between attempts to reach maxReconnectDelay.
  await delay(2_500);
  await redis.start();
  await until("the sender reconnects", () => sender.connected, 5_000);
  const backAt = performance.now();
  await until("the receiver gets the resent messages", () => seen.length === 5);
  assert.deepEqual(seen.map((s) => s.message), ["m0", "m1", "m2", "m3", "m4"]);
  const waited = seen[0]!.at - backAt;
  assert.ok(waited >= 1_000, `resent ${waited} ms after reconnecting`);
});
