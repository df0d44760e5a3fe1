/**
 * The raw Deno echo server, the baseline every ratio is taken to: the echo a
 * user writes first, `Deno.upgradeWebSocket` and an `onmessage` that sends
 * every message back, nothing else per connection. (A server-side socket's
 * `binaryType` is already `"arraybuffer"`, so binary comes back as binary.)
 * Any request that is not an upgrade is GET /gc, which the memory scenario
 * calls.
 *
 * @module
 */

import { collectGarbage, listen } from "./_deno.ts";

/**
 * `--microtask` (the paired mode's `--microtask` pair): each echo is sent
 * from a microtask, after Deno's read loop has asked for the next frame, as
 * from a `for await` loop; a measurement of that timing, not a baseline.
 */
const microtask = Deno.args.includes("--microtask");

listen((request) => {
  if (request.headers.get("upgrade") !== "websocket") {
    return collectGarbage(request);
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = microtask
    ? (event) => {
      const data = event.data;
      queueMicrotask(() => socket.send(data));
    }
    : (event) => socket.send(event.data);
  return response;
});
