import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  ACK_BYTES,
  ACK_DELAY,
  ACK_EVERY,
  SessionState,
} from "../src/session/_state.ts";
import { ByteQueue, MAX_POOLED, MIN_RING } from "../src/session/_copies.ts";
import { MessageTarget } from "../src/session/_message_target.ts";

/**
 * A connection that records what it was given, copied at the call as
 * Deno's WebSocket does.
 */
function recorder(): { ws: WebSocket; frames: (string | number[])[] } {
  const frames: (string | number[])[] = [];
  const ws = {
    send(data: string | ArrayBuffer | ArrayBufferView) {
      if (typeof data === "string") frames.push(data);
      else if (data instanceof ArrayBuffer) {
        frames.push([...new Uint8Array(data)]);
      } else {
        frames.push([
          ...new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        ]);
      }
    },
  } as unknown as WebSocket;
  return { ws, frames };
}

Deno.test("bytes a caller changes after send() are replayed as they were sent", () => {
  const state = new SessionState(100, 1 << 20);
  const whole = new Uint8Array([1, 2, 3]);
  const buffer = new Uint8Array([4, 5, 6, 7]).buffer;
  const backing = new Uint8Array([0, 8, 9, 0]);
  const { ws, frames } = recorder();
  state.send(whole, ws);
  state.send(buffer, ws);
  state.send(backing.subarray(1, 3), ws);
  state.send(new Uint8Array(300_000).fill(10), ws);
  whole.fill(99);
  new Uint8Array(buffer).fill(99);
  backing.fill(99);
  const expected = [[1, 2, 3], [4, 5, 6, 7], [8, 9], Array(300_000).fill(10)];
  assertEquals(frames, expected);
  const replayed = recorder();
  state.replay(replayed.ws);
  assertEquals(replayed.frames, expected);
});

Deno.test("a replay buffer reuses acknowledged copies and never changes an unacknowledged one", () => {
  // Random sizes around the size classes and the pooled limit, random acks,
  // every caller buffer scribbled over at once; each replay must give back
  // exactly what is unacknowledged.
  let seed = 7;
  const random = (n: number) => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
  const state = new SessionState(10_000, 8 << 20);
  const sent: (string | number[])[] = [];
  const { ws } = recorder();
  for (let round = 0; round < 300; round++) {
    for (let k = random(6); k > 0; k--) {
      const size = [0, 1, 63, 64, 65, 1000, 16_384, 20_000, MAX_POOLED + 1][
        random(9)
      ] as number;
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (sent.length + i) & 255;
      if (random(4) === 0) {
        const text = `t${sent.length}`;
        state.send(text, ws);
        sent.push(text);
      } else {
        state.send(random(2) ? bytes : bytes.buffer, ws);
        sent.push([...bytes]);
      }
      bytes.fill(0xee);
    }
    assert.ok(state.ack(state.acked + random(state.sent - state.acked + 1)));
    const replayed = recorder();
    state.replay(replayed.ws);
    assertEquals(replayed.frames, sent.slice(state.acked), `round ${round}`);
  }
  state.stop();
});

Deno.test("a byte queue keeps blocks first in first out, wraps, and grows only when what it holds needs it", () => {
  const queue = new ByteQueue();
  const block = (n: number) => new Uint8Array(16 * 1024).fill(n & 255);
  let pushed = 0;
  let shifted = 0;
  // Steady traffic: at most 20 blocks of 16 KiB held, 16 acknowledged at a
  // time, never all of them.
  for (let round = 0; round < 200; round++) {
    while (pushed - shifted < 20) queue.push(block(pushed++));
    for (let k = 0; k < 16; k++, shifted++) queue.shift();
    assert.equal(queue.size, pushed - shifted);
    for (let i = 0; i < queue.size; i++) {
      const copy = queue.at(i);
      assertEquals(
        [copy.byteLength, copy[0], copy[16 * 1024 - 1]],
        [16 * 1024, (shifted + i) & 255, (shifted + i) & 255],
      );
    }
  }
  // 20 blocks of 16 KiB fit 512 KiB with room to wrap; it never went past.
  assert.equal(queue.capacity, 512 * 1024);
  // A block too big for the free space moves the held ones to a larger ring.
  queue.push(new Uint8Array(600 * 1024).fill(7));
  assert.equal(queue.capacity, 1024 * 1024);
  assertEquals([queue.at(0)[0], queue.at(queue.size - 1)[0]], [
    shifted & 255,
    7,
  ]);
  queue.clear();
  assertEquals([queue.size, queue.capacity], [0, 0]);
});

Deno.test("an emptied ring takes the next block at its start, and goes back to the pool once unused for a sweep interval", () => {
  const queue = new ByteQueue();
  queue.push(new Uint8Array(1000).fill(1));
  queue.push(new Uint8Array(1000).fill(2));
  queue.shift();
  assert.equal(queue.at(0).byteOffset, 1000);
  queue.shift();
  assert.equal(queue.capacity, MIN_RING);
  queue.push(new Uint8Array(10).fill(3));
  assertEquals([queue.at(0).byteOffset, queue.at(0)[0]], [0, 3]);
  queue.shift();
  // Emptied (and used) since the last sweep: kept through this one...
  ByteQueue.sweep();
  assert.equal(queue.capacity, MIN_RING);
  // ...and given back at the next, with nothing pushed in between.
  ByteQueue.sweep();
  assert.equal(queue.capacity, 0);
  // A ring given back is taken again by the next queue that needs one.
  const other = new ByteQueue();
  const third = new ByteQueue();
  third.push(new Uint8Array(MIN_RING / 2));
  const reused = third.at(0).buffer;
  third.clear();
  other.push(new Uint8Array(5).fill(9));
  assert.equal(other.at(0).buffer, reused);
  assertEquals([...other.at(0)], [9, 9, 9, 9, 9]);
  // A queue in use is never swept.
  ByteQueue.sweep();
  ByteQueue.sweep();
  assert.equal(other.capacity, MIN_RING);
  other.clear();
});

