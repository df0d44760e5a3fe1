/**
 * Helpers of the resumable-session tests: numbered messages of every kind,
 * time bounds, client events.
 *
 * @module
 */

import type { Client } from "../src/client/mod.ts";
import type { ClientEvent } from "../src/client/events.ts";
import type { Message, Transport } from "../src/message.ts";
import type { Socket } from "../mod.ts";

/** A reconnecting client's backoff, fast. */
export const fast = { initialDelay: 5, maxDelay: 40, minUptime: 0 };

/**
 * The i-th message of a side: text, text starting with U+0000 (which a
 * resumable connection escapes), or binary.
 */
export function message(side: string, i: number): string | Uint8Array {
  if (i % 3 === 2) {
    const bytes = new Uint8Array(4 + (i % 50));
    new DataView(bytes.buffer).setUint32(0, i);
    bytes[4] = side.charCodeAt(0);
    return bytes;
  }
  return i % 7 === 0 ? `\0${side}${i}` : `${side}${i}`;
}

/** Whether a received message is the expected one, in kind and content. */
export function same(msg: Message, expected: string | Uint8Array): boolean {
  if (typeof expected === "string") {
    return msg.type === "text" && msg.data === expected;
  }
  return msg.type === "binary" &&
    msg.data.length === expected.length &&
    msg.data.every((b, j) => b === expected[j]);
}

/** A message, for a failure's text. */
export function describe(msg: Message | undefined): string {
  if (msg === undefined) return "nothing";
  if (msg.type === "text") return JSON.stringify(msg.data);
  return `binary #${new DataView(msg.data.buffer).getUint32(0)}`;
}

export { deadline, delay } from "../bench/lib/wait.ts";
import { deadline, delay } from "../bench/lib/wait.ts";

/** A test that fails, rather than hangs, past `ms`. */
export function bounded(
  name: string,
  fn: () => Promise<void>,
  ms = 20_000,
): void {
  Deno.test(name, () => deadline(fn(), ms, name));
}

/** The client's next event of a type. */
export function once(client: Client, type: string): Promise<ClientEvent> {
  return new Promise((resolve) =>
    client.addEventListener(type, (e) => resolve(e as ClientEvent), {
      once: true,
    })
  );
}

/** Waits until `done()` holds, checking every 10 ms, at most `ms`. */
export function until(
  done: () => boolean,
  ms: number,
  what: string,
): Promise<void> {
  return deadline(
    (async () => {
      while (!done()) await delay(10);
    })(),
    ms,
    what,
  );
}

/**
 * A client's messages, read in the background until it closes.
 *
 * @param client The client to read.
 * @param parse What to keep of each message's data (its text unless told).
 * @returns What came so far (it grows) and the reading, which ends with the
 * client.
 */
export function collect<T = string>(
  client: Client,
  parse: (data: string) => T = (data) => data as T,
): { got: T[]; reading: Promise<void> } {
  const got: T[] = [];
  const reading = (async () => {
    for await (const msg of client) got.push(parse(String(msg.data)));
  })();
  return { got, reading };
}

/** Both transports, for a route that serves both. */
export const BOTH: readonly Transport[] = ["websocket", "sse"];

/**
 * A test run over each transport: the route serves both (`BOTH`), the
 * client uses one (spread `over` into its options). The WebSocket run keeps
 * the name.
 */
export function overBoth(
  name: string,
  fn: (over: { transports: Transport[] }) => Promise<void>,
  ms = 20_000,
): void {
  for (const transport of BOTH) {
    bounded(
      transport === "websocket" ? name : `${name} (over the event stream)`,
      () => fn({ transports: [transport] }),
      ms,
    );
  }
}

/** A handler that reads what comes and does nothing with it. */
export async function read(socket: Socket): Promise<void> {
  for await (const _ of socket) { /* read */ }
}

/** A handler that sends back every message. */
export async function echo(socket: Socket): Promise<void> {
  for await (const msg of socket) await socket.send(msg.data);
}

/**
 * A route's handler that keeps every socket it is given, then runs `body`.
 *
 * @param body What to do with each socket ({@linkcode read} unless told).
 * @returns The handler, the sockets it was given so far (in order: one a
 * start of the handler) and the first of them.
 */
export function keeping(body: (socket: Socket) => Promise<void> = read): {
  handler: (socket: Socket) => Promise<void>;
  sockets: Socket[];
  first: Promise<Socket>;
} {
  const sockets: Socket[] = [];
  const first = Promise.withResolvers<Socket>();
  return {
    handler: (socket) => {
      sockets.push(socket);
      first.resolve(socket);
      return body(socket);
    },
    sockets,
    first: first.promise,
  };
}
