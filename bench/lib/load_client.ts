/**
 * The load client: WebSocket over raw TCP, written for speed so that it is not
 * what limits the servers. Frames are built once (masked with the all-zero
 * key, which RFC 6455 allows, so the payload needs no masking pass), writes
 * are batched, and replies are only counted, never decoded.
 *
 * @module
 */

import { ownCpuSeconds } from "./process.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const HEADER_END = [13, 10, 13, 10];

/**
 * A client frame: FIN, the opcode, the mask bit with a zero key, the payload.
 *
 * @param opcode 1 text, 2 binary, 8 close.
 * @param payload The payload.
 * @returns The frame's bytes.
 */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = 2 + lengthBytes + 4;
  const frame = new Uint8Array(head + n);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, head);
  return frame;
}

/**
 * `count` copies of a frame back to back, written at once to keep `count`
 * messages in flight with one system call.
 *
 * @param frame One frame.
 * @param count How many copies.
 * @returns The block.
 */
export function repeat(frame: Uint8Array, count: number): Uint8Array {
  const block = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) block.set(frame, i * frame.length);
  return block;
}

const CLOSE_FRAME = clientFrame(8, new Uint8Array([0x03, 0xe8]));

/**
 * Counts the server's frames in a byte stream that arrives in chunks of any
 * size, without copying payloads.
 */
export class FrameCounter {
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;
  #opcode = 0;
  #fin = false;
  #head = new Uint8Array(14);
  #headLength = 0;
  /** Set once a close frame has been read. */
  closed = false;
  /** The first data message's payload, kept for the echo check. */
  first: Uint8Array | undefined;
  #keepFirst: boolean;
  #firstParts: Uint8Array[] = [];
  /**
   * With `sessions`, a text frame whose payload starts with U+0000 is a
   * resumable session's control message: counted here, not as data.
   */
  #sessions: boolean;
  /** The current text frame's first payload byte is still to come. */
  #firstPending = false;
  #control = false;
  /** Session control messages read (with `sessions`). */
  controls = 0;
  /** Told each ping's payload (a client must answer with a pong). */
  #onPing: ((payload: Uint8Array) => void) | undefined;
  /** Pings read. */
  pings = 0;
  #pingParts: Uint8Array[] = [];

  /**
   * @param keepFirst Keep the first data message's bytes in `first`.
   * @param sessions Tell session control messages apart (see `controls`).
   * @param onPing Told each ping's payload.
   */
  constructor(
    keepFirst = false,
    sessions = false,
    onPing?: (payload: Uint8Array) => void,
  ) {
    this.#keepFirst = keepFirst;
    this.#sessions = sessions;
    this.#onPing = onPing;
  }

