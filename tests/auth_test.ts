/**
 * Authentication of the handshake (issue 17): tokens good and bad on both
 * transports, with `npm:ws`, Deno's `WebSocket` and the fallback's stream;
 * the three places a token travels; what a refusal answers; cross-site
 * requests with cookies; no token in what is logged or reported.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  HandshakeError,
  type Principal,
  route,
  type Socket,
  upgrade,
} from "../mod.ts";
import { bearerProtocols } from "../src/auth/_token.ts";
import { delay, serve } from "./_helpers.ts";
import { closeOf, openStream } from "./_sse_helpers.ts";
import {
  authenticate,
  authRoute,
  denoHandshake,
  token,
  wsHandshake,
} from "./_auth_helpers.ts";

/** The cases of the handshake table: the headers to send, what to expect. */
async function cases(): Promise<
  [string, Record<string, string>, number | "open"][]
> {
  return [
    [
      "a valid token",
      { authorization: `Bearer ${await token("alice")}` },
      "open",
    ],
    ["no token", {}, 401],
    ["a malformed token", { authorization: "Bearer not.a-jwt" }, 401],
    [
      "a wrongly signed token",
      {
        authorization: `Bearer ${await token("alice", 60_000, {
          wrong: true,
        })}`,
      },
      401,
    ],
    ["an expired token", {
      authorization: `Bearer ${await token("alice", -1000)}`,
    }, 401],
    ["a token authenticate forbids", {
      authorization: `Bearer ${await token("mallory")}`,
    }, 403],
  ];
}

for (
  const [client, handshake] of [
    ["npm:ws", wsHandshake],
    ["Deno's WebSocket", denoHandshake],
  ] as const
) {
  Deno.test(`${client}: valid tokens open, missing, malformed, wrongly signed and expired ones get 401, a forbidden one 403, and the socket closes with 4001 at expiry`, async () => {
    await using server = serve(authRoute());
    for (const [name, headers, expected] of await cases()) {
      const result = await handshake(`${server.url}/ws`, { headers });
      if (expected === "open") {
        assert.ok("first" in result, `${name}: ${JSON.stringify(result)}`);
        assert.equal(result.first, "hello alice");
        await result.close();
      } else assert.deepEqual(result, { status: expected }, name);
    }
    const short = await handshake(`${server.url}/ws`, {
      headers: { authorization: `Bearer ${await token("alice", 800)}` },
    });
    assert.ok("first" in short);
    const started = Date.now();
    assert.deepEqual(await short.closed, {
      code: 4001,
      reason: "Token expired",
    });
    assert.ok(Date.now() - started < 5000);
  });
}

