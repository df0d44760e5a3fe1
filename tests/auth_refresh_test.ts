/**
 * Tokens over time (issue 17): the client's token on every attempt (a
 * reconnect uses a fresh one), where it travels, refresh in place on both
 * transports and with resumed sessions (the socket, an RPC call in flight
 * and the rooms stay), the subject check, what ends the client and the one
 * retry a new token earns.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Client, connect } from "../src/client/mod.ts";
import { SocketClosedError } from "../mod.ts";
import { Hub } from "../src/hub.ts";
import { RpcPeer } from "../src/rpc/mod.ts";
import { delay, serve } from "./_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";
import { authRoute, key, token, type User } from "./_auth_helpers.ts";
import { verifyJwt } from "../examples/_jwt.ts";

/** Every message a client receives, and a wait for the next that matches. */
function reader(client: Client): {
  seen: string[];
  next(pattern: RegExp, ms?: number): Promise<string>;
} {
  const seen: string[] = [];
  let waiters: { pattern: RegExp; resolve: (text: string) => void }[] = [];
  (async () => {
    for await (const msg of client) {
      const text = String(msg.data);
      seen.push(text);
      const waiter = waiters.find((w) => w.pattern.test(text));
      if (waiter) {
        waiters = waiters.filter((w) => w !== waiter);
        waiter.resolve(text);
      }
    }
  })();
  return {
    seen,
    next(pattern, ms = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no message matching ${pattern}: ${seen}`)),
          ms,
        );
        waiters.push({
          pattern,
          resolve: (text) => {
            clearTimeout(timer);
            resolve(text);
          },
        });
      });
    },
  };
}

/** A token function that counts its calls: token `n` says `n` in a claim. */
function tokens(sub = "alice", ms = 60_000): {
  (): Promise<string>;
  calls: number;
} {
  const next = Object.assign(
    () => token(sub, ms, { claims: { n: ++next.calls } }),
    { calls: 0 },
  );
  return next;
}

/** The `n` claim of the token a principal was made from. */
function nOf(user: User): number {
  return user.claims.n as number;
}

/** A route whose handler says which token (`n`) its principal came from. */
function echoRoute(options: Parameters<typeof authRoute>[0] = {}) {
  return authRoute(options, async (socket) => {
    await socket.send(`hello ${socket.principal.sub} ${nOf(socket.principal)}`);
    for await (const msg of socket) {
      await socket.send(`${msg.data} ${nOf(socket.principal)}`);
    }
  });
}

Deno.test("in Deno the token goes in Authorization, and a reconnect calls the token function again and uses the new token", async () => {
  const seen: (string | null)[] = [];
  let first = true;
  const ws = authRoute({}, async (socket, request) => {
    seen.push(request.headers.get("authorization"));
    await socket.send(`hello ${nOf(socket.principal)}`);
    if (first) {
      first = false;
      socket.close(1012, "Service restart");
    }
  });
  await using server = serve(ws);
  const next = tokens();
  await using client = connect(`${server.url}/ws`, {
    token: next,
    initialDelay: 10,
  });
  const read = reader(client);
  assert.equal(await read.next(/hello/), "hello 1");
  assert.equal(await read.next(/hello/), "hello 2");
  assert.equal(next.calls, 2);
  assert.equal(seen.length, 2);
  assert.ok(seen.every((header) => header?.startsWith("Bearer ey")));
  assert.notEqual(seen[0], seen[1]);
});

Deno.test('tokenIn "protocol" and "query" carry the token as a browser can; client.url never shows it', async () => {
  const where: string[] = [];
  await using server = serve(authRoute({
    authenticate: async (request, options) => {
      const url = new URL(request.url);
      where.push(
        request.headers.get("authorization") !== null
          ? "header"
          : url.searchParams.has("access_token")
          ? "query"
          : (request.headers.get("sec-websocket-protocol") ?? "").includes(
              "switchboard.bearer.",
            )
          ? "protocol"
          : "none",
      );
      const { authenticate } = await import("./_auth_helpers.ts");
      return authenticate(request, options);
    },
  }));
  for (const tokenIn of ["protocol", "query"] as const) {
    await using client = connect(`${server.url}/ws?room=a`, {
      token: await token("alice"),
      tokenIn,
    });
    const read = reader(client);
    assert.equal(await read.next(/hello/), "hello alice");
    assert.equal(client.url, `${server.url}/ws?room=a`);
  }
  assert.deepEqual(where, ["protocol", "query"]);
  assert.throws(
    () => connect(server.url, { token: "x", tokenIn: "cookie" as never }),
    /Invalid tokenIn/,
  );
  assert.throws(() => connect(server.url, { token: "" }), /Invalid token/);
});

for (const mode of ["websocket", "resume", "sse", "sse resume"] as const) {
  const sse = mode.startsWith("sse");
  const resume = mode.endsWith("resume");
  Deno.test(`refresh in place (${mode}) keeps the socket, an RPC call in flight and the rooms, and the principal is the new one`, async () => {
    const hub = new Hub();
    let handlers = 0;
    let memberId = "";
    const ws = authRoute({
      ...(resume ? { resume: true } : {}),
    }, (socket) => {
      handlers++;
      memberId = hub.add(socket);
      hub.join(memberId, "lobby");
      new RpcPeer(socket, {
        methods: {
          slow: async () => {
            await delay(400);
            return nOf(socket.principal);
          },
          whoami: () => nOf(socket.principal),
        },
      });
    });
    // What the fallback's POSTs carry in Authorization, in order.
    const posted: string[] = [];
    await using server = serve((request) => {
      if (request.method === "POST") {
        posted.push(request.headers.get("authorization") ?? "none");
      }
      return ws(request);
    });
    const next = tokens();
    let opens = 0;
    await using client = connect(`${server.url}/ws`, {
      token: next,
      transports: sse ? ["sse"] : ["websocket"],
      resume,
    });
    client.addEventListener("open", () => opens++);
    const read = reader(client);
    await new Promise((resolve) =>
      client.addEventListener("open", resolve, { once: true })
    );
    await client.send('{"jsonrpc":"2.0","id":1,"method":"slow"}');
    await delay(50);
    const before = client.expiresAt;
    await client.refreshToken();
    assert.ok(client.expiresAt! > before!, "the expiry moved");
    await client.send('{"jsonrpc":"2.0","id":2,"method":"whoami"}');
    assert.deepEqual(JSON.parse(await read.next(/"id":2/)).result, 2);
    assert.deepEqual(JSON.parse(await read.next(/"id":1/)).result, 2);
    assert.equal(next.calls, 2);
    assert.equal(handlers, 1);
    assert.equal(opens, 1);
    assert.equal(client.transport, sse ? "sse" : "websocket");
    assert.deepEqual(hub.rooms(memberId), ["lobby"]);
    if (sse) {
      // The stream and every POST carry the token; POSTs after the refresh
      // carry the new one.
      const ns = await Promise.all(posted.map(async (header) => {
        const claims = await verifyJwt(header.replace(/^Bearer /, ""), key);
        return claims?.n;
      }));
      assert.equal(ns[0], 1);
      assert.equal(ns.at(-1), 2);
    } else assert.deepEqual(posted, []);
    await hub.close();
  });
}

Deno.test("a refresh in place with another subject closes with 4003 Subject changed; the new token earns one retry, as the new subject", async () => {
  const closes: number[] = [];
  await using server = serve(authRoute({}, async (socket) => {
    await socket.send(`hello ${socket.principal.sub}`);
    closes.push((await socket.closed).code);
  }));
  let calls = 0;
  await using client = connect(`${server.url}/ws`, {
    token: () => token(++calls === 1 ? "alice" : "bob"),
  });
  const reconnecting: number[] = [];
  client.addEventListener(
    "reconnecting",
    (event) => reconnecting.push(event.closeInfo?.code ?? 0),
  );
  const read = reader(client);
  assert.equal(await read.next(/hello/), "hello alice");
  await assert.rejects(
    client.refreshToken(),
    (error) => error instanceof SocketClosedError && error.code === 4003,
  );
  assert.equal(await read.next(/hello/), "hello bob");
  assert.deepEqual(closes, [4003]);
  assert.deepEqual(reconnecting, [4003]);
});

Deno.test("4001 Token expired ends a client whose token stays the same; a refused handshake ends it unless the token function gives another token, then one retry", async () => {
  await using server = serve(echoRoute());
  {
    await using client = connect(`${server.url}/ws`, {
      token: await token("alice", 800, { claims: { n: 1 } }),
    });
    const read = reader(client);
    await read.next(/hello/);
    const closed = await client.closed;
    assert.deepEqual(closed, {
      code: 4001,
      reason: "Token expired",
      wasClean: true,
    });
  }
  {
    // Bad, then good: one retry.
    let calls = 0;
    await using client = connect(`${server.url}/ws`, {
      token: () =>
        ++calls === 1 ? "not-a-token" : token("alice", 60_000, {
          claims: { n: calls },
        }),
    });
    const read = reader(client);
    assert.equal(await read.next(/hello/), "hello alice 2");
    assert.equal(calls, 2);
  }
  {
    // Always bad: one retry, then the client ends.
    let calls = 0;
    const client = connect(`${server.url}/ws`, {
      token: () => `bad-${++calls}`,
    });
    const closed = await client.closed;
    assert.deepEqual(closed, {
      code: 1006,
      reason: "Handshake refused: 401",
      wasClean: false,
    });
    assert.equal(calls, 2);
  }
});

Deno.test("the client refreshes refreshBefore ahead of the expiry the server tells, and when the server asks (refreshBefore 0), and stays connected past the first token's expiry", async () => {
  await using server = serve(echoRoute());
  await Promise.all([1500, 0].map(async (refreshBefore) => {
    const next = tokens("alice", 2000);
    let opens = 0;
    await using client = connect(`${server.url}/ws`, {
      token: next,
      refreshBefore,
    });
    client.addEventListener("open", () => opens++);
    const read = reader(client);
    await read.next(/hello/);
    const first = client.expiresAt!;
    assert.ok(Math.abs(first - (Date.now() + 2000)) < 1000);
    await delay(2600);
    await client.send("still here");
    assert.match(await read.next(/still here/), /still here [2-9]/);
    assert.equal(client.state, "open");
    assert.equal(opens, 1);
    assert.ok(client.expiresAt! > first);
    assert.ok(next.calls >= 2, `refreshBefore ${refreshBefore}`);
  }));
});

Deno.test("a resumed session takes the principal of the connection that resumes it; another subject cannot resume it", async () => {
  let opens = 0;
  await using server = serve(echoRoute({ resume: true }));
  await using proxy = new CutProxy(server.port);
  const url = `ws://127.0.0.1:${proxy.port}/ws`;
  {
    const next = tokens();
    await using client = connect(url, {
      token: next,
      resume: true,
      initialDelay: 10,
    });
    client.addEventListener("open", () => opens++);
    const read = reader(client);
    await read.next(/hello alice 1/);
    const resumed = new Promise((resolve) =>
      client.addEventListener("resumed", resolve, { once: true })
    );
    proxy.cut();
    await resumed;
    await client.send("after");
    assert.equal(await read.next(/after/), "after 2");
    assert.equal(opens, 1);
  }
  {
    let calls = 0;
    await using client = connect(url, {
      token: () =>
        token(++calls === 1 ? "alice" : "bob", 60_000, {
          claims: { n: calls },
        }),
      resume: true,
      initialDelay: 10,
    });
    const opened: boolean[] = [];
    client.addEventListener("open", (e) => opened.push(e.resumed));
    client.addEventListener("resumed", (e) => opened.push(e.resumed));
    const read = reader(client);
    await read.next(/hello alice 1/);
    proxy.cut();
    assert.equal(await read.next(/hello/), "hello bob 2");
    assert.deepEqual(opened, [false, false]);
  }
});

Deno.test("url may be a function, called before every attempt; refreshToken() rejects without a token or while not open", async () => {
  await using server = serve(echoRoute());
  let calls = 0;
  await using client = connect(() => {
    calls++;
    return Promise.resolve(`${server.url}/ws?access_token=${"x".repeat(4)}`);
  }, { token: tokens() });
  assert.equal(client.url, "");
  await assert.rejects(client.refreshToken(), /not open/);
  const read = reader(client);
  await read.next(/hello/);
  assert.equal(calls, 1);
  assert.equal(client.url, `${server.url}/ws`);
  await using plain = connect(`${server.url}/ws`, { maxRetries: 0 });
  await assert.rejects(plain.refreshToken(), TypeError);
});