  /**
   * Reads a chunk.
   *
   * @param chunk The bytes.
   * @returns How many data messages (text or binary) ended in it.
   */
  feed(chunk: Uint8Array): number {
    let messages = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#remaining > 0) {
        if (this.#firstPending) {
          this.#control = chunk[i] === 0;
          this.#firstPending = false;
        }
        const take = Math.min(this.#remaining, n - i);
        if (this.#opcode === 9) this.#pingParts.push(chunk.slice(i, i + take));
        else if (this.#keepFirst) {
          this.#firstParts.push(chunk.slice(i, i + take));
        }
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) messages += this.#end();
        continue;
      }
      // Gather a whole header, which may straddle chunks.
      const head = this.#head;
      if (this.#headLength < 2) {
        head[this.#headLength++] = chunk[i++] as number;
        if (this.#headLength < 2) continue;
      }
      const b1 = head[1] as number;
      const len7 = b1 & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) +
        (b1 & 0x80 ? 4 : 0);
      while (this.#headLength < need && i < n) {
        head[this.#headLength++] = chunk[i++] as number;
      }
      if (this.#headLength < need) continue;
      let length = len7;
      if (len7 === 126) length = (head[2] as number) << 8 | head[3] as number;
      else if (len7 === 127) {
        length = Number(new DataView(head.buffer).getBigUint64(2));
      }
      this.#opcode = (head[0] as number) & 0x0f;
      this.#fin = ((head[0] as number) & 0x80) !== 0;
      this.#headLength = 0;
      this.#remaining = length;
      this.#control = false;
      this.#firstPending = this.#sessions && this.#opcode === 1 && length > 0;
      if (length === 0) messages += this.#end();
    }
    return messages;
  }

  #end(): number {
    if (this.#opcode === 9) {
      this.pings++;
      const parts = this.#pingParts;
      this.#pingParts = [];
      this.#onPing?.(parts.length === 1 ? parts[0]! : concat(parts));
      return 0;
    }
    if (this.#opcode === 8) {
      this.closed = true;
      return 0;
    }
    if (this.#opcode >= 8 || !this.#fin) return 0;
    if (this.#control) {
      this.controls++;
      return 0;
    }
    if (this.#keepFirst) {
      const parts = this.#firstParts;
      this.first = concat(parts);
      this.#keepFirst = false;
      this.#firstParts = [];
    }
    return 1;
  }
}

/** An open WebSocket connection of the load client. */
export interface WsConn {
  readonly conn: Deno.TcpConn;
  readonly counter: FrameCounter;
  /** Bytes read with the handshake's answer that belong to the frames. */
  readonly early: Uint8Array;
}

/**
 * Opens a WebSocket to `ws://127.0.0.1:port/ws` (or another path).
 *
 * @param port The server's port.
 * @param keepFirst Keep the first message's bytes (for the echo check).
 * @param options `protocol` to offer (the answer must name it); `sessions`
 * to count a resumable session's control messages apart (see
 * {@linkcode FrameCounter}); `path`, `/ws` unless given; `hostname`,
 * `127.0.0.1` unless given; `pong` to answer each ping with a pong, as a
 * browser does (a server with keepalive closes a peer that does not),
 * counting them in the counter's `pings`.
 * @returns The open connection.
 * @throws {Error} When the server does not answer 101 with the right accept,
 * or does not take the offered protocol.
 */
export async function openWs(
  port: number,
  keepFirst = false,
  options: {
    protocol?: string;
    sessions?: boolean;
    path?: string;
    hostname?: string;
    pong?: boolean;
  } = {},
): Promise<WsConn> {
  const {
    protocol,
    sessions = false,
    path = "/ws",
    hostname = "127.0.0.1",
    pong = false,
  } = options;
  const conn = await Deno.connect({ hostname, port });
  const onPing = pong
    ? (payload: Uint8Array) => {
      writeAll(conn, clientFrame(10, payload)).catch(() => {});
    }
    : undefined;
  try {
    conn.setNoDelay(true);
    await writeAll(
      conn,
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
          `Sec-WebSocket-Version: 13\r\n` +
          (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
          "\r\n",
      ),
    );
    const buf = new Uint8Array(4096);
    let got = 0;
    let end = -1;
    while (end < 0) {
      if (got === buf.length) throw new Error("Handshake answer too long");
      const n = await conn.read(buf.subarray(got));
      if (n === null) throw new Error("Connection closed during the handshake");
      got += n;
      end = indexOf(buf.subarray(0, got), HEADER_END);
    }
    const head = new TextDecoder().decode(buf.subarray(0, end));
    if (!head.startsWith("HTTP/1.1 101") || !head.includes(ACCEPT)) {
      throw new Error(`Handshake refused: ${head.split("\r\n")[0]}`);
    }
    if (protocol && !head.toLowerCase().includes(protocol.toLowerCase())) {
      throw new Error(`The server did not take the protocol ${protocol}`);
    }
    return {
      conn,
      counter: new FrameCounter(keepFirst, sessions, onPing),
      early: buf.slice(end + 4, got),
    };
  } catch (error) {
    conn.close();
    throw error;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

/**
 * Writes all of `data`; `conn.write` may take less.
 *
 * @param conn The connection.
 * @param data The bytes.
 */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

/**
 * Closes with 1000 and waits, at most `ms`, for the server's close frame or
 * the end of the stream, then drops the connection.
 *
 * @param ws The connection.
 * @param ms The longest wait.
 * @param first A frame to write ahead of the close (a session's end).
 */
export async function closeWs(
  ws: Pick<WsConn, "conn" | "counter">,
  ms = 1000,
  first?: Uint8Array,
): Promise<void> {
  const timer = setTimeout(() => drop(ws), ms);
  try {
    if (first !== undefined) await writeAll(ws.conn, first);
    await writeAll(ws.conn, CLOSE_FRAME);
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await ws.conn.read(buf);
      if (n === null) break;
      ws.counter.feed(buf.subarray(0, n));
    }
  } catch {
    // Dropped by the timer, or reset by the server: closed either way.
  } finally {
    clearTimeout(timer);
    drop(ws);
  }
}

/**
 * Drops a connection at once, without a close handshake.
 *
 * @param ws The connection.
 */
export function drop(ws: Pick<WsConn, "conn">): void {
  try {
    ws.conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads a connection until it ends or is dropped, counting the server's
 * data messages: what came with the handshake first, then each read.
 *
 * @param ws The connection.
 * @param bytes The bytes read at a time.
 * @param counted Told, after each chunk, how many messages ended in it.
 */
export async function countFrames(
  ws: WsConn,
  bytes: number,
  counted: (messages: number) => void,
): Promise<void> {
  const buf = new Uint8Array(bytes);
  try {
    let chunk = ws.early;
    for (;;) {
      counted(ws.counter.feed(chunk));
      const n = await ws.conn.read(buf);
      if (n === null) return;
      chunk = buf.subarray(0, n);
    }
  } catch {
    // Dropped at the end.
  }
}

/** What the load functions share with {@linkcode timed}. */
export interface LoadState {
  /** Set when the window has closed: stop and drain. */
  stop: boolean;
  /** Set while the measured window is open. */
  measuring: boolean;
  /** Messages (or handshakes) completed so far. */
  count: number;
}

/** What one timed run measured. */
export interface Window {
  /** Messages (or handshakes) completed in the measured window. */
  count: number;
  /** The window's length in seconds. */
  seconds: number;
  /** The client's CPU share over the window (1 = one core). */
  clientCpu: number;
  /** The server's CPU share over the window. */
  serverCpu: number;
}

/**
 * Runs `work` until `warmup + measure` seconds have passed and reports what
 * it counted in the last `measure` seconds, with the CPU shares of the
 * client and the server.
 *
 * @param warmup Seconds before the window opens.
 * @param measure The window's length in seconds.
 * @param serverCpu Reads the server's CPU seconds so far.
 * @param work Starts the load; returns once `state.stop` is set and the
 * load has drained.
 * @returns The window's numbers.
 */
export async function timed(
  warmup: number,
  measure: number,
  serverCpu: () => number,
  work: (state: LoadState) => Promise<void>,
): Promise<Window> {
  const state: LoadState = { stop: false, measuring: false, count: 0 };
  let count = 0, time = 0, client = 0, server = 0;
  let result: Window | undefined;
  const opening = setTimeout(() => {
    count = state.count;
    time = performance.now();
    client = ownCpuSeconds();
    server = serverCpu();
    state.measuring = true;
  }, warmup * 1000);
  const closing = setTimeout(() => {
    const seconds = (performance.now() - time) / 1000;
    result = {
      count: state.count - count,
      seconds,
      clientCpu: (ownCpuSeconds() - client) / seconds,
      serverCpu: (serverCpu() - server) / seconds,
    };
    state.measuring = false;
    state.stop = true;
  }, (warmup + measure) * 1000);
  try {
    await work(state);
  } finally {
    clearTimeout(opening);
    clearTimeout(closing);
  }
  if (!result) throw new Error("The load ended before its window closed");
  return result;
}

/** A connection {@linkcode echoLoad} can drive. */
export type EchoConn = Pick<WsConn, "conn" | "counter"> & {
  /** Bytes read with the handshake's answer that belong to the frames. */
  readonly early?: Uint8Array;
};

/** What a load adds to the plain echo (a resumable session's acks and end). */
export interface EchoHooks<W> {
  /** Told of `k` more echoes on `ws`. */
  echoed?(ws: W, k: number): void;
  /** A frame due ahead of the next block (an ack), or `undefined`. */
  due?(ws: W): Uint8Array | undefined;
  /** Ends a connection once its load is done (default {@linkcode closeWs}). */
  close?(ws: W): Promise<void>;
}

/**
 * Keeps `inflight` messages in flight on each connection until `state.stop`,
 * then lets them drain (at most `drainMs`) and closes.
 *
 * @param conns Open connections.
 * @param frame The message to send, as a client frame.
 * @param inflight Messages in flight per connection.
 * @param state `stop` ends the load; `count` counts echoes.
 * @param drainMs The longest wait for echoes after the stop.
 * @param hooks What a session adds: acks written ahead of blocks (and while
 * draining, since a server's replay buffer may wait for them), its end.
 */
export async function echoLoad<W extends EchoConn>(
  conns: W[],
  frame: Uint8Array,
  inflight: number,
  state: LoadState,
  drainMs = 3000,
  hooks: EchoHooks<W> = {},
): Promise<void> {
  const block = repeat(frame, inflight);
  const readSize = Math.max(
    64 * 1024,
    Math.min(frame.length * inflight, 1 << 20),
  );
  await Promise.all(conns.map(async (ws) => {
    let owed = inflight;
    let writing: Promise<void> | undefined;
    let failed: unknown;
    const write = async () => {
      try {
        for (;;) {
          const extra = hooks.due?.(ws);
          if (extra !== undefined) {
            // More may have come due while it was written: ask again, since
            // a server waiting for an ack sends nothing until it has one.
            await writeAll(ws.conn, extra);
            continue;
          }
          if (owed === 0) break;
          const k = Math.min(owed, inflight);
          owed -= k;
          await writeAll(ws.conn, block.subarray(0, k * frame.length));
        }
      } catch (error) {
        failed = error;
      }
    };
    // `writing` is cleared once the write is over, never before it is set: a
    // write with nothing due ends without awaiting anything.
    const kick = () => {
      writing ??= write().finally(() => writing = undefined);
    };
    kick();
    let outstanding = inflight;
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    const buf = new Uint8Array(readSize);
    let chunk: Uint8Array | null = ws.early ?? null;
    try {
      while (outstanding > 0 && failed === undefined) {
        if (chunk === null) {
          const n = await ws.conn.read(buf);
          if (n === null) throw new Error("The server closed the connection");
          chunk = buf.subarray(0, n);
        }
        const k = ws.counter.feed(chunk);
        chunk = null;
        if (k === 0) continue;
        hooks.echoed?.(ws, k);
        state.count += k;
        if (state.stop) {
          outstanding -= k;
          drainTimer ??= setTimeout(() => drop(ws), drainMs);
          if (hooks.due !== undefined) kick();
        } else {
          owed += k;
          kick();
        }
      }
      if (failed !== undefined) throw failed;
      await writing;
    } finally {
      clearTimeout(drainTimer);
    }
    await (hooks.close?.(ws) ?? closeWs(ws));
  }));
}

/**
 * Round trips of one message at a time on one connection until `state.stop`.
 *
 * @param ws An open connection.
 * @param frame The message.
 * @param state `stop` ends it; `count` counts round trips.
 * @param samples Where the time of each round trip in the measured window
 * goes, in microseconds.
 */
export async function pingPong(
  ws: WsConn,
  frame: Uint8Array,
  state: LoadState,
  samples: number[],
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  while (!state.stop) {
    const us = await roundTrip(ws, frame, buf);
    state.count++;
    if (state.measuring) samples.push(us);
  }
  await closeWs(ws);
}

/**
 * Sends one message and waits for its echo.
 *
 * @param ws An open connection with nothing in flight.
 * @param frame The message.
 * @param buf Where to read into.
 * @returns The round trip's time in microseconds.
 * @throws {Error} When the server closes the connection first.
 */
export async function roundTrip(
  ws: WsConn,
  frame: Uint8Array,
  buf: Uint8Array,
): Promise<number> {
  const t0 = performance.now();
  await writeAll(ws.conn, frame);
  let k = 0;
  while (k === 0) {
    const n = await ws.conn.read(buf);
    if (n === null) throw new Error("The server closed the connection");
    k = ws.counter.feed(buf.subarray(0, n));
  }
  return (performance.now() - t0) * 1000;
}

/**
 * Opens and closes connections, `openers` at a time, until `state.stop`.
 *
 * @param port The server's port.
 * @param openers Concurrent openers.
 * @param state `stop` ends it; `count` counts completed open+close cycles.
 */
export async function churn(
  port: number,
  openers: number,
  state: LoadState,
): Promise<void> {
  await Promise.all(
    Array.from({ length: openers }, async () => {
      while (!state.stop) {
        const ws = await openWs(port);
        await closeWs(ws);
        if (!ws.counter.closed) {
          throw new Error("No close frame from the server");
        }
        state.count++;
      }
    }),
  );
}

/**
 * Opens `count` connections, `concurrency` at a time, and leaves them idle.
 *
 * @param port The server's port.
 * @param count How many.
 * @param concurrency Handshakes under way at once.
 * @param open Opens one: {@linkcode openWs}, or a session-aware opener.
 * @returns The open connections.
 */
export async function openMany<W extends Pick<WsConn, "conn">>(
  port: number,
  count: number,
  concurrency: number,
  open: (port: number) => Promise<W>,
): Promise<W[]> {
  const conns: W[] = [];
  let started = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (started < count) {
          started++;
          conns.push(await open(port));
        }
      }),
    );
  } catch (error) {
    for (const ws of conns) drop(ws);
    throw error;
  }
  return conns;
}