Deno.test("the fallback's stream: the same table (401 with WWW-Authenticate: Bearer), and a close event with 4001 at expiry", async () => {
  await using server = serve(authRoute());
  const url = `http://127.0.0.1:${server.port}/ws`;
  for (const [name, headers, expected] of await cases()) {
    const response = await fetch(url, {
      headers: { accept: "text/event-stream", ...headers },
    });
    if (expected === "open") {
      assert.equal(response.status, 200, name);
      await response.body?.cancel();
      continue;
    }
    assert.equal(response.status, expected, name);
    if (expected === 401) {
      assert.equal(response.headers.get("www-authenticate"), "Bearer");
    }
    await response.body?.cancel();
  }
  await using stream = await openStream(url, {
    authorization: `Bearer ${await token("alice", 800)}`,
  });
  const rest = await stream.rest(5000);
  assert.match(rest, /event: text\ndata: "hello alice"/);
  assert.match(rest, /event: control\ndata: "E\{/);
  assert.deepEqual(closeOf(rest), { code: 4001, reason: "Token expired" });
});

Deno.test("a token is read from the Authorization header, then the subprotocol offer, then access_token, and the bearer subprotocol is never chosen", async () => {
  await using server = serve(authRoute({ protocols: ["chat"] }));
  const alice = await token("alice");
  const bob = await token("bob");
  const header = await wsHandshake(`${server.url}/ws`, {
    headers: { authorization: `Bearer ${alice}` },
  });
  const offer = await wsHandshake(`${server.url}/ws`, {
    protocols: ["chat", ...bearerProtocols(alice)],
  });
  const query = await wsHandshake(`${server.url}/ws?access_token=${alice}`);
  const first = await wsHandshake(`${server.url}/ws?access_token=${bob}`, {
    headers: { authorization: `Bearer ${alice}` },
    protocols: bearerProtocols(bob),
  });
  for (const result of [header, offer, query, first]) {
    assert.ok("first" in result, JSON.stringify(result));
    assert.equal(result.first, "hello alice");
    await result.close();
  }
  assert.ok("first" in offer);
  assert.equal(offer.protocol, "chat");
  assert.ok("first" in first);
  assert.equal(first.protocol, "switchboard.bearer");
  // The token's own subprotocol alone: none is chosen.
  const alone = await denoHandshake(`${server.url}/ws`, {
    protocols: [bearerProtocols(alice)[1]!],
  });
  assert.ok("first" in alone);
  assert.equal(alone.first, "hello alice");
  assert.equal(alone.protocol, "");
  await alone.close();
});

Deno.test("a throw in authenticate answers 500 without its message, and onError gets it with a URL without access_token", async () => {
  const reports: { error: unknown; url: string }[] = [];
  await using server = serve(route("/ws", () => {}, {
    authenticate: () => {
      throw new Error("database password is hunter2");
    },
    onError: (error, request) => reports.push({ error, url: request.url }),
  }));
  const response = await fetch(
    `http://127.0.0.1:${server.port}/ws?room=a&access_token=SECRET-TOKEN&x=1`,
    {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    },
  );
  assert.equal(response.status, 500);
  const body = await response.text();
  assert.doesNotMatch(body, /hunter2/);
  assert.equal(reports.length, 1);
  assert.match(String(reports[0]!.error), /hunter2/);
  assert.equal(
    reports[0]!.url,
    `http://127.0.0.1:${server.port}/ws?room=a&x=1`,
  );
});

Deno.test("the handler's request and what onError gets never hold access_token", async () => {
  const urls: string[] = [];
  const reported: string[] = [];
  await using server = serve(authRoute({
    onError: (_error, request) => reported.push(request.url),
  }, (socket, request) => {
    urls.push(request.url);
    socket.send("hello");
    throw new Error("the handler failed");
  }));
  const result = await wsHandshake(
    `${server.url}/ws?access_token=${await token("alice")}&room=lobby`,
  );
  assert.ok("first" in result);
  assert.deepEqual(await result.closed, {
    code: 1011,
    reason: "Internal server error",
  });
  const expected = `http://127.0.0.1:${server.port}/ws?room=lobby`;
  assert.deepEqual(urls, [expected]);
  assert.deepEqual(reported, [expected]);
});

Deno.test("upgrade() logs a throw in authenticate as one line without the token", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await using server = serve(async (request) => {
      try {
        const { response } = await upgrade(request, {
          authenticate: () => {
            throw new TypeError("no such key");
          },
        });
        return response;
      } catch (error) {
        if (error instanceof HandshakeError) return error.response;
        throw error;
      }
    });
    const result = await wsHandshake(
      `${server.url}/ws?access_token=VERY-SECRET`,
    );
    assert.deepEqual(result, { status: 500 });
  } finally {
    console.error = original;
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /no such key/);
  assert.match(lines[0]!, /GET http:\/\/127\.0\.0\.1:\d+\/ws:/);
  assert.doesNotMatch(lines.join("\n"), /VERY-SECRET/);
});

Deno.test("upgrade() with authenticate resolves with the principal, and rejects with a HandshakeError whose response is the refusal", async () => {
  const statuses: number[] = [];
  const authenticateHeaders: (string | null)[] = [];
  await using server = serve(async (request) => {
    try {
      const { socket, response } = await upgrade(request, { authenticate });
      socket.send(`hello ${socket.principal.sub}`);
      return response;
    } catch (error) {
      assert.ok(error instanceof HandshakeError);
      statuses.push(error.status);
      authenticateHeaders.push(error.response.headers.get("www-authenticate"));
      return error.response;
    }
  });
  const good = await wsHandshake(server.url, {
    headers: { authorization: `Bearer ${await token("carol")}` },
  });
  assert.ok("first" in good);
  assert.equal(good.first, "hello carol");
  await good.close();
  assert.deepEqual(await wsHandshake(server.url), { status: 401 });
  assert.deepEqual(
    await wsHandshake(server.url, {
      headers: { authorization: `Bearer ${await token("mallory")}` },
    }),
    { status: 403 },
  );
  assert.deepEqual(statuses, [401, 403]);
  assert.deepEqual(authenticateHeaders, ["Bearer", null]);
});

/** A route that authenticates with a session cookie. */
function cookieRoute(
  allowedOrigins: string[] | undefined,
  reports: unknown[],
): ReturnType<typeof route> {
  return route("/ws", (socket: Socket & { principal: Principal }) => {
    socket.send(`hello ${socket.principal.sub}`);
  }, {
    transports: ["websocket", "sse"],
    ...(allowedOrigins ? { allowedOrigins } : {}),
    onError: (error) => reports.push(error),
    authenticate: (request) => {
      const cookie = request.headers.get("cookie") ?? "";
      return /(^|; )session=alice(;|$)/.test(cookie)
        ? { sub: "alice" }
        : undefined;
    },
  });
}

