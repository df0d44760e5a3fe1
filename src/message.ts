/**
 * Messages, close information and close codes shared by every layer.
 *
 * @module
 */

/**
 * A text message: the peer sent a text frame, decoded as UTF-8.
 *
 * @example Reading a text message
 * ```ts
 * import type { TextMessage } from "@switchboard/switchboard";
 *
 * const msg: TextMessage = { type: "text", data: "hello" };
 * console.log(msg.data.toUpperCase());
 * ```
 */
export interface TextMessage {
  /** Always `"text"`. */
  readonly type: "text";
  /** The decoded text. */
  readonly data: string;
}

/**
 * A binary message: the peer sent a binary frame.
 *
 * @example Reading a binary message
 * ```ts
 * import type { BinaryMessage } from "@switchboard/switchboard";
 *
 * const msg: BinaryMessage = { type: "binary", data: new Uint8Array([1, 2]) };
 * console.log(msg.data.byteLength);
 * ```
 */
export interface BinaryMessage {
  /** Always `"binary"`. */
  readonly type: "binary";
  /** The bytes, a view of the buffer the runtime handed over (not a copy). */
  readonly data: Uint8Array;
}

/**
 * One WebSocket message, text or binary, as yielded by `for await` over a
 * {@linkcode Socket}.
 *
 * @example Narrowing on the type
 * ```ts
 * import type { Message } from "@switchboard/switchboard";
 *
 * function size(msg: Message): number {
 *   return msg.type === "text" ? msg.data.length : msg.data.byteLength;
 * }
 * console.log(size({ type: "text", data: "hi" }));
 * ```
 */
export type Message = TextMessage | BinaryMessage;

/**
 * A message's size as the inbox bounds count it: a text message's length in
 * UTF-16 code units, a binary message's bytes. Internal.
 *
 * @param msg The message.
 * @returns Its size.
 */
export function messageSize(msg: Message): number {
  return msg.type === "text" ? msg.data.length : msg.data.byteLength;
}

/**
 * How a connection travels: `"websocket"`, or `"sse"` for the fallback (a
 * Server-Sent Events stream from the server and POSTs from the client) for
 * networks that break WebSocket upgrades.
 *
 * @example Enabling the fallback on a route
 * ```ts
 * import type { Transport } from "@switchboard/switchboard";
 *
 * const transports: Transport[] = ["websocket", "sse"];
 * console.log(transports.join(", "));
 * ```
 */
export type Transport = "websocket" | "sse";

/**
 * Checks a `transports` option.
 *
 * @param value The option's value.
 * @returns The transports, without repeats.
 * @throws {TypeError} When it is not a non-empty list of known transports.
 */
export function checkTransports(value: unknown): readonly Transport[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      'Invalid transports: expected a non-empty list of "websocket" and "sse"',
    );
  }
  for (const item of value) {
    if (item !== "websocket" && item !== "sse") {
      throw new TypeError(
        `Invalid transports: unknown transport ${
          JSON.stringify(item)
        }; expected "websocket" or "sse"`,
      );
    }
  }
  return [...new Set(value as Transport[])];
}

/**
 * Why and how a connection ended.
 *
 * `code` is 1005 when the peer's close frame carried no code and 1006 when
 * the connection ended without a close handshake (a reset, a protocol error).
 *
 * @example Logging the end of a connection
 * ```ts
 * import type { CloseInfo } from "@switchboard/switchboard";
 *
 * const info: CloseInfo = { code: 1000, reason: "bye", wasClean: true };
 * console.log(`closed ${info.code} ${info.reason}`);
 * ```
 */
export interface CloseInfo {
  /** The close code (RFC 6455 section 7.4), normalised as described above. */
  readonly code: number;
  /** The close reason, `""` when none was given. */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
}

/**
 * The close codes of RFC 6455 section 7.4.1 and the IANA registry, by name.
 *
 * @example Closing with a named code
 * ```ts
 * import { CloseCode } from "@switchboard/switchboard";
 *
 * console.log(CloseCode.NormalClosure); // 1000
 * ```
 */
export const CloseCode = {
  /** 1000: the purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** 1002: the peer broke the protocol. */
  ProtocolError: 1002,
  /** 1003: the endpoint received a type of data it cannot accept. */
  UnsupportedData: 1003,
  /** 1005: reported when a close frame carried no code; never sent. */
  NoStatusReceived: 1005,
  /** 1006: reported when the connection ended without a close frame; never sent. */
  AbnormalClosure: 1006,
  /** 1007: a message's data was not consistent with its type. */
  InvalidPayload: 1007,
  /** 1008: a message violated the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: a message was too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** 1011: the server hit an unexpected condition. */
  InternalError: 1011,
  /** 1012: the server is restarting. */
  ServiceRestart: 1012,
  /** 1013: the server is overloaded; try again later. */
  TryAgainLater: 1013,
} as const;

