/**
 * The smallest HS256 JWT there is, with Web Crypto and no dependency: what
 * the chat example's `--auth` mode signs and checks. Enough for an example
 * and the tests; a real service would use a maintained library (and
 * probably asymmetric keys).
 *
 * @module
 */

import { fromBase64Url, toBase64Url } from "../src/_base64.ts";

/** The claims the example uses: `sub` and `exp` (seconds since the epoch). */
export interface Claims {
  sub: string;
  exp: number;
  [claim: string]: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER = toBase64Url(encoder.encode('{"alg":"HS256","typ":"JWT"}'));

/** An HMAC-SHA256 key for signing and checking tokens. */
export function hmacKey(secret: string | Uint8Array): Promise<CryptoKey> {
  const bytes = typeof secret === "string" ? encoder.encode(secret) : secret;
  return crypto.subtle.importKey(
    "raw",
    bytes as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** Signs `claims` as a compact JWT (`header.payload.signature`). */
export async function signJwt(claims: Claims, key: CryptoKey): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(`${HEADER}.${payload}`),
  );
  return `${HEADER}.${payload}.${toBase64Url(signature)}`;
}

/**
 * Checks a JWT: HS256, a good signature, `sub` a string and `exp` not
 * passed. Returns its claims, or `undefined` for anything else (malformed,
 * wrongly signed, expired).
 */
export async function verifyJwt(
  token: string,
  key: CryptoKey,
  now = Date.now(),
): Promise<Claims | undefined> {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  let claims: unknown;
  try {
    if (JSON.parse(decoder.decode(fromBase64Url(header))).alg !== "HS256") {
      return undefined;
    }
    const good = await crypto.subtle.verify(
      "HMAC",
      key,
      fromBase64Url(signature) as Uint8Array<ArrayBuffer>,
      encoder.encode(`${header}.${payload}`),
    );
    if (!good) return undefined;
    claims = JSON.parse(decoder.decode(fromBase64Url(payload)));
  } catch {
    return undefined;
  }
  const { sub, exp } = (claims ?? {}) as Partial<Claims>;
  if (typeof sub !== "string" || typeof exp !== "number") return undefined;
  return exp * 1000 > now ? claims as Claims : undefined;
}
