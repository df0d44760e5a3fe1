/**
 * The copies a replay buffer keeps of the bytes it sent (the caller may
 * change its own buffer once `send()` returns): {@linkcode ByteQueue}, a
 * queue of byte blocks copied into one reusable ring of memory per
 * session. A fresh `ArrayBuffer` per binary message, or a buffer of a pool
 * per message, costs more than the rest of the message's way out: the
 * allocation, an object per message that lives until the peer
 * acknowledges it (long enough to be moved out of the young generation),
 * and the collections those bring on. The ring is taken when the first
 * block comes and doubled when the unacknowledged blocks no longer fit;
 * once every block is acknowledged the next one goes at its start again
 * (memory the cache still holds), and a ring that stays empty for
 * {@linkcode RING_IDLE} ms or more goes back to a pool shared by the
 * sessions of the process (at most {@linkcode MAX_FREE} bytes wait there).
 * Internal; runs in browsers.
 *
 * @module
 */

/** The smallest ring. */
export const MIN_RING = 4 * 1024;
/** Blocks over this size are not put in the ring (a copy of their own). */
export const MAX_POOLED = 256 * 1024;
/** Rings over this size are not kept for reuse once given back. */
const MAX_KEPT_RING = 1024 * 1024;
/** Bytes of rings kept for reuse, at most, for the whole process. */
export const MAX_FREE = 4 * 1024 * 1024;
/**
 * An empty ring goes back to the pool after this many milliseconds unused
 * (at most twice as long).
 */
export const RING_IDLE = 1000;

/** Free rings by size (powers of two from MIN_RING to MAX_KEPT_RING). */
const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;

/**
 * A ring of at least `size` bytes: a power of two, from the pool if one is
 * there.
 */
function takeRing(size: number): Uint8Array {
  const capacity = Math.max(MIN_RING, 2 ** Math.ceil(Math.log2(size)));
  const buffer = free.get(capacity)?.pop();
  if (buffer === undefined) return new Uint8Array(capacity);
  freeBytes -= capacity;
  return new Uint8Array(buffer);
}

/** Gives a ring nothing reads any more back to the pool, if there is room. */
function giveRing(ring: Uint8Array): void {
  const capacity = ring.byteLength;
  if (capacity > MAX_KEPT_RING || freeBytes + capacity > MAX_FREE) return;
  let list = free.get(capacity);
  if (list === undefined) free.set(capacity, list = []);
  list.push(ring.buffer as ArrayBuffer);
  freeBytes += capacity;
}

/**
 * Copies of byte blocks, first in first out, in one ring of memory: a block
 * is written after the newest one, or at the start of the ring when the
 * end has no room for it, and its space is reused once it leaves.
 */
export class ByteQueue {
  #ring: Uint8Array | undefined;
  /** Where each block starts and ends, oldest first from `#head`. */
  #starts: number[] = [];
  #ends: number[] = [];
  #head = 0;
  /** The start of the oldest block. */
  #read = 0;
  /** The end of the newest block: where the next one goes. */
  #write = 0;
  /**
   * The newest blocks start again at 0: the blocks lie in `[#read, end of
   * the last block before the wrap)` and `[0, #write)`, and only
   * `[#write, #read)` is free.
   */
  #wrapped = false;
  /** In `#empties`: its ring was empty at some point since the last sweep. */
  #listed = false;
  /** A block was pushed since it was listed or last swept. */
  #used = false;

  /** How many blocks it holds. */
  get size(): number {
    return this.#starts.length - this.#head;
  }

  /** The ring's size in bytes (0 while it has none). */
  get capacity(): number {
    return this.#ring?.byteLength ?? 0;
  }

  /**
   * Copies a block in after the newest one.
   *
   * @param bytes The block (not kept: its bytes are copied).
   */
  push(bytes: Uint8Array): void {
    const size = bytes.byteLength;
    let ring = this.#ring;
    let at = this.#write;
    if (ring === undefined) ring = this.#ring = takeRing(size * 2);
    else if (
      this.#wrapped ? this.#read - at < size : ring.byteLength - at < size
    ) {
      if (!this.#wrapped && this.#read >= size) {
        at = 0;
        this.#wrapped = true;
      } else {
        ring = this.#grow(size);
        at = this.#write;
      }
    }
    this.#used = true;
    ring.set(bytes, at);
    this.#starts.push(at);
    this.#ends.push(this.#write = at + size);
  }

