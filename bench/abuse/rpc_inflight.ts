/**
 * Attack: JSON-RPC requests that never finish, against `examples/rpc.ts`
 * (issue 22 item 2). `greetMe` calls the page's `ask` before it answers; this
 * client reads everything the server sends but never answers `ask`, so every
 * `greetMe` stays in flight (the example's call timeout is 60 s). The old
 * code keeps each one: 1M held 1.75 GB.
 *
 * ```sh
 * deno run -A bench/abuse/rpc_inflight.ts [--root <checkout>] [--max-rss 1500]
 *   [--requests 300000]
 * ```
 *
 * Sends `--requests` single requests (10,000 per write), then watches for
 * 10 s and prints the server's RSS before, at its peak and after, the
 * answers it sent (bytes), and the worst latency of an HTTP GET of the page.
 * Stops when the server's RSS passes `--max-rss` MB (the server is killed).
 *
 * @module
 */

import {
  flags,
  mb,
  ms,
  probe,
  RawClient,
  report,
  RpcServer,
  watch,
} from "./rpc_common.ts";

const { root, maxRss, values } = flags({ requests: "300000" });
const requests = Number(values.requests);

console.log(`# ${requests} greetMe requests never answered (${root})`);
{
  await using server = await RpcServer.start(root, maxRss);
  await using client = await RawClient.connect(server.port);
  client.drain();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = server.rss();
  const baseline = client.received;
  const started = performance.now();
  let sent = 0;
  let closed = "no";
  try {
    while (sent < requests && server.killedAt === undefined) {
      const chunk: string[] = [];
      for (let i = 0; i < 10_000 && sent + i < requests; i++) {
        chunk.push(`{"jsonrpc":"2.0","method":"greetMe","id":${sent + i}}`);
      }
      await client.send(...chunk);
      sent += chunk.length;
    }
  } catch (error) {
    closed = `yes, after about ${sent} requests (${(error as Error).name})`;
  }
  const sentIn = performance.now() - started;
  const worst = await watch(server, 10_000, () => false);
  report(server, before, {
    "sent in": ms(sentIn),
    "server dropped the connection": closed,
    "bytes the server sent back (ask calls and answers)": client.received -
      baseline,
    "worst HTTP probe while it ran": ms(worst),
    "HTTP probe at the end": ms(await probe(server.port)),
  });
}
console.log(`(max RSS allowed ${mb(maxRss)})`);
