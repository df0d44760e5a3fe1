/**
 * Idle memory per connection at scale: Switchboard's echo server against the
 * raw Deno one, each alone, as the RSS growth from `base` open idle
 * connections to `base + count`, each reading after a full collection (the
 * method of `lib/idle_memory.ts`). The paired mode reads 1,000 → 3,000, where
 * the young generation V8 grows while connections open (once, up to its
 * limit) amplifies a difference in the JS heap; here it is spread over many
 * more connections, so the figure is close to what each further connection
 * costs in a full process.
 *
 * ```sh
 * deno run -A bench/idle_scale.ts [--quick] [--base=4000] [--count=10000] [--rounds=2]
 * ```
 *
 * The servers take turns (a fresh process each, pinned to core 0 when
 * `taskset` is there; the order alternates by round), one at a time so that
 * the client's open files stay under 20,000. Prints a markdown table: KiB per
 * connection for each server and round, the medians and their ratio. About
 * two minutes with the defaults; `--quick` reads 2,000 → 6,000 once.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { SERVERS } from "./lib/echo_servers.ts";
import { idleMemory } from "./lib/idle_memory.ts";
import { canPin, pin, startServer } from "./lib/process.ts";
import { median } from "./lib/stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    base: { type: "string" },
    count: { type: "string" },
    rounds: { type: "string" },
  },
});
const quick = values.quick;
const plan = {
  base: whole("base", values.base, quick ? 2000 : 4000),
  count: whole("count", values.count, quick ? 4000 : 10000),
};
const rounds = whole("rounds", values.rounds, quick ? 1 : 2);
if (plan.base + plan.count > 19_000) {
  throw new RangeError(
    `Invalid --base and --count: ${
      plan.base + plan.count
    } connections would pass the 20,000 open files a process may hold`,
  );
}

const pinned = await canPin();
if (pinned) await pin(Deno.pid, 1);
const ids = ["switchboard", "deno"] as const;
const kib: Record<string, number[]> = { switchboard: [], deno: [] };
for (let round = 0; round < rounds; round++) {
  for (const id of round % 2 === 0 ? ids : [...ids].reverse()) {
    const spec = SERVERS.find((server) => server.id === id)!;
    await using server = await startServer(
      id,
      await spec.prepare(),
      pinned ? 0 : undefined,
    );
    const [perConnection] = await idleMemory([server], plan);
    kib[id]!.push(perConnection as number);
    console.error(`round ${round + 1}: ${id} ${perConnection!.toFixed(2)} KiB`);
  }
}

const fmt = (value: number) => value.toFixed(2);
const sb = median(kib.switchboard!);
const raw = median(kib.deno!);
console.log(
  [
    `## Idle memory at scale: ${plan.base.toLocaleString("en-US")} → ${
      (plan.base + plan.count).toLocaleString("en-US")
    } connections`,
    "",
    "| server | KiB per idle connection (rounds) | median |",
    "| --- | --- | --- |",
    `| Switchboard | ${kib.switchboard!.map(fmt).join(", ")} | ${fmt(sb)} |`,
    `| raw Deno | ${kib.deno!.map(fmt).join(", ")} | ${fmt(raw)} |`,
    "",
    `Switchboard / raw Deno: ${(sb / raw).toFixed(3)}x (${
      fmt(sb - raw)
    } KiB more per connection).`,
  ].join("\n"),
);

function whole(name: string, value: string | undefined, fallback: number) {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) {
    throw new RangeError(
      `Invalid --${name}: expected a positive whole number, got ${value}`,
    );
  }
  return number;
}
