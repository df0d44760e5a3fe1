/**
 * Sessions that survive a server: several server processes with resume on a
 * RedisSessionStore (a real redis-server of the test's own) behind the
 * example's round-robin balancer. A killed (kill -9) or frozen (SIGSTOP)
 * server's clients resume on another; the handler runs again with
 * `socket.session.resumed`.
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import type { Client } from "../src/client/mod.ts";
import type { Transport } from "../src/message.ts";
import { until as poll } from "./_redis.ts";
import { cluster } from "./_cluster.ts";
import { CutProxy } from "./_cut_proxy.ts";
import {
  BOTH,
  bounded,
  collect,
  deadline,
  delay,
  fast,
  once,
  until,
} from "./_session_helpers.ts";

/** How long one cluster test may take. */
const BOUND = 30_000;

/**
 * A fast resuming client, open, with its messages read in the background.
 *
 * @param url Where it connects (each time).
 * @param transport Its one transport; the client's default unless told.
 */
async function open(
  url: string | (() => string),
  transport?: Transport,
): Promise<{ client: Client; got: string[] }> {
  const client = connect(url, {
    ...fast,
    resume: true,
    ...(transport === undefined ? {} : { transports: [transport] }),
  });
  const { got } = collect(client);
  await once(client, "open");
  return { client, got };
}

/** Sends m`from` to m`to`. */
function send(client: Client, from: number, to: number): void {
  for (let i = from; i <= to; i++) client.send(`m${i}`);
}

/** A field of a stored session, read with redis-cli. */
async function stored(port: number, id: string, field: string) {
  const { stdout } = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), "HGET", `switchboard:session:${id}`, field],
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

function starts(got: string[]): { server: string; resumed: boolean }[] {
  return got.filter((m) => m.startsWith("{")).map((m) => JSON.parse(m).start);
}

/**
 * The handler ran on a, then on b with `socket.session.resumed`, and the
 * echoes of m1 to m`count` came once each, in order.
 */
function assertMoved(got: string[], count: number): void {
  assert.deepEqual(starts(got), [
    { server: "a", resumed: false },
    { server: "b", resumed: true },
  ]);
  assert.deepEqual(
    got.filter((m) => m.startsWith("echo:")),
    Array.from({ length: count }, (_, i) => `echo:m${i + 1}`),
  );
}

/** b goes on after the move: it echoes m21, once, after m1 to m20. */
async function goesOn(
  client: Client,
  got: string[],
  what: string,
): Promise<void> {
  client.send("m21");
  await until(() => got.length === 23, 5000, what);
  assertMoved(got, 21);
}

for (const transport of BOTH) {
  bounded(
    `a session resumes on another server after a kill -9: the handler runs again with socket.session.resumed, nothing is lost or doubled (${transport})`,
    async () => {
      await using c = await cluster();
      const { client, got } = await open(
        `ws://127.0.0.1:${c.balancer.port}/ws`,
        transport,
      );
      send(client, 1, 50);
      await until(() => got.length === 51, 5000, "50 echoes from a");
      const id = client.session?.id;
      // Acknowledgements are stored within ~50 ms.
      await delay(300);
      const resumed = once(client, "resumed");
      await c.a.kill();
      const event = await deadline(resumed, 5000, "resumed on b");
      assert.equal(event.missed, 0);
      assert.equal(client.session?.id, id);
      send(client, 51, 100);
      await until(() => got.length === 102, 5000, "50 echoes from b");
      assertMoved(got, 100);
      client.close();
      await client.closed;
    },
    BOUND,
  );
}

for (const transport of BOTH) {
  bounded(
    `a server stopped with SIGTERM hands its sessions off: the client resumes on another with nothing missed, each message once both ways (${transport})`,
    async () => {
      await using c = await cluster(["a", "b"], false);
      let url = `ws://127.0.0.1:${c.a.port}/ws`;
      const { client, got } = await open(() => url, transport);
      const reconnecting = once(client, "reconnecting");
      send(client, 1, 50);
      // Ticks from a while it stops: none may be missed.
      client.send("stream:2000:0");
      await until(() => got.length >= 60, 5000, "a answers");
      const resumed = once(client, "resumed");
      url = `ws://127.0.0.1:${c.b.port}/ws`;
      send(client, 51, 100);
      assert.equal(await c.a.stop(), 0);
      const event = await deadline(resumed, 5000, "resumed on b");
      assert.equal(event.missed, 0);
      assert.equal((await reconnecting).closeInfo?.code, 1012);
      await until(
        () => got.filter((m) => m.startsWith("echo:")).length >= 100,
        5000,
        "100 echoes",
      );
      await delay(200);
      assertMoved(got, 100);
      // The ticks a sent before it stopped came once each, in order.
      const ticks = got.filter((m) => m.startsWith("tick:"));
      assert.ok(ticks.length > 0);
      assert.deepEqual(
        ticks,
        Array.from({ length: ticks.length }, (_, i) => `tick:${i + 1}`),
      );
      client.close();
      await client.closed;
    },
    BOUND,
  );
}

