/**
 * The wire of resumable sessions over a WebSocket: the subprotocol tokens
 * that negotiate them, and the control messages that travel beside the
 * application's. Every data message (text or binary) counts 1 in its
 * direction: sequence numbers are implicit, and the fallback transport
 * carries the same numbers (SSE `id:` fields and `Last-Event-ID` one way,
 * POST `seq` the other; see `sse/wire.ts`), so that one session moves
 * between the transports. The session layer speaks the control messages
 * below to whatever carries it; `sse/_resume.ts` maps them onto the event
 * stream and POSTs.
 *
 * On a connection that negotiated resume, a text frame starting with U+0000
 * is a control message; an application text message that starts with
 * U+0000 travels with it doubled. Binary frames are always data.
 *
 * - client: `\0N{"claim"}` a new session, `\0R{"id","received"}` resume one;
 * - server: `\0S{"id","received","resumed"}` the session, after either;
 * - both: `\0A<received>` acknowledges every message up to that count;
 *   `\0C` says the sender ends the session on purpose (then closes).
 *
 * Internal; runs in browsers.
 *
 * @module
 */

/** The subprotocol token that offers and accepts resumable sessions. */
export const RESUME_PROTOCOL = "switchboard.resume.v1";
/** Marks control messages; doubled at the start of app text. */
export const CONTROL = "\u0000";
/** The longest control message accepted, in UTF-16 code units. */
export const MAX_CONTROL = 512;

/** The server's answer to a client's `\0N` or `\0R`. */
export interface SessionGreeting {
  id: string;
  received: number;
  resumed: boolean;
}

/** A client's resume request. */
export interface ResumeRequest {
  id: string;
  received: number;
}

/**
 * What a client's connection asks for first: the session to resume, or a
 * new one with the client's claim on it.
 */
export type Hello = ResumeRequest | { claim: string };

/**
 * A hello as its control message (without the leading U+0000).
 *
 * @param hello The hello.
 * @returns `R{"id","received"}` or `N{"claim"}`.
 */
export function helloControl(hello: Hello): string {
  return ("id" in hello ? "R" : "N") + JSON.stringify(hello);
}

/**
 * The subprotocols a resume client offers: the app's own, the app's joined
 * to the resume token (so the server can accept both), then the token alone.
 *
 * @param app The application's subprotocols.
 * @returns The list to offer.
 */
export function offerProtocols(app: readonly string[]): string[] {
  return [
    ...app,
    ...app.map((p) => `${RESUME_PROTOCOL}+${p}`),
    RESUME_PROTOCOL,
  ];
}

/**
 * Splits the subprotocol a server chose into whether resume is on and the
 * application's protocol.
 *
 * @param chosen The negotiated protocol.
 * @returns Resume on or off and the app's protocol (`""` for none).
 */
export function splitProtocol(
  chosen: string,
): { resume: boolean; protocol: string } {
  if (chosen === RESUME_PROTOCOL) return { resume: true, protocol: "" };
  if (chosen.startsWith(`${RESUME_PROTOCOL}+`)) {
    return { resume: true, protocol: chosen.slice(RESUME_PROTOCOL.length + 1) };
  }
  return { resume: false, protocol: chosen };
}

/**
 * The server's side of the negotiation.
 *
 * @param offered The client's `Sec-WebSocket-Protocol` header.
 * @param app The app protocol chosen by the usual rule, if any.
 * @returns The protocol to echo, or `undefined` when resume was not offered.
 */
export function acceptProtocol(
  offered: string | null,
  app: string | undefined,
): string | undefined {
  if (offered === null) return undefined;
  const list = offered.split(",").map((p) => p.trim());
  if (!list.includes(RESUME_PROTOCOL)) return undefined;
  if (app === undefined) return RESUME_PROTOCOL;
  const joined = `${RESUME_PROTOCOL}+${app}`;
  return list.includes(joined) ? joined : undefined;
}

/**
 * Makes an application text message safe to send: a leading U+0000 is
 * doubled.
 *
 * @param text The message.
 * @returns The text as it travels.
 */
export function escapeText(text: string): string {
  return text.charCodeAt(0) === 0 ? CONTROL + text : text;
}

/**
 * Reads a JSON control body.
 *
 * @param body The text after the kind letter.
 * @returns The object, or `undefined` when malformed.
 */
export function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a value is a count: a safe whole number of at least 0.
 *
 * @param value The value.
 * @returns Whether it is.
 */
export function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
