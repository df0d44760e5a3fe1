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
import type { ClientEvent } from "../src/client/events.ts";
import { Balancer } from "../examples/balancer.ts";
import { RedisServer, until as poll } from "./_redis.ts";
import { Node } from "./_cluster.ts";
import { CutProxy } from "./_cut_proxy.ts";
import {
  BOTH,
  deadline,
  delay,
  fast,
  once,
  until,
} from "./_session_helpers.ts";

/** A client's messages, read in the background. */
function reader(client: Client): string[] {
  const got: string[] = [];
  (async () => {
    for await (const msg of client) got.push(String(msg.data));
  })();
  return got;
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

for (const transport of BOTH) {
  Deno.test(
    `a session resumes on another server after a kill -9: the handler runs again with socket.session.resumed, nothing is lost or doubled (${transport})`,
    () =>
      deadline(
        (async () => {
          await using redis = new RedisServer();
          await redis.start();
          await using a = new Node("a", ["--redis", redis.url]);
          await using b = new Node("b", ["--redis", redis.url]);
          await Promise.all([a.start(), b.start()]);
          await using balancer = new Balancer([a.port, b.port]);
          const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
            ...fast,
            resume: true,
            transports: [transport],
          });
          const got = reader(client);
          await once(client, "open");
          for (let i = 1; i <= 50; i++) client.send(`m${i}`);
          await until(() => got.length === 51, 5000, "50 echoes from a");
          const id = client.session?.id;
          // Acknowledgements are stored within ~50 ms.
          await delay(300);
          const resumed = once(client, "resumed");
          await a.kill();
          const event = await deadline(resumed, 5000, "resumed on b");
          assert.equal((event as ClientEvent).missed, 0);
          assert.equal(client.session?.id, id);
          for (let i = 51; i <= 100; i++) client.send(`m${i}`);
          await until(() => got.length === 102, 5000, "50 echoes from b");
          assert.deepEqual(starts(got), [
            { server: "a", resumed: false },
            { server: "b", resumed: true },
          ]);
          const echoes = got.filter((m) => m.startsWith("echo:"));
          assert.deepEqual(
            echoes,
            Array.from({ length: 100 }, (_, i) => `echo:m${i + 1}`),
          );
          client.close();
          await client.closed;
        })(),
        30_000,
        "cluster resume",
      ),
  );
}

for (const transport of BOTH) {
  Deno.test(
    `a server stopped with SIGTERM hands its sessions off: the client resumes on another with nothing missed, each message once both ways (${transport})`,
    () =>
      deadline(
        (async () => {
          await using redis = new RedisServer();
          await redis.start();
          await using a = new Node("a", ["--redis", redis.url]);
          await using b = new Node("b", ["--redis", redis.url]);
          await Promise.all([a.start(), b.start()]);
          let url = `ws://127.0.0.1:${a.port}/ws`;
          const client = connect(() => url, {
            ...fast,
            resume: true,
            transports: [transport],
          });
          const reconnecting = once(client, "reconnecting");
          const got = reader(client);
          await once(client, "open");
          for (let i = 1; i <= 50; i++) client.send(`m${i}`);
          // Ticks from a while it stops: none may be missed.
          client.send("stream:2000:0");
          await until(() => got.length >= 60, 5000, "a answers");
          const resumed = once(client, "resumed");
          url = `ws://127.0.0.1:${b.port}/ws`;
          for (let i = 51; i <= 100; i++) client.send(`m${i}`);
          assert.equal(await a.stop(), 0);
          const event = await deadline(resumed, 5000, "resumed on b");
          assert.equal((event as ClientEvent).missed, 0);
          assert.equal(
            (await reconnecting as ClientEvent).closeInfo?.code,
            1012,
          );
          await until(
            () => got.filter((m) => m.startsWith("echo:")).length >= 100,
            5000,
            "100 echoes",
          );
          await delay(200);
          assert.deepEqual(starts(got), [
            { server: "a", resumed: false },
            { server: "b", resumed: true },
          ]);
          assert.deepEqual(
            got.filter((m) => m.startsWith("echo:")),
            Array.from({ length: 100 }, (_, i) => `echo:m${i + 1}`),
          );
          // The ticks a sent before it stopped came once each, in order.
          const ticks = got.filter((m) => m.startsWith("tick:"));
          assert.ok(ticks.length > 0);
          assert.deepEqual(
            ticks,
            Array.from({ length: ticks.length }, (_, i) => `tick:${i + 1}`),
          );
          client.close();
          await client.closed;
        })(),
        30_000,
        "cluster handoff",
      ),
  );
}

