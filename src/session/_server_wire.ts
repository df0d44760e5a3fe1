/**
 * What a server session uses for each of its connections: the listener
 * whose events stop counting once the connection is replaced, and the
 * session id and the quiet close. Internal.
 *
 * @module
 */

import { toBase64 } from "../_base64.ts";
import type { ServerSession } from "./server.ts";

/** Listens to one connection for its session: events of a replaced one drop. */
export class Wire implements EventListenerObject {
  readonly session: ServerSession;
  readonly ws: WebSocket;

  constructor(session: ServerSession, ws: WebSocket) {
    this.session = session;
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", this);
    ws.addEventListener("close", this);
  }

  handleEvent(event: Event): void {
    try {
      this.session.onEvent(this, event);
    } catch (error) {
      // An exception in a Deno WebSocket listener ends the process.
      console.error("Switchboard: resumable session failed", error);
    }
  }

  remove(): void {
    this.ws.removeEventListener("message", this);
    this.ws.removeEventListener("close", this);
  }
}

/** A fresh session id: 144 random bits, base64url. */
export function newId(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(18)))
    .replaceAll("+", "-").replaceAll("/", "_");
}

export function closeQuietly(
  ws: WebSocket,
  code: number,
  reason: string,
): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}
