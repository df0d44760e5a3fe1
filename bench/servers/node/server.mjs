// Node's echo server: `ws` on a plain http server, every message sent back in
// kind. Prints {"port":N} once listening; GET /gc runs a full garbage
// collection (start node with --expose-gc). `ws` runs without its optional
// native add-ons (bufferutil, utf-8-validate), as `npm install ws` gives it.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const server = createServer((_request, response) => {
  globalThis.gc?.();
  response.end();
});
const wss = new WebSocketServer({ server, path: "/ws" });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
