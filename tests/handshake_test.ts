import assert from "node:assert/strict";
import WS from "npm:ws@8";
import {
  HandshakeError,
  isWebSocketRequest,
  route,
  type Socket,
  upgrade,
} from "../mod.ts";
import {
  closeEvent,
  delay,
  handshakeHeaders,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";

function echoServer(options = {}) {
  const accepted: Socket[] = [];
  const srv = serve(route("/", async (socket) => {
    accepted.push(socket);
    for await (const msg of socket) await socket.send(msg.data);
  }, options));
  return { srv, accepted };
}

async function refusal(
  port: number,
  method: string,
  headers: Record<string, string | undefined>,
) {
  await using peer = await RawPeer.connect(port);
  return await peer.request(method, "/", headers);
}

Deno.test("isWebSocketRequest tells a handshake from a plain request", () => {
  const headers = { upgrade: "websocket", connection: "keep-alive, Upgrade" };
  assert.equal(
    isWebSocketRequest(new Request("http://x/ws", { headers })),
    true,
  );
  assert.equal(isWebSocketRequest(new Request("http://x/ws")), false);
  assert.equal(
    isWebSocketRequest(
      new Request("http://x/ws", { method: "POST", headers, body: "" }),
    ),
    false,
  );
  assert.equal(
    isWebSocketRequest(
      new Request("http://x/ws", { headers: { upgrade: "websocket" } }),
    ),
    false,
  );
  assert.throws(() => isWebSocketRequest({} as Request), TypeError);
});

Deno.test("upgrade() answers 400 to a plain GET", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  const res = await fetch(`http://127.0.0.1:${srv.port}/`);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /only accepts WebSocket/);
});

Deno.test("upgrade() answers 400 to a missing Sec-WebSocket-Key", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  const res = await refusal(srv.port, "GET", {
    ...handshakeHeaders(),
    "Sec-WebSocket-Key": undefined,
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /Sec-WebSocket-Key/);
});

Deno.test("upgrade() answers 400 to a malformed Sec-WebSocket-Key", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  for (
    const key of ["abc", btoa("123456789012345"), btoa("12345678901234567")]
  ) {
    const res = await refusal(srv.port, "GET", {
      ...handshakeHeaders(),
      "Sec-WebSocket-Key": key,
    });
    assert.equal(res.status, 400, key);
    assert.match(res.body, /16 bytes/);
  }
});

Deno.test("upgrade() answers 400 to a missing Connection: upgrade", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  const res = await refusal(srv.port, "GET", {
    ...handshakeHeaders(),
    Connection: "keep-alive",
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /Connection/);
});

Deno.test("upgrade() answers 400 to an Upgrade header other than websocket", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  const res = await refusal(srv.port, "GET", {
    ...handshakeHeaders(),
    Upgrade: "h2c",
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /Upgrade/);
});

Deno.test("upgrade() answers 400 to a non-GET handshake", () => {
  const request = new Request("http://x/", {
    method: "PUT",
    headers: handshakeHeaders(),
    body: "",
  });
  assert.throws(() => upgrade(request), (error: unknown) => {
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.status, 400);
    assert.equal(error.response.status, 400);
    assert.match(error.message, /GET/);
    return true;
  });
});

Deno.test("upgrade() answers 426 with Sec-WebSocket-Version: 13 to another version", async () => {
  const { srv } = echoServer();
  await using _ = srv;
  for (const version of ["8", "14", undefined]) {
    const res = await refusal(srv.port, "GET", {
      ...handshakeHeaders(),
      "Sec-WebSocket-Version": version,
    });
    assert.equal(res.status, 426, `version ${version}`);
    assert.equal(res.headers.get("sec-websocket-version"), "13");
  }
});

Deno.test("upgrade() answers 403 to an origin outside allowedOrigins", async () => {
  const { srv, accepted } = echoServer({
    allowedOrigins: ["https://good.example", "HTTP://Other.Example/"],
  });
  await using _ = srv;
  const res = await refusal(srv.port, "GET", {
    ...handshakeHeaders(),
    Origin: "https://evil.example",
  });
  assert.equal(res.status, 403);
  assert.match(res.body, /evil\.example/);

  for (const origin of ["https://good.example", "http://other.example"]) {
    const client = new WS(srv.url, { origin });
    await new Promise((resolve, reject) => {
      client.once("open", resolve);
      client.once("error", reject);
    });
    const closed = new Promise((resolve) => client.once("close", resolve));
    client.close();
    await closed;
  }
  // A client without an Origin header (not a browser) is not checked.
  const ws = await open(srv.url);
  ws.close();
  await closeEvent(ws);
  for (const socket of accepted) await socket.closed;
  assert.equal(accepted.length, 3);
});