Deno.test("a receiver acknowledges every 64 messages or 256 KiB, whichever comes first", () => {
  assertEquals([ACK_EVERY, ACK_BYTES], [64, 256 * 1024]);
  const state = new SessionState(100, 1 << 20);
  const { ws, frames } = recorder();
  state.use(ws);
  const chunk = new Uint8Array(16 * 1024);
  for (let i = 0; i < 15; i++) state.received1(chunk);
  assertEquals(frames, []);
  state.received1(chunk);
  assertEquals(frames, ["\0A16"]);
  // Text counts 3 bytes a character, as the sender's maxUnackedBytes does.
  const text = "x".repeat(Math.ceil(ACK_BYTES / 3));
  state.received1(text);
  assertEquals(frames, ["\0A16", "\0A17"]);
  for (let i = 0; i < 63; i++) state.received1("small");
  assertEquals(frames.length, 2);
  state.received1("small");
  assertEquals(frames, ["\0A16", "\0A17", "\0A81"]);
  state.stop();
});

class Emitter extends MessageTarget {
  emit(data: unknown): void {
    this.emitMessage(data);
  }
}

Deno.test("a session's message listeners get the data in order, each once, and not once removed", () => {
  const target = new Emitter();
  const seen: string[] = [];
  const first = (event: Event) => {
    seen.push(`first ${(event as MessageEvent).data}`);
    // Removing a later listener during the emit: it is not called.
    target.removeEventListener("message", second);
  };
  const second = {
    handleEvent(event: Event) {
      seen.push(`second ${(event as MessageEvent).data}`);
    },
  };
  target.addEventListener("message", first);
  target.addEventListener("message", first, { capture: false });
  target.addEventListener("message", second);
  target.addEventListener("message", (event) => {
    assert.equal(event.type, "message");
    assert.equal(event.target, target);
    seen.push(`once ${(event as MessageEvent).data}`);
  }, { once: true });
  target.addEventListener("open", () => seen.push("open"));
  target.emit("a");
  target.emit("b");
  target.dispatchEvent(new Event("open"));
  target.removeEventListener("message", first);
  target.emit("c");
  assertEquals(seen, ["first a", "once a", "first b", "open"]);
});

Deno.test("a session reads its connection's bufferedAmount only once what it wrote could reach the high-water mark", () => {
  let reads = 0;
  let buffered = 0;
  const frames: unknown[] = [];
  const ws = {
    send(data: unknown) {
      frames.push(data);
    },
    get bufferedAmount() {
      reads++;
      return buffered;
    },
  } as unknown as WebSocket;
  const state = new SessionState(100, 1 << 20);
  state.use(ws);
  // The first question reads it; then 1,000 bytes go out unread.
  assert.equal(state.waiting(ws, 1000), 0);
  assert.equal(reads, 1);
  for (let i = 0; i < 9; i++) state.send(new Uint8Array(100), ws);
  assert.equal(state.waiting(ws, 1000), 0);
  assert.equal(reads, 1);
  state.send(new Uint8Array(100), ws);
  // 1,000 written since: the runtime says what is left.
  buffered = 1500;
  assert.equal(state.waiting(ws, 1000), 1500);
  assert.equal(reads, 2);
  buffered = 200;
  assert.equal(state.waiting(ws, 1000), 0);
  assert.equal(reads, 3);
  assert.equal(state.waiting(ws, 1000), 0);
  assert.equal(reads, 3);
  // Another connection is read at once; a gap never is.
  const other = { ...ws, bufferedAmount: 5000 } as unknown as WebSocket;
  assert.equal(state.waiting(other, 1000), 5000);
  assert.equal(state.waiting(undefined, 1000), 0);
  // A full replay buffer waits whatever the connection holds.
  const small = new SessionState(2, 1 << 20);
  small.send("a", undefined);
  assert.equal(small.waiting(undefined, 1000), 0);
  small.send("b", undefined);
  assert.equal(small.waiting(undefined, 1000), 7);
  assert.equal(frames.length, 10);
  state.stop();
});

Deno.test("acks left for the timer go out after ACK_DELAY for every session, and a stopped session leaves no timer", async () => {
  const a = new SessionState(100, 1 << 20);
  const b = new SessionState(100, 1 << 20);
  const c = new SessionState(100, 1 << 20);
  const ra = recorder();
  const rb = recorder();
  a.use(ra.ws);
  b.use(rb.ws);
  c.use(recorder().ws);
  a.received1("x");
  b.received1("x");
  c.received1("x");
  c.stop();
  assertEquals([ra.frames, rb.frames], [[], []]);
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 200 && !done(); i++) {
      await new Promise((resolve) => setTimeout(resolve, ACK_DELAY / 5));
    }
  };
  await until(() => ra.frames.length > 0 && rb.frames.length > 0);
  assertEquals([ra.frames, rb.frames], [["\0A1"], ["\0A1"]]);
  // An ack by count in between leaves the next message to the timer.
  for (let i = 0; i < 63; i++) a.received1("x");
  a.received1("x");
  assertEquals(ra.frames, ["\0A1", "\0A65"]);
  a.received1("x");
  assertEquals(ra.frames.length, 2);
  await until(() => ra.frames.length > 2);
  assertEquals(ra.frames, ["\0A1", "\0A65", "\0A66"]);
  a.stop();
  b.stop();
});
