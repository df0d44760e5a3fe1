/**
 * Test helpers for several server processes behind one balancer: a
 * {@linkcode Node} runs `tests/fixtures/cluster_server.ts` on a fixed port
 * (so that the balancer finds it again after a restart), can be killed with
 * SIGKILL, frozen (SIGSTOP), thawed (SIGCONT) and started again.
 *
 * @module
 */

import { Balancer } from "../examples/balancer.ts";
import { freePort, RedisServer } from "./_redis.ts";

const FIXTURE = new URL("./fixtures/cluster_server.ts", import.meta.url);

/** One server process of the cluster. */
export class Node implements AsyncDisposable {
  readonly name: string;
  readonly port: number = freePort();
  readonly #args: string[];
  #child: Deno.ChildProcess | undefined;
  /** Every line it printed on stdout after its first. */
  readonly lines: string[] = [];

  /**
   * @param name Its server name (in the session store).
   * @param args The fixture's other arguments.
   */
  constructor(name: string, args: string[]) {
    this.name = name;
    this.#args = args;
  }

  /** Starts it and waits for its first line. */
  async start(): Promise<void> {
    const child = this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        FIXTURE.pathname,
        "--name",
        this.name,
        "--port",
        String(this.port),
        ...this.#args,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let first = true;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    (async () => {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) return reject(new Error(`${this.name} exited`));
        text += value;
        let end;
        while ((end = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, end);
          text = text.slice(end + 1);
          if (first) {
            first = false;
            resolve();
          } else this.lines.push(line);
        }
      }
    })().catch(() => {});
    await promise;
  }

  /**
   * Sends a signal.
   *
   * @param signal SIGKILL, SIGSTOP, SIGCONT or SIGTERM.
   */
  signal(signal: Deno.Signal): void {
    this.#child?.kill(signal);
  }

  /**
   * Stops it with SIGTERM (a graceful shutdown) and waits for it to end.
   *
   * @returns Its exit code.
   */
  async stop(): Promise<number> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return -1;
    child.kill("SIGTERM");
    return (await child.status).code;
  }

  /** Kills it with SIGKILL and waits for it to end. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    try {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    } catch {
      // Ended already.
    }
    await child.status;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }
}

/** A redis-server of the test's own, its nodes and maybe a balancer. */
export interface Cluster extends AsyncDisposable {
  readonly redis: RedisServer;
  /** The first node, "a". */
  readonly a: Node;
  /** The second node, "b" (the first again in a cluster of one). */
  readonly b: Node;
  /** Every node, in the order of their names. */
  readonly nodes: readonly Node[];
  /** The round-robin balancer in front of the nodes, when asked for. */
  readonly balancer: Balancer;
}

/**
 * Starts a redis-server of the test's own and nodes on it (all at once); on
 * disposal ends them in the reverse order.
 *
 * @param names The nodes' names, "a" and "b" unless told.
 * @param balanced Whether to put a {@linkcode Balancer} in front of them.
 * @param args The fixture's arguments after `--redis <url>`, for every node.
 * @returns The running cluster (`balancer` throws when not balanced).
 */
export async function cluster(
  names: string[] = ["a", "b"],
  balanced = true,
  args: string[] = [],
): Promise<Cluster> {
  await using stack = new AsyncDisposableStack();
  const redis = stack.use(new RedisServer());
  await redis.start();
  const nodes = names.map((name) =>
    stack.use(new Node(name, ["--redis", redis.url, ...args]))
  );
  await Promise.all(nodes.map((node) => node.start()));
  const balancer = balanced
    ? stack.use(new Balancer(nodes.map((node) => node.port)))
    : undefined;
  const owned = stack.move();
  return {
    redis,
    nodes,
    a: nodes[0]!,
    b: nodes[1] ?? nodes[0]!,
    get balancer(): Balancer {
      if (balancer === undefined) throw new Error("No balancer was asked for");
      return balancer;
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
