/**
 * The chat example's `--auth` mode (issue 17), run as its own process:
 * signing in sets a session cookie, `/token` trades it for an access token,
 * and the WebSocket takes only access tokens, naming the user from them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import { startExample } from "./_example_process.ts";
import { denoHandshake } from "./_auth_helpers.ts";

Deno.test("the chat example with --auth signs in with a cookie, gives access tokens for it, and its WebSocket takes only those", async () => {
  await using chat = await startExample("chat.ts", ["--auth"]);
  const post = (path: string, init: RequestInit = {}) =>
    fetch(`${chat.origin}${path}`, { method: "POST", ...init });

  const bad = await post("/login", { body: JSON.stringify({ name: "<b>" }) });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const noSession = await post("/token");
  assert.equal(noSession.status, 401);
  await noSession.body?.cancel();

  const login = await post("/login", { body: JSON.stringify({ name: "Ada" }) });
  assert.equal(login.status, 204);
  const cookie = login.headers.get("set-cookie") ?? "";
  assert.match(
    cookie,
    /^chat_session=[\w-]+\.[\w-]+\.[\w-]+; HttpOnly; SameSite=Strict/,
  );
  const session = cookie.split(";")[0]!;
  const getToken = async () => {
    const response = await post("/token", { headers: { cookie: session } });
    assert.equal(response.status, 200);
    return (await response.json()).token as string;
  };

  const ws = `ws://127.0.0.1:${chat.port}/ws?room=tea`;
  assert.deepEqual(await denoHandshake(ws), { status: 401 });
  // The session cookie is no access token.
  assert.deepEqual(
    await denoHandshake(ws, {
      headers: { authorization: `Bearer ${session.split("=")[1]}` },
    }),
    { status: 401 },
  );
  await using client = connect(ws, { token: getToken });
  // The chat names its members from their tokens.
  for await (const msg of client) {
    const event = JSON.parse(String(msg.data));
    // The room's member list: the name is the token's subject.
    assert.equal(event.type, "members");
    assert.equal(event.room, "tea");
    assert.deepEqual(event.names, ["Ada"]);
    break;
  }
});
