/**
 * `resume.store` in one process: two routes that share a MemorySessionStore
 * take each other's sessions over, with the fencing of the Redis store.
 */

import assert from "node:assert/strict";
import { MemorySessionStore, route, type Socket } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { Balancer } from "../examples/balancer.ts";
import { deadline, fast, once, until } from "./_session_helpers.ts";
import { authRoute, token } from "./_auth_helpers.ts";
import { RESUME_PROTOCOL } from "../src/session/wire.ts";
import { RpcPeer } from "../src/rpc/mod.ts";

Deno.test("resume.store must be a session store: a TypeError names the option", () => {
  assert.throws(
    () => route("/ws", () => {}, { resume: { store: {} as never } }),
    (error: unknown) =>
      error instanceof TypeError && /resume\.store/.test(error.message),
  );
});

Deno.test(
  "two routes sharing a MemorySessionStore: a client that reaches the other one resumes there, its handler runs again with socket.session.resumed, and the first run ends with 4409",
  () =>
    deadline(
      (async () => {
        const store = new MemorySessionStore();
        const runs: { server: string; resumed: boolean; code?: number }[] = [];
        const handler = (server: string) => async (socket: Socket) => {
          const run: (typeof runs)[number] = {
            server,
            resumed: socket.session!.resumed,
          };
          runs.push(run);
          for await (const msg of socket) {
            await socket.send(`${server}:${msg.data}`);
          }
          run.code = (await socket.closed).code;
        };
        await using a = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          route("/ws", handler("a"), { resume: { store } }),
        );
        await using b = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          route("/ws", handler("b"), { resume: { store } }),
        );
        await using balancer = new Balancer([a.addr.port, b.addr.port]);
        const client = connect(`ws://127.0.0.1:${balancer.port}/ws`, {
          ...fast,
          resume: true,
        });
        const got: string[] = [];
        (async () => {
          for await (const msg of client) got.push(String(msg.data));
        })();
        await once(client, "open");
        client.send("1");
        await until(() => got.length === 1, 5000, "a answers");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const resumed = once(client, "resumed");
        balancer.cut();
        await deadline(resumed, 5000, "resumed on b");
        client.send("2");
        await until(() => got.length === 2, 5000, "b answers");
        assert.deepEqual(got, ["a:1", "b:2"]);
        await until(() => runs[0]?.code !== undefined, 5000, "a's run ends");
        assert.deepEqual(runs, [
          { server: "a", resumed: false, code: 4409 },
          { server: "b", resumed: true },
        ]);
        client.close();
        await client.closed;
        await until(() => runs[1]?.code !== undefined, 5000, "b's run ends");
      })(),
      20_000,
      "memory store",
    ),
);

Deno.test(
  "a takeover needs the stored principal's subject: another user's token with a session's id gets a fresh session, and the owner keeps it",
  () =>
    deadline(
      (async () => {
        const store = new MemorySessionStore();
        await using a = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          authRoute({ resume: { store } }),
        );
        await using b = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          authRoute({ resume: { store } }),
        );
        const ann = connect(`ws://127.0.0.1:${a.addr.port}/ws`, {
          ...fast,
          resume: true,
          token: await token("ann"),
        });
        const got: string[] = [];
        (async () => {
          for await (const msg of ann) got.push(String(msg.data));
        })();
        await once(ann, "open");
        await until(() => got.length === 1, 5000, "hello ann");
        const id = ann.session!.id;
        const eve = new WebSocket(
          `ws://127.0.0.1:${b.addr.port}/ws?access_token=${await token(
            "eve",
          )}`,
          [RESUME_PROTOCOL],
        );
        const greeting = new Promise<string>((resolve) =>
          eve.addEventListener("message", (e) => resolve(String(e.data)), {
            once: true,
          })
        );
        await new Promise((resolve) =>
          eve.addEventListener("open", resolve, { once: true })
        );
        eve.send(`\0R${JSON.stringify({ id, received: 1 })}`);
        const hello = JSON.parse((await greeting).slice(2));
        assert.equal(hello.resumed, false);
        assert.notEqual(hello.id, id);
        const eveClosed = new Promise((resolve) =>
          eve.addEventListener("close", resolve, { once: true })
        );
        eve.close();
        await eveClosed;
        // ann's server writes its acknowledgement: not refused, ann stays.
        ann.send("still mine");
        await until(() => got.length === 2, 5000, "ann's echo");
        await new Promise((resolve) => setTimeout(resolve, 300));
        ann.send("and still");
        await until(() => got.length === 3, 5000, "ann's second echo");
        assert.equal(ann.state, "open");
        assert.deepEqual(got, [
          "hello ann",
          "still mine as ann",
          "and still as ann",
        ]);
        ann.close();
        await ann.closed;
      })(),
      20_000,
      "subject",
    ),
);

Deno.test(
  "an RPC peer over a session in a shared store acknowledges what it serves: the client's replay buffer does not fill up",
  () =>
    deadline(
      (async () => {
        const store = new MemorySessionStore();
        const ws = route("/ws", async (socket) => {
          // The peer serves messages from the socket's sink, not its loop.
          await new RpcPeer(socket, { methods: { echo: (p: unknown) => p } })
            .closed;
        }, { resume: { store } });
        await using server = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen() {} },
          ws,
        );
        const client = connect(`ws://127.0.0.1:${server.addr.port}/ws`, {
          ...fast,
          resume: { maxUnacked: 20 },
        });
        const got: string[] = [];
        const reading = (async () => {
          for await (const msg of client) got.push(String(msg.data));
        })();
        await once(client, "open");
        for (let id = 1; id <= 100; id++) {
          await client.send(
            JSON.stringify({
              jsonrpc: "2.0",
              id,
              method: "echo",
              params: [id],
            }),
          );
        }
        await until(() => got.length === 100, 5000, "100 answers");
        await until(() => client.session!.acked >= 80, 5000, "acknowledged");
        assert.deepEqual(
          got.map((text) => JSON.parse(text).id),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        client.close();
        await client.closed;
        await reading;
        await ws.shutdown();
      })(),
      20_000,
      "rpc over a stored session",
    ),
);
