/**
 * A small round-robin TCP load balancer, written for `cluster.ts`: each new
 * TCP connection goes to the next server in turn (one that refuses is
 * skipped), with no stickiness at all. The tests use it too.
 *
 * Run alone: `deno run --allow-net examples/balancer.ts 8000 8001 8002 8003`
 * listens on 8000 and spreads connections over the others.
 *
 * @module
 */

/** A round-robin TCP balancer on 127.0.0.1. */
export class Balancer implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #targets: number[];
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #tasks = new Set<Promise<void>>();
  #next = 0;
  #accepting: Promise<void>;

  /**
   * @param targets The servers' ports.
   * @param port Where to listen (0: any free port).
   */
  constructor(targets: number[], port = 0) {
    this.#targets = targets;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.#accepting = this.#accept();
  }

  /** The port it listens on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** Closes every connection open now (the clients reconnect). */
  cut(): void {
    for (const conn of this.#conns) closeQuietly(conn);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Closed already.
    }
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      const task = this.#serve(client);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(client: Deno.TcpConn): Promise<void> {
    this.#conns.add(client);
    let server: Deno.TcpConn | undefined;
    for (let tries = 0; tries < this.#targets.length && !server; tries++) {
      const port = this.#targets[this.#next++ % this.#targets.length]!;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        // Down: the next one.
      }
    }
    if (server === undefined) {
      this.#conns.delete(client);
      return closeQuietly(client);
    }
    this.#conns.add(server);
    const done = () => {
      closeQuietly(client);
      closeQuietly(server);
      this.#conns.delete(client);
      this.#conns.delete(server);
    };
    await Promise.all([
      pipe(client, server).finally(done),
      pipe(server, client).finally(done),
    ]);
  }
}

async function pipe(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) return;
      let offset = 0;
      while (offset < n) offset += await to.write(buffer.subarray(offset, n));
    }
  } catch {
    // Either side went away.
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

if (import.meta.main) {
  const [port, ...targets] = Deno.args.map(Number);
  const balancer = new Balancer(targets, port);
  console.log(`balancing 127.0.0.1:${balancer.port} over ${targets}`);
}
