import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { route, type Socket, upgrade } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { closeEvent, serve } from "./_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";
import WS from "npm:ws@8";
import { RpcPeer } from "../src/rpc/mod.ts";
import { Hub } from "../src/hub.ts";
import {
  BOTH,
  bounded,
  deadline,
  delay,
  echo,
  fast,
  keeping,
  once,
  overBoth,
} from "./_session_helpers.ts";

overBoth(
  "a dropped session expires after window: the socket closes with 1001 Session expired and the client opens a new session with its unacknowledged count",
  async (over) => {
    const sockets: Socket[] = [];
    const first = Promise.withResolvers<Socket>();
    const ws = route("/ws", async (socket) => {
      sockets.push(socket);
      first.resolve(socket);
      for await (const _ of socket) { /* read */ }
    }, { transports: BOTH, resume: { window: 200 } });
    await using srv = serve(ws);
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
      ...over,
    });
    await deadline(once(client, "open"), 3000, "first open");
    const socket = await first.promise;
    await client.send("delivered");
    await deadline(
      (async () => {
        while (client.session!.acked < 1) await delay(10);
      })(),
      3000,
      "the first ack",
    );
    // Three messages the server never sees: the network holds them back.
    proxy.hold();
    for (const text of ["lost 1", "lost 2", "lost 3"]) await client.send(text);
    const oldId = client.session!.id;
    proxy.refuse(800);
    proxy.cut();
    await proxy.release();
    const reopened = once(client, "open");
    const info = await deadline(socket.closed, 3000, "the session's expiry");
    assertEquals(info, {
      code: 1001,
      reason: "Session expired",
      wasClean: false,
    });
    const event = await deadline(reopened, 5000, "the new session");
    assertEquals(event.resumed, false);
    assertEquals(event.unacknowledged, 3);
    assert(client.session!.id !== oldId);
    assertEquals(client.session!.sent, 0);
    client.close();
    await client.closed;
    for (const s of sockets) await s.closed;
  },
);

overBoth(
  "send() waits while maxUnacked messages are unacknowledged, and goes on once acks come",
  async (over) => {
    const opened = Promise.withResolvers<Socket>();
    const ws = route("/ws", async (socket) => {
      opened.resolve(socket);
      for await (const _ of socket) { /* read */ }
    }, { transports: BOTH, resume: { maxUnacked: 5 } });
    await using srv = serve(ws);
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
      ...over,
    });
    const got: string[] = [];
    const all = Promise.withResolvers<void>();
    const reading = (async () => {
      for await (const msg of client) {
        got.push(msg.data as string);
        if (got.length === 12) all.resolve();
      }
    })();
    await deadline(once(client, "open"), 3000, "open");
    const socket = await opened.promise;
    proxy.hold();
    let resolved = 0;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      sends.push(socket.send(`m${i}`).then(() => void resolved++));
    }
    await delay(200);
    assertEquals(resolved, 5);
    assertEquals(socket.session!.sent, 5);
    await proxy.release();
    await deadline(Promise.all(sends), 5000, "the waiting sends");
    await deadline(all.promise, 5000, "every message");
    assertEquals(got, Array.from({ length: 12 }, (_, i) => `m${i}`));
    client.close();
    await client.closed;
    await reading;
    await socket.closed;
  },
);

/** A hand-driven resume peer over npm:ws. */
interface RawPeer {
  ws: WS;
  next(): Promise<string>;
  closed: Promise<[number, string]>;
}

function rawPeer(url: string, protocols: string[]): Promise<RawPeer> {
  const ws = new WS(url, protocols);
  const queue: string[] = [];
  const waiters: ((text: string) => void)[] = [];
  ws.on("message", (data: Uint8Array, binary: boolean) => {
    const text = binary ? "(binary)" : new TextDecoder().decode(data);
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else queue.push(text);
  });
  const closed = new Promise<[number, string]>((resolve) =>
    ws.on(
      "close",
      (code: number, reason: Uint8Array) =>
        resolve([code, new TextDecoder().decode(reason)]),
    )
  );
  return new Promise((resolve, reject) => {
    ws.on("open", () =>
      resolve({
        ws,
        next: () =>
          queue.length > 0
            ? Promise.resolve(queue.shift() as string)
            : new Promise((r) => waiters.push(r)),
        closed,
      }));
    ws.on("error", reject);
  });
}

function greeting(
  text: string,
): { id: string; received: number; resumed: boolean } {
  assertEquals(text[0], "\0");
  assertEquals(text[1], "S");
  return JSON.parse(text.slice(2));
}

