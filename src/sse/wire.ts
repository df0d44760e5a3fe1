/**
 * The wire format of the fallback transport, shared by the server
 * (`server.ts`) and the client (`client.ts`) in this folder. No Deno APIs.
 *
 * Server to client: one Server-Sent Events stream (`GET` with
 * `Accept: text/event-stream`) carrying these events, one line of data each:
 *
 * - `open`: `{"session": id, "protocol": name, "secret": key}`, first;
 * - `text`: the message as a JSON string;
 * - `utf8`: a text message as its UTF-8 in base64, when JSON's escapes
 *   would be longer (so that no line is longer than 4/3 of the message);
 * - `binary`: the message in base64;
 * - `close`: `{"code": n, "reason": text}`, last;
 * - `control`: a control message as a JSON string (the kinds of
 *   `session/wire.ts`: the authentication's expiry and refresh request);
 * - a comment line (`: keepalive`) every keepalive interval.
 *
 * Client to server: `POST <path>?session=<id>`, with the session's secret
 * from the open event in the `X-Switchboard-Secret` header (not in the URL,
 * which proxies log), and a JSON body
 * `{"seq": n, "messages": [entry, ...]}`, where an entry is `["t", text]`,
 * `["b", base64]`, `["k", control]` (a control message: a token refresh)
 * or `["c", code, reason]` (the client's close). `seq` counts
 * the session's POSTs from 0: a POST whose `seq` was already delivered is
 * answered 204 and ignored, so a retry is never delivered twice.
 *
 * Resumable sessions (`connect(url, { resume: true })` on a route with
 * `resume`) ride on this wire with the same implicit per-direction message
 * numbers as over a WebSocket (`session/wire.ts`), so that one session can
 * move between the transports. The stream offers
 * `switchboard.resume.v1` among its `protocols` and asks for a session in
 * its headers: `X-Switchboard-Resume: <id>` with `Last-Event-ID: <count>`
 * (what it received) to resume one, else `X-Switchboard-Claim: <claim>` for
 * a new one. When the server accepts, the `open` event's protocol carries
 * the token, and on that stream:
 *
 * - `resume`: `{"id","received","resumed"}`, the session, right after `open`;
 * - each data event has `id: <n>`, the message's number in the session
 *   (1 for the first), so the count a client received is the last id it
 *   read; replays start after the client's `Last-Event-ID`;
 * - the `close` event has `"end": true` when the session ends (not only this
 *   stream);
 * - POST `seq` is the number of the session's messages before the batch's
 *   first one (a retry, or a batch that overlaps what arrived, delivers only
 *   what is new), `ack` (optional) is what the client received, and the
 *   answer is 200 with `{"received": n}`, what the server received. A close
 *   entry ends the session; a stream that just goes away is a drop, and the
 *   session waits for its client.
 *
 * Liveness: the client answers each `: keepalive` comment it reads with a
 * POST (an empty batch, `{"seq": n, "messages": []}`, when it has nothing
 * else to send; a POST already under way answers for it). Any POST that
 * carries the session's secret counts. Bytes the kernel's buffers absorb prove
 * nothing, but an answer to a keepalive proves the client reads its stream: a
 * session that has sent no POST since its last two keepalives went out (the
 * route's `idleTimeout`, twice `keepAliveInterval`) is closed by the server
 * with 1001 "Idle timeout: ..." at the next keepalive tick, as Deno closes a
 * WebSocket that answers no ping with 1001; 1001 lets a reconnecting client
 * come back, where 1008 would end it. Independently, a stream that takes no
 * bytes for two ticks while bytes wait in it closes with 1008. Both checks
 * are off with `keepAliveInterval: 0`. On a resumable stream either check
 * drops the stream instead (no close event): its session waits for the
 * client to come back.
 *
 * The sequence numbers on a resumable stream: the server's message number n
 * (1 for the session's first) travels as `id: n`; the client's
 * `Last-Event-ID` is the count its loop took, and the server replays from
 * there. The client's messages are numbered the same way: a POST's `seq` of
 * s holds messages s + 1, s + 2, ...; `ack` and the answer's `received` are
 * counts. Over a WebSocket the same numbers are implicit
 * (`session/wire.ts`).
 *
 * @module
 */

import { isWireCloseCode, reasonTooLong, utf8Length } from "../message.ts";
import { fromBase64, toBase64 } from "../_base64.ts";
import { controlTooLong, isCount } from "../session/wire.ts";

/** The query parameter that names a session on a POST. */
export const SESSION_PARAM = "session";
/**
 * The header that carries a session's secret on its POSTs: a POST without
 * the secret of the session it names is refused (403).
 */
export const SECRET_HEADER = "x-switchboard-secret";
/** The query parameter that lists the subprotocols a stream offers. */
export const PROTOCOLS_PARAM = "protocols";
/** The media type of the stream. */
export const EVENT_STREAM = "text/event-stream";
/** The stream request's header that names a resumable session to resume. */
export const RESUME_HEADER = "x-switchboard-resume";
/** The stream request's header with the claim on a new resumable session. */
export const CLAIM_HEADER = "x-switchboard-claim";
/** The stream request's header with the count of events received. */
export const LAST_EVENT_ID = "last-event-id";

