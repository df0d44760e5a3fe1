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
import { RedisServer } from "./_redis.ts";
import { Node } from "./_cluster.ts";
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
