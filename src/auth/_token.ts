/**
 * Where a token travels on a handshake, both sides: the `Authorization`
 * header, the subprotocol offer (what a browser's `WebSocket` can set) and
 * the `access_token` query parameter; and removing that parameter from what
 * is logged or reported. Internal; runs in browsers.
 *
 * @module
 */

import { fromBase64Url, toBase64Url } from "../_base64.ts";

/** The query parameter of SignalR's convention for browsers. */
export const ACCESS_TOKEN_PARAM = "access_token";
/**
 * The subprotocol offered beside the one that carries a token, for the
 * server to choose when it chooses no other: a browser (and `npm:ws`) fails
 * a handshake that offered subprotocols and got none back.
 */
export const BEARER_MARKER = "switchboard.bearer";
/**
 * The prefix of the subprotocol that carries a token (base64url of its
 * UTF-8 follows, as Kubernetes does): a subprotocol name may hold only
 * HTTP token characters, and a token may hold any. Never chosen.
 */
export const BEARER_PROTOCOL = `${BEARER_MARKER}.`;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The subprotocols that carry a token in the offer.
 *
 * @param token The token.
 * @returns `switchboard.bearer` and `switchboard.bearer.<base64url>`.
 */
export function bearerProtocols(token: string): string[] {
  return [BEARER_MARKER, BEARER_PROTOCOL + toBase64Url(encoder.encode(token))];
}

/**
 * The subprotocol a server with `authenticate` chooses when it chooses no
 * other: the bearer marker, when offered.
 *
 * @param offered The `Sec-WebSocket-Protocol` header.
 * @returns The marker, or `undefined`.
 */
export function bearerMarker(offered: string | null): string | undefined {
  if (offered === null || !offered.includes(BEARER_MARKER)) return undefined;
  return offered.split(",").some((name) => name.trim() === BEARER_MARKER)
    ? BEARER_MARKER
    : undefined;
}

/**
 * The token a request carries: an `Authorization: Bearer` header, else the
 * bearer subprotocol of its offer, else its `access_token` query parameter.
 *
 * @param request The request.
 * @returns The token, or `undefined` when none was found (or it was empty).
 */
export function findToken(request: Request): string | undefined {
  const headers = request.headers;
  const authorization = headers.get("authorization");
  if (authorization !== null) {
    const match = /^Bearer[ \t]+(\S.*?)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const offer = headers.get("sec-websocket-protocol");
  if (offer !== null && offer.includes(BEARER_PROTOCOL)) {
    for (const item of offer.split(",")) {
      const name = item.trim();
      if (!name.startsWith(BEARER_PROTOCOL)) continue;
      try {
        const token = decoder.decode(
          fromBase64Url(name.slice(BEARER_PROTOCOL.length)),
        );
        if (token !== "") return token;
      } catch {
        // Not base64url of UTF-8: no token from the offer.
      }
    }
  }
  if (!request.url.includes(ACCESS_TOKEN_PARAM)) return undefined;
  return new URL(request.url).searchParams.get(ACCESS_TOKEN_PARAM) || undefined;
}

const TOKEN_PARAM = /([?&])access_token=[^&#\s"'<>]*(&?)/g;

/**
 * Removes every `access_token` query parameter from a URL, or from URLs in
 * a text (an error message): what Switchboard logs or reports never holds
 * a token.
 *
 * @param text A URL, or text that may hold URLs.
 * @returns The text without the parameters.
 */
export function redact(text: string): string {
  if (!text.includes(ACCESS_TOKEN_PARAM)) return text;
  return text.replace(
    TOKEN_PARAM,
    (_match, separator: string, more: string) =>
      separator === "?" ? (more ? "?" : "") : more,
  );
}

/**
 * The request as it may be reported: the same request when its URL holds no
 * token, else a copy (method and headers, no body: an upgraded request's
 * body cannot be read) whose URL has none.
 *
 * @param request The request.
 * @returns A request without `access_token` in its URL.
 */
export function redactRequest(request: Request): Request {
  const url = redact(request.url);
  return url === request.url
    ? request
    : new Request(url, { method: request.method, headers: request.headers });
}
