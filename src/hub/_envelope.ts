/**
 * The messages hubs send each other over their backplane channel: JSON,
 * with binary data as base64. Internal.
 *
 * @module
 */

import { fromBase64, toBase64 } from "../_base64.ts";

/** A message between hubs. `b` marks base64-encoded binary data. */
export interface Envelope {
  /** The publishing hub. */
  n: string;
  /** A room (`r`) or a connection id (`c`). */
  r?: string;
  c?: string;
  x?: string;
  d: string;
  b?: 1;
}

/**
 * Puts `data` in `envelope` and serializes it for the backplane.
 *
 * @param envelope Who publishes and where the message goes; its `d` (and
 * `b`) are filled in.
 * @param data The message.
 * @returns The text to publish.
 */
export function writeEnvelope(
  envelope: Envelope,
  data: string | Uint8Array,
): string {
  if (typeof data === "string") envelope.d = data;
  else {
    envelope.d = toBase64(data);
    envelope.b = 1;
  }
  return JSON.stringify(envelope);
}

/**
 * Parses a message from the backplane.
 *
 * @param message The text received.
 * @param self The receiving hub's id: its own messages are skipped.
 * @returns The envelope and its data, or `undefined` for text that is not
 * JSON, has no data, or comes from `self`.
 * @throws {DOMException} When binary data is not base64.
 */
export function readEnvelope(
  message: string,
  self: string,
): { envelope: Envelope; data: string | Uint8Array } | undefined {
  let envelope: Envelope;
  try {
    envelope = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (envelope.n === self || typeof envelope.d !== "string") return undefined;
  const data = envelope.b === 1 ? fromBase64(envelope.d) : envelope.d;
  return { envelope, data };
}