const RESUME = ["switchboard.resume.v1"];

bounded(
  "a forged session id gets a fresh session, never someone else's",
  async () => {
    const { handler, sockets } = keeping(echo);
    await using srv = serve(route("/ws", handler, { resume: true }));
    const owner = connect(`${srv.url}/ws`, { resume: true, ...fast });
    await deadline(once(owner, "open"), 3000, "open");
    const forger = await rawPeer(`${srv.url}/ws`, RESUME);
    forger.ws.send(`\0R${JSON.stringify({ id: "A".repeat(24), received: 0 })}`);
    const fresh = greeting(await deadline(forger.next(), 3000, "greeting"));
    assertEquals(fresh.resumed, false);
    assertEquals(fresh.received, 0);
    assert(fresh.id !== owner.session!.id && fresh.id.length >= 22);
    // A guess at the owner's id with one character changed is no better.
    const near = owner.session!.id.slice(0, -1) +
      (owner.session!.id.endsWith("A") ? "B" : "A");
    const guesser = await rawPeer(`${srv.url}/ws`, RESUME);
    guesser.ws.send(`\0R${JSON.stringify({ id: near, received: 0 })}`);
    assertEquals(greeting(await guesser.next()).resumed, false);
    // The owner's session goes on untouched.
    await owner.send("still mine");
    for await (const msg of owner) {
      assertEquals(msg.data, "still mine");
      break;
    }
    await owner.closed;
    // A resume peer ends its session with \0C; a bare close is a drop.
    for (const peer of [forger, guesser]) {
      peer.ws.send("\0C");
      peer.ws.close();
    }
    await forger.closed;
    await guesser.closed;
    for (const s of sockets) await s.closed;
    assertEquals(sockets.length, 3);
  },
);

bounded("a closed session's id, used again, gets a fresh session", async () => {
  const { handler, sockets } = keeping();
  await using srv = serve(route("/ws", handler, { resume: true }));
  const client = connect(`${srv.url}/ws`, { resume: true, ...fast });
  await deadline(once(client, "open"), 3000, "open");
  const id = client.session!.id;
  client.close();
  await client.closed;
  assertEquals((await sockets[0]!.closed).code, 1000);
  const again = await rawPeer(`${srv.url}/ws`, RESUME);
  again.ws.send(`\0R${JSON.stringify({ id, received: 0 })}`);
  const fresh = greeting(await deadline(again.next(), 3000, "greeting"));
  assertEquals(fresh.resumed, false);
  assert(fresh.id !== id);
  again.ws.send("\0C");
  again.ws.close();
  await again.closed;
  for (const s of sockets) await s.closed;
});

bounded(
  "two connections resuming one session: the later wins and the earlier is closed with 4409",
  async () => {
    const opened = Promise.withResolvers<Socket>();
    const got: string[] = [];
    let starts = 0;
    await using srv = serve(route("/ws", async (socket) => {
      starts++;
      opened.resolve(socket);
      for await (const msg of socket) got.push(msg.data as string);
    }, { resume: true }));
    const first = await rawPeer(`${srv.url}/ws`, RESUME);
    first.ws.send("\0N");
    const session = greeting(await first.next());
    first.ws.send("one");
    first.ws.send("\0\0two");
    const socket = await opened.promise;
    await socket.send("hello");
    assertEquals(await first.next(), "hello");
    await deadline(
      (async () => {
        while (got.length < 2) await delay(5);
      })(),
      3000,
      "two messages",
    );
    const second = await rawPeer(`${srv.url}/ws`, RESUME);
    second.ws.send(`\0R${JSON.stringify({ id: session.id, received: 0 })}`);
    const resumed = greeting(await deadline(second.next(), 3000, "greeting"));
    assertEquals(resumed, { id: session.id, received: 2, resumed: true });
    // Nothing was acknowledged: "hello" comes again, on the new connection.
    assertEquals(await second.next(), "hello");
    assertEquals(
      await deadline(first.closed, 3000, "4409"),
      [4409, "Session resumed by another connection"],
    );
    second.ws.send("three");
    second.ws.send("\0C");
    second.ws.close(1000, "done");
    assertEquals(await socket.closed, {
      code: 1000,
      reason: "done",
      wasClean: true,
    });
    assertEquals(got, ["one", "\0two", "three"]);
    assertEquals(starts, 1);
    await second.closed;
  },
);

