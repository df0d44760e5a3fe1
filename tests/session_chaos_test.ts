/**
 * The resumable sessions' chaos test, on both transports: 10,000 messages
 * each way (text, text starting with U+0000, binary) through a TCP proxy
 * that cuts the connections at random moments, some in the middle of a
 * frame, an event or a POST, and refuses new connections for a while now
 * and then. Every message must arrive exactly once and in order on both
 * sides, and the handler's loop must go on throughout.
 *
 * `SESSION_MESSAGES` and `SESSION_CUTS` change the counts;
 * `SESSION_REPORT=1` prints the figures of each run.
 *
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { route, type Socket } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import type { Transport } from "../src/message.ts";
import { serve } from "./_helpers.ts";
import { CutProxy } from "./_cut_proxy.ts";
import {
  bounded,
  deadline,
  delay,
  describe,
  fast,
  message,
  same,
} from "./_session_helpers.ts";

/** Messages each way. */
const MESSAGES = Number(Deno.env.get("SESSION_MESSAGES") ?? 10_000);
/** Cuts at least, while messages flow. */
const CUTS = Number(Deno.env.get("SESSION_CUTS") ?? 20);
const REPORT = Deno.env.get("SESSION_REPORT") === "1";

async function chaos(transport: Transport): Promise<void> {
  const started = performance.now();
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
        if (i % 16 === 15) await delay(1);
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
  }, { resume: true, transports: ["websocket", "sse"] });
  await using srv = serve(ws);
  await using proxy = new CutProxy(srv.port);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
    resume: true,
    transports: [transport],
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
      if (i % 16 === 15) await delay(1);
    }
  })();
  // Cuts at random moments, a third of them in the middle of whatever
  // crosses the proxy next, some followed by refused reconnects, until both
  // sides have everything.
  let stop = false;
  let refusals = 0;
  const cutting = (async () => {
    for (let n = 0; !stop; n++) {
      await delay(20 + Math.random() * 60);
      if (stop) break;
      if (n % 3 === 0) proxy.cutAfter(Math.floor(Math.random() * 3000));
      else proxy.cut();
      if (n % 7 === 4) {
        proxy.refuse(100 + Math.random() * 150);
        refusals++;
      }
    }
  })();
  const bothDone = Promise.all([
    clientDone.promise,
    sending,
    serverDone.promise,
  ]);
  await deadline(
    (async () => {
      while (proxy.cuts < CUTS) await delay(10);
      await bothDone;
    })(),
    80_000,
    "every message both ways",
  ).catch((error) => {
    throw new Error(
      `${error.message}: client got ${clientGot}, server got ${serverGot}, ${proxy.cuts} cuts`,
    );
  }).finally(() => stop = true);
  await cutting;
  const seconds = (performance.now() - started) / 1000;
  if (REPORT) {
    console.log(
      `${transport}: ${MESSAGES} messages each way, ${proxy.cuts} cuts (${proxy.midCuts} mid-chunk), ${refusals} refused periods, ${resumed} resumes, ${
        seconds.toFixed(1)
      } s`,
    );
  }
  assertEquals(clientError, "");
  assertEquals(serverError, "");
  assertEquals(clientGot, MESSAGES);
  assertEquals(serverGot, MESSAGES);
  assert(proxy.cuts >= CUTS, `only ${proxy.cuts} cuts`);
  assert(proxy.midCuts >= 1, "no cut in the middle of a chunk");
  assert(refusals >= 1, "no refused reconnects");
  assert(resumed >= 1, "no resumed event");
  assertEquals(opens, 1);
  assertEquals(client.transport, transport);
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
}

for (const transport of ["websocket", "sse"] as const) {
  bounded(
    `a resumable session over ${transport} delivers ${MESSAGES} messages each way once and in order across ${CUTS}+ random cuts (mid-frame too) and refused reconnects, and the handler's loop never ends`,
    () => chaos(transport),
    90_000,
  );
}
