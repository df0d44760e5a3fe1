/**
 * A TCP relay for the echo example's "Drop connection" button: the server
 * listens behind it, and it can cut one client's TCP connection without a
 * WebSocket close frame, as a network would (Deno's `WebSocket.close()`
 * always sends one).
 *
 * @module
 */

/**
 * A TCP relay: listens on the public address and passes every connection on
 * to the server on an internal port, byte for byte. It knows each
 * connection by the port of its own connection to the server (the server's
 * `info.remoteAddr`), and can cut one: both TCP connections close at once,
 * with no WebSocket close frame, as when a network fails.
 */
export class Relay {
  readonly #listener: Deno.TcpListener;
  readonly #pairs = new Map<number, Deno.TcpConn[]>();
  #target = 0;

  /** @param listener Where clients connect. */
  constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
  }

  /** The public address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /**
   * Passes connections on to `target` until {@linkcode Relay.close}.
   *
   * @param target The server's port on 127.0.0.1.
   */
  async run(target: number): Promise<void> {
    this.#target = target;
    try {
      for await (const conn of this.#listener) this.#pipe(conn);
    } catch {
      // The listener closed.
    }
  }

  /**
   * @param port The port of the relay's connection to the server.
   * @returns Whether that connection is open.
   */
  has(port: number): boolean {
    return this.#pairs.has(port);
  }

  /**
   * Cuts a connection.
   *
   * @param port The port of the relay's connection to the server.
   * @returns Whether that connection was open.
   */
  cut(port: number): boolean {
    const pair = this.#pairs.get(port);
    if (pair === undefined) return false;
    this.#pairs.delete(port);
    for (const conn of pair) closeQuietly(conn);
    return true;
  }

  /** Stops listening and cuts what is left. */
  close(): void {
    closeQuietly(this.#listener);
    for (const port of [...this.#pairs.keys()]) this.cut(port);
  }

  async #pipe(client: Deno.TcpConn): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#target,
      });
    } catch {
      return closeQuietly(client);
    }
    const port = (server.localAddr as Deno.NetAddr).port;
    this.#pairs.set(port, [client, server]);
    // Either side ending (or a cut) ends both.
    await Promise.race([
      client.readable.pipeTo(server.writable).catch(() => {}),
      server.readable.pipeTo(client.writable).catch(() => {}),
    ]);
    this.cut(port);
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
