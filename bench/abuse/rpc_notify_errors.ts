/**
 * Attack: notifications that fail, against `examples/rpc.ts` (issue 22 item
 * 6). Each is `add` with bad params, so it gets no answer and goes to the
 * peer's `onError`, which the example logs. The old code logs one error per
 * notification: one 13.7 MiB message of 300k blocked the event loop for
 * 21 s and wrote 113 MB to stderr.
 *
 * ```sh
 * deno run -A bench/abuse/rpc_notify_errors.ts [--root <checkout>]
 *   [--max-rss 1500] [--entries 150000] [--messages 150]
 * ```
 *
 * 1. One batch of `--entries` bad notifications.
 * 2. `--messages` batches of 1,000 bad notifications each (within the new
 *    default `maxBatchSize`).
 *
 * Prints the server's RSS before, at its peak and after, the bytes and
 * lines it wrote to stderr, and the worst latency of an HTTP GET of the page
 * meanwhile. Each phase stops after 30 s or when the server's RSS passes
 * `--max-rss` MB.
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

const { root, maxRss, values } = flags({
  entries: "150000",
  messages: "150",
});
const bad = '{"jsonrpc":"2.0","method":"add","params":[1]}';

for (
  const [title, batches, size] of [
    [
      `one batch of ${values.entries} bad notifications`,
      1,
      Number(values.entries),
    ],
    [
      `${values.messages} batches of 1,000 bad notifications`,
      Number(values.messages),
      1000,
    ],
  ] as const
) {
  console.log(`# ${title} (${root})`);
  await using server = await RpcServer.start(root, maxRss);
  await using client = await RawClient.connect(server.port);
  client.drain();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = server.rss();
  const batch = `[${new Array(size).fill(bad).join(",")}]`;
  const started = performance.now();
  for (let i = 0; i < batches && server.killedAt === undefined; i++) {
    await client.send(batch);
  }
  // a request after them: its answer says the server got through them
  const baseline = client.received;
  await client.send('{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}');
  let doneAt = Infinity;
  const worst = await watch(server, 30_000, () => {
    if (client.received > baseline) doneAt = performance.now() - started;
    return doneAt !== Infinity;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  report(server, before, {
    "through all of them after": ms(doneAt).replace(
      "within 5 s",
      "within 30 s",
    ),
    "stderr written":
      `${server.stderrBytes} bytes, ${server.stderrLines} lines`,
    "worst HTTP probe while it ran": ms(worst),
    "HTTP probe at the end": ms(await probe(server.port)),
  });
  console.log();
}
console.log(`(max RSS allowed ${mb(maxRss)})`);
