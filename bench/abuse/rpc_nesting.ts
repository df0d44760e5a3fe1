/**
 * Attack: deeply nested params, against `examples/rpc.ts` (issue 22 item
 * 7). One request to `add` whose params nest `--levels` deep (5M levels is
 * 9.5 MiB): the old code parses all of it (10 s, 770 MB at the peak) before
 * the params check refuses it.
 *
 * ```sh
 * deno run -A bench/abuse/rpc_nesting.ts [--root <checkout>] [--max-rss 1500]
 *   [--levels 5000000] [--count 3]
 * ```
 *
 * Sends `--count` such messages one after the other (each once the last is
 * answered), and prints the server's RSS before, at its peak and after, how
 * long each answer took, and the worst latency of an HTTP GET of the page
 * meanwhile. Stops after 30 s per message or when the server's RSS passes
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

const { root, maxRss, values } = flags({ levels: "5000000", count: "3" });
const levels = Number(values.levels);
const count = Number(values.count);

console.log(`# ${count} requests with params ${levels} levels deep (${root})`);
{
  await using server = await RpcServer.start(root, maxRss);
  await using client = await RawClient.connect(server.port);
  client.drain();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = server.rss();
  const message = `{"jsonrpc":"2.0","method":"add","params":${
    "[".repeat(levels)
  }${"]".repeat(levels)},"id":1}`;
  const answers: string[] = [];
  let worst = 0;
  for (let i = 0; i < count && server.killedAt === undefined; i++) {
    const baseline = client.received;
    const started = performance.now();
    await client.send(message);
    let doneAt = Infinity;
    worst = Math.max(
      worst,
      await watch(server, 30_000, () => {
        if (client.received > baseline) doneAt = performance.now() - started;
        return doneAt !== Infinity;
      }),
    );
    answers.push(ms(doneAt).replace("within 5 s", "within 30 s"));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  report(server, before, {
    "message size": mb(message.length),
    "answered after": answers.join(", "),
    "worst HTTP probe while it ran": ms(worst),
    "HTTP probe at the end": ms(await probe(server.port)),
  });
}
console.log(`(max RSS allowed ${mb(maxRss)})`);
