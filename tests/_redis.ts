/**
 * Test helpers for Redis: a redis-server of our own on a free port (without
 * persistence, or with `appendonly yes` in a folder), killed by PID, and
 * polling until a condition holds.
 *
 * @module
 */

import { delay } from "./_helpers.ts";

/** A free TCP port on 127.0.0.1 (free when asked). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Polls `check` every 25 ms for up to `ms`; throws `what` on timeout. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await delay(25);
  }
}

/** How a {@linkcode RedisServer} keeps its data. */
export interface RedisServerOptions {
  /**
   * A folder for an append-only file, written before each answer
   * (`appendfsync always`); without it nothing is persisted.
   */
  appendonlyDir?: string;
}

/** A redis-server of our own on a fixed port. */
export class RedisServer implements AsyncDisposable {
  #child: Deno.ChildProcess | undefined;
  readonly port: number;
  readonly #options: RedisServerOptions;

  constructor(port = freePort(), options: RedisServerOptions = {}) {
    this.port = port;
    this.#options = options;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const dir = this.#options.appendonlyDir;
    const persistence = dir === undefined
      ? ["--appendonly", "no"]
      : ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--save",
        "",
        ...persistence,
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await until(`redis-server on ${this.port}`, async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port }))
          .close();
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Kills it (SIGKILL): what it had not written is lost. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    child.kill("SIGKILL");
    await child.status;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
