/**
 * A test client that speaks the rooms wire by hand (docs/rooms.md): a plain
 * WebSocket that sends join and leave frames and keeps every frame it got.
 *
 * @module
 */

import { closeEvent, delay, open } from "./_helpers.ts";
import type { Position } from "../src/hub.ts";

/** A rooms frame the server sent, as parsed JSON. */
export interface Frame {
  type: "message" | "joined";
  room: string;
  position: Position;
  data?: string;
  binary?: true;
  recovered?: boolean;
}

/** A raw WebSocket client of a rooms server. */
export class RoomsPeer implements AsyncDisposable {
  readonly ws: WebSocket;
  /** Every rooms frame received, in order. */
  readonly frames: Frame[] = [];
  /** Every other message received. */
  readonly plain: unknown[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      const data = event.data;
      if (typeof data === "string" && data.charCodeAt(0) === 1) {
        this.frames.push(JSON.parse(data.slice(1)));
      } else this.plain.push(data);
    });
  }

  static async open(url: string): Promise<RoomsPeer> {
    return new RoomsPeer(await open(url));
  }

  /** The `message` frames of one room, in order. */
  messages(room: string): Frame[] {
    return this.frames.filter((f) => f.type === "message" && f.room === room);
  }

  join(room: string, since?: Position): void {
    this.ws.send(`\u0001${JSON.stringify({ type: "join", room, since })}`);
  }

  leave(room: string): void {
    this.ws.send(`\u0001${JSON.stringify({ type: "leave", room })}`);
  }

  /** Waits for a `joined` frame of `room` beyond the first `after` frames. */
  async joined(room: string, after = 0, ms = 10_000): Promise<Frame> {
    const frame = await this.waitFor(
      () =>
        this.frames.slice(after).find((f) =>
          f.type === "joined" && f.room === room
        ),
      ms,
    );
    return frame;
  }

  /** Waits until `find` returns something, for at most `ms`. */
  async waitFor<T>(find: () => T | undefined, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out; last frames: ${
            JSON.stringify(this.frames.slice(-3))
          } (${this.frames.length} in all)`,
        );
      }
      await delay(10);
    }
  }

  async close(): Promise<void> {
    const closed = closeEvent(this.ws);
    this.ws.close();
    await closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
