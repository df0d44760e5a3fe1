import assert from "node:assert/strict";
import { Socket } from "../src/socket.ts";
import { Outbox } from "../src/client/_outbox.ts";
import { OutboxFullError } from "../src/client/errors.ts";

/** An open WebSocket whose send buffer holds as much as the test says. */
class FullSocket extends EventTarget {
  binaryType = "arraybuffer";
  protocol = "";
  url = "ws://127.0.0.1:1/";
  readyState = 1;
  bufferedAmount = 0;
  sent: unknown[] = [];
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() =>
      this.dispatchEvent(
        new CloseEvent("close", { code, reason, wasClean: true }),
      )
    );
  }
}

function open(bufferedAmount: number): { ws: FullSocket; socket: Socket } {
  const ws = new FullSocket();
  ws.bufferedAmount = bufferedAmount;
  const socket = new Socket(ws as unknown as WebSocket, { highWaterMark: 16 });
  // The Socket reads bufferedAmount once it has sent its high-water mark.
  if (bufferedAmount >= 16) socket.send(new Uint8Array(16));
  ws.sent.length = 0;
  return { ws, socket };
}

Deno.test("Outbox.send() resolves at once when the socket hands the message over", async () => {
  const outbox = new Outbox(10, 1000);
  const { ws, socket } = open(0);
  await outbox.send(socket, "hi", 2);
  await outbox.send(socket, "", 0);
  assert.deepEqual(ws.sent, ["hi", ""]);
  assert.equal(outbox.stalled, false);
  socket.close();
  await socket.closed;
});

Deno.test("Outbox: messages waiting in a full socket, an empty one first, go back to the queue in order when it drops", async () => {
  const outbox = new Outbox(10, 1000);
  const { ws, socket } = open(64);
  const sends = [
    outbox.send(socket, "", 0),
    outbox.send(socket, "a", 1),
    outbox.send(socket, "b", 1),
  ];
  for (const send of sends) send.catch(() => {});
  assert.equal(outbox.stalled, true);
  assert.deepEqual(ws.sent, []);
  outbox.requeue();
  assert.equal(outbox.size, 3);
  assert.equal(outbox.stalled, false);
  const next = open(0);
  outbox.flush(next.socket);
  assert.deepEqual(next.ws.sent, ["", "a", "b"]);
  socket.close();
  next.socket.close();
  await Promise.allSettled(sends);
  await socket.closed;
  await next.socket.closed;
});

Deno.test("Outbox bounds what waits in a full socket like the queue; the first that waits is always taken", async () => {
  const outbox = new Outbox(2, 1000);
  const { socket } = open(64);
  const first = outbox.send(socket, "x".repeat(2000), 2000);
  first.catch(() => {});
  const second = outbox.send(socket, "y", 1);
  await assert.rejects(second, OutboxFullError);
  await assert.rejects(outbox.queue("q", 1001), OutboxFullError);
  outbox.requeue();
  outbox.reject({ code: 1000, reason: "bye", wasClean: true });
  await assert.rejects(first, { name: "SocketClosedError" });
  socket.close();
  await socket.closed;
});
