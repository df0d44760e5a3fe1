/**
 * examples/cluster.ts: redis-server, three chat servers and the round-robin
 * balancer; two chat clients on different servers talk, one server is
 * killed (kill -9), its client resumes on another and the talk goes on;
 * another is stopped with SIGTERM and hands its client's session off.
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import type { Client } from "../src/client/mod.ts";
import { deadline, fast, once, until } from "./_session_helpers.ts";

/** The texts of the chat lines a client gets. */
function lines(client: Client): string[] {
  const got: string[] = [];
  (async () => {
    for await (const msg of client) {
      const event = JSON.parse(String(msg.data));
      if (event.type === "message") got.push(`${event.name}: ${event.text}`);
    }
  })();
  return got;
}

Deno.test(
  "examples/cluster.ts serves a chat through its balancer, a client of a killed server carries on on another, and one of a server stopped with SIGTERM resumes on another",
  () =>
    deadline(
      (async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-net",
            "--allow-read",
            "--allow-run",
            "--allow-env",
            new URL("../examples/cluster.ts", import.meta.url).pathname,
            "--port",
            "0",
          ],
          stdout: "piped",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream())
          .getReader();
        let out = "";
        while (!out.includes("Cluster at")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`cluster.ts ended: ${out}`);
          out += value;
        }
        const url = out.match(/Cluster at http:\/\/([\d.:]+)\//)![1];
        const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
        assert.equal(pids.length, 3);
        const clients: Client[] = [];
        try {
          const ann = connect(`ws://${url}/ws?room=lobby&name=ann`, {
            ...fast,
            resume: true,
          });
          const bob = connect(`ws://${url}/ws?room=lobby&name=bob`, {
            ...fast,
            resume: true,
          });
          clients.push(ann, bob);
          const bobGot = lines(bob);
          await Promise.all([once(ann, "open"), once(bob, "open")]);
          ann.send("hi");
          await until(() => bobGot.includes("ann: hi"), 5000, "bob hears ann");
          // Round robin: ann is on the first server, bob on the second.
          const resumed = once(bob, "resumed");
          Deno.kill(pids[1]!, "SIGKILL");
          await deadline(resumed, 5000, "bob resumed on another server");
          ann.send("still there?");
          await until(
            () => bobGot.includes("ann: still there?"),
            5000,
            "bob hears ann again",
          );
          // A rolling deploy stops ann's server with SIGTERM: it hands her
          // session off through Redis, and she resumes on the third.
          const annResumed = once(ann, "resumed");
          Deno.kill(pids[0]!, "SIGTERM");
          const moved = await deadline(annResumed, 8000, "ann resumed");
          assert.equal(moved.moved, true);
          assert.equal(moved.missed, 0);
          ann.send("and now?");
          await until(
            () => bobGot.includes("ann: and now?"),
            5000,
            "bob hears ann from the third server",
          );
        } finally {
          for (const client of clients) client.close();
          await Promise.all(clients.map((client) => client.closed));
          await reader.cancel();
          child.kill("SIGTERM");
          await child.status;
        }
      })(),
      30_000,
      "cluster example",
    ),
);
