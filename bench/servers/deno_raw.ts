/**
 * The raw Deno echo server: `Deno.upgradeWebSocket` and an `onmessage` that
 * sends every message back in kind, the baseline every ratio is taken to.
 *
 * @module
 */

import { collectGarbage, listen } from "./_deno.ts";

listen((request) => {
  if (request.headers.get("upgrade") !== "websocket") {
    return collectGarbage();
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});
