/**
 * Authorization above the socket (issue 17): the hub's `authorizeJoin` and
 * RPC's `authorize`, from the socket's principal.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Principal, Socket } from "../mod.ts";
import { ForbiddenError, Hub } from "../src/hub.ts";
import { RpcError, RpcPeer } from "../src/rpc/mod.ts";
import { connect } from "../src/client/mod.ts";
import { deferred, serve } from "./_helpers.ts";
import { authRoute, token, type User } from "./_auth_helpers.ts";

/** A client socket with a bearer token, open. */
async function openWith(url: string, bearer: string): Promise<Socket> {
  const ws = new WebSocket(url, { headers: { authorization: bearer } });
  const socket = new Socket(ws);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  return socket;
}

Deno.test("a join authorizeJoin refuses throws a ForbiddenError and changes nothing; it sees the socket's principal", async () => {
  const asked: [string | undefined, string][] = [];
  const hub = new Hub({
    authorizeJoin: (principal, room) => {
      asked.push([principal?.sub, room]);
      return room !== "admins" || principal?.sub === "root";
    },
  });
  const outcome = deferred<
    { error: unknown; rooms: string[]; admins: string[] }
  >();
  await using server = serve(authRoute({}, (socket) => {
    const id = hub.add(socket);
    hub.join(id, "lobby");
    let error: unknown;
    try {
      hub.join(id, "admins");
    } catch (caught) {
      error = caught;
    }
    outcome.resolve({
      error,
      rooms: hub.rooms(id),
      admins: hub.members("admins"),
    });
    hub.broadcast("admins", "secret plans");
    socket.send("done");
  }));
  await using socket = await openWith(
    `${server.url}/ws`,
    `Bearer ${await token("alice")}`,
  );
  const { error, rooms, admins } = await outcome.promise;
  assert.ok(error instanceof ForbiddenError);
  assert.equal(error.name, "ForbiddenError");
  assert.equal(error.room, "admins");
  assert.match(error.message, /may not join room "admins"/);
  assert.deepEqual(rooms, ["lobby"]);
  assert.deepEqual(admins, []);
  assert.deepEqual(asked, [["alice", "lobby"], ["alice", "admins"]]);
  for await (const msg of socket) {
    assert.equal(msg.data, "done", "no broadcast to a room it is not in");
    break;
  }
  await hub.close();
});

Deno.test("authorizeJoin must decide synchronously, and must be a function", async () => {
  assert.throws(
    () => new Hub({ authorizeJoin: "admins" as never }),
    /Invalid authorizeJoin: expected a function/,
  );
  const hub = new Hub({
    authorizeJoin: (() => Promise.resolve(true)) as never,
  });
  const result = deferred<unknown>();
  await using server = serve(authRoute({}, (socket) => {
    try {
      hub.join(hub.add(socket), "lobby");
      result.resolve("joined");
    } catch (error) {
      result.resolve(error);
    }
    socket.close();
  }));
  await using _socket = await openWith(
    `${server.url}/ws`,
    `Bearer ${await token("alice")}`,
  );
  const error = await result.promise;
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /returned a promise/);
  await hub.close();
});

Deno.test("RPC: a call authorize refuses is answered -32001 Forbidden and its handler never runs; a refused notification goes to onError", async () => {
  const ran: string[] = [];
  const reported: unknown[] = [];
  const asked: [string | undefined, string][] = [];
  await using server = serve(authRoute({}, (socket) => {
    new RpcPeer(socket, {
      methods: {
        read: () => {
          ran.push("read");
          return "data";
        },
        drop: () => {
          ran.push("drop");
          return "dropped";
        },
        slowCheck: () => {
          ran.push("slowCheck");
          return "ok";
        },
      },
      authorize: (principal: Principal | undefined, method) => {
        asked.push([principal?.sub, method]);
        if (method === "slowCheck") {
          return new Promise((resolve) => setTimeout(() => resolve(false), 20));
        }
        return method !== "drop" || principal?.sub === "root";
      },
      onError: (error) => reported.push(error),
    });
  }));
  await using socket = await openWith(
    `${server.url}/ws`,
    `Bearer ${await token("alice")}`,
  );
  const peer = new RpcPeer(socket);
  assert.equal(await peer.call("read"), "data");
  for (const method of ["drop", "slowCheck"]) {
    await assert.rejects(
      peer.call(method),
      (error) =>
        error instanceof RpcError && error.code === -32001 &&
        error.message === "Forbidden",
    );
  }
  peer.notify("drop");
  assert.equal(await peer.call("read"), "data");
  assert.deepEqual(ran, ["read", "read"]);
  assert.equal(reported.length, 1);
  assert.ok(reported[0] instanceof RpcError);
  assert.equal((reported[0] as RpcError).code, -32001);
  assert.deepEqual(asked, [
    ["alice", "read"],
    ["alice", "drop"],
    ["alice", "slowCheck"],
    ["alice", "drop"],
    ["alice", "read"],
  ]);
});

Deno.test("RPC: authorize sees the principal of the latest refresh in place", async () => {
  await using server = serve(authRoute({}, (socket) => {
    new RpcPeer(socket, {
      methods: { admin: () => "granted" },
      authorize: (principal) =>
        (principal as User | undefined)?.claims.role === "admin",
    });
  }));
  let calls = 0;
  await using client = connect(`${server.url}/ws`, {
    token: () =>
      token("alice", 60_000, {
        claims: { role: ++calls === 1 ? "user" : "admin" },
      }),
  });
  const answers: string[] = [];
  const got = (async () => {
    for await (const msg of client) {
      answers.push(String(msg.data));
      if (answers.length === 2) break;
    }
  })();
  await client.send('{"jsonrpc":"2.0","id":1,"method":"admin"}');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await client.refreshToken();
  await client.send('{"jsonrpc":"2.0","id":2,"method":"admin"}');
  await got;
  assert.deepEqual(answers.map((text) => JSON.parse(text)), [
    { jsonrpc: "2.0", error: { code: -32001, message: "Forbidden" }, id: 1 },
    { jsonrpc: "2.0", result: "granted", id: 2 },
  ]);
});
