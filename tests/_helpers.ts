/**
 * Test helpers: a real server on 127.0.0.1 with a free port, clients, and a
 * raw TCP peer that writes its own frames.
 *
 * @module
 */

/** A running test server, closed by `await using`. */
export interface TestServer extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  readonly server: Deno.HttpServer<Deno.NetAddr>;
}

/** Starts `Deno.serve` on 127.0.0.1 with a free port. */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
): TestServer {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    handler,
  );
  const port = server.addr.port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    server,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Opens a Deno client WebSocket and waits for it to open. */
export function open(url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

/** Resolves with a WebSocket's close event. */
export function closeEvent(ws: WebSocket): Promise<CloseEvent> {
  if (ws.readyState === WebSocket.CLOSED) {
    return Promise.resolve(new CloseEvent("close", { code: 1006 }));
  }
  return new Promise((resolve) =>
    ws.addEventListener("close", (e) => resolve(e), { once: true })
  );
}

/** Resolves with the next `n` messages a client WebSocket receives. */
export function collect(
  ws: WebSocket,
  n: number,
): Promise<(string | ArrayBuffer)[]> {
  const got: (string | ArrayBuffer)[] = [];
  return new Promise((resolve, reject) => {
    if (n === 0) resolve(got);
    const onMessage = (e: MessageEvent) => {
      got.push(e.data);
      if (got.length === n) {
        ws.removeEventListener("message", onMessage);
        resolve(got);
      }
    };
    ws.addEventListener("message", onMessage);
    ws.addEventListener(
      "close",
      (e) =>
        got.length < n &&
        reject(new Error(`closed with ${e.code} after ${got.length} of ${n}`)),
    );
  });
}

/** A deferred promise. */
export function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const delay = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A valid handshake request's headers, to be changed per test. */
export function handshakeHeaders(): Record<string, string> {
  return {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
  };
}

/** A raw TCP peer: writes an HTTP request and its own frames. */
export class RawPeer implements AsyncDisposable {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends a request line and headers, reads back the response head. */
  async request(
    method: string,
    path: string,
    headers: Record<string, string | undefined>,
  ): Promise<{ status: number; headers: Headers; body: string }> {
    let text = `${method} ${path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) text += `${name}: ${value}\r\n`;
    }
    await this.write(encoder.encode(text + "\r\n"));
    const head = await this.#readUntil("\r\n\r\n");
    const [statusLine = "", ...lines] = head.split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const result = new Headers();
    for (const line of lines) {
      const at = line.indexOf(":");
      if (at > 0) result.append(line.slice(0, at), line.slice(at + 1).trim());
    }
    let body = "";
    const length = Number(result.get("content-length") ?? "0");
    if (status !== 101 && length > 0) {
      while (this.#buffer.length < length) await this.#fill();
      body = decoder.decode(this.#buffer.subarray(0, length));
      this.#buffer = this.#buffer.subarray(length);
    }
    return { status, headers: result, body };
  }

  /** Completes a valid handshake; throws unless the answer is 101. */
  async handshake(extra: Record<string, string> = {}): Promise<Headers> {
    const { status, headers } = await this.request("GET", "/", {
      ...handshakeHeaders(),
      ...extra,
    });
    if (status !== 101) throw new Error(`expected 101, got ${status}`);
    return headers;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  /** Writes one masked client frame. */
  frame(
    opcode: number,
    payload: Uint8Array | string,
    { fin = true, mask = true }: { fin?: boolean; mask?: boolean } = {},
  ): Promise<void> {
    const data = typeof payload === "string"
      ? encoder.encode(payload)
      : payload;
    const head: number[] = [(fin ? 0x80 : 0) | opcode];
    const m = mask ? 0x80 : 0;
    if (data.length < 126) head.push(m | data.length);
    else if (data.length < 65536) {
      head.push(m | 126, data.length >> 8, data.length & 255);
    } else {
      head.push(m | 127, 0, 0, 0, 0);
      head.push(
        (data.length >>> 24) & 255,
        (data.length >>> 16) & 255,
        (data.length >>> 8) & 255,
        data.length & 255,
      );
    }
    const key = [1, 2, 3, 4];
    if (mask) head.push(...key);
    const out = new Uint8Array(head.length + data.length);
    out.set(head);
    for (let i = 0; i < data.length; i++) {
      out[head.length + i] = mask ? data[i]! ^ key[i & 3]! : data[i]!;
    }
    return this.write(out);
  }

  /** Reads one server frame (servers do not mask). */
  async readFrame(): Promise<{ opcode: number; payload: Uint8Array } | null> {
    try {
      while (this.#buffer.length < 2) await this.#fill();
      const b = this.#buffer;
      let length = b[1]! & 127;
      let offset = 2;
      if (length === 126) {
        while (this.#buffer.length < 4) await this.#fill();
        length = (this.#buffer[2]! << 8) | this.#buffer[3]!;
        offset = 4;
      } else if (length === 127) {
        while (this.#buffer.length < 10) await this.#fill();
        length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset)
          .getUint32(6);
        offset = 10;
      }
      while (this.#buffer.length < offset + length) await this.#fill();
      const opcode = this.#buffer[0]! & 15;
      const payload = this.#buffer.slice(offset, offset + length);
      this.#buffer = this.#buffer.subarray(offset + length);
      return { opcode, payload };
    } catch {
      return null;
    }
  }

  /** Reads frames until a close frame; returns its code and reason. */
  async readClose(): Promise<{ code: number; reason: string } | null> {
    for (;;) {
      const frame = await this.readFrame();
      if (frame === null) return null;
      if (frame.opcode === 8) {
        const p = frame.payload;
        return p.length < 2 ? { code: 1005, reason: "" } : {
          code: (p[0]! << 8) | p[1]!,
          reason: decoder.decode(p.subarray(2)),
        };
      }
    }
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
  }

  async #readUntil(marker: string): Promise<string> {
    for (;;) {
      const text = decoder.decode(this.#buffer);
      const at = text.indexOf(marker);
      if (at >= 0) {
        const headBytes = encoder.encode(text.slice(0, at + marker.length));
        this.#buffer = this.#buffer.subarray(headBytes.length);
        return text.slice(0, at);
      }
      await this.#fill();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
