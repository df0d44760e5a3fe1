/**
 * Resumable sessions over the fallback transport: the event stream's `id:`
 * and `Last-Event-ID`, POST `seq` and acks, the session's security rules,
 * and a session moving between the transports. (The tests that run over
 * both transports are in session_test.ts, the chaos test in
 * session_chaos_test.ts.)
 *
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { route, type Socket } from "../mod.ts";
import { connect, type Fetch } from "../src/client/mod.ts";
import { EventStreamParser } from "../src/sse/wire.ts";
import { serve } from "./_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";
import {
  BOTH,
  bounded,
  deadline,
  delay,
  echo,
  fast,
  keeping,
  once,
  read,
  until,
} from "./_session_helpers.ts";

const RESUME = "switchboard.resume.v1";

/** One event of a stream read by hand. */
interface Event {
  event: string;
  data: string;
  id: string;
}

/** A resumable event stream, read by hand, and POSTs to it. */
interface RawStream {
  /** The open event: the POST address, secret and protocol. */
  open: { session: string; secret: string; protocol: string };
  /** The next event (`end` when the stream is over). */
  next(): Promise<Event>;
  /** POSTs a batch to the stream. */
  post(body: unknown): Promise<Response>;
  cancel(): Promise<void>;
}

/** Opens a stream offering `protocols`, with extra request headers. */
async function rawStream(
  base: string,
  headers: Record<string, string> = {},
  protocols = RESUME,
): Promise<RawStream> {
  const response = await fetch(`${base}?protocols=${protocols}`, {
    headers: { accept: "text/event-stream", ...headers },
  });
  assertEquals(response.status, 200);
  const events: Event[] = [];
  const waiters: ((event: Event) => void)[] = [];
  let ended = false;
  const take = (event: Event) => {
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else events.push(event);
  };
  const parser = new EventStreamParser((event, data, id) =>
    take({ event, data, id })
  );
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  const pumping = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch {
      // Cut or cancelled.
    }
    ended = true;
    for (const waiter of waiters.splice(0)) {
      waiter({ event: "end", data: "", id: "" });
    }
  })();
  const next = (): Promise<Event> =>
    events.length > 0
      ? Promise.resolve(events.shift()!)
      : ended
      ? Promise.resolve({ event: "end", data: "", id: "" })
      : deadline(new Promise((r) => waiters.push(r)), 3000, "an event");
  const opened = await next();
  assertEquals(opened.event, "open");
  const open = JSON.parse(opened.data);
  return {
    open,
    next,
    post: (body) =>
      fetch(`${base}?session=${open.session}`, {
        method: "POST",
        headers: { "x-switchboard-secret": open.secret },
        body: JSON.stringify(body),
      }),
    async cancel() {
      await reader.cancel().catch(() => {});
      await pumping;
    },
  };
}

/** The `resume` event a stream greets with. */
async function greeting(
  stream: RawStream,
): Promise<{ id: string; received: number; resumed: boolean }> {
  const event = await stream.next();
  assertEquals(event.event, "resume");
  return JSON.parse(event.data);
}

/** A data event's text and id. */
async function text(stream: RawStream): Promise<[string, string]> {
  const event = await stream.next();
  assertEquals(event.event, "text");
  return [JSON.parse(event.data), event.id];
}

/** The JSON answer of a POST. */
async function answer(response: Promise<Response>): Promise<unknown> {
  const res = await response;
  assertEquals(res.status, 200);
  return await res.json();
}

