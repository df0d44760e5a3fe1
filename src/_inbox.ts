/**
 * The bounded queue that a `for await` loop reads from: what arrives before
 * the loop asks waits in order, a loop that asks before anything arrived
 * waits for it, and the end is handed to every waiting loop. Shared by
 * `Socket` (one connection) and `Client` (every connection of a reconnecting
 * client). Internal; runs in browsers.
 *
 * @module
 */

/** The `done` result every finished loop gets. */
export const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

type Waiter<T> = (result: IteratorResult<T>) => void;

/**
 * The executor of the inbox's pending promises: it hands the resolve
 * function over to {@linkcode take}, so that making a promise allocates no
 * closure: `new Promise(capture)`, then `take()` at once.
 */
let captured: ((value: never) => void) | undefined;

/**
 * A promise executor that keeps the resolve function for {@linkcode take}.
 *
 * @param resolve The promise's resolve function.
 */
export function capture(resolve: (value: never) => void): void {
  captured = resolve;
}

/**
 * The resolve function of the promise just made with {@linkcode capture}.
 *
 * @returns The resolve function.
 */
export function take<T>(): (value: T) => void {
  const resolve = captured as (value: T) => void;
  captured = undefined;
  return resolve;
}

/** How many messages, and bytes of them, may wait in an {@linkcode Inbox}. */
export interface InboxBounds<T> {
  /** Past this many waiting messages {@linkcode Inbox.push} refuses. */
  readonly limit: number;
  /** Past this many waiting bytes {@linkcode Inbox.push} refuses. */
  readonly maxBytes: number;
  /** A message's size; read only for messages that wait. */
  sizeOf(value: T): number;
}

/**
 * A bounded FIFO of messages with the loop that reads it. Arrays and waiter
 * lists are made on first use, and the bounds may be shared by many inboxes,
 * so an idle connection holds only this object.
 */
export class Inbox<T> {
  /** Messages no loop has asked for yet. */
  #queue: (T | undefined)[] | undefined;
  #head = 0;
  /** The loop waiting for a message; further waiters go to #waiters. */
  #waiter: Waiter<T> | undefined;
  #waiters: Waiter<T>[] | undefined;
  #ended = false;
  /** Whether a loop is reading (one at a time). */
  reading = false;
  /**
   * Takes each value at once, in place of the waiting loop, while nothing
   * is queued (the RPC peer reads so while it waits); values queued before
   * it was set still go to the loop first.
   */
  sink: ((value: T) => void) | undefined;
  /** The bytes of the messages waiting. */
  #bytes = 0;
  /** How many messages and bytes may wait for the loop. */
  readonly bounds: InboxBounds<T>;

  /**
   * @param bounds How many messages, and bytes of them, may wait for the
   * loop, and how a message's bytes are counted.
   */
  constructor(bounds: InboxBounds<T>) {
    this.bounds = bounds;
  }

  /** Past this many waiting messages {@linkcode Inbox.push} refuses. */
  get limit(): number {
    return this.bounds.limit;
  }

  /** Past this many waiting bytes {@linkcode Inbox.push} refuses. */
  get maxBytes(): number {
    return this.bounds.maxBytes;
  }

  /**
   * Marks the inbox as read by a loop, one at a time.
   *
   * @param owner What the loop iterates, for the error: "socket", "client".
   * @throws {TypeError} When another loop is already reading it.
   */
  claim(owner: string): void {
    if (this.reading) {
      throw new TypeError(
        `Cannot iterate ${owner}: another loop is already reading it`,
      );
    }
    this.reading = true;
  }

  /** The bytes of the messages that wait for the loop. */
  get bytes(): number {
    return this.#bytes;
  }

  /** How many messages wait for the loop. */
  get size(): number {
    return this.#queue === undefined ? 0 : this.#queue.length - this.#head;
  }

  /**
   * Hands a message to the waiting loop, or queues it.
   *
   * @param value The message.
   * @returns `false`, and drops the message, when `limit` messages or
   * `maxBytes` bytes would wait: the caller closes the connection (1013).
   */
  push(value: T): boolean {
    const sink = this.sink;
    if (sink !== undefined && this.#queue === undefined) {
      sink(value);
      return true;
    }
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = this.#waiters?.shift();
      waiter({ value, done: false });
      return true;
    }
    const bounds = this.bounds;
    const size = bounds.sizeOf(value);
    if (this.#bytes + size > bounds.maxBytes) return false;
    if (this.#queue === undefined) this.#queue = [value];
    else if (this.#queue.length - this.#head < bounds.limit) {
      this.#queue.push(value);
    } else return false;
    this.#bytes += size;
    return true;
  }

  /**
   * The next message, or `done` once the inbox has ended and is empty.
   *
   * @returns The iterator result.
   */
  next(): Promise<IteratorResult<T>> {
    const queue = this.#queue;
    if (queue !== undefined) {
      const value = queue[this.#head] as T;
      this.#bytes -= this.bounds.sizeOf(value);
      if (++this.#head === queue.length) {
        this.#queue = undefined;
        this.#head = 0;
      } else queue[this.#head - 1] = undefined;
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      this.reading = false;
      return Promise.resolve(DONE);
    }
    const promise = new Promise<IteratorResult<T>>(capture);
    if (this.#waiter === undefined) this.#waiter = take();
    else (this.#waiters ??= []).push(take());
    return promise;
  }

  /**
   * No more messages will come: waiting loops get `done`; what is queued is
   * still read first by a later `next()`.
   */
  end(): void {
    this.#ended = true;
    if (this.#waiter === undefined) return;
    const waiters = [this.#waiter, ...this.#waiters ?? []];
    this.#waiter = this.#waiters = undefined;
    this.reading = false;
    for (const waiter of waiters) waiter(DONE);
  }

  /** Drops what is queued: the loop left and nobody will read it. */
  clear(): void {
    this.#queue = undefined;
    this.#head = 0;
    this.#bytes = 0;
  }
}
