import assert from "node:assert/strict";
import { Hub } from "../src/hub.ts";
import {
  RedisBackplane,
  type RedisBackplaneError,
} from "../src/backplane/redis.ts";
import { closeEvent, collect, delay, open } from "./_helpers.ts";

const FIXTURE = new URL("./fixtures/hub_server.ts", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Polls `check` every 25 ms for up to `ms`; throws `what` on timeout. */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await delay(25);
  }
}

/** A redis-server of our own on a fixed port, without persistence. */
class RedisServer implements AsyncDisposable {
  #child: Deno.ChildProcess | undefined;
  readonly port: number;

  constructor(port = freePort()) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--save",
        "",
        "--appendonly",
        "no",
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await until(`redis-server on ${this.port}`, async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port }))
          .close();
        return true;
      } catch {
        return false;
      }
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    child.kill("SIGKILL");
    await child.status;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

interface State {
  connected: boolean;
  buffered: number;
  dropped: number;
  errors: string[];
}

/** A `deno run` hub server process (tests/fixtures/hub_server.ts). */
class HubServer implements AsyncDisposable {
  #child: Deno.ChildProcess;
  readonly port: number;

  private constructor(child: Deno.ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }

  static async start(redisUrl: string, ...extra: string[]): Promise<HubServer> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", FIXTURE, "--redis", redisUrl, ...extra],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the hub server exited before listening");
      text += value;
    }
    await reader.cancel();
    return new HubServer(child, JSON.parse(text.split("\n")[0]!).port);
  }

  url(room: string): string {
    return `ws://127.0.0.1:${this.port}/ws?room=${room}`;
  }

  async state(): Promise<State> {
    const response = await fetch(`http://127.0.0.1:${this.port}/state`);
    return await response.json();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#child.kill("SIGTERM");
    await this.#child.status;
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