/** The longest close reason RFC 6455 allows, in UTF-8 bytes. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * The number of bytes `text` takes in UTF-8, without encoding it.
 *
 * @param text The string to measure.
 * @returns Its UTF-8 length in bytes (a lone surrogate counts as the 3 bytes
 * of its replacement character).
 *
 * @example Counting bytes
 * ```ts
 * import { utf8Length } from "./message.ts";
 *
 * console.log(utf8Length("héllo")); // 6
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (
      unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Whether a peer may put `code` in a close frame (RFC 6455 section 7.4):
 * 1000-1003, 1007-1014 and 3000-4999. 1004, 1005, 1006 and 1015 are
 * reserved and never sent.
 *
 * @param code The code.
 * @returns `true` when the code may travel in a close frame.
 *
 * @example Telling wire codes apart
 * ```ts
 * import { isWireCloseCode } from "./message.ts";
 *
 * console.log(isWireCloseCode(1008), isWireCloseCode(1006)); // true false
 * ```
 */
export function isWireCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

/**
 * Checks a close code and reason the way a browser's `WebSocket.close()` does:
 * the code must be 1000 or in 3000-4999, the reason at most 123 UTF-8 bytes.
 * A server-side `Socket` accepts every wire code instead (1000-1003,
 * 1007-1014 and 3000-4999); this is the rule for client sockets.
 *
 * @param code The close code to check.
 * @param reason The close reason to check.
 * @throws {TypeError} When the code is not a number or the reason not a string.
 * @throws {RangeError} When the code is not 1000 or 3000-4999, or the reason
 * is longer than 123 UTF-8 bytes.
 *
 * @example Validating before closing
 * ```ts
 * import { validateClose } from "@switchboard/switchboard";
 *
 * validateClose(4000, "custom");
 * try {
 *   validateClose(1005, "");
 * } catch (error) {
 *   console.log((error as RangeError).message);
 * }
 * ```
 */
export function validateClose(code: number, reason: string): void {
  checkClose(code, reason, false);
}

/**
 * Checks a close code and reason before a close frame is sent. Internal.
 *
 * @param code The close code.
 * @param reason The close reason.
 * @param wire `true` where the runtime sends every wire code (a server-side
 * WebSocket): 1000-1003, 1007-1014 and 3000-4999; `false` for the browser's
 * rule, 1000 and 3000-4999 (browsers and Deno's client `WebSocket` refuse
 * the others).
 * @throws {TypeError} When the code is not a number or the reason not a string.
 * @throws {RangeError} When the code or the reason is out of range.
 */
export function checkClose(code: number, reason: string, wire: boolean): void {
  if (typeof code !== "number") {
    throw new TypeError(
      `Invalid close code: expected a number, got ${typeof code}`,
    );
  }
  if (wire ? !isWireCloseCode(code) : !isScriptCloseCode(code)) {
    throw new RangeError(
      wire
        ? `Invalid close code ${code}: a server may close with 1000-1003, 1007-1014 or 3000-4999`
        : `Invalid close code ${code}: it must be 1000 or in the range 3000-4999`,
    );
  }
  if (typeof reason !== "string") {
    throw new TypeError(
      `Invalid close reason: expected a string, got ${typeof reason}`,
    );
  }
  if (reasonTooLong(reason)) {
    throw new RangeError(
      `Invalid close reason: it is ${
        utf8Length(reason)
      } UTF-8 bytes long, the limit is ${MAX_CLOSE_REASON_BYTES}`,
    );
  }
}

/**
 * Whether a close reason is over the 123 UTF-8 bytes a close frame holds.
 * Internal.
 *
 * @param reason The reason.
 * @returns `true` when it is too long.
 */
export function reasonTooLong(reason: string): boolean {
  return reason.length > MAX_CLOSE_REASON_BYTES / 3 &&
    utf8Length(reason) > MAX_CLOSE_REASON_BYTES;
}

/** The codes a browser lets a script close with: 1000 and 3000-4999. */
function isScriptCloseCode(code: number): boolean {
  return code === 1000 ||
    (Number.isInteger(code) && code >= 3000 && code <= 4999);
}