bounded(
  "over the event stream data events carry their number in the session as id:, a stream that resumes with Last-Event-ID gets what follows, and POST seq delivers each message once",
  async () => {
    const got: string[] = [];
    const opened = Promise.withResolvers<Socket>();
    await using srv = serve(route("/ws", async (socket) => {
      opened.resolve(socket);
      for (const text of ["a", "b", "c"]) await socket.send(text);
      for await (const msg of socket) got.push(msg.data as string);
    }, { transports: ["sse"], resume: true }));
    const base = `http://127.0.0.1:${srv.port}/ws`;
    const first = await rawStream(base);
    assertEquals(first.open.protocol, RESUME);
    const session = await greeting(first);
    assertEquals(session.resumed, false);
    assertEquals(session.received, 0);
    assert(session.id.length >= 22, "an id of 128 bits or more");
    assertEquals(await text(first), ["a", "1"]);
    assertEquals(await text(first), ["b", "2"]);
    assertEquals(await text(first), ["c", "3"]);
    // The answer says what the server received; a batch sent again, and one
    // that overlaps it, deliver only what is new.
    const one = { seq: 0, ack: 1, messages: [["t", "x"], ["t", "\0y"]] };
    assertEquals(await answer(first.post(one)), { received: 2 });
    assertEquals(await answer(first.post(one)), { received: 2 });
    assertEquals(
      await answer(
        first.post({ seq: 1, messages: [["t", "\0y"], ["t", "z"]] }),
      ),
      { received: 3 },
    );
    const gap = await first.post({ seq: 5, messages: [["t", "late"]] });
    assertEquals(gap.status, 409);
    await gap.body?.cancel();
    const socket = await opened.promise;
    assertEquals(got, ["x", "\0y", "z"]);
    assertEquals(socket.session!.acked, 1);
    await first.cancel();
    // The client read "a" and "b": the resume replays "c" with its number.
    const second = await rawStream(base, {
      "x-switchboard-resume": session.id,
      "last-event-id": "2",
    });
    assertEquals(await greeting(second), {
      id: session.id,
      received: 3,
      resumed: true,
    });
    assertEquals(await text(second), ["c", "3"]);
    await socket.send("d");
    assertEquals(await text(second), ["d", "4"]);
    // What the first stream's POST delivered is skipped on the second.
    assertEquals(
      await answer(second.post({ seq: 2, ack: 4, messages: [["t", "z"]] })),
      { received: 3 },
    );
    assertEquals(socket.session!.acked, 4);
    assertEquals(socket.session!.resumes, 1);
    // A close entry ends the session; the close event says so.
    const bye = await second.post({ seq: 3, messages: [["c", 1000, "bye"]] });
    await bye.body?.cancel();
    const close = await second.next();
    assertEquals(close.event, "close");
    assertEquals(JSON.parse(close.data), {
      code: 1000,
      reason: "bye",
      end: true,
    });
    assertEquals(await socket.closed, {
      code: 1000,
      reason: "bye",
      wasClean: true,
    });
    assertEquals(got, ["x", "\0y", "z"]);
    await second.cancel();
  },
);

bounded(
  "over the event stream a forged or closed session id gets a fresh session, and of two streams resuming one session the later wins and the earlier is closed with 4409",
  async () => {
    const sockets: Socket[] = [];
    await using srv = serve(route("/ws", async (socket) => {
      sockets.push(socket);
      await socket.send(`secret of #${sockets.length}`);
      for await (const _ of socket) { /* read */ }
    }, { transports: ["sse"], resume: true }));
    const base = `http://127.0.0.1:${srv.port}/ws`;
    const owner = await rawStream(base);
    const own = await greeting(owner);
    assertEquals(await text(owner), ["secret of #1", "1"]);
    const forger = await rawStream(base, {
      "x-switchboard-resume": "A".repeat(24),
      "last-event-id": "0",
    });
    const forged = await greeting(forger);
    assertEquals(forged.resumed, false);
    assert(forged.id !== own.id);
    assertEquals(await text(forger), ["secret of #2", "1"]);
    // Two streams resume the owner's session: the later one wins.
    const early = await rawStream(base, {
      "x-switchboard-resume": own.id,
      "last-event-id": "0",
    });
    assertEquals((await greeting(early)).resumed, true);
    const late = await rawStream(base, {
      "x-switchboard-resume": own.id,
      "last-event-id": "1",
    });
    assertEquals(await greeting(late), {
      id: own.id,
      received: 0,
      resumed: true,
    });
    let event = await early.next();
    while (event.event === "text") event = await early.next();
    assertEquals(event.event, "close");
    assertEquals(JSON.parse(event.data), {
      code: 4409,
      reason: "Session resumed by another connection",
    });
    // The owner's session ends; its id, used again, opens a fresh one.
    await (await late.post({ seq: 0, messages: [["c", 1000, ""]] })).body
      ?.cancel();
    assertEquals((await sockets[0]!.closed).code, 1000);
    const reuse = await rawStream(base, {
      "x-switchboard-resume": own.id,
      "last-event-id": "1",
    });
    const fresh = await greeting(reuse);
    assertEquals(fresh.resumed, false);
    assert(fresh.id !== own.id);
    assertEquals(await text(reuse), ["secret of #3", "1"]);
    for (const stream of [owner, forger, early, late, reuse]) {
      await stream.cancel();
    }
    assertEquals(sockets.length, 3);
    for (const socket of sockets.slice(1)) socket.close();
    for (const socket of sockets) await socket.closed;
  },
);

