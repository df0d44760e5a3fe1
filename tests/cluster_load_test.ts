/**
 * The cluster under load, with no stickiness: a fallback client whose POSTs
 * go round-robin across three servers (one TCP connection per request), and
 * 100 clients (80 WebSocket, 20 fallback-only) behind the round-robin
 * balancer while one server is killed (kill -9) and started again. Prints
 * the figures: the extra latency of a relayed POST, the resume time after
 * the crash. CLUSTER_CLIENTS=<n> runs a bigger variant.
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import type { Client } from "../src/client/mod.ts";
import type { ClientEvent } from "../src/client/events.ts";
import { cluster } from "./_cluster.ts";
import { deadline, delay, fast, once, until } from "./_session_helpers.ts";

function percentile(values: number[], p: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function figure(values: number[]): string {
  return `p50 ${percentile(values, 0.5).toFixed(2)} ms, p99 ${
    percentile(values, 0.99).toFixed(2)
  } ms (n=${values.length})`;
}

Deno.test(
  "a fallback client whose POSTs go round-robin across three servers, one TCP connection each, gets every echo exactly once and in order",
  () =>
    deadline(
      (async () => {
        await using c = await cluster(["a", "b", "c"], false);
        const ports = c.nodes.map((node) => node.port);
        let turn = 0;
        const timings: { owner: boolean; ms: number }[] = [];
        // The stream is on a; each POST goes to the next server in turn.
        const roundRobin = async (
          input: string | URL | Request,
          init?: RequestInit,
        ) => {
          if (init?.method !== "POST") return fetch(input, init);
          const url = new URL(String(input));
          const port = ports[turn++ % ports.length]!;
          url.port = String(port);
          const client = Deno.createHttpClient({});
          const started = performance.now();
          try {
            const response = await fetch(url, { ...init, client });
            const body = await response.arrayBuffer();
            timings.push({
              owner: port === ports[0],
              ms: performance.now() - started,
            });
            return new Response(body, {
              status: response.status,
              headers: response.headers,
            });
          } finally {
            client.close();
          }
        };
        const client = connect(`ws://127.0.0.1:${ports[0]}/ws`, {
          ...fast,
          resume: true,
          transports: ["sse"],
          fetch: roundRobin,
        });
        const got: string[] = [];
        (async () => {
          for await (const msg of client) got.push(String(msg.data));
        })();
        await once(client, "open");
        const count = 150;
        for (let i = 1; i <= count; i++) {
          client.send(`m${i}`);
          // One message per POST, mostly: the latency of each is measured.
          await until(() => got.length === i + 1, 5000, `echo ${i}`);
        }
        assert.deepEqual(
          got.slice(1),
          Array.from({ length: count }, (_, i) => `echo:m${i + 1}`),
        );
        const direct = timings.filter((t) => t.owner).map((t) => t.ms);
        const relayed = timings.filter((t) => !t.owner).map((t) => t.ms);
        assert.ok(relayed.length > 0 && direct.length > 0);
        console.log(`POST to the stream's server: ${figure(direct)}`);
        console.log(`POST relayed through Redis:  ${figure(relayed)}`);
        console.log(
          `extra latency of a relayed POST: p50 ${
            (percentile(relayed, 0.5) - percentile(direct, 0.5)).toFixed(2)
          } ms`,
        );
        client.close();
        await client.closed;
      })(),
      40_000,
      "round-robin POSTs",
    ),
);

const CLIENTS = Number(Deno.env.get("CLUSTER_CLIENTS") ?? 100);

/** One client of the load test and what it saw. */
interface Peer {
  client: Client;
  got: string[];
  missed: number;
  resumedAt: number[];
}

Deno.test(
  `${CLIENTS} clients (80% WebSocket, 20% fallback-only) behind the balancer while a server is killed and started again: every message answered, nothing lost without being counted, resumes timed`,
  () =>
    deadline(
      (async () => {
        await using c = await cluster(["a", "b", "c"]);
        const { nodes, balancer } = c;
        const peers: Peer[] = [];
        for (let i = 0; i < CLIENTS; i++) {
          const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
            ...fast,
            resume: true,
            transports: i % 5 === 4 ? ["sse"] : ["websocket"],
          });
          const peer: Peer = { client, got: [], missed: 0, resumedAt: [] };
          client.addEventListener("resumed", (event) => {
            peer.missed += (event as ClientEvent).missed;
            peer.resumedAt.push(performance.now());
          });
          (async () => {
            for await (const msg of client) peer.got.push(String(msg.data));
          })();
          peers.push(peer);
        }
        await Promise.all(peers.map((peer) => once(peer.client, "open")));
        const count = 40;
        let killedAt = 0;
        const chaos = (async () => {
          await delay(300);
          killedAt = performance.now();
          await nodes[1]!.kill();
          await delay(500);
          await nodes[1]!.start();
        })();
        for (let n = 1; n <= count; n++) {
          for (const peer of peers) peer.client.send(`m${n}`);
          await delay(20);
        }
        await chaos;
        const answered = (peer: Peer) =>
          new Set(peer.got.filter((m) => m.startsWith("echo:")));
        await until(
          () =>
            peers.every((peer) => answered(peer).size + peer.missed >= count),
          20_000,
          "every message answered or counted as missed",
        );
        const resumeTimes: number[] = [];
        let moved = 0;
        for (const peer of peers) {
          const echoes = peer.got.filter((m) => m.startsWith("echo:"))
            .map((m) => Number(m.slice(6)));
          // In order; a message is answered again only after a takeover
          // (what the dead server received and had not stored is replayed).
          const runs = peer.got.filter((m) => m.startsWith("{")).length;
          const firsts = echoes.filter((n, i) => echoes.indexOf(n) === i);
          assert.deepEqual(firsts, firsts.toSorted((a, b) => a - b));
          if (runs === 1) assert.equal(firsts.length, echoes.length);
          else {
            moved++;
            const after = peer.resumedAt.find((t) => t >= killedAt);
            if (after !== undefined) resumeTimes.push(after - killedAt);
          }
          // Never a silent gap: what is missing is counted.
          assert.ok(count - firsts.length <= peer.missed);
        }
        assert.ok(moved > 0, "some clients were on the killed server");
        console.log(
          `${moved} of ${CLIENTS} clients resumed on another server; resume time after the kill: ${
            figure(resumeTimes)
          }`,
        );
        for (const peer of peers) peer.client.close();
        await Promise.all(peers.map((peer) => peer.client.closed));
      })(),
      60_000,
      "load",
    ),
);
