/**
 * Several chat servers behind one address, with no sticky sessions: starts
 * a redis-server (no persistence, on a free port), three `chat.ts --redis`
 * servers (rooms shared through Redis, resumable sessions kept in Redis) and
 * the round-robin TCP balancer of `balancer.ts`, and prints the URL. Kill
 * one server (its PID is printed) and its clients carry on on the others;
 * stop one with SIGTERM (a rolling deploy) and it hands its sessions off
 * through Redis: its clients resume on the others with nothing lost.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-run --allow-env examples/cluster.ts [--port 8000]
 * ```
 *
 * @module
 */

import { Balancer } from "./balancer.ts";
import { fail, parseFlags } from "./_cli.ts";

const USAGE =
  `Usage: deno run --allow-net --allow-read --allow-run --allow-env examples/cluster.ts [options]

Starts redis-server, three chat servers sharing it and a round-robin TCP
balancer in front of them, and prints the balancer's URL.

Options:
  --port <n>         the balancer's port, 0 for any free port (default 8000)
  --servers <n>      how many chat servers (default 3)
  --redis-server <p> the redis-server program (default redis-server)
  -h, --help         show this help`;

const flags = parseFlags(Deno.args, USAGE, {
  servers: "3",
  "redis-server": "redis-server",
});
const count = Number(flags.values.servers);
if (!Number.isInteger(count) || count < 1 || count > 16) {
  fail("--servers must be a number from 1 to 16", USAGE);
}

/** A free port on 127.0.0.1 (free when asked). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Waits until something listens on `port`. */
async function listening(port: number): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`Nothing listens on ${port} after 10 s`);
}

const children: Deno.ChildProcess[] = [];
const redisPort = freePort();
children.push(
  new Deno.Command(flags.values["redis-server"]!, {
    args: ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", ""],
    stdout: "null",
  }).spawn(),
);
await listening(redisPort);
const redis = `redis://127.0.0.1:${redisPort}`;

const chat = new URL("./chat.ts", import.meta.url).pathname;
const ports = Array.from({ length: count }, freePort);
for (const port of ports) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      chat,
      "--port",
      String(port),
      "--redis",
      redis,
    ],
    stdout: "null",
  }).spawn();
  children.push(child);
  console.log(`chat server on ${port}: pid ${child.pid}`);
}
await Promise.all(ports.map(listening));

const balancer = new Balancer(ports, flags.port);
console.log(
  `Cluster at http://127.0.0.1:${balancer.port}/ (${count} chat servers behind a round-robin balancer, Redis at ${redis}; Ctrl-C stops)`,
);

/** Stops processes with SIGTERM and waits for them to end. */
async function terminate(processes: Deno.ChildProcess[]): Promise<void> {
  for (const child of processes) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Ended already.
    }
  }
  await Promise.all(processes.map((child) => child.status));
}

const stop = async () => {
  await balancer.close();
  // The chat servers first: each stores its sessions' last state in Redis
  // as it shuts down (a hand-off), which needs Redis still there.
  const [redisServer, ...chatServers] = children;
  await terminate(chatServers);
  await terminate([redisServer!]);
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
