// The answering side's output: answers handed to the socket, counted until
// `send()` takes them so that the peer stops reading while they pile up, and
// batch answers split to fit the other side's largest message.

import { utf8Length } from "../message.ts";
import type { Socket } from "../socket.ts";
import { OPEN } from "../_ready_state.ts";
import { sendsWaiting } from "../_socket_internals.ts";

/** The answers a peer sends, and how many wait for the send buffer. */
export class Replies {
  #socket: Socket;
  #highWaterMark: number;
  #peerLimit: number;
  /** Characters of answers handed to `send()` that it has not taken yet. */
  #unsent = 0;
  /** Resumes the reading loop once `#unsent` is back under the mark. */
  #drained: (() => void) | undefined;

  /**
   * @param socket Where answers go.
   * @param highWaterMark Past this many characters waiting, stop reading.
   * @param peerLimit The other side's largest message, in bytes.
   */
  constructor(socket: Socket, highWaterMark: number, peerLimit: number) {
    this.#socket = socket;
    this.#highWaterMark = highWaterMark;
    this.#peerLimit = peerLimit;
  }

  /** Whether so much waits for the send buffer that reading should pause. */
  get backlogged(): boolean {
    return this.#unsent > this.#highWaterMark;
  }

  /** Resolves once what waits is back under the high-water mark. */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => this.#drained = resolve);
  }

  /** Sends an answer; resolves, never rejects, once `send()` took it. */
  send(text: string): Promise<void> {
    const socket = this.#socket;
    const handed = socket.send(text);
    // Handed to the runtime at once, as nearly every answer is: nothing to
    // count, and no reaction to queue.
    if (socket.readyState === OPEN && !sendsWaiting(socket)) return handed;
    const size = text.length;
    this.#unsent += size;
    const sent = (): void => {
      this.#unsent -= size;
      const drained = this.#drained;
      if (drained !== undefined && this.#unsent <= this.#highWaterMark) {
        this.#drained = undefined;
        drained();
      }
    };
    return handed.then(sent, sent);
  }

  /**
   * Sends a batch's answers as one batch message, or as several when one
   * would be larger than the other side takes, each waiting for the last.
   * Each answer is already at most two bytes under the other side's limit
   * (the dispatcher's one size check), so a piece of one answer fits too.
   */
  sendBatch(parts: string[]): void {
    if (parts.length === 0) return;
    let chars = parts.length + 1;
    for (const part of parts) chars += part.length;
    if (chars * 3 <= this.#peerLimit) void this.send(`[${parts.join(",")}]`);
    else void this.#sendPieces(parts);
  }

  async #sendPieces(parts: string[]): Promise<void> {
    let start = 0;
    let size = 1;
    for (let i = 0; i < parts.length; i++) {
      const bytes = utf8Length(parts[i]!) + 1;
      if (i > start && size + bytes > this.#peerLimit) {
        await this.send(`[${parts.slice(start, i).join(",")}]`);
        start = i;
        size = 1;
      }
      size += bytes;
    }
    await this.send(`[${parts.slice(start).join(",")}]`);
  }
}