bounded(
  "a plain WebSocket client on a resume route gets a plain connection",
  async () => {
    const { handler, first } = keeping(echo);
    await using srv = serve(
      route("/ws", handler, { resume: true, protocols: ["chat"] }),
    );
    const plain = await rawPeer(`${srv.url}/ws`, ["chat"]);
    assertEquals(plain.ws.protocol, "chat");
    plain.ws.send("\0not a control message");
    assertEquals(await plain.next(), "\0not a control message");
    const socket = await first;
    assertEquals(socket.session, undefined);
    assertEquals(socket.protocol, "chat");
    plain.ws.close();
    await plain.closed;
    await socket.closed;
  },
);

overBoth(
  "a resume client keeps the app's subprotocol, and on a plain route works as today",
  async (over) => {
    const sockets: Socket[] = [];
    const echo = async (socket: Socket) => {
      sockets.push(socket);
      for await (const msg of socket) await socket.send(msg.data);
    };
    await using resumable = serve(
      route("/ws", echo, {
        transports: BOTH,
        resume: true,
        protocols: ["chat"],
      }),
    );
    const a = connect(`${resumable.url}/ws`, {
      resume: true,
      protocols: ["chat"],
      ...fast,
      ...over,
    });
    await deadline(once(a, "open"), 3000, "open");
    assertEquals(sockets[0]!.protocol, "chat");
    assert(sockets[0]!.session !== undefined);
    assertEquals(sockets[0]!.session!.id, a.session!.id);
    a.close();
    await a.closed;

    await using plain = serve(route("/ws", echo, { transports: BOTH }));
    const b = connect(`${plain.url}/ws`, { resume: true, ...fast, ...over });
    const event = await deadline(once(b, "open"), 3000, "open");
    assertEquals(event.resumed, false);
    assertEquals(sockets[1]!.session, undefined);
    await b.send("\0x");
    for await (const msg of b) {
      assertEquals(msg.data, "\0x");
      break;
    }
    assertEquals(b.session!.id, "");
    await b.closed;
    for (const s of sockets) await s.closed;
  },
);

overBoth(
  "a waiting session counts toward maxConnections and still comes back at the limit",
  async (over) => {
    const { handler, sockets } = keeping(echo);
    await using srv = serve(route("/ws", handler, {
      transports: BOTH,
      resume: true,
      maxConnections: 1,
    }));
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
      ...over,
    });
    await deadline(once(client, "open"), 3000, "open");
    proxy.refuse(300);
    proxy.cut();
    await delay(50);
    const refused = await fetch(`http://127.0.0.1:${srv.port}/ws`, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    assertEquals(refused.status, 503);
    await refused.body?.cancel();
    await deadline(once(client, "resumed"), 5000, "the resume");
    await client.send("back");
    for await (const msg of client) {
      assertEquals(msg.data, "back");
      break;
    }
    await client.closed;
    assertEquals(sockets.length, 1);
    await sockets[0]!.closed;
  },
);

/** Opens a WebSocket; `undefined` (once it has closed) when it is refused. */
async function tryOpen(
  url: string,
  protocols: string[],
): Promise<WebSocket | undefined> {
  const ws = new WebSocket(url, protocols);
  const opened = await new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
  });
  if (opened) return ws;
  await closeEvent(ws);
  return undefined;
}

bounded(
  "connections that have not said which session they want count toward maxConnections: silent ones past the limit get 503",
  async () => {
    const { handler, sockets } = keeping(echo);
    await using srv = serve(
      route("/ws", handler, { resume: true, maxConnections: 3 }),
    );
    const client = connect(`${srv.url}/ws`, { resume: true, ...fast });
    await deadline(once(client, "open"), 3000, "open");
    // Ten connections offer a resumable session and never say which.
    const silent = await Promise.all(
      Array.from({ length: 10 }, () => tryOpen(`${srv.url}/ws`, RESUME)),
    );
    const held = silent.filter((ws) => ws !== undefined);
    assertEquals(held.length, 2);
    // The limit is reached: a new client is refused too.
    assertEquals(await tryOpen(`${srv.url}/ws`, RESUME), undefined);
    assertEquals(await tryOpen(`${srv.url}/ws`, []), undefined);
    for (const ws of held) {
      const closed = closeEvent(ws);
      ws.close();
      await closed;
    }
    // Once they are gone, their places are free again.
    const other = connect(`${srv.url}/ws`, { resume: true, ...fast });
    await deadline(once(other, "open"), 3000, "open after the silent ones");
    client.close();
    other.close();
    await client.closed;
    await other.closed;
    assertEquals(sockets.length, 2);
    for (const socket of sockets) await socket.closed;
  },
);

