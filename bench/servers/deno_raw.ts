/**
 * The raw Deno echo server, the baseline every ratio is taken to: the echo a
 * user writes first, `Deno.upgradeWebSocket` and an `onmessage` that sends
 * every message back, nothing else per connection. (A server-side socket's
 * `binaryType` is already `"arraybuffer"`, so binary comes back as binary.)
 * Any request that is not an upgrade is GET /gc, which the memory scenario
 * calls.
 *
 * Two variants measure what a `for await` echo costs by itself (they are
 * pairs of `deno task bench --paired`, not baselines):
 *
 * - `--microtask`: each echo is sent from a microtask, after Deno's read loop
 *   has asked for the next frame, as from a `for await` loop;
 * - `--loop`: the least a `for await` echo over raw Deno takes, written by
 *   hand: a queue, a waiter, an iterator, a `{ type, data }` message with a
 *   `Uint8Array` for binary, a send that returns a resolved promise, and
 *   `for await (const msg of messages) await send(msg.data)`.
 *
 * @module
 */

import { collectGarbage, listen } from "./_deno.ts";

const variant = Deno.args.includes("--microtask")
  ? "microtask"
  : Deno.args.includes("--loop")
  ? "loop"
  : "plain";

listen((request) => {
  if (request.headers.get("upgrade") !== "websocket") {
    return collectGarbage(request);
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  if (variant === "loop") echoLoop(socket);
  else if (variant === "microtask") {
    socket.onmessage = (event) => {
      const data = event.data;
      queueMicrotask(() => socket.send(data));
    };
  } else socket.onmessage = (event) => socket.send(event.data);
  return response;
});

type Message = { type: "text"; data: string } | {
  type: "binary";
  data: Uint8Array;
};

const RESOLVED = Promise.resolve();

/** The `--loop` echo: a minimal async iterator over the socket's messages. */
function echoLoop(socket: WebSocket): void {
  const queue: Message[] = [];
  let waiter: ((result: IteratorResult<Message>) => void) | undefined;
  let ended = false;
  socket.onmessage = (event) => {
    const data = event.data;
    const msg: Message = typeof data === "string"
      ? { type: "text", data }
      : { type: "binary", data: new Uint8Array(data) };
    if (waiter === undefined) queue.push(msg);
    else {
      const resolve = waiter;
      waiter = undefined;
      resolve({ value: msg, done: false });
    }
  };
  socket.onclose = () => {
    ended = true;
    waiter?.({ value: undefined, done: true });
  };
  const messages: AsyncIterable<Message> = {
    [Symbol.asyncIterator]: () => ({
      next: (): Promise<IteratorResult<Message>> =>
        queue.length > 0
          ? Promise.resolve({ value: queue.shift()!, done: false })
          : ended
          ? Promise.resolve({ value: undefined, done: true })
          : new Promise((resolve) => waiter = resolve),
    }),
  };
  const send = (data: string | Uint8Array): Promise<void> => {
    socket.send(typeof data === "string" ? data : data.buffer as ArrayBuffer);
    return RESOLVED;
  };
  (async () => {
    for await (const msg of messages) await send(msg.data);
  })();
}
