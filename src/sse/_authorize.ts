/**
 * Who may POST to a fallback session: the client that holds the session's
 * secret, from the stream's origin. Internal.
 *
 * @module
 */

import { plain } from "../_plain.ts";
import { SECRET_HEADER } from "./wire.ts";

/**
 * Checks that a POST may reach a session: it carries the session's secret in
 * the `X-Switchboard-Secret` header (compared in constant time), and, when
 * the stream was opened with an `Origin` (a browser on another origin), the
 * same `Origin`. (The host checks `allowedOrigins` on POSTs as on streams
 * before this.) A refused POST leaves the session as it was.
 *
 * @param request The POST.
 * @param secret The session's secret (`undefined` once it has ended).
 * @param origin The stream request's `Origin`, if any.
 * @returns A 403 with a plain reason, or `undefined` when it may.
 */
export function authorizePost(
  request: Request,
  secret: string | undefined,
  origin: string | null,
): Response | undefined {
  const given = request.headers.get(SECRET_HEADER);
  if (given === null) {
    return plain(
      403,
      "Forbidden: the POST does not carry the session's secret (X-Switchboard-Secret)",
    );
  }
  if (!sameText(given, secret)) {
    return plain(403, "Forbidden: wrong secret for this session");
  }
  const from = request.headers.get("origin");
  if (origin !== null && from !== origin) {
    return plain(
      403,
      `Forbidden: origin ${from ?? "(none)"} may not post to this session`,
    );
  }
  return undefined;
}

/**
 * Compares two strings in time that depends on their length only.
 *
 * @param a One string.
 * @param b The other, or `undefined` (never equal).
 * @returns Whether they hold the same code units.
 */
function sameText(a: string, b: string | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