bounded(
  "a resume over the event stream passes the route's origin check",
  async () => {
    const { handler, sockets } = keeping();
    await using srv = serve(route("/ws", handler, {
      transports: ["sse"],
      resume: true,
      allowedOrigins: ["https://good.example"],
    }));
    const base = `http://127.0.0.1:${srv.port}/ws`;
    const good = await rawStream(base, { origin: "https://good.example" });
    const { id } = await greeting(good);
    await good.cancel();
    const evil = await fetch(`${base}?protocols=${RESUME}`, {
      headers: {
        accept: "text/event-stream",
        origin: "https://evil.example",
        "x-switchboard-resume": id,
        "last-event-id": "0",
      },
    });
    assertEquals(evil.status, 403);
    await evil.body?.cancel();
    const back = await rawStream(base, {
      origin: "https://good.example",
      "x-switchboard-resume": id,
      "last-event-id": "0",
    });
    assertEquals((await greeting(back)).resumed, true);
    await back.cancel();
    assertEquals(sockets.length, 1);
    sockets[0]!.close();
    await sockets[0]!.closed;
  },
);

bounded(
  "a new session whose greeting was lost with its stream is claimed again by the next stream's X-Switchboard-Claim",
  async () => {
    const app = keeping(async (socket) => {
      await socket.send("welcome");
      await read(socket);
    });
    await using srv = serve(
      route("/ws", app.handler, { transports: ["sse"], resume: true }),
    );
    const base = `http://127.0.0.1:${srv.port}/ws`;
    const claim = { "x-switchboard-claim": "c".repeat(22) };
    const first = await rawStream(base, claim);
    const session = await greeting(first);
    await first.cancel();
    const again = await rawStream(base, claim);
    assertEquals(await greeting(again), {
      id: session.id,
      received: 0,
      resumed: true,
    });
    assertEquals(await text(again), ["welcome", "1"]);
    assertEquals(app.sockets.length, 1);
    await again.cancel();
    const socket = await app.first;
    socket.close();
    await socket.closed;
  },
);

bounded(
  "a plain event-stream client on a resume route gets a plain connection",
  async () => {
    const { handler, first } = keeping(echo);
    await using srv = serve(
      route("/ws", handler, { transports: ["sse"], resume: true }),
    );
    const plain = connect(`${srv.url}/ws`, { transports: ["sse"], ...fast });
    await deadline(once(plain, "open"), 3000, "open");
    assertEquals(plain.session, undefined);
    const socket = await first;
    assertEquals(socket.session, undefined);
    await plain.send("\0plain");
    for await (const msg of plain) {
      assertEquals(msg.data, "\0plain");
      break;
    }
    await plain.closed;
    await socket.closed;
  },
);

bounded(
  "over the event stream each side trims the other's replay buffer while the stream lives: acks ride on POSTs and their answers",
  async () => {
    const opened = Promise.withResolvers<Socket>();
    const got: string[] = [];
    await using srv = serve(route("/ws", async (socket) => {
      opened.resolve(socket);
      const sending = (async () => {
        for (let i = 0; i < 40; i++) await socket.send(`s${i}`);
      })();
      for await (const msg of socket) got.push(msg.data as string);
      await sending;
    }, { transports: ["sse"], resume: { maxUnacked: 4 } }));
    const client = connect(`${srv.url}/ws`, {
      resume: { maxUnacked: 4 },
      transports: ["sse"],
      ...fast,
    });
    const received: string[] = [];
    const reading = (async () => {
      for await (const msg of client) {
        received.push(msg.data as string);
        if (received.length === 40) break;
      }
    })();
    for (let i = 0; i < 40; i++) await client.send(`c${i}`);
    await deadline(reading, 5000, "40 messages");
    const socket = await opened.promise;
    await until(() => got.length === 40, 3000, "the client's 40");
    assertEquals(received, Array.from({ length: 40 }, (_, i) => `s${i}`));
    assertEquals(got, Array.from({ length: 40 }, (_, i) => `c${i}`));
    assertEquals(socket.session!.resumes, 0);
    await client.closed;
    await socket.closed;
  },
);

