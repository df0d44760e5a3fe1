/**
 * `dashboard()` of `./dashboard`: its page, its live socket (origins,
 * updates) and what its observer collects from a route, a hub and RPC.
 * The page itself in Chromium is tests/browser_dashboard_test.ts.
 */

import assert from "node:assert/strict";
import { route, Socket } from "../mod.ts";
import { Hub } from "../src/hub.ts";
import { RpcError, RpcPeer } from "../src/rpc/mod.ts";
import { dashboard } from "../src/dashboard/mod.ts";
import type { DashboardSnapshot } from "../src/dashboard/_collector.ts";
import {
  closeEvent,
  collect,
  delay,
  handshakeHeaders,
  open,
  RawPeer,
  serve,
} from "./_helpers.ts";
import { within } from "./_sse_helpers.ts";

/** Reads the live socket's updates until one passes `done` (at most 5 s). */
async function until(
  ws: WebSocket,
  done: (snapshot: DashboardSnapshot) => boolean,
): Promise<DashboardSnapshot> {
  const found = new Promise<DashboardSnapshot>((resolve, reject) => {
    const onMessage = (event: MessageEvent) => {
      const snapshot = JSON.parse(event.data) as DashboardSnapshot;
      if (!done(snapshot)) return;
      ws.removeEventListener("message", onMessage);
      resolve(snapshot);
    };
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", () => reject(new Error("live socket closed")));
  });
  const result = await within(found, 5000, undefined);
  assert.ok(result, "an update that matches came within 5 s");
  return result;
}

Deno.test("dashboard() serves its page at its path, 405 to other methods there, and other paths to fallback", async () => {
  const admin = dashboard({
    path: "/ops/",
    title: "Chat <ops>",
    fallback: () => new Response("app", { status: 200 }),
  });
  const page = await admin(new Request("http://localhost/ops"));
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await page.text();
  assert.match(html, /<title>Chat &#60;ops&#62;<\/title>/);
  assert.equal((await admin(new Request("http://localhost/ops/"))).status, 200);
  const post = await admin(
    new Request("http://localhost/ops", { method: "POST" }),
  );
  await post.body?.cancel();
  assert.equal(post.status, 405);
  assert.equal(
    await (await admin(new Request("http://localhost/x"))).text(),
    "app",
  );
  // A plain GET on the live socket's path is no handshake.
  const plain = await admin(new Request("http://localhost/ops/live"));
  await plain.body?.cancel();
  assert.equal(plain.status, 400);
});

Deno.test("dashboard() checks its options", () => {
  assert.throws(() => dashboard({ path: "admin" }), TypeError);
  assert.throws(() => dashboard({ interval: 0 }), {
    name: "RangeError",
    message: /Invalid interval/,
  });
  assert.throws(() => dashboard({ title: 3 as unknown as string }), TypeError);
  assert.throws(() => dashboard({ maxConnections: -1 }), RangeError);
});

Deno.test("the live socket takes the page's own origin by default, and allowedOrigins when given", async () => {
  await using srv = serve(dashboard());
  const host = `127.0.0.1:${srv.port}`;
  const status = async (origin: string) => {
    await using peer = await RawPeer.connect(srv.port);
    const answer = await peer.request("GET", "/admin/live", {
      ...handshakeHeaders(),
      Host: host,
      Origin: origin,
    });
    if (answer.status === 101) {
      await peer.frame(8, new Uint8Array([0x03, 0xe8]));
      await peer.readClose();
    }
    return answer.status;
  };
  assert.equal(await status(`http://${host}`), 101);
  assert.equal(await status("https://elsewhere.example"), 403);
  await using other = serve(dashboard({
    allowedOrigins: ["https://ops.example"],
  }));
  await using peer = await RawPeer.connect(other.port);
  const answer = await peer.request("GET", "/admin/live", {
    ...handshakeHeaders(),
    Origin: `http://127.0.0.1:${other.port}`,
  });
  assert.equal(answer.status, 403);
});

Deno.test("the live socket sends updates with connections by transport, message rates, close codes, rooms and RPC calls", async () => {
  const admin = dashboard({ interval: 50 });
  const hub = new Hub({ observe: admin.observer });
  await using srv = serve(route("/ws", async (socket, request) => {
    if (new URL(request.url).searchParams.has("rpc")) {
      new RpcPeer(socket, {
        observe: admin.observer,
        methods: {
          ok: () => true,
          fail: () => {
            throw new RpcError(4000, "no");
          },
        },
      });
      return;
    }
    hub.join(hub.add(socket), "lobby");
    for await (const msg of socket) {
      if (msg.data === "leave") socket.close(4001, "bye");
      else await socket.send(msg.data);
    }
  }, { observe: admin.observer, fallback: admin }));
  const live = await open(`${srv.url}/admin/live`);
  const first = await until(live, () => true);
  assert.deepEqual(first.connections, { websocket: 0, sse: 0 });

  const a = await open(`${srv.url}/ws`);
  const b = await open(`${srv.url}/ws`);
  for (let i = 0; i < 20; i++) {
    a.send(`m${i}`);
    await collect(a, 1);
  }
  const busy = await until(
    live,
    (s) => s.connections.websocket === 2 && s.messages.in >= 20,
  );
  assert.deepEqual(busy.rooms, { lobby: 2 });
  assert.equal(busy.messages.out, 20);

  const peer = new RpcPeer(new Socket(new WebSocket(`${srv.url}/ws?rpc`)));
  for (let i = 0; i < 5; i++) await peer.call("ok");
  await assert.rejects(peer.call("fail"), { code: 4000 });
  const rpc = await until(live, (s) => s.rpc.served.total === 6);
  assert.equal(rpc.rpc.served.errors, 1);
  assert.equal(typeof rpc.rpc.served.p99, "number");

  b.send("leave");
  assert.equal((await closeEvent(b)).code, 4001);
  const closed = await until(live, (s) => s.closes["4001"] === 1);
  assert.equal(closed.connections.websocket, 2); // a and the RPC peer
  assert.deepEqual(closed.rooms, { lobby: 1 });

  peer.close();
  await peer.closed;
  a.close(1000);
  await closeEvent(a);
  const idle = await until(
    live,
    (s) => s.connections.websocket === 0 && s.messages.inPerSecond === 0,
  );
  assert.equal(idle.closes["1000"], 2);
  live.close();
  await closeEvent(live);
  await hub.close();
  // The update timer stops with the last viewer.
  await delay(100);
});