overBoth(
  "RPC calls across cuts complete both ways, without RpcClosedError",
  async (over) => {
    type ServerApi = { add(params: [number, number]): number };
    type ClientApi = { ask(params: { question: string }): string };
    const sockets: Socket[] = [];
    const called = Promise.withResolvers<unknown>();
    await using srv = serve(route("/ws", async (socket) => {
      sockets.push(socket);
      const peer = new RpcPeer<ServerApi, ClientApi>(socket, {
        methods: { add: ([a, b]) => a + b },
      });
      peer.call("ask", { question: "Your name?" }).then(
        called.resolve,
        called.resolve,
      );
      await socket.closed;
    }, { transports: BOTH, resume: true }));
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
      ...over,
    });
    const answered = Promise.withResolvers<unknown>();
    const reading = (async () => {
      for await (const msg of client) {
        const message = JSON.parse(msg.data as string);
        if (message.method === "ask") {
          // The answer goes out and the connection is lost right after it.
          void client.send(
            JSON.stringify({ jsonrpc: "2.0", id: message.id, result: "Ada" }),
          );
          proxy.cut();
        } else if (message.id === "sum") answered.resolve(message.result);
      }
    })();
    await deadline(once(client, "open"), 3000, "open");
    await client.send(
      JSON.stringify({
        jsonrpc: "2.0",
        id: "sum",
        method: "add",
        params: [2, 3],
      }),
    );
    proxy.cut();
    assertEquals(
      await deadline(called.promise, 5000, "the server's call"),
      "Ada",
    );
    assertEquals(
      await deadline(answered.promise, 5000, "the client's call"),
      5,
    );
    assert(proxy.cuts >= 1);
    assert(client.session!.resumes >= 1, "the session never resumed");
    client.close();
    await client.closed;
    await reading;
    assertEquals(sockets.length, 1);
    assertEquals((await sockets[0]!.closed).code, 1000);
  },
);

bounded(
  "upgrade() with resume: the socket goes on across a cut, and the resuming connection's own socket closes unopened",
  async () => {
    const sockets: Socket[] = [];
    const echoed = Promise.withResolvers<void>();
    await using srv = serve((request) => {
      const { socket, response } = upgrade(request, { resume: true });
      sockets.push(socket);
      (async () => {
        for await (const msg of socket) await socket.send(msg.data);
      })();
      return response;
    });
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
    });
    const got: string[] = [];
    const reading = (async () => {
      for await (const msg of client) {
        got.push(msg.data as string);
        if (got.length === 2) echoed.resolve();
      }
    })();
    await deadline(once(client, "open"), 3000, "open");
    await client.send("one");
    proxy.cut();
    await deadline(once(client, "resumed"), 3000, "resumed");
    await client.send("two");
    await deadline(echoed.promise, 3000, "both echoes");
    assertEquals(got, ["one", "two"]);
    assertEquals(sockets.length, 2);
    assertEquals(await sockets[1]!.closed, {
      code: 1000,
      reason: "Resumed an earlier session",
      wasClean: true,
    });
    assertEquals(sockets[0]!.readyState, 1);
    assertEquals(sockets[0]!.session!.resumes, 1);
    client.close();
    await client.closed;
    await reading;
    assertEquals((await sockets[0]!.closed).code, 1000);
  },
);

bounded(
  "a resume passes the route's origin check like any handshake",
  async () => {
    const { handler, sockets } = keeping();
    await using srv = serve(route("/ws", handler, {
      resume: true,
      allowedOrigins: ["https://good.example"],
    }));
    const handshake = (origin: string) =>
      fetch(`http://127.0.0.1:${srv.port}/ws`, {
        headers: {
          upgrade: "websocket",
          connection: "upgrade",
          origin,
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
          "sec-websocket-protocol": "switchboard.resume.v1",
        },
      });
    const refused = await handshake("https://evil.example");
    assertEquals(refused.status, 403);
    await refused.body?.cancel();
    const good = new WS(`${srv.url}/ws`, RESUME, {
      origin: "https://good.example",
    });
    await new Promise((resolve) => good.on("open", resolve));
    assertEquals(good.protocol, "switchboard.resume.v1");
    good.terminate();
    await new Promise((resolve) => good.on("close", resolve));
    assertEquals(sockets.length, 0);
  },
);