bounded(
  "over the event stream a client that answers no keepalive is dropped, not ended: its session waits and resumes",
  async () => {
    const { handler, first } = keeping();
    await using srv = serve(route("/ws", handler, {
      transports: ["sse"],
      resume: true,
      keepAliveInterval: 0.05,
    }));
    const base = `http://127.0.0.1:${srv.port}/ws`;
    const silent = await rawStream(base);
    const { id } = await greeting(silent);
    let event = await silent.next();
    while (event.event !== "end") event = await silent.next();
    await silent.cancel();
    const socket = await first;
    assertEquals(socket.readyState, 1);
    await socket.send("kept");
    const back = await rawStream(base, {
      "x-switchboard-resume": id,
      "last-event-id": "0",
    });
    assertEquals((await greeting(back)).resumed, true);
    assertEquals(await text(back), ["kept", "1"]);
    await back.cancel();
    socket.close();
    await socket.closed;
  },
);

/**
 * A session opened on one transport moves to the other when a drop leaves
 * its own refused, with messages sent both ways before, during and after.
 */
async function switchTransports(from: "websocket" | "sse"): Promise<void> {
  let starts = 0;
  let handlerLoopEnded = false;
  const got: string[] = [];
  const opened = Promise.withResolvers<Socket>();
  const echo = route("/ws", async (socket) => {
    starts++;
    opened.resolve(socket);
    for await (const msg of socket) got.push(msg.data as string);
    handlerLoopEnded = true;
  }, { transports: BOTH, resume: { window: 5000 } });
  // The transport refused: at first the one not to start on, then the one
  // the session started on.
  let refused: string | undefined = from === "sse" ? "websocket" : undefined;
  await using srv = serve((request) => {
    const upgrade = request.headers.get("upgrade") !== null;
    if (refused === "websocket" && upgrade) {
      return new Response("Bad request: no upgrades now\n", { status: 400 });
    }
    if (refused === "sse" && !upgrade && request.method === "GET") {
      return new Response("Service unavailable\n", { status: 503 });
    }
    return echo(request);
  });
  await using proxy = new CutProxy(srv.port);
  const urls: string[] = [];
  const recording: Fetch = (input, init) => {
    urls.push(String(input));
    return fetch(input, init);
  };
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
    resume: true,
    transports: BOTH,
    fetch: recording,
    ...fast,
  });
  const events: string[] = [];
  client.addEventListener("open", (e) => {
    events.push(`open ${client.transport} resumed=${e.resumed}`);
  });
  client.addEventListener("resumed", () => {
    events.push(`resumed ${client.transport}`);
  });
  const received: string[] = [];
  const reading = (async () => {
    for await (const msg of client) received.push(msg.data as string);
  })();
  await deadline(once(client, "open"), 3000, "open");
  assertEquals(client.transport, from);
  const socket = await opened.promise;
  await client.send("c0");
  await socket.send("s0");
  await until(() => got.length === 1 && received.length === 1, 3000, "c0, s0");
  // What is sent now is lost on the wire: the resume sends it again.
  proxy.hold();
  await client.send("c1");
  await socket.send("s1");
  await delay(50);
  refused = from;
  proxy.cut();
  await proxy.release();
  await client.send("c2");
  await socket.send("s2");
  await deadline(once(client, "resumed"), 5000, "the resume");
  const to = from === "sse" ? "websocket" : "sse";
  assertEquals(client.transport, to);
  await client.send("c3");
  await socket.send("s3");
  await until(() => got.length === 4 && received.length === 4, 3000, "all");
  assertEquals(got, ["c0", "c1", "c2", "c3"]);
  assertEquals(received, ["s0", "s1", "s2", "s3"]);
  assertEquals(events, [`open ${from} resumed=false`, `resumed ${to}`]);
  assertEquals(starts, 1);
  assertEquals(handlerLoopEnded, false);
  assertEquals(socket.session!.id, client.session!.id);
  assertEquals(socket.session!.resumes, 1);
  // The session id is a secret: it never travels in a URL.
  assert(urls.length > 0);
  for (const url of urls) assert(!url.includes(client.session!.id), url);
  client.close();
  await client.closed;
  await reading;
  assertEquals((await socket.closed).code, 1000);
  assertEquals(handlerLoopEnded, true);
  await echo.shutdown();
}

bounded(
  "a session whose WebSocket is refused after a drop resumes on the event stream: nothing lost or doubled either way, the handler's loop goes on",
  () => switchTransports("websocket"),
);

bounded(
  "a session on the event stream whose stream is refused after a drop resumes on a WebSocket: nothing lost or doubled either way, the handler's loop goes on",
  () => switchTransports("sse"),
);