bounded(
  "fencing: a frozen server whose session resumed elsewhere writes nothing for it once thawed and ends its handler's run with 4409",
  async () => {
    await using c = await cluster();
    const { a, redis, balancer } = c;
    const { client, got } = await open(`ws://127.0.0.1:${balancer.port}/ws`);
    send(client, 1, 10);
    await until(() => got.length === 11, 5000, "10 echoes from a");
    const id = client.session?.id;
    // Once stored (~50 ms), acknowledged messages are not replayed.
    await delay(300);
    a.signal("SIGSTOP");
    const resumed = once(client, "resumed");
    balancer.cut();
    await deadline(resumed, 5000, "resumed on b while a is frozen");
    send(client, 11, 20);
    await until(() => got.length === 22, 5000, "10 echoes from b").catch(
      (e) => {
        throw new Error(`${e.message}: ${JSON.stringify(got)}`);
      },
    );
    a.signal("SIGCONT");
    await until(
      () => a.lines.some((line) => line.includes(`"ended":"${id}"`)),
      5000,
      "a's handler run ends",
    );
    const ended = a.lines.map((line) => JSON.parse(line)).find((e) =>
      e.ended === id
    );
    assert.equal(ended.code, 4409);
    assert.equal(await stored(redis.port, id!, "owner"), "b");
    assert.equal(await stored(redis.port, id!, "epoch"), "2");
    // b still owns the session: it goes on.
    await goesOn(client, got, "an echo from b");
    client.close();
    await client.closed;
  },
  BOUND,
);

bounded(
  "messages only a killed server held are counted: the resumed event says how many positions the client missed",
  async () => {
    await using c = await cluster();
    await using proxy = new CutProxy(c.balancer.port);
    const { client, got } = await open(`ws://127.0.0.1:${proxy.port}/ws`);
    client.send("stream:100:300");
    // Its acknowledgement comes back; then the network goes silent while
    // a sends 100 messages, and a dies with them.
    await delay(150);
    proxy.hold();
    await delay(600);
    await c.a.kill();
    const resumed = once(client, "resumed");
    proxy.cut();
    await proxy.release();
    const event = await deadline(resumed, 5000, "resumed on b");
    assert.equal(event.missed, 100);
    client.send("after");
    await until(() => got.includes("echo:after"), 5000, "b answers");
    assert.equal(got.filter((m) => m.startsWith("tick:")).length, 0);
    client.close();
    await client.closed;
  },
  BOUND,
);

bounded(
  "a resume on the same server with a shared store: what the client replays past the stored count is dropped by sequence, nothing doubles",
  async () => {
    await using c = await cluster(["a"]);
    const { client, got } = await open(`ws://127.0.0.1:${c.balancer.port}/ws`);
    for (let round = 0; round < 5; round++) {
      send(client, round * 20 + 1, round * 20 + 20);
      // Cut before the acknowledgements are stored: the client replays.
      await delay(5 * round);
      const resumed = once(client, "resumed");
      c.balancer.cut();
      await deadline(resumed, 5000, "resumed");
    }
    await until(() => got.length === 101, 5000, "100 echoes");
    await delay(100);
    assert.deepEqual(
      got.slice(1),
      Array.from({ length: 100 }, (_, i) => `echo:m${i + 1}`),
    );
    assert.equal(starts(got).length, 1);
    client.close();
    await client.closed;
  },
  BOUND,
);

bounded(
  "a Redis restart without persistence loses no session: the owners store them again, and a kill -9 afterwards still resumes elsewhere",
  async () => {
    await using c = await cluster();
    const { redis } = c;
    const { client, got } = await open(`ws://127.0.0.1:${c.balancer.port}/ws`);
    send(client, 1, 10);
    await until(() => got.length === 11, 5000, "10 echoes");
    await redis.stop();
    await delay(300);
    await redis.start();
    send(client, 11, 20);
    await until(() => got.length === 21, 10_000, "10 echoes after");
    const id = client.session?.id;
    await poll(
      "the session stored again",
      async () => await stored(redis.port, id!, "received") === "20",
    );
    // Quiet for 100 ms: the reservation is given back, missed is exact.
    await delay(300);
    const resumed = once(client, "resumed");
    await c.a.kill();
    const event = await deadline(resumed, 5000, "resumed on b");
    assert.equal(event.missed, 0);
    await goesOn(client, got, "b answers");
    client.close();
    await client.closed;
  },
  BOUND,
);