  /** Drops the oldest block. */
  shift(): void {
    const head = ++this.#head;
    if (head === this.#starts.length) return this.#empty();
    const read = this.#starts[head] as number;
    // The oldest block is now one written after the wrap.
    if (read < this.#read) this.#wrapped = false;
    this.#read = read;
    if (head > 1024 && head * 2 > this.#starts.length) {
      this.#starts = this.#starts.slice(head);
      this.#ends = this.#ends.slice(head);
      this.#head = 0;
    }
  }

  /**
   * A block, by its place from the oldest.
   *
   * @param index 0 for the oldest block.
   * @returns A view of the block's copy: valid until it is shifted out or
   * another block is pushed.
   */
  at(index: number): Uint8Array {
    const i = this.#head + index;
    return (this.#ring as Uint8Array).subarray(
      this.#starts[i] as number,
      this.#ends[i] as number,
    );
  }

  /** Drops every block and gives the ring back. */
  clear(): void {
    if (this.#ring !== undefined) giveRing(this.#ring);
    this.#ring = undefined;
    this.#empty();
    if (!this.#listed) return;
    this.#listed = false;
    const empties = ByteQueue.#empties;
    empties.delete(this);
    if (empties.size === 0) {
      clearTimeout(ByteQueue.#sweep);
      ByteQueue.#sweep = undefined;
    }
  }

  /**
   * No block is left: the next one goes at the start of the ring, which
   * goes back to the pool if it stays unused.
   */
  #empty(): void {
    this.#starts.length = 0;
    this.#ends.length = 0;
    this.#head = this.#read = this.#write = 0;
    this.#wrapped = false;
    if (this.#listed || this.#ring === undefined) return;
    this.#listed = true;
    // Kept through the next sweep: given back only after a whole RING_IDLE.
    this.#used = true;
    ByteQueue.#empties.add(this);
    ByteQueue.#sweep ??= setTimeout(ByteQueue.#onSweep, RING_IDLE);
  }

  /**
   * The queues whose ring was empty at some point since they were listed,
   * and the one timer that gives back the rings unused for RING_IDLE ms: a
   * timer per queue, made every time one empties, would cost more.
   */
  static #empties = new Set<ByteQueue>();
  static #sweep: ReturnType<typeof setTimeout> | undefined;

  /** Runs the sweep now (tests). */
  static sweep(): void {
    clearTimeout(ByteQueue.#sweep);
    ByteQueue.#onSweep();
  }

  static #onSweep = (): void => {
    ByteQueue.#sweep = undefined;
    const empties = ByteQueue.#empties;
    for (const queue of empties) {
      if (queue.size > 0 || queue.#ring === undefined) {
        // In use again: listed again when it next empties.
        queue.#listed = false;
        empties.delete(queue);
      } else if (queue.#used) queue.#used = false;
      else queue.clear();
    }
    if (empties.size > 0) {
      ByteQueue.#sweep = setTimeout(ByteQueue.#onSweep, RING_IDLE);
    }
  };

  /**
   * Moves the blocks, oldest first, to the start of a ring at least twice
   * as large with room for `size` more bytes.
   */
  #grow(size: number): Uint8Array {
    const old = this.#ring as Uint8Array;
    const starts = this.#starts;
    const ends = this.#ends;
    let held = 0;
    for (let i = this.#head; i < starts.length; i++) {
      held += (ends[i] as number) - (starts[i] as number);
    }
    const ring = takeRing(Math.max(old.byteLength * 2, held + size));
    let at = 0;
    for (let i = this.#head; i < starts.length; i++) {
      const start = starts[i] as number;
      const end = ends[i] as number;
      ring.set(old.subarray(start, end), at);
      starts[i] = at;
      ends[i] = at += end - start;
    }
    giveRing(old);
    this.#ring = ring;
    this.#read = 0;
    this.#write = at;
    this.#wrapped = false;
    return ring;
  }
}
