/**
 * Switchboard's own cost per message and per connection, without a network:
 * `deno bench bench/socket_bench.ts`. A fake WebSocket dispatches
 * MessageEvents the way Deno's does and counts sends, so the only difference
 * between each pair of cases is `Socket`'s `for await` against a bare
 * `onmessage`. Steadier than the end-to-end benchmark on a busy machine; the
 * end-to-end one (`deno task bench`) is the one that counts.
 *
 * @module
 */

import { Socket } from "../mod.ts";

/** A server-side WebSocket stand-in: open, never buffering, counting sends. */
class FakeWebSocket extends EventTarget {
  readyState = 1;
  bufferedAmount = 0;
  binaryType: BinaryType = "blob";
  protocol = "";
  onmessage: ((event: MessageEvent) => void) | null = null;
  sent = 0;
  #wake: (() => void) | undefined;
  #want = 0;

  send(_data: unknown): void {
    if (++this.sent === this.#want) this.#wake?.();
  }

  close(): void {}

  /** Waits until `send` has been called `count` times in all. */
  sends(count: number): Promise<void> {
    if (this.sent >= count) return Promise.resolve();
    this.#want = count;
    return new Promise((resolve) => this.#wake = resolve);
  }

  deliver(data: unknown): void {
    const event = new MessageEvent("message", { data });
    this.onmessage?.(event);
    this.dispatchEvent(event);
  }
}

function rawEcho(): FakeWebSocket {
  const ws = new FakeWebSocket();
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => ws.send(event.data);
  return ws;
}

function socketEcho(): FakeWebSocket {
  const ws = new FakeWebSocket();
  const socket = new Socket(ws as unknown as WebSocket);
  (async () => {
    for await (const msg of socket) await socket.send(msg.data);
  })();
  return ws;
}

const TEXT = "a".repeat(64);
const BINARY = new ArrayBuffer(16 * 1024);

for (
  const [kind, make] of [["raw onmessage", rawEcho], [
    "Socket",
    socketEcho,
  ]] as const
) {
  for (
    const [size, data] of [["64 B text", TEXT], [
      "16 KiB binary",
      BINARY,
    ]] as const
  ) {
    const ws = make();
    Deno.bench({
      name: `${kind}: ${size}, one in flight`,
      group: `${size}, one in flight`,
      baseline: kind === "raw onmessage",
      n: 200_000,
      async fn() {
        const sent = ws.sent + 1;
        ws.deliver(data);
        await ws.sends(sent);
      },
    });
    const batched = make();
    Deno.bench({
      name: `${kind}: ${size}, ten at once`,
      group: `${size}, ten at once`,
      baseline: kind === "raw onmessage",
      n: 20_000,
      async fn() {
        const sent = batched.sent + 10;
        for (let i = 0; i < 10; i++) batched.deliver(data);
        await batched.sends(sent);
      },
    });
  }
}

/** JS heap bytes per idle connection, each with a loop waiting in `next()`. */
async function heapPerConnection(make: () => FakeWebSocket): Promise<number> {
  const count = 10_000;
  const keep: FakeWebSocket[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 10));
  const before = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++) keep.push(make());
  await new Promise((resolve) => setTimeout(resolve, 10));
  gc?.();
  const after = Deno.memoryUsage().heapUsed;
  if (keep.length !== count) throw new Error("unreachable");
  return (after - before) / count;
}

if (import.meta.main) {
  const bare = await heapPerConnection(() => new FakeWebSocket());
  const raw = await heapPerConnection(rawEcho);
  const socket = await heapPerConnection(socketEcho);
  console.log(
    `JS heap per idle connection beyond the fake WebSocket: raw onmessage ${
      (raw - bare).toFixed(0)
    } B, Socket ${(socket - bare).toFixed(0)} B` +
      ((globalThis as { gc?: unknown }).gc
        ? ""
        : " (run with --v8-flags=--expose-gc for steadier figures)"),
  );
}
