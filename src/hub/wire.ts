/**
 * The rooms wire: what a hub sends a member that joined a room with
 * positions (`hub.join(id, room, { since })`), and what the client's
 * `client.rooms` helper sends to join and leave. Positions, and comparing
 * offsets. Runs in browsers.
 *
 * Every rooms frame is a text message: U+0001, then a JSON object whose
 * `type` says what it is.
 *
 * - client to server: `{"type":"join","room":R,"since":P?}`,
 *   `{"type":"leave","room":R}`;
 * - server to client: `{"type":"message","room":R,"position":P,"data":D}`
 *   (`"binary":true` when `D` is base64 of binary data), and
 *   `{"type":"joined","room":R,"recovered":B,"position":P}` once the
 *   messages missed since `since` were sent (or at once when they could not
 *   be recovered), and again with `recovered: false` when the room's stream
 *   was reset under a live member;
 *
 * where `P` is a position `{"epoch":E,"offset":O}`.
 *
 * @module
 */

import { fromBase64, toBase64 } from "../_base64.ts";
import { parseJson } from "../session/wire.ts";
import type { Message } from "../message.ts";

/** Starts every rooms frame. */
export const ROOMS_MARK = "\u0001";

/**
 * Where a message sits in its room's stream: the stream's `epoch` (a random
 * id, replaced when the stream is lost or reset) and the message's `offset`
 * in it (a stream entry id, `"<ms>-<n>"`, where `n` counts the room's
 * messages from 1; `"0-0"` is the start of an empty stream).
 *
 * @example Positions compare by offset within one epoch
 * ```ts
 * import type { Position } from "@switchboard/switchboard/hub";
 *
 * const position: Position = { epoch: "k3j9x2", offset: "1767225600000-42" };
 * console.log(position.offset);
 * ```
 */
export interface Position {
  /** The stream's epoch: positions of two epochs do not compare. */
  readonly epoch: string;
  /** The stream entry id. */
  readonly offset: string;
}

/**
 * A room message with its position: what `hub.history()` returns and what
 * a room of `client.rooms` yields.
 *
 * @example Reading one
 * ```ts
 * import type { RoomMessage } from "@switchboard/switchboard/hub";
 *
 * const message: RoomMessage = {
 *   room: "lobby",
 *   data: "hello",
 *   position: { epoch: "k3j9x2", offset: "1767225600000-1" },
 * };
 * console.log(message.data);
 * ```
 */
export interface RoomMessage {
  /** The room's name. */
  readonly room: string;
  /** Text (a string) or binary (a `Uint8Array`). */
  readonly data: string | Uint8Array;
  /** Where it sits in the room's stream. */
  readonly position: Position;
}

/** A rooms frame a client sends. */
export type RoomRequest =
  | { type: "join"; room: string; since?: Position }
  | { type: "leave"; room: string };

/** A rooms frame a server sends. */
export type RoomNotice =
  | { type: "message"; message: RoomMessage }
  | { type: "joined"; room: string; recovered: boolean; position: Position };

/** The longest room name accepted in a frame, in UTF-16 code units. */
export const MAX_ROOM_LENGTH = 1024;

/**
 * The sequence number of an offset: the part after the `-`.
 *
 * @param offset A stream entry id.
 * @returns Its sequence number, or `NaN` when it is not an id.
 */
export function sequenceOf(offset: string): number {
  const dash = offset.indexOf("-");
  return dash < 0 ? NaN : Number(offset.slice(dash + 1));
}

/**
 * Orders two offsets of one epoch.
 *
 * @param a An offset.
 * @param b Another.
 * @returns A negative number when `a` comes first, 0 when equal, positive
 * when `b` comes first.
 */
export function compareOffsets(a: string, b: string): number {
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  const ms = Number(a.slice(0, da)) - Number(b.slice(0, db));
  return ms !== 0 ? ms : Number(a.slice(da + 1)) - Number(b.slice(db + 1));
}

/** Whether a value is an offset: `<ms>-<n>`, both safe whole numbers. */
export function isOffset(value: unknown): value is string {
  if (typeof value !== "string" || value.length > 40) return false;
  const match = /^(\d+)-(\d+)$/.exec(value);
  return match !== null && Number.isSafeInteger(Number(match[1])) &&
    Number.isSafeInteger(Number(match[2]));
}