overBoth(
  "what a full client inbox could not take comes again on resume, once and in order",
  async (over) => {
    const sockets: Socket[] = [];
    await using srv = serve(route("/ws", async (socket) => {
      sockets.push(socket);
      for (let i = 0; i < 30; i++) await socket.send(`m${i}`);
      for await (const _ of socket) { /* read */ }
    }, { transports: BOTH, resume: true }));
    const client = connect(`${srv.url}/ws`, {
      resume: true,
      maxQueuedMessages: 10,
      ...fast,
      ...over,
    });
    await deadline(once(client, "reconnecting"), 3000, "the overflow");
    await deadline(once(client, "resumed"), 3000, "the resume");
    const got: string[] = [];
    const reading = (async () => {
      for await (const msg of client) {
        got.push(msg.data as string);
        if (got.length === 30) break;
      }
    })();
    await deadline(reading, 5000, "30 messages").catch((error) => {
      client.close();
      throw new Error(`${error.message}: got ${got.join(" ")}`);
    });
    assertEquals(got, Array.from({ length: 30 }, (_, i) => `m${i}`));
    await client.closed;
    assertEquals(sockets.length, 1);
    assertEquals((await sockets[0]!.closed).code, 1000);
  },
);

overBoth(
  "a hub member keeps its id and rooms across a cut, and gets what was broadcast during the gap",
  async (over) => {
    await using hub = new Hub();
    const added = Promise.withResolvers<{ id: string; socket: Socket }>();
    await using srv = serve(route("/ws", async (socket) => {
      const id = hub.add(socket);
      hub.join(id, "lobby");
      added.resolve({ id, socket });
      for await (const _ of socket) { /* the hub sends */ }
    }, { transports: BOTH, resume: true }));
    await using proxy = new CutProxy(srv.port);
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
      resume: true,
      ...fast,
      ...over,
    });
    const got: string[] = [];
    const all = Promise.withResolvers<void>();
    const reading = (async () => {
      for await (const msg of client) {
        got.push(msg.data as string);
        if (got.length === 20) all.resolve();
      }
    })();
    const opened = once(client, "open");
    const { id, socket } = await deadline(added.promise, 3000, "the member");
    await deadline(opened, 3000, "open");
    for (let i = 0; i < 10; i++) hub.broadcast("lobby", `before ${i}`);
    proxy.refuse(200);
    proxy.cut();
    for (let i = 0; i < 10; i++) hub.broadcast("lobby", `during ${i}`);
    await deadline(once(client, "resumed"), 3000, "the resume");
    await deadline(all.promise, 3000, "20 broadcasts");
    assertEquals(got, [
      ...Array.from({ length: 10 }, (_, i) => `before ${i}`),
      ...Array.from({ length: 10 }, (_, i) => `during ${i}`),
    ]);
    assertEquals(hub.members("lobby"), [id]);
    client.close();
    await client.closed;
    await reading;
    await socket.closed;
    assertEquals(hub.size, 0);
  },
);

bounded(
  "a new session whose greeting was lost to a cut is claimed again by the client's next connection",
  async () => {
    const app = keeping(async (socket) => {
      await socket.send("welcome");
      await echo(socket);
    });
    await using srv = serve(route("/ws", app.handler, { resume: true }));
    const claim = "c".repeat(22);
    const first = await rawPeer(`${srv.url}/ws`, RESUME);
    first.ws.send(`\0N${JSON.stringify({ claim })}`);
    const greeted = greeting(await first.next());
    assertEquals(greeted.resumed, false);
    // The client never read that: the connection is gone.
    first.ws.terminate();
    await first.closed;
    const socket = await app.first;
    const again = await rawPeer(`${srv.url}/ws`, RESUME);
    again.ws.send(`\0N${JSON.stringify({ claim })}`);
    const back = greeting(await deadline(again.next(), 3000, "greeting"));
    assertEquals(back, { id: greeted.id, received: 0, resumed: true });
    assertEquals(await again.next(), "welcome");
    again.ws.send("hi");
    assertEquals(await again.next(), "hi");
    assertEquals(app.sockets.length, 1);
    // Once the client has shown it has the id, the claim is spent.
    const late = await rawPeer(`${srv.url}/ws`, RESUME);
    late.ws.send(`\0N${JSON.stringify({ claim })}`);
    const other = greeting(await deadline(late.next(), 3000, "greeting"));
    assertEquals(other.resumed, false);
    assert(other.id !== greeted.id);
    for (const peer of [again, late]) {
      peer.ws.send("\0C");
      peer.ws.close();
      await peer.closed;
    }
    assertEquals((await socket.closed).code, 1005);
  },
);
