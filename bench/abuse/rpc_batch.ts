/**
 * Attack: huge JSON-RPC batches against `examples/rpc.ts` (issue 22 item 1).
 *
 * 1. One 4 MiB text message `[1,1,...]` of 2^21 entries from a client that
 *    reads its answers: the old code builds one "Invalid Request" per entry
 *    in a `Promise.all` and stops answering HTTP at all.
 * 2. Twenty 1 MB junk batches (500,000 entries each) from a client that
 *    reads nothing: the old code piles up ~55 MB of answers per batch.
 *
 * ```sh
 * deno run -A bench/abuse/rpc_batch.ts [--root <checkout>] [--max-rss 1500]
 *   [--entries 2097152] [--junk 20]
 * ```
 *
 * Prints the server's RSS before, at its peak and after, how long the first
 * answer took, and the worst latency of an HTTP GET of the page meanwhile.
 * Each phase stops after 20 s, or when the server's RSS passes `--max-rss`
 * MB (the server is then killed and the run says so).
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

const { root, maxRss, values } = flags({ entries: "2097152", junk: "20" });
const entries = Number(values.entries);
const junk = Number(values.junk);

console.log(
  `# ${entries} entries in one batch, from a client that reads (${root})`,
);
{
  await using server = await RpcServer.start(root, maxRss);
  await using client = await RawClient.connect(server.port);
  client.drain();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = server.rss();
  const baseline = client.received;
  const started = performance.now();
  let answeredAt = Infinity;
  await client.send(`[${new Array(entries).fill("1").join(",")}]`);
  const worst = await watch(server, 20_000, () => {
    if (client.received > baseline && answeredAt === Infinity) {
      answeredAt = performance.now() - started;
    }
    return answeredAt !== Infinity;
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  report(server, before, {
    "first answer after": ms(answeredAt).replace("within 5 s", "within 20 s"),
    "answer bytes received": client.received - baseline,
    "worst HTTP probe while it ran": ms(worst),
    "HTTP probe at the end": ms(await probe(server.port)),
  });
}

console.log(
  `\n# ${junk} junk batches of 500,000 entries (1 MB) to a client that reads nothing`,
);
{
  await using server = await RpcServer.start(root, maxRss);
  await using client = await RawClient.connect(server.port);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = server.rss();
  const batch = `[${new Array(500_000).fill("1").join(",")}]`;
  const started = performance.now();
  for (let i = 0; i < junk && server.killedAt === undefined; i++) {
    await client.send(batch);
  }
  const sentIn = performance.now() - started;
  const worst = await watch(server, 10_000, () => false);
  report(server, before, {
    "sent in": ms(sentIn),
    "worst HTTP probe while it ran": ms(worst),
    "HTTP probe at the end": ms(await probe(server.port)),
  });
}
console.log(`(max RSS allowed ${mb(maxRss)})`);
