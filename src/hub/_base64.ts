/**
 * Base64 for binary messages between hubs, which travel inside JSON.
 * Internal; `src/sse`'s wire code has its own copy, to be merged.
 *
 * @module
 */

/**
 * Encodes bytes as base64.
 *
 * @param bytes The bytes.
 * @returns Their base64 text.
 */
export function toBase64(bytes: Uint8Array): string {
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
 * @throws {DOMException} When `text` is not base64.
 */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
