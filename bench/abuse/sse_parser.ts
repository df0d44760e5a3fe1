/**
 * Abuse: a server that feeds the fallback client (`connect()` with
 * `transports: ["sse"]`, default `maxMessageSize` 16 MiB) an unterminated
 * line, or `data:` lines that never end their event. Prints, per attack, the
 * bytes the client took before it closed, its close code, the time and the
 * RSS before and after. Bounded: at most `--mib` MiB (default 64) per
 * attack and 30 s, 127.0.0.1 only.
 *
 *     deno run -A bench/abuse/sse_parser.ts
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect } from "../../src/client/mod.ts";

const { values } = parseArgs({
  options: { mib: { type: "string", default: "64" } },
});
const limit = Math.min(Number(values.mib), 512) * 1024 * 1024;
const encoder = new TextEncoder();
const MiB = 1024 * 1024;

async function attack(name: string, line: string) {
  let sent = 0;
  const chunk = encoder.encode(line.repeat(Math.ceil(65_536 / line.length)));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      if (request.headers.get("upgrade")) {
        return new Response("no upgrades\n", { status: 502 });
      }
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode(
              `event: open\ndata: {"session":"s","protocol":"","secret":"k"}\n\n`,
            ));
          },
          pull(controller) {
            if (sent >= limit) return controller.close();
            sent += chunk.length;
            controller.enqueue(chunk);
          },
        }, { highWaterMark: 0 }),
        { headers: { "content-type": "text/event-stream" } },
      );
    },
  );
  const rss0 = Deno.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 50);
  const started = performance.now();
  const client = connect(`ws://127.0.0.1:${server.addr.port}/ws`, {
    transports: ["sse"],
    maxRetries: 0,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const info = await Promise.race([
    client.closed,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), 30_000);
    }),
  ]);
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  client.close();
  console.log(JSON.stringify({
    attack: name,
    offeredMiB: limit / MiB,
    sentMiB: +(sent / MiB).toFixed(1),
    code: info?.code ?? "still open after 30 s",
    reason: info?.reason,
    seconds: +seconds.toFixed(2),
    rssBeforeMiB: +(rss0 / MiB).toFixed(0),
    rssPeakMiB: +(peak / MiB).toFixed(0),
  }));
  await server.shutdown();
}

await attack("unterminated line", "x");
await attack("endless data: lines", `data: ${"x".repeat(58)}\n`);
