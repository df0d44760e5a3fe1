/**
 * Shared parts of the JSON-RPC attack scripts (`rpc_batch.ts`,
 * `rpc_inflight.ts`, `rpc_notify_errors.ts`, `rpc_nesting.ts`); not an attack
 * itself.
 *
 * Each script starts `examples/rpc.ts --port 0` in a child process on
 * 127.0.0.1 from `--root` (this checkout by default; a `git worktree` of an
 * older commit measures the old code), watches its RSS from
 * `/proc/<pid>/status`, and kills it when it passes `--max-rss` MB so a run
 * never takes the machine down. The attacking connections are raw TCP with
 * hand-written frames, so they can read nothing at all.
 *
 * @module
 */

import { parseArgs } from "node:util";

const encoder = new TextEncoder();
const MB = 1e6;

/** The flags every script takes, plus its own. */
export function flags<T extends Record<string, string>>(
  own: T,
): { root: string; maxRss: number; values: T } {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      root: {
        type: "string",
        default: new URL("../../", import.meta.url).pathname,
      },
      "max-rss": { type: "string", default: "1500" },
      ...Object.fromEntries(
        Object.entries(own).map((
          [name, value],
        ) => [name, { type: "string" as const, default: value }]),
      ),
    },
  });
  return {
    root: values.root as string,
    maxRss: Number(values["max-rss"]) * MB,
    values: values as unknown as T,
  };
}

/** The example server in a child process, with its RSS watched. */
export class RpcServer implements AsyncDisposable {
  readonly port: number;
  /** Bytes the server wrote to stderr. */
  stderrBytes = 0;
  /** Lines the server wrote to stderr. */
  stderrLines = 0;
  /** Highest RSS seen, in bytes. */
  peak = 0;
  /** Set when the watchdog killed the server for its RSS. */
  killedAt: number | undefined;
  readonly #child: Deno.ChildProcess;
  readonly #timer: ReturnType<typeof setInterval>;

  private constructor(child: Deno.ChildProcess, port: number, maxRss: number) {
    this.#child = child;
    this.port = port;
    this.#timer = setInterval(() => {
      const rss = this.rss();
      if (rss > this.peak) this.peak = rss;
      if (rss > maxRss && this.killedAt === undefined) {
        this.killedAt = rss;
        this.kill();
      }
    }, 50);
  }

  static async start(root: string, maxRss: number): Promise<RpcServer> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        `${root}/examples/rpc.ts`,
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let port = 0;
    while (port === 0) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the server exited before listening");
      text += value;
      const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (match) port = Number(match[1]);
    }
    // keep draining stdout so the child never blocks on it
    (async () => {
      while (!(await lines.read()).done);
    })();
    const server = new RpcServer(child, port, maxRss);
    (async () => {
      for await (const chunk of child.stderr) {
        server.stderrBytes += chunk.length;
        for (const byte of chunk) if (byte === 10) server.stderrLines++;
      }
    })();
    return server;
  }

  /** The server's resident memory now, in bytes (0 once it is gone). */
  rss(): number {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.#child.pid}/status`);
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      return 0;
    }
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    this.kill();
    await this.#child.status;
  }
}

/**
 * How long an HTTP GET of the page takes, in ms; `Infinity` when no answer
 * came within `timeout` ms.
 */
export async function probe(port: number, timeout = 5000): Promise<number> {
  const started = performance.now();
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      signal: AbortSignal.timeout(timeout),
    });
    await response.arrayBuffer();
    return performance.now() - started;
  } catch {
    return Infinity;
  }
}

/** A WebSocket client over raw TCP that reads only when told to. */
export class RawClient implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  /** Bytes read and thrown away by `drain()`. */
  received = 0;
  #draining = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const client = new RawClient(conn);
    await client.#write(encoder.encode(
      "GET /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    ));
    // read the 101 head (the first bytes after it may be the server's call)
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    if (!head.startsWith("HTTP/1.1 101")) {
      throw new Error(`handshake failed: ${head.split("\r\n")[0]}`);
    }
    return client;
  }

  /** Sends text messages as masked frames (a zero mask key: no copy). */
  async send(...texts: string[]): Promise<void> {
    const frames = texts.map(frame);
    let size = 0;
    for (const f of frames) size += f.length;
    const out = new Uint8Array(size);
    let offset = 0;
    for (const f of frames) {
      out.set(f, offset);
      offset += f.length;
    }
    await this.#write(out);
  }

  /** Reads and discards everything the server sends, until closed. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    (async () => {
      const buffer = new Uint8Array(1 << 16);
      try {
        for (;;) {
          const n = await this.#conn.read(buffer);
          if (n === null) return;
          this.received += n;
        }
      } catch {
        // closed
      }
    })();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    return Promise.resolve();
  }
}

function frame(text: string): Uint8Array {
  const data = encoder.encode(text);
  const head: number[] = [0x81];
  if (data.length < 126) head.push(0x80 | data.length);
  else if (data.length < 65536) {
    head.push(0x80 | 126, data.length >> 8, data.length & 255);
  } else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push(
      (data.length >>> 24) & 255,
      (data.length >>> 16) & 255,
      (data.length >>> 8) & 255,
      data.length & 255,
    );
  }
  head.push(0, 0, 0, 0); // mask key 0: the payload goes as it is
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/** Megabytes, for printing. */
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;

/** Milliseconds, for printing; "no answer" for Infinity. */
export const ms = (value: number): string =>
  Number.isFinite(value) ? `${value.toFixed(0)} ms` : "no answer within 5 s";

/**
 * Samples the probe until `until` ms have passed, `done()` says so, or the
 * server was killed; returns the worst probe latency seen.
 */
export async function watch(
  server: RpcServer,
  until: number,
  done: () => boolean,
): Promise<number> {
  const deadline = performance.now() + until;
  let worst = 0;
  while (performance.now() < deadline && server.killedAt === undefined) {
    if (done()) break;
    const latency = await probe(server.port);
    worst = Math.max(worst, latency);
    if (done()) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return worst;
}

/** Prints the figures every script shows. */
export function report(
  server: RpcServer,
  before: number,
  figures: Record<string, string | number>,
): void {
  console.log(`server RSS before: ${mb(before)}`);
  console.log(`server RSS peak:   ${mb(server.peak)}`);
  console.log(
    server.killedAt === undefined
      ? `server RSS after:  ${mb(server.rss())}`
      : `server RSS over the limit (${
        mb(server.killedAt)
      }): killed by the watchdog`,
  );
  for (const [name, value] of Object.entries(figures)) {
    console.log(`${name}: ${value}`);
  }
}
