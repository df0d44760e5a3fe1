/**
 * {@linkcode ControlLink}: a plain WebSocket (no resume) that carries the
 * control channel, with the framing of `session/wire.ts` (a text frame
 * starting with U+0000 is a control message; application text starting with
 * U+0000 travels with it doubled). Shaped like a `WebSocket`, so a `Socket`
 * wraps it unchanged. Internal; runs in browsers (the client uses it too).
 *
 * @module
 */

import { type ControlHandler, controlTooLong } from "../session/wire.ts";
import { escapeText, splitProtocol } from "../session/wire.ts";
import { control, readText } from "../session/_state.ts";
import { closeCopy, errorCopy } from "../_event_copies.ts";

/** Data a link sends. */
type Data = string | ArrayBuffer | ArrayBufferView;

/** The events of the connection a link passes on. */
const EVENTS = ["open", "message", "close", "error"] as const;

/**
 * One WebSocket with the control channel: control messages go to the
 * {@linkcode ControlHandler} set on it, the rest to whatever wraps it.
 * Unknown or oversized control messages close the connection with 1002 or
 * 1009 (on the server; a client closes with 1000 and says why).
 */
export class ControlLink extends EventTarget {
  binaryType = "arraybuffer";
  readonly #ws: WebSocket;
  /** Whether the framing is on: set, or learnt from the protocol on open. */
  #active: boolean;
  readonly #server: boolean;
  /** Told the control messages that arrive. */
  controlHandler: ControlHandler | undefined;

  /**
   * @param ws The connection.
   * @param active `true` on a server that negotiated the channel; `false` on
   * a client, which learns on open whether the server accepted it.
   */
  constructor(ws: WebSocket, active: boolean) {
    super();
    this.#ws = ws;
    this.#active = active;
    this.#server = active;
    ws.binaryType = "arraybuffer";
    for (const type of EVENTS) ws.addEventListener(type, this);
  }

  /** The connection's state, as `WebSocket.readyState`. */
  get readyState(): number {
    return this.#ws.readyState;
  }

  /** The URL the connection was opened with (`""` on a server). */
  get url(): string {
    return this.#ws.url;
  }

  /** The application's subprotocol (without the control channel's token). */
  get protocol(): string {
    return splitProtocol(this.#ws.protocol ?? "").protocol;
  }

  /** What the connection's send buffer holds. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Whether the peer speaks the control channel. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Sends a data message; text starting with U+0000 is escaped.
   *
   * @param data The message.
   */
  send(data: Data): void {
    this.#ws.send(
      this.#active && typeof data === "string" ? escapeText(data) : data,
    );
  }

  /**
   * Sends a control message, when the channel is on.
   *
   * @param body The kind letter and its body.
   */
  sendControl(body: string): void {
    if (this.#active) control(this.#ws, body);
  }

  /**
   * Closes the connection.
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }

  handleEvent(event: Event): void {
    try {
      this.#dispatch(event);
    } catch (error) {
      // An exception in a Deno WebSocket listener ends the process.
      console.error("Switchboard: a control link failed", error);
    }
  }

  #dispatch(event: Event): void {
    switch (event.type) {
      case "open":
        if (!this.#server) {
          this.#active = splitProtocol(this.#ws.protocol ?? "").control;
        }
        this.dispatchEvent(new Event("open"));
        return;
      case "message":
        return this.#onMessage((event as MessageEvent).data);
      case "error":
        this.dispatchEvent(errorCopy(event));
        return;
      case "close":
        for (const type of EVENTS) this.#ws.removeEventListener(type, this);
        this.dispatchEvent(closeCopy(event));
    }
  }

  #onMessage(data: unknown): void {
    if (this.#active && typeof data === "string") {
      const read = readText(data);
      if ("control" in read) return this.#onControl(read.control);
      data = read.data;
    }
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  #onControl(body: string): void {
    if (controlTooLong(body)) return this.#fail(1009, "Control too long");
    const handler = this.controlHandler;
    if (handler === undefined) {
      return this.#fail(1002, "Unexpected control message");
    }
    handler.control(body);
  }

  #fail(code: number, reason: string): void {
    try {
      // A browser's close() takes only 1000 and 3000-4999.
      this.#ws.close(this.#server ? code : 1000, reason);
    } catch {
      // Already closed.
    }
  }
}
