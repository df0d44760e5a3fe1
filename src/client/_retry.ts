/**
 * The client's reconnect policy: after a connection ends, give up or retry
 * after how long. Internal; no Deno APIs.
 *
 * @module
 */

import type { CloseInfo } from "../message.ts";
import { backoff } from "./_backoff.ts";
import type { CheckedClientOptions } from "./options.ts";

/** A retry to schedule: its number (1 for the first) and delay in ms. */
export interface Retry {
  attempt: number;
  delay: number;
}

/** Counts the failed retries in a row and decides the next step. */
export class RetryPolicy {
  readonly #options: CheckedClientOptions;
  #retries = 0;

  /**
   * @param options The client's checked options.
   */
  constructor(options: CheckedClientOptions) {
    this.#options = options;
  }

  /**
   * What follows a connection that ended. A connection that stayed open
   * `minUptime` starts the count and the backoff again; a refused
   * handshake, 1008, one of `finalCodes` or `maxRetries` failures in a row
   * end the client.
   *
   * @param info Why the connection ended.
   * @param uptime How long it was open, in ms; `-1` when it never opened.
   * @param refused The HTTP status of a handshake retrying cannot fix.
   * @param renewed The token function gave a new token after an
   * authentication failure: one retry follows at once (within
   * `maxRetries`), whatever made the close final.
   * @returns The retry to schedule, or the client's final close info.
   */
  next(
    info: CloseInfo,
    uptime: number,
    refused: number | undefined,
    renewed = false,
  ): Retry | CloseInfo {
    const options = this.#options;
    if (uptime >= options.minUptime) this.#retries = 0;
    if (this.#retries >= options.maxRetries) return final(info, refused);
    if (renewed) return { attempt: ++this.#retries, delay: 0 };
    // A wrong path, a refused origin or credentials: retrying cannot help.
    if (refused !== undefined) return final(info, refused);
    if (info.code === 1008 || options.isFinal(info.code)) return info;
    const attempt = ++this.#retries;
    return {
      attempt,
      delay: backoff(attempt, options.backoff, Math.random()),
    };
  }
}

/** The client's last close info: a refused handshake's status, or `info`. */
function final(info: CloseInfo, refused: number | undefined): CloseInfo {
  return refused === undefined ? info : {
    code: 1006,
    reason: `Handshake refused: ${refused}`,
    wasClean: false,
  };
}