Deno.test("allowedOrigins accepts a predicate; one that throws refuses with 403", async () => {
  const { srv, accepted } = echoServer({
    allowedOrigins: (origin: string) => {
      if (origin === "https://boom.example") throw new Error("boom");
      return origin.endsWith(".trusted.example");
    },
  });
  await using _ = srv;
  for (
    const [origin, status] of [
      ["https://a.trusted.example", 101],
      ["https://a.untrusted.example", 403],
      ["https://boom.example", 403],
    ] as const
  ) {
    await using peer = await RawPeer.connect(srv.port);
    const res = await peer.request("GET", "/", {
      ...handshakeHeaders(),
      Origin: origin,
    });
    assert.equal(res.status, status, origin);
    if (status === 101) {
      await peer.frame(8, new Uint8Array([3, 232]));
      await peer.readClose();
    }
  }
  for (const socket of accepted) await socket.closed;
});

Deno.test("the first subprotocol the client offers that the server speaks is chosen", async () => {
  const protocol = Promise.withResolvers<string>();
  await using srv = serve(route("/", (socket) => {
    protocol.resolve(socket.protocol);
    socket.close();
  }, { protocols: ["chat.v2", "chat.v1"] }));
  const ws = new WebSocket(srv.url, ["chat.v1", "chat.v2"]);
  const closed = closeEvent(ws);
  await new Promise((resolve) => ws.onopen = resolve);
  assert.equal(ws.protocol, "chat.v1");
  assert.equal(await protocol.promise, "chat.v1");
  assert.equal((await closed).code, 1000);
});

Deno.test("a client offering no protocol the server speaks is accepted without one", async () => {
  const protocol = Promise.withResolvers<string>();
  await using srv = serve(route("/", (socket) => {
    protocol.resolve(socket.protocol);
    socket.close();
  }, { protocols: ["chat.v2"] }));
  // A browser-like client accepts the missing protocol (npm:ws would not).
  const ws = new WebSocket(srv.url, ["other"]);
  const closed = closeEvent(ws);
  await new Promise((resolve) => ws.onopen = resolve);
  assert.equal(ws.protocol, "");
  assert.equal(await protocol.promise, "");
  assert.equal((await closed).code, 1000);
});

Deno.test("upgrade() validates its options at once", () => {
  const request = new Request("http://x/", { headers: handshakeHeaders() });
  assert.throws(() => upgrade(request, { keepAliveInterval: -1 }), RangeError);
  assert.throws(
    () => upgrade(request, { keepAliveInterval: "5" as unknown as number }),
    TypeError,
  );
  assert.throws(() => upgrade(request, { maxMessageSize: 0 }), RangeError);
  assert.throws(() => upgrade(request, { highWaterMark: 1.5 }), RangeError);
  assert.throws(
    () => upgrade(request, { protocols: "chat" as unknown as string[] }),
    TypeError,
  );
  assert.throws(() => upgrade(request, { protocols: ["a b"] }), RangeError);
  assert.throws(
    () => upgrade(request, { allowedOrigins: "*" as unknown as string[] }),
    TypeError,
  );
  assert.throws(
    () => upgrade(request, { signal: {} as AbortSignal }),
    TypeError,
  );
});

Deno.test("a keepAliveInterval past Deno's timer range (an hour typed in ms) is a RangeError that names the unit", async () => {
  const request = new Request("http://x/", { headers: handshakeHeaders() });
  assert.throws(
    () => upgrade(request, { keepAliveInterval: 3_600_000 }),
    (error: unknown) =>
      error instanceof RangeError &&
      /keepAliveInterval/.test(error.message) &&
      /seconds/.test(error.message) && /2147483/.test(error.message),
  );
  assert.throws(
    () => route("/ws", () => {}, { keepAliveInterval: 2_147_484 }),
    RangeError,
  );
  // The largest allowed value still serves: Deno's ping timer does not fire.
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { keepAliveInterval: 2_147_483 }));
  const ws = await open(`${srv.url}/ws`);
  await delay(300);
  assert.equal(ws.readyState, WebSocket.OPEN);
  ws.close();
  await closeEvent(ws);
});