/** One entry of a POST batch. */
export type Entry =
  | readonly ["t", string]
  | readonly ["b", string]
  | readonly ["k", string]
  | readonly ["c", number, string];

/** A POST body. */
export interface Batch {
  seq: number;
  /** On a resumable session: how many messages the client received. */
  ack?: number;
  messages: Entry[];
}

/** What a stream's `open` event carries. */
export interface OpenData {
  session: string;
  protocol: string;
  /** The key the client's POSTs carry in {@linkcode SECRET_HEADER}. */
  secret: string;
}

/**
 * Formats one event. `data` must hold no line break (JSON and base64 don't).
 *
 * @param event The event name.
 * @param data The event's data.
 * @param id The event's `id:` field, if any.
 * @returns The event's text on the stream.
 */
export function formatEvent(event: string, data: string, id?: number): string {
  const line = `event: ${event}\ndata: ${data}\n\n`;
  return id === undefined ? line : `id: ${id}\n${line}`;
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
  const { seq, ack, messages } = value as Record<string, unknown>;
  if (!isCount(seq)) return "seq is not a non-negative integer";
  if (ack !== undefined && !isCount(ack)) {
    return "ack is not a non-negative integer";
  }
  if (!Array.isArray(messages)) return "messages is not an array";
  for (const entry of messages) {
    if (!Array.isArray(entry)) return "a message is not an array";
    const [kind, data, reason] = entry as unknown[];
    if (kind === "t" || kind === "b" || kind === "k") {
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
  const batch: Batch = { seq, messages: messages as Entry[] };
  if (ack !== undefined) batch.ack = ack;
  return batch;
}

/** A batch checked and decoded, ready to deliver. */
export interface DecodedBatch {
  /** The messages: text as strings, binary as `ArrayBuffer`s. */
  messages: (string | ArrayBuffer)[];
  /** The client's close, when the batch ends with one. */
  close: { code: number; reason: string } | undefined;
  /** The control messages, in order (their kind letter first). */
  controls: string[];
}

/** Why a batch is refused: the HTTP answer, and the close the session takes. */
export interface BatchRefusal {
  status: 400 | 413;
  /** The answer's plain-text reason. */
  answer: string;
  code: number;
  reason: string;
}

/**
 * Checks and decodes every entry of a batch before any is delivered (a batch
 * is delivered whole or not at all). Entries after a close entry are
 * ignored, as frames after a close frame are.
 *
 * @param batch The parsed batch.
 * @param maxMessageSize The largest message, in bytes.
 * @returns The decoded batch, or the refusal: 400 and 1002 for a close
 * entry a peer may not send or a bad base64 message, 400 and 1007 for text
 * that is not valid Unicode, 413 and 1009 for a message over
 * `maxMessageSize`.
 */
export function decodeBatch(
  batch: Batch,
  maxMessageSize: number,
): DecodedBatch | BatchRefusal {
  const messages: (string | ArrayBuffer)[] = [];
  const controls: string[] = [];
  for (const entry of batch.messages) {
    if (entry[0] === "k") {
      if (controlTooLong(entry[1])) {
        return refusal(
          413,
          "Payload too large: a control message is too long",
          1009,
          "Control message too long",
        );
      }
      controls.push(entry[1]);
      continue;
    }
    if (entry[0] === "c") {
      const [, code, reason] = entry;
      if (!isWireCloseCode(code) || reasonTooLong(reason)) {
        // As for a close frame with a forbidden code: a protocol error.
        return refusal(
          400,
          "Bad request: the close entry's code may be 1000-1003, 1007-1014 or 3000-4999, with a reason of at most 123 UTF-8 bytes",
          1002,
          `Invalid close code ${code} or reason`,
        );
      }
      return { messages, close: { code, reason }, controls };
    }
    let data: string | ArrayBuffer;
    let size: number;
    if (entry[0] === "t") {
      data = entry[1];
      if (!data.isWellFormed()) {
        // JSON can carry a lone surrogate; a WebSocket text message can't.
        return refusal(
          400,
          "Bad request: a text message holds a lone surrogate",
          1007,
          "A text message is not valid Unicode",
        );
      }
      size = utf8Length(data);
    } else {
      let bytes: Uint8Array;
      try {
        bytes = fromBase64(entry[1]);
      } catch {
        return refusal(
          400,
          "Bad request: a binary message is not base64",
          1002,
          "Invalid base64 in a binary message",
        );
      }
      data = bytes.buffer as ArrayBuffer;
      size = bytes.byteLength;
    }
    if (size > maxMessageSize) {
      return refusal(
        413,
        `Payload too large: a message of ${size} bytes exceeds the limit of ${maxMessageSize}`,
        1009,
        `Message of ${size} bytes exceeds the limit of ${maxMessageSize}`,
      );
    }
    messages.push(data);
  }
  return { messages, close: undefined, controls };
}

function refusal(
  status: 400 | 413,
  answer: string,
  code: number,
  reason: string,
): BatchRefusal {
  return { status, answer, code, reason };
}

/**
 * The longest line (and the most data in one event) a reader accepts for a
 * given `maxMessageSize`: a message in base64 (4/3 of its bytes) plus room
 * for the field name and an event's JSON envelope.
 *
 * @param maxMessageSize The largest message, in bytes.
 * @returns The cap, in UTF-16 code units of decoded text.
 */
export function maxLineLength(maxMessageSize: number): number {
  return Math.ceil(maxMessageSize / 3) * 4 + LINE_SLACK;
}

/** Room beside a base64 message on one line: `data: `, JSON, a close. */
const LINE_SLACK = 1024;

/**
 * The event and data a text message travels as, so that its line stays
 * within {@linkcode maxLineLength}: a JSON string (`text`), or, when JSON's
 * escapes would make it longer than base64 (control characters), its UTF-8
 * in base64 (`utf8`).
 *
 * @param text The message.
 * @param bytes Its UTF-8 length.
 * @returns The event name and its data.
 */
export function textEvent(
  text: string,
  bytes: number,
): ["text" | "utf8", string] {
  const json = JSON.stringify(text);
  if (json.length <= Math.ceil(bytes / 3) * 4 + 16) return ["text", json];
  return ["utf8", toBase64(utf8Encoder.encode(text))];
}

const utf8Encoder = new TextEncoder();

/**
 * An incremental reader of `text/event-stream`, as the HTML standard parses
 * it: lines end with CRLF, LF or CR; `event:` names the event, `data:` lines
 * are joined with LF, `id:` sets the last event ID (kept for the events
 * after it), comments are skipped, a blank line dispatches.
 *
 * Linear in the input: each chunk is scanned once, the pieces of an
 * unfinished line are kept apart and joined once the line ends, and a line
 * (or an event's data) longer than `maxLength` code units is refused with a
 * `RangeError` as soon as it passes the cap.
 */
export class EventStreamParser {
  /** Pieces of the unfinished line, and their length. */
  #parts: string[] = [];
  #partsLength = 0;
  /** The last chunk ended with CR: an LF first in the next one ends nothing. */
  #afterCR = false;
  #event = "";
  /** The last event ID buffer: it lasts across events, as the standard says. */
  #id = "";
  #data: string[] = [];
  #dataLength = 0;
  #maxLength: number;
  #onEvent: (event: string, data: string, id: string) => void;
  #onComment: ((text: string) => void) | undefined;

  /**
   * @param onEvent Called for each event, with its name (`message` when
   * none was given), data and last event ID (`""` when none was given).
   * @param maxLength The longest line, and the most data in one event, in
   * UTF-16 code units.
   * @param onComment Called for each comment line, with its text after the
   * colon (` keepalive` for the server's keepalives).
   */
  constructor(
    onEvent: (event: string, data: string, id: string) => void,
    maxLength = Infinity,
    onComment?: (text: string) => void,
  ) {
    this.#onEvent = onEvent;
    this.#maxLength = maxLength;
    this.#onComment = onComment;
  }

  /**
   * Feeds the next chunk of decoded text.
   *
   * @param chunk The text.
   * @throws {RangeError} When a line or an event's data passes the cap.
   */
  push(chunk: string): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.#afterCR && chunk[0] === "\n") start = 1;
    this.#afterCR = false;
    // Next LF and CR at or after `start`, each searched again only once
    // passed, so that a chunk of many lines is scanned once.
    let lf = -2;
    let cr = -2;
    for (;;) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf("\n", start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf("\r", start);
      if (lf === -1 && cr === -1) break;
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      this.#check(this.#partsLength + end - start);
      let line = chunk.slice(start, end);
      if (this.#parts.length > 0) {
        this.#parts.push(line);
        line = this.#parts.join("");
        this.#parts = [];
        this.#partsLength = 0;
      }
      start = end + 1;
      if (chunk[end] === "\r") {
        if (start === chunk.length) this.#afterCR = true;
        else if (chunk[start] === "\n") start++;
      }
      this.#line(line);
    }
    if (start < chunk.length) {
      this.#check(this.#partsLength + chunk.length - start);
      this.#parts.push(start === 0 ? chunk : chunk.slice(start));
      this.#partsLength += chunk.length - start;
    }
  }

  #check(length: number): void {
    if (length > this.#maxLength) {
      throw new RangeError(
        `An event-stream line is longer than ${this.#maxLength} characters`,
      );
    }
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#data.length > 0) {
        const data = this.#data.join("\n");
        this.#data = [];
        this.#dataLength = 0;
        this.#onEvent(this.#event || "message", data, this.#id);
      }
      this.#event = "";
      return;
    }
    if (line[0] === ":") {
      this.#onComment?.(line.slice(1));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "id") {
      if (!value.includes("\0")) this.#id = value;
    } else if (field === "data") {
      this.#dataLength += value.length + 1;
      if (this.#dataLength > this.#maxLength) {
        this.#data = [];
        throw new RangeError(
          `An event's data is longer than ${this.#maxLength} characters`,
        );
      }
      this.#data.push(value);
    }
  }
}
