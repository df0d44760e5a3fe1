/**
 * Base64 for bytes that travel inside text: the fallback's binary messages
 * and secrets, and binary messages between hubs. The one home for it;
 * internal; runs in browsers.
 *
 * @module
 */

type Base64Codec = {
  fromBase64?: (text: string) => Uint8Array;
};

/**
 * Encodes bytes as base64 (`Uint8Array.prototype.toBase64` where the runtime
 * has it).
 *
 * @param data The bytes: a buffer or a view of one.
 * @returns Their base64 text.
 */
export function toBase64(data: ArrayBuffer | ArrayBufferView): string {
  const bytes = data instanceof Uint8Array
    ? data
    : data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const native = (bytes as { toBase64?: () => string }).toBase64;
  if (typeof native === "function") return native.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Decodes base64 text.
 *
 * @param text The base64 text.
 * @returns The bytes.
 * @throws {SyntaxError} When `text` is not base64.
 */
export function fromBase64(text: string): Uint8Array {
  const native = (Uint8Array as unknown as Base64Codec).fromBase64;
  if (typeof native === "function") {
    try {
      return native(text);
    } catch {
      throw new SyntaxError("Invalid base64 data");
    }
  }
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new SyntaxError("Invalid base64 data");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Encodes bytes as base64url without padding (RFC 4648 section 5): safe in
 * URLs, JWTs and subprotocol names.
 *
 * @param data The bytes.
 * @returns Their base64url text.
 */
export function toBase64Url(data: ArrayBuffer | ArrayBufferView): string {
  return toBase64(data).replace(/=+$/, "").replaceAll("+", "-")
    .replaceAll("/", "_");
}

/**
 * Decodes base64url text, with or without padding.
 *
 * @param text The base64url text.
 * @returns The bytes.
 * @throws {SyntaxError} When `text` is not base64url.
 */
export function fromBase64Url(text: string): Uint8Array {
  if (/[^A-Za-z0-9_-]/.test(text.replace(/=+$/, ""))) {
    throw new SyntaxError("Invalid base64url data");
  }
  const base64 = text.replace(/=+$/, "").replaceAll("-", "+")
    .replaceAll("_", "/");
  return fromBase64(base64 + "=".repeat((4 - base64.length % 4) % 4));
}
