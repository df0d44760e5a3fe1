import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { route, type Socket } from "../mod.ts";
import { type Client, connect } from "../src/client/mod.ts";
import type { ClientEvent } from "../src/client/events.ts";
import type { Message } from "../src/message.ts";
import { serve } from "./_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";

/** Messages each way in the cut test (the issue asks 10,000: raise it). */
const MESSAGES = Number(Deno.env.get("SESSION_MESSAGES") ?? 2000);
/** Cuts at least. */
const CUTS = 10;

const fast = { initialDelay: 5, maxDelay: 40, minUptime: 0 };

/** The i-th message of a side: text, text starting with U+0000, or binary. */
function message(side: string, i: number): string | Uint8Array {
  if (i % 3 === 2) {
    const bytes = new Uint8Array(4 + (i % 50));
    new DataView(bytes.buffer).setUint32(0, i);
    bytes[4] = side.charCodeAt(0);
    return bytes;
  }
  return i % 7 === 0 ? `\0${side}${i}` : `${side}${i}`;
}

function same(msg: Message, expected: string | Uint8Array): boolean {
  if (typeof expected === "string") {
    return msg.type === "text" && msg.data === expected;
  }
  return msg.type === "binary" &&
    msg.data.length === expected.length &&
    msg.data.every((b, j) => b === expected[j]);
}

function describe(msg: Message | undefined): string {
  if (msg === undefined) return "nothing";
  if (msg.type === "text") return JSON.stringify(msg.data);
  return `binary #${new DataView(msg.data.buffer).getUint32(0)}`;
}

function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
    }),
  ]);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function once(client: Client, type: string): Promise<ClientEvent> {
  return new Promise((resolve) =>
    client.addEventListener(type, (e) => resolve(e as ClientEvent), {
      once: true,
    })
  );
}

Deno.test("a resumable session delivers every message once and in order both ways across random cuts", async () => {
  let handlerLoopEnded = false;
  let serverGot = 0;
  let serverError = "";
  let serverSocket: Socket | undefined;
  const serverDone = Promise.withResolvers<void>();
  const ws = route("/ws", async (socket) => {
    serverSocket = socket;
    const sending = (async () => {
      for (let i = 0; i < MESSAGES; i++) {
        await socket.send(message("s", i));
        if (i % 8 === 7) await delay(3);
      }
    })();
    for await (const msg of socket) {
      if (!serverError && !same(msg, message("c", serverGot))) {
        serverError = `server expected #${serverGot}, got ${describe(msg)}`;
      }
      if (++serverGot === MESSAGES) serverDone.resolve();
    }
    handlerLoopEnded = true;
    await sending.catch(() => {});
  }, { resume: true });
  await using srv = serve(ws);
  await using proxy = new CutProxy(srv.port);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
    resume: true,
    ...fast,
  });
  let resumed = 0;
  let opens = 0;
  client.addEventListener("resumed", () => resumed++);
  client.addEventListener("open", () => opens++);
  let clientGot = 0;
  let clientError = "";
  const clientDone = Promise.withResolvers<void>();
  const reading = (async () => {
    for await (const msg of client) {
      if (!clientError && !same(msg, message("s", clientGot))) {
        clientError = `client expected #${clientGot}, got ${describe(msg)}`;
      }
      if (++clientGot === MESSAGES) clientDone.resolve();
    }
  })();
  const sending = (async () => {
    for (let i = 0; i < MESSAGES; i++) {
      await client.send(message("c", i));
      if (i % 8 === 7) await delay(3);
    }
  })();
  // Cuts at random moments, some in the middle of a frame, one followed by
  // refused reconnects, until both sides have everything.
  let stop = false;
  const cutting = (async () => {
    for (let n = 0; !stop; n++) {
      await delay(20 + Math.random() * 60);
      if (stop) break;
      if (n % 3 === 0) proxy.cutAfter(Math.floor(Math.random() * 3000));
      else proxy.cut();
      if (n === 4) proxy.refuse(150);
    }
  })();
  const bothDone = Promise.all([
    clientDone.promise,
    sending,
    serverDone.promise,
  ]);
  await deadline(
    (async () => {
      // At least CUTS cuts happen while messages flow.
      while (proxy.cuts < CUTS) await delay(10);
      await bothDone;
    })(),
    30_000,
    "every message both ways",
  ).catch((error) => {
    throw new Error(
      `${error.message}: client got ${clientGot}, server got ${serverGot}, ${proxy.cuts} cuts`,
    );
  }).finally(() => stop = true);
  await cutting;
  assertEquals(clientError, "");
  assertEquals(serverError, "");
  assertEquals(clientGot, MESSAGES);
  assertEquals(serverGot, MESSAGES);
  assert(proxy.cuts >= CUTS, `only ${proxy.cuts} cuts`);
  assert(resumed >= 1, "no resumed event");
  assertEquals(opens, 1);
  assertEquals(handlerLoopEnded, false);
  const info = serverSocket!.session!;
  assertEquals(info.received, MESSAGES);
  assertEquals(info.sent, MESSAGES);
  assertEquals(info.id, client.session!.id);
  assert(info.resumes >= 1);
  client.close();
  assertEquals((await client.closed).code, 1000);
  await reading;
  assertEquals((await serverSocket!.closed).code, 1000);
  assertEquals(handlerLoopEnded, true);
});
