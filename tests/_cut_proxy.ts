/**
 * A test TCP proxy on 127.0.0.1 that cuts connections: at once, at a
 * random moment in the byte stream (mid frame included), or by holding
 * bytes back; and that can refuse new connections for a while.
 *
 * @module
 */

/** One proxied connection: the client's side and the server's. */
interface Pair {
  client: Deno.TcpConn;
  server: Deno.TcpConn;
  closed: boolean;
  /** Its next answer is dropped and the pair cut. */
  dropAnswer: boolean;
}

/** The proxy, closed by `await using`. */
export class CutProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  #target: number;
  readonly #pairs = new Set<Pair>();
  readonly #tasks = new Set<Promise<void>>();
  #refuseUntil = 0;
  /** Cut a connection after this many more forwarded bytes (mid chunk). */
  #cutAfter = Infinity;
  /** While set, bytes are held back instead of forwarded. */
  #held: { pair: Pair; to: Deno.TcpConn; chunk: Uint8Array }[] | undefined;
  /** A request holding these bytes gets its answer dropped. */
  #marker: Uint8Array | undefined;
  #accepting: Promise<void>;
  /** Connections accepted and passed on. */
  accepted = 0;
  /** Connections cut by the proxy. */
  cuts = 0;
  /** Of those, cut in the middle of a chunk (see `cutAfter`). */
  midCuts = 0;

  /**
   * @param target The server's port on 127.0.0.1.
   */
  constructor(target: number) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** The proxy's port. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** Cuts every open connection now. */
  cut(): void {
    for (const pair of this.#pairs) this.#close(pair, true);
  }

  /**
   * Cuts the next connection that forwards `bytes` more bytes, in the middle
   * of whatever chunk crosses the mark.
   *
   * @param bytes Bytes to let through first.
   */
  cutAfter(bytes: number): void {
    this.#cutAfter = bytes;
  }

  /**
   * Refuses (accepts and closes at once) new connections for a while.
   *
   * @param ms How long.
   */
  refuse(ms: number): void {
    this.#refuseUntil = Date.now() + ms;
  }

  /**
   * Sends new connections to another port on 127.0.0.1.
   *
   * @param port The new target.
   */
  retarget(port: number): void {
    this.#target = port;
  }

  /**
   * Lets the next request that holds `marker` through, then drops the
   * answer to it and cuts its connection: the server did the work, the
   * client never hears of it.
   *
   * @param marker Text the request contains.
   */
  dropAnswerTo(marker: string): void {
    this.#marker = new TextEncoder().encode(marker);
  }

  /** Holds every byte back (the peers see a silent network). */
  hold(): void {
    this.#held ??= [];
  }

  /** Forwards what was held, in order, and goes on forwarding. */
  async release(): Promise<void> {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const { pair, to, chunk } of held) {
      if (!pair.closed) await writeAll(to, chunk).catch(() => {});
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    this.#held = undefined;
    this.cut();
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      if (Date.now() < this.#refuseUntil) {
        client.close();
        continue;
      }
      let server: Deno.TcpConn;
      try {
        server = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.#target,
        });
      } catch {
        client.close();
        continue;
      }
      this.accepted++;
      const pair: Pair = { client, server, closed: false, dropAnswer: false };
      this.#pairs.add(pair);
      this.#track(this.#pipe(pair, client, server));
      this.#track(this.#pipe(pair, server, client));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #pipe(pair: Pair, from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null || pair.closed) break;
        let chunk = buffer.slice(0, n);
        if (from === pair.server && pair.dropAnswer) {
          this.#close(pair, true);
          break;
        }
        if (
          from === pair.client && this.#marker && contains(chunk, this.#marker)
        ) {
          this.#marker = undefined;
          pair.dropAnswer = true;
        }
        if (this.#held) {
          this.#held.push({ pair, to, chunk });
          continue;
        }
        if (n >= this.#cutAfter) {
          chunk = chunk.subarray(0, this.#cutAfter);
          this.#cutAfter = Infinity;
          await writeAll(to, chunk);
          if (!pair.closed) this.midCuts++;
          this.#close(pair, true);
          break;
        }
        this.#cutAfter -= n;
        await writeAll(to, chunk);
      }
    } catch {
      // The other side went away.
    }
    this.#close(pair, false);
  }

  #close(pair: Pair, cut: boolean): void {
    if (pair.closed) return;
    pair.closed = true;
    if (cut) this.cuts++;
    this.#pairs.delete(pair);
    for (const conn of [pair.client, pair.server]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }
}

async function writeAll(conn: Deno.TcpConn, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    offset += await conn.write(chunk.subarray(offset));
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}
