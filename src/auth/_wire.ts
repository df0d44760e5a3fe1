/**
 * The control messages of authentication, both sides (the framing is
 * `session/wire.ts`'s): the server tells the expiry (`E`) and asks for a
 * fresh token (`Q`); the client refreshes in place (`T<token>`). Internal;
 * runs in browsers.
 *
 * @module
 */

import { parseJson } from "../session/wire.ts";

/** Server: the principal's expiry. */
export const EXPIRY = "E";
/** Server: send a fresh token. */
export const ASK = "Q";
/** Client: a fresh token follows. */
export const REFRESH = "T";

/** What the server tells of the principal's expiry. */
export interface Expiry {
  /** Milliseconds since the epoch, by the server's clock; `null`: never. */
  expiresAt: number | null;
  /** Milliseconds left when it was sent (clocks may differ); `null`: never. */
  expiresIn: number | null;
  /** Whether it answers a refresh in place. */
  refreshed: boolean;
}

/**
 * The `E` message.
 *
 * @param expiresAt The principal's `expiresAt`, if any.
 * @param now The server's clock.
 * @param refreshed Whether it answers a refresh.
 * @returns The control body.
 */
export function expiryMessage(
  expiresAt: number | undefined,
  now: number,
  refreshed: boolean,
): string {
  const expiry: Expiry = {
    expiresAt: expiresAt ?? null,
    expiresIn: expiresAt === undefined ? null : Math.max(0, expiresAt - now),
    refreshed,
  };
  return EXPIRY + JSON.stringify(expiry);
}

/**
 * Reads an `E` message's body.
 *
 * @param body The text after the kind letter.
 * @returns The expiry, or `undefined` when malformed.
 */
export function readExpiry(body: string): Expiry | undefined {
  const value = parseJson(body);
  if (value === undefined) return undefined;
  const { expiresAt, expiresIn, refreshed } = value;
  const time = (v: unknown) =>
    v === null || (typeof v === "number" && Number.isFinite(v) && v >= 0);
  if (!time(expiresAt) || !time(expiresIn)) return undefined;
  return {
    expiresAt: expiresAt as number | null,
    expiresIn: expiresIn as number | null,
    refreshed: refreshed === true,
  };
}