/**
 * Whether a value is a {@linkcode Position}.
 *
 * @param value The value.
 * @returns Whether it has a non-empty string `epoch` (at most 64 characters)
 * and an offset.
 */
export function isPosition(value: unknown): value is Position {
  if (value === null || typeof value !== "object") return false;
  const { epoch, offset } = value as Record<string, unknown>;
  return typeof epoch === "string" && epoch !== "" && epoch.length <= 64 &&
    isOffset(offset);
}

/**
 * A rooms frame of a client.
 *
 * @param request The join or leave.
 * @returns The text to send.
 */
export function writeRequest(request: RoomRequest): string {
  return ROOMS_MARK + JSON.stringify(request);
}

/**
 * Reads a client's rooms frame.
 *
 * @param text A text message.
 * @returns The request, or `undefined` when the text is not a well-formed
 * rooms frame.
 */
export function readRequest(text: string): RoomRequest | undefined {
  const frame = parseFrame(text);
  if (frame === undefined) return undefined;
  const { type, room, since } = frame;
  if (!isRoom(room)) return undefined;
  if (type === "leave") return { type, room };
  if (type !== "join") return undefined;
  if (since === undefined || since === null) return { type, room };
  return isPosition(since)
    ? { type, room, since: { epoch: since.epoch, offset: since.offset } }
    : undefined;
}

/**
 * Reads a rooms frame that `client.rooms` sent (a join with the position of
 * the last message the client got, or a leave), so that the server can
 * carry it out with {@linkcode Hub.join} and {@linkcode Hub.leave}.
 *
 * @param message A message the socket received.
 * @returns The request, or `undefined` for any other message (the app's).
 *
 * @example Serving `client.rooms`
 * ```ts ignore
 * for await (const msg of socket) {
 *   const request = roomRequest(msg);
 *   if (request?.type === "join") {
 *     await hub.join(id, request.room, { since: request.since });
 *   } else if (request?.type === "leave") hub.leave(id, request.room);
 *   else hub.broadcast("lobby", msg.data, { except: id });
 * }
 * ```
 */
export function roomRequest(message: Message): RoomRequest | undefined {
  return message.type === "text" ? readRequest(message.data) : undefined;
}

/**
 * The frame of a room message for members that joined with positions.
 *
 * @param message The message.
 * @returns The text to send.
 */
export function writeMessage(message: RoomMessage): string {
  const { room, position, data } = message;
  return ROOMS_MARK + JSON.stringify(
    typeof data === "string"
      ? { type: "message", room, position, data }
      : { type: "message", room, position, data: toBase64(data), binary: true },
  );
}

/**
 * The frame that ends a join.
 *
 * @param room The room.
 * @param recovered Whether every message since `since` was sent before it.
 * @param position The member's position now.
 * @returns The text to send.
 */
export function writeJoined(
  room: string,
  recovered: boolean,
  position: Position,
): string {
  return ROOMS_MARK +
    JSON.stringify({ type: "joined", room, recovered, position });
}

/**
 * Reads a server's rooms frame.
 *
 * @param text A text message.
 * @returns The notice, or `undefined` when the text is not a well-formed
 * rooms frame.
 */
export function readNotice(text: string): RoomNotice | undefined {
  const frame = parseFrame(text);
  if (frame === undefined) return undefined;
  const { type, room, position } = frame;
  if (!isRoom(room) || !isPosition(position)) return undefined;
  if (type === "joined") {
    if (typeof frame.recovered !== "boolean") return undefined;
    return { type, room, recovered: frame.recovered, position };
  }
  if (type !== "message" || typeof frame.data !== "string") return undefined;
  let data: string | Uint8Array = frame.data;
  if (frame.binary === true) {
    try {
      data = fromBase64(frame.data);
    } catch {
      return undefined;
    }
  }
  return { type, message: { room, data, position } };
}

function isRoom(value: unknown): value is string {
  return typeof value === "string" && value !== "" &&
    value.length <= MAX_ROOM_LENGTH;
}

function parseFrame(text: string): Record<string, unknown> | undefined {
  return text.charCodeAt(0) === 1 ? parseJson(text.slice(1)) : undefined;
}