Deno.test("a cookie-authenticated request from an origin outside allowedOrigins gets 403 (cross-site WebSocket hijacking); the app's own origin and non-browser clients get in", async () => {
  const reports: unknown[] = [];
  await using server = serve(cookieRoute(["https://app.example"], reports));
  const cookie = { cookie: "theme=dark; session=alice" };
  assert.deepEqual(
    await wsHandshake(`${server.url}/ws`, {
      headers: { ...cookie, origin: "https://evil.example" },
    }),
    { status: 403 },
  );
  const evilStream = await fetch(`http://127.0.0.1:${server.port}/ws`, {
    headers: {
      accept: "text/event-stream",
      origin: "https://evil.example",
      ...cookie,
    },
  });
  assert.equal(evilStream.status, 403);
  await evilStream.body?.cancel();
  for (
    const headers of [{ ...cookie, origin: "https://app.example" }, cookie]
  ) {
    const result = await wsHandshake(`${server.url}/ws`, { headers });
    assert.ok("first" in result, JSON.stringify(result));
    assert.equal(result.first, "hello alice");
    await result.close();
  }
  assert.deepEqual(reports, []);
});

Deno.test("a route whose authenticate reads cookies and has no allowedOrigins refuses browsers with 403 and tells onError once", async () => {
  const reports: unknown[] = [];
  await using server = serve(cookieRoute(undefined, reports));
  const headers = { cookie: "session=alice", origin: "https://app.example" };
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(
      await wsHandshake(`${server.url}/ws`, { headers }),
      { status: 403 },
    );
  }
  assert.equal(reports.length, 1);
  assert.match(String(reports[0]), /allowedOrigins/);
  // A client that is no browser (no Origin) is no hijacking risk.
  const result = await wsHandshake(`${server.url}/ws`, {
    headers: { cookie: "session=alice" },
  });
  assert.ok("first" in result);
  await result.close();
});

Deno.test("a principal that is no object, or whose expiresAt is in seconds, is a 500 reported to onError", async () => {
  const reports: string[] = [];
  let answer: unknown = "alice";
  await using server = serve(route("/ws", () => {}, {
    authenticate: () => answer as Principal,
    onError: (error) => reports.push(String(error)),
  }));
  assert.deepEqual(await wsHandshake(`${server.url}/ws`), { status: 500 });
  answer = { sub: "alice", expiresAt: Math.floor(Date.now() / 1000) + 60 };
  assert.deepEqual(await wsHandshake(`${server.url}/ws`), { status: 500 });
  assert.equal(reports.length, 2);
  assert.match(reports[0]!, /must return an object/);
  assert.match(reports[1]!, /looks like seconds/);
});

Deno.test("route() and upgrade() check the authenticate option", () => {
  assert.throws(
    () => route("/ws", () => {}, { authenticate: "yes" as never }),
    /Invalid authenticate: expected a function/,
  );
  assert.throws(
    () =>
      upgrade(new Request("http://localhost/"), {
        authenticate: 1 as never,
      }),
    TypeError,
  );
});

Deno.test("a principal is kept until the socket closes, then nothing of it runs", async () => {
  // The expiry timer of a socket that closed first must not keep the test
  // (or the process) waiting: Deno's sanitizers fail on a leaked timer.
  await using server = serve(authRoute());
  const result = await wsHandshake(`${server.url}/ws`, {
    headers: { authorization: `Bearer ${await token("alice", 3_600_000)}` },
  });
  assert.ok("first" in result);
  await result.close();
  await delay(50);
});

Deno.test("route()'s default report of a throw in authenticate is one line with the URL without the token", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await using server = serve(route("/ws", () => {}, {
      authenticate: () => {
        throw new Error("the key store is down");
      },
    }));
    assert.deepEqual(
      await wsHandshake(`${server.url}/ws?access_token=SECRET-1&room=a`),
      { status: 500 },
    );
  } finally {
    console.error = original;
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^Switchboard: authentication failed for GET /);
  assert.match(lines[0]!, /\/ws\?room=a: Error: the key store is down/);
  assert.doesNotMatch(lines[0]!, /SECRET-1/);
});

Deno.test("a client with a token reaches a route without authenticate: the server chooses the bearer marker and ignores the token", async () => {
  await using server = serve(route("/ws", (socket) => {
    socket.send(`principal: ${socket.principal}`);
  }));
  const result = await wsHandshake(`${server.url}/ws`, {
    protocols: bearerProtocols(await token("alice")),
  });
  assert.ok("first" in result);
  assert.equal(result.protocol, "switchboard.bearer");
  assert.equal(result.first, "principal: undefined");
  await result.close();
});
