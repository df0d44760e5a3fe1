/**
 * The wire format of the fallback transport, shared by the server
 * (`src/sse.ts`) and the client (`src/_sse_client.ts`). No Deno APIs.
 *
 * Server to client: one Server-Sent Events stream (`GET` with
 * `Accept: text/event-stream`) carrying these events, one line of data each:
 *
 * - `open`: `{"session": id, "protocol": name}`, first;
 * - `text`: the message as a JSON string;
 * - `binary`: the message in base64;
 * - `close`: `{"code": n, "reason": text}`, last;
 * - a comment line (`: keepalive`) every keepalive interval.
 *
 * Client to server: `POST <path>?session=<id>` with a JSON body
 * `{"seq": n, "messages": [entry, ...]}`, where an entry is `["t", text]`,
 * `["b", base64]` or `["c", code, reason]` (the client's close). `seq` counts
 * the session's POSTs from 0: a POST whose `seq` was already delivered is
 * answered 204 and ignored, so a retry is never delivered twice.
 *
 * @module
 */

/** The query parameter that names a session on a POST. */
export const SESSION_PARAM = "session";
/** The query parameter that lists the subprotocols a stream offers. */
export const PROTOCOLS_PARAM = "protocols";
/** The media type of the stream. */
export const EVENT_STREAM = "text/event-stream";

/** `readyState` values, as `WebSocket` has them, for both ends' sessions. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** One entry of a POST batch. */
export type Entry =
  | readonly ["t", string]
  | readonly ["b", string]
  | readonly ["c", number, string];

/** A POST body. */
export interface Batch {
  seq: number;
  messages: Entry[];
}

/** What a stream's `open` event carries. */
export interface OpenData {
  session: string;
  protocol: string;
}

/**
 * Formats one event. `data` must hold no line break (JSON and base64 don't).
 *
 * @param event The event name.
 * @param data The event's data.
 * @returns The event's text on the stream.
 */
export function formatEvent(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

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
 * Reads a POST body, or explains in a sentence what is wrong with it.
 *
 * @param text The body.
 * @returns The batch, or the problem.
 */
export function parseBatch(text: string): Batch | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "the body is not JSON";
  }
  if (value === null || typeof value !== "object") {
    return "the body is not a JSON object";
  }
  const { seq, messages } = value as Record<string, unknown>;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    return "seq is not a non-negative integer";
  }
  if (!Array.isArray(messages)) return "messages is not an array";
  for (const entry of messages) {
    if (!Array.isArray(entry)) return "a message is not an array";
    const [kind, data, reason] = entry as unknown[];
    if (kind === "t" || kind === "b") {
      if (entry.length !== 2 || typeof data !== "string") {
        return `a "${kind}" message does not hold one string`;
      }
    } else if (kind === "c") {
      if (
        entry.length !== 3 || typeof data !== "number" ||
        typeof reason !== "string"
      ) return 'a "c" entry does not hold a code and a reason';
    } else return `unknown message kind ${JSON.stringify(kind)}`;
  }
  return { seq, messages: messages as Entry[] };
}

/**
 * An incremental reader of `text/event-stream`, as the HTML standard parses
 * it: lines end with CRLF, LF or CR; `event:` names the event, `data:` lines
 * are joined with LF, comments are skipped, a blank line dispatches.
 */
export class EventStreamParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #onEvent: (event: string, data: string) => void;

  /**
   * @param onEvent Called for each event, with its name (`message` when
   * none was given) and data.
   */
  constructor(onEvent: (event: string, data: string) => void) {
    this.#onEvent = onEvent;
  }

  /**
   * Feeds the next chunk of decoded text.
   *
   * @param chunk The text.
   */
  push(chunk: string): void {
    let text = this.#buffer + chunk;
    let start = 0;
    for (;;) {
      const lf = text.indexOf("\n", start);
      const cr = text.indexOf("\r", start);
      let end: number;
      if (lf === -1 && cr === -1) break;
      if (cr === -1 || (lf !== -1 && lf < cr)) end = lf;
      else {
        // A CR at the end of the chunk may be the first half of a CRLF.
        if (cr === text.length - 1) break;
        end = cr;
      }
      this.#line(text.slice(start, end));
      start = end + 1;
      if (text[end] === "\r" && text[start] === "\n") start++;
    }
    text = text.slice(start);
    this.#buffer = text;
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#data.length > 0) {
        this.#onEvent(this.#event || "message", this.#data.join("\n"));
      }
      this.#event = "";
      this.#data = [];
      return;
    }
    if (line[0] === ":") return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
  }
}
