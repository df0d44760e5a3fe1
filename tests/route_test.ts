import assert from "node:assert/strict";
import WS from "npm:ws@8";
import { route, type Socket } from "../mod.ts";
import {
  closeEvent,
  collect,
  deferred,
  delay,
  open,
  serve,
} from "./_helpers.ts";

Deno.test("route() sends other paths to the fallback, 404 by default", async () => {
  await using srv = serve(route("/ws", () => {}));
  const res = await fetch(`http://127.0.0.1:${srv.port}/elsewhere`);
  assert.equal(res.status, 404);
  await res.body?.cancel();

  await using srv2 = serve(route("/ws", () => {}, {
    fallback: (request) =>
      new Response(`page ${new URL(request.url).pathname}`),
  }));
  const page = await fetch(`http://127.0.0.1:${srv2.port}/index.html`);
  assert.equal(await page.text(), "page /index.html");
});

Deno.test("route() answers 400 to a request on its path that is not a WebSocket", async () => {
  await using srv = serve(route("/ws", () => {}));
  for (const method of ["GET", "POST", "HEAD"]) {
    const res = await fetch(`http://127.0.0.1:${srv.port}/ws`, {
      method,
      body: method === "POST" ? "x" : null,
    });
    assert.equal(res.status, 400, method);
    await res.body?.cancel();
  }
});

Deno.test("a throwing handler closes its socket with 1011 and the next connection still works", async () => {
  const errors: unknown[] = [];
  const accepted: Socket[] = [];
  let n = 0;
  await using srv = serve(route("/", async (socket) => {
    accepted.push(socket);
    n++;
    if (n === 1) throw new Error("sync failure");
    if (n === 2) {
      for await (const _ of socket) throw new Error("async failure");
    }
    for await (const msg of socket) await socket.send(msg.data);
  }, { onError: (error) => errors.push(error) }));

  const first = await open(srv.url);
  assert.equal((await closeEvent(first)).code, 1011);

  const second = await open(srv.url);
  second.send("trigger");
  assert.equal((await closeEvent(second)).code, 1011);

  const third = await open(srv.url);
  const got = collect(third, 1);
  third.send("still here");
  assert.deepEqual(await got, ["still here"]);
  third.close();
  await closeEvent(third);
  for (const socket of accepted) await socket.closed;
  assert.deepEqual(errors.map((e) => (e as Error).message), [
    "sync failure",
    "async failure",
  ]);
});

Deno.test("a handler that throws before the socket opens still closes it with 1011", async () => {
  const reported = deferred<unknown>();
  await using srv = serve(route("/", (socket) => {
    void socket.send("queued before open");
    throw new Error("early");
  }, { onError: (error) => reported.resolve(error) }));
  const client = new WS(srv.url);
  const events: string[] = [];
  client.on("message", (data: Buffer) => events.push(data.toString()));
  const code = await new Promise<number>((resolve) =>
    client.once("close", (c: number) => resolve(c))
  );
  assert.equal(code, 1011);
  assert.deepEqual(events, ["queued before open"]);
  assert.match(String(await reported.promise), /early/);
});

Deno.test("an onError that throws does not bring the server down", async () => {
  const accepted: Socket[] = [];
  const original = console.error;
  const logged: unknown[] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await using srv = serve(route("/", (socket) => {
      accepted.push(socket);
      throw new Error("handler");
    }, {
      onError: () => {
        throw new Error("reporter");
      },
    }));
    for (let i = 0; i < 2; i++) {
      const ws = await open(srv.url);
      assert.equal((await closeEvent(ws)).code, 1011);
    }
    for (const socket of accepted) await socket.closed;
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 2);
});

Deno.test("route() validates its arguments at once", () => {
  assert.throws(() => route("ws", () => {}), TypeError);
  assert.throws(
    () => route("/ws", "nope" as unknown as () => void),
    TypeError,
  );
  assert.throws(
    () => route("/ws", () => {}, { maxMessageSize: 0 }),
    RangeError,
  );
  assert.throws(
    () => route("/ws", () => {}, { fallback: 1 as unknown as () => Response }),
    TypeError,
  );
});

Deno.test("keepalive: a client that does not answer pings is closed within about two intervals", async () => {
  const closed = deferred<{ code: number; reason: string }>();
  await using srv = serve(route("/", async (socket) => {
    for await (const _ of socket) { /* idle */ }
    closed.resolve(await socket.closed);
  }, { keepAliveInterval: 1 }));
  const client = new WS(srv.url, { autoPong: false });
  const started = Date.now();
  let pings = 0;
  client.on("ping", () => pings++);
  const clientClose = new Promise<number>((resolve) =>
    client.once("close", (code: number) => resolve(code))
  );
  const info = await closed.promise;
  const elapsed = Date.now() - started;
  assert.equal(info.code, 1001);
  assert.match(info.reason, /No response from ping/);
  assert.ok(elapsed >= 1500 && elapsed < 3500, `closed after ${elapsed} ms`);
  assert.ok(pings >= 1, "no ping was sent");
  assert.equal(await clientClose, 1001);
});

Deno.test("keepalive: a client that answers pings survives three intervals idle", async () => {
  const accepted: Socket[] = [];
  await using srv = serve(route("/", async (socket) => {
    accepted.push(socket);
    for await (const msg of socket) await socket.send(msg.data);
  }, { keepAliveInterval: 1 }));
  const client = new WS(srv.url);
  let pings = 0;
  client.on("ping", () => pings++);
  await new Promise((resolve) => client.once("open", resolve));
  await delay(3200);
  assert.equal(client.readyState, WS.OPEN);
  assert.ok(pings >= 2, `only ${pings} pings in three intervals`);
  const echoed = new Promise((resolve) => client.once("message", resolve));
  client.send("still alive");
  assert.equal(String(await echoed), "still alive");
  const clientClose = new Promise((resolve) => client.once("close", resolve));
  client.close(1000);
  await clientClose;
  assert.equal((await accepted[0]!.closed).code, 1000);
});

Deno.test("route() with clientScript serves the browser client at <path>/client.js with an ETag, and 304 when it matches", async () => {
  await using srv = serve(route("/ws", () => {}, { clientScript: true }));
  const res = await fetch(`http://127.0.0.1:${srv.port}/ws/client.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.match(res.headers.get("cache-control") ?? "", /max-age/);
  const etag = res.headers.get("etag");
  assert.ok(etag !== null && /^"[0-9a-f]+"$/.test(etag));
  const body = await res.text();
  assert.match(body, /^export \{[^}]*\bconnect\b/m);
  assert.doesNotMatch(body, /\bDeno\./);
  // The module loads and exports connect().
  const module = await import(
    `data:text/javascript;base64,${btoa(unescape(encodeURIComponent(body)))}`
  );
  assert.equal(typeof module.connect, "function");

  const again = await fetch(`http://127.0.0.1:${srv.port}/ws/client.js`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(again.status, 304);
  await again.body?.cancel();

  const post = await fetch(`http://127.0.0.1:${srv.port}/ws/client.js`, {
    method: "POST",
    body: "x",
  });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

Deno.test("route() without clientScript leaves <path>/client.js to the fallback", async () => {
  await using srv = serve(route("/ws", () => {}));
  const res = await fetch(`http://127.0.0.1:${srv.port}/ws/client.js`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  assert.throws(
    () => route("/ws", () => {}, { clientScript: "yes" as unknown as boolean }),
    TypeError,
  );
});