Deno.test(
  "fencing: a frozen server whose session resumed elsewhere writes nothing for it once thawed and ends its handler's run with 4409",
  () =>
    deadline(
      (async () => {
        await using redis = new RedisServer();
        await redis.start();
        await using a = new Node("a", ["--redis", redis.url]);
        await using b = new Node("b", ["--redis", redis.url]);
        await Promise.all([a.start(), b.start()]);
        await using balancer = new Balancer([a.port, b.port]);
        const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
          ...fast,
          resume: true,
        });
        const got = reader(client);
        await once(client, "open");
        for (let i = 1; i <= 10; i++) client.send(`m${i}`);
        await until(() => got.length === 11, 5000, "10 echoes from a");
        const id = client.session?.id;
        // Once stored (~50 ms), acknowledged messages are not replayed.
        await delay(300);
        a.signal("SIGSTOP");
        const resumed = once(client, "resumed");
        balancer.cut();
        await deadline(resumed, 5000, "resumed on b while a is frozen");
        for (let i = 11; i <= 20; i++) client.send(`m${i}`);
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
        client.send("m21");
        await until(() => got.length === 23, 5000, "an echo from b");
        assert.deepEqual(starts(got), [
          { server: "a", resumed: false },
          { server: "b", resumed: true },
        ]);
        assert.deepEqual(
          got.filter((m) => m.startsWith("echo:")),
          Array.from({ length: 21 }, (_, i) => `echo:m${i + 1}`),
        );
        client.close();
        await client.closed;
      })(),
      30_000,
      "fencing",
    ),
);

Deno.test(
  "messages only a killed server held are counted: the resumed event says how many positions the client missed",
  () =>
    deadline(
      (async () => {
        await using redis = new RedisServer();
        await redis.start();
        await using a = new Node("a", ["--redis", redis.url]);
        await using b = new Node("b", ["--redis", redis.url]);
        await Promise.all([a.start(), b.start()]);
        await using balancer = new Balancer([a.port, b.port]);
        await using proxy = new CutProxy(balancer.port);
        const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
          ...fast,
          resume: true,
        });
        const got = reader(client);
        await once(client, "open");
        client.send("stream:100:300");
        // Its acknowledgement comes back; then the network goes silent while
        // a sends 100 messages, and a dies with them.
        await delay(150);
        proxy.hold();
        await delay(600);
        await a.kill();
        const resumed = once(client, "resumed");
        proxy.cut();
        await proxy.release();
        const event = await deadline(resumed, 5000, "resumed on b");
        assert.equal((event as ClientEvent).missed, 100);
        client.send("after");
        await until(() => got.includes("echo:after"), 5000, "b answers");
        assert.equal(got.filter((m) => m.startsWith("tick:")).length, 0);
        client.close();
        await client.closed;
      })(),
      30_000,
      "missed",
    ),
);

Deno.test(
  "a resume on the same server with a shared store: what the client replays past the stored count is dropped by sequence, nothing doubles",
  () =>
    deadline(
      (async () => {
        await using redis = new RedisServer();
        await redis.start();
        await using a = new Node("a", ["--redis", redis.url]);
        await a.start();
        await using balancer = new Balancer([a.port]);
        const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
          ...fast,
          resume: true,
        });
        const got = reader(client);
        await once(client, "open");
        for (let round = 0; round < 5; round++) {
          for (let i = 1; i <= 20; i++) client.send(`m${round * 20 + i}`);
          // Cut before the acknowledgements are stored: the client replays.
          await delay(5 * round);
          const resumed = once(client, "resumed");
          balancer.cut();
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
      })(),
      30_000,
      "same server",
    ),
);

Deno.test(
  "a Redis restart without persistence loses no session: the owners store them again, and a kill -9 afterwards still resumes elsewhere",
  () =>
    deadline(
      (async () => {
        await using redis = new RedisServer();
        await redis.start();
        await using a = new Node("a", ["--redis", redis.url]);
        await using b = new Node("b", ["--redis", redis.url]);
        await Promise.all([a.start(), b.start()]);
        await using balancer = new Balancer([a.port, b.port]);
        const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
          ...fast,
          resume: true,
        });
        const got = reader(client);
        await once(client, "open");
        for (let i = 1; i <= 10; i++) client.send(`m${i}`);
        await until(() => got.length === 11, 5000, "10 echoes");
        await redis.stop();
        await delay(300);
        await redis.start();
        for (let i = 11; i <= 20; i++) client.send(`m${i}`);
        await until(() => got.length === 21, 10_000, "10 echoes after");
        const id = client.session?.id;
        await poll(
          "the session stored again",
          async () => await stored(redis.port, id!, "received") === "20",
        );
        // Quiet for 100 ms: the reservation is given back, missed is exact.
        await delay(300);
        const resumed = once(client, "resumed");
        await a.kill();
        const event = await deadline(resumed, 5000, "resumed on b");
        assert.equal((event as ClientEvent).missed, 0);
        client.send("m21");
        await until(() => got.length === 23, 5000, "b answers");
        assert.deepEqual(starts(got), [
          { server: "a", resumed: false },
          { server: "b", resumed: true },
        ]);
        assert.deepEqual(
          got.filter((m) => m.startsWith("echo:")),
          Array.from({ length: 21 }, (_, i) => `echo:m${i + 1}`),
        );
        client.close();
        await client.closed;
      })(),
      30_000,
      "redis restart",
    ),
);
