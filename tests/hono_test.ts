import assert from "node:assert/strict";
import { Hono } from "npm:hono@4";
import { HandshakeError, route, upgrade } from "../mod.ts";
import { closeEvent, collect, open, serve } from "./_helpers.ts";

/** The README's "Using it with Hono, Oak or Fresh" app, as written there. */
function app(): Hono {
  const app = new Hono();
  app.get("/echo", (c) => {
    try {
      const { socket, response } = upgrade(c.req.raw);
      (async () => {
        for await (const msg of socket) await socket.send(msg.data);
      })();
      return response;
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
  });
  const ws = route("/chat", async (socket) => {
    for await (const msg of socket) await socket.send(`chat: ${msg.data}`);
  });
  app.get("/chat", (c) => ws(c.req.raw));
  app.get("/", (c) => c.text("hello"));
  return app;
}

Deno.test("a Hono route upgrades with upgrade(c.req.raw) and echoes", async () => {
  await using srv = serve(app().fetch);
  const ws = await open(`${srv.url}/echo`);
  const got = collect(ws, 1);
  ws.send("héllo");
  assert.deepEqual(await got, ["héllo"]);
  ws.close(1000);
  assert.equal((await closeEvent(ws)).code, 1000);
});

Deno.test("a Hono route answers a plain GET with the HandshakeError's response", async () => {
  await using srv = serve(app().fetch);
  const res = await fetch(`http://127.0.0.1:${srv.port}/echo`);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /WebSocket/i);
  const page = await fetch(`http://127.0.0.1:${srv.port}/`);
  assert.equal(await page.text(), "hello");
});

Deno.test("route() mounted in Hono as (c) => ws(c.req.raw) serves its sockets", async () => {
  await using srv = serve(app().fetch);
  const ws = await open(`${srv.url}/chat`);
  const got = collect(ws, 1);
  ws.send("hi");
  assert.deepEqual(await got, ["chat: hi"]);
  ws.close();
  await closeEvent(ws);
});
