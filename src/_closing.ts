/**
 * The close a `Socket` started itself, made when it starts: what it closes
 * with and how far it got. An open socket holds none of this. Internal; runs
 * in browsers.
 *
 * @module
 */

import type { CloseInfo } from "./message.ts";

/** A close this side started. */
export class Closing implements CloseInfo {
  /** The close code to send. */
  code: number;
  /** The close reason to send. */
  reason: string;
  /** A close this side started is not a clean close until the peer answers. */
  readonly wasClean = false;
  /**
   * Left the loop (or `await using`): the frame waits one task, and a throw
   * that left the loop may still turn it into 1011.
   */
  soft: boolean;
  /** The close frame has been handed to the runtime. */
  frameSent = false;
  /** The one-task wait of a soft close, while it runs. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;

  /**
   * @param code The close code.
   * @param reason The close reason.
   * @param soft Whether the loop was left (see {@linkcode Closing.soft}).
   */
  constructor(code: number, reason: string, soft: boolean) {
    this.code = code;
    this.reason = reason;
    this.soft = soft;
  }
}
