// Bun's echo server: Bun.serve's built-in WebSocket server, every message
// sent back in kind. Prints {"port":N} once listening; GET /gc runs a full,
// synchronous garbage collection.
/* global Bun */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, server) {
    if (new URL(request.url).pathname === "/ws" && server.upgrade(request)) {
      return undefined;
    }
    Bun.gc(true);
    return new Response(null);
  },
  websocket: {
    message(ws, message) {
      ws.send(message);
    },
  },
});
console.log(JSON.stringify({ port: server.port }));
