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
 * The same framing is the control channel of authenticated connections
 * (`src/auth/`): negotiated with `switchboard.control.v1` when resume is
 * not (a resume connection carries it already), and, over the fallback
 * transport, as `control` events and `["k", body]` POST entries. Its kinds:
 *
 * - server: `\0E{"expiresAt","expiresIn","refreshed"}` the principal's
 *   expiry (on open, after a resume and in answer to each refresh);
 *   `\0Q` asks the client for a fresh token;
 * - client: `\0T<token>` refreshes the token in place.
 *
 * Internal; runs in browsers.
 *
 * @module
 */

/** The subprotocol token that offers and accepts resumable sessions. */
export const RESUME_PROTOCOL = "switchboard.resume.v1";
/** Marks control messages; doubled at the start of app text. */
export const CONTROL = "\u0000";
/**
 * The subprotocol token of the control channel alone (no resume): offered by
 * a client with a token, accepted by a route with `authenticate`.
 */
export const CONTROL_PROTOCOL = "switchboard.control.v1";
/** The longest control message accepted, in UTF-16 code units. */
export const MAX_CONTROL = 512;
/** The longest token refresh (`\0T<token>`) accepted, in UTF-16 code units. */
export const MAX_TOKEN_CONTROL = 16_384;

/**
 * What a layer above plugs into a connection that carries control messages
 * (a resumable session, a control link, a fallback session): it is told
 * the control messages the connection itself does not handle.
 */
export interface ControlHandler {
  /**
   * A control message for this handler.
   *
   * @param body The kind letter and its body.
   */
  control(body: string): void;
  /**
   * Whether the connection whose handler is `by` may resume this session
   * (resumable sessions only).
   */
  admit?(by: ControlHandler | undefined): boolean;
  /** The session resumed on the connection of `by`, after its greeting. */
  resumed?(by: ControlHandler | undefined): void;
  /** The principal's subject, kept with a session in a shared store. */
  readonly subject?: string;
}

/**
 * Whether a control message is longer than its kind allows: a token
 * refresh may be {@linkcode MAX_TOKEN_CONTROL} long, others
 * {@linkcode MAX_CONTROL}.
 *
 * @param body The kind letter and its body.
 * @returns Whether it is too long.
 */
export function controlTooLong(body: string): boolean {
  return body.length > (body[0] === "T" ? MAX_TOKEN_CONTROL : MAX_CONTROL);
}

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
 * The subprotocols a client offers for resume or the control channel: the
 * app's own, then for each feature the app's joined to the feature's token
 * (so the server can accept both) and the token alone.
 *
 * @param app The application's subprotocols.
 * @param features The feature tokens, most wanted first.
 * @returns The list to offer.
 */
export function offerProtocols(
  app: readonly string[],
  features: readonly string[] = [RESUME_PROTOCOL],
): string[] {
  return [
    ...app,
    ...features.flatMap((feature) => [
      ...app.map((p) => `${feature}+${p}`),
      feature,
    ]),
  ];
}

/**
 * Splits the subprotocol a server chose into the features it carries and the
 * application's protocol. A resume connection carries the control channel.
 *
 * @param chosen The negotiated protocol.
 * @returns Resume and the control channel on or off, and the app's protocol
 * (`""` for none).
 */
export function splitProtocol(
  chosen: string,
): { resume: boolean; control: boolean; protocol: string } {
  for (const feature of [RESUME_PROTOCOL, CONTROL_PROTOCOL]) {
    if (chosen === feature || chosen.startsWith(`${feature}+`)) {
      return {
        resume: feature === RESUME_PROTOCOL,
        control: true,
        protocol: chosen.slice(feature.length + 1),
      };
    }
  }
  return { resume: false, control: false, protocol: chosen };
}

/**
 * The server's side of the negotiation of one feature.
 *
 * @param offered The client's `Sec-WebSocket-Protocol` header.
 * @param app The app protocol chosen by the usual rule, if any.
 * @param feature The feature's token.
 * @returns The protocol to echo, or `undefined` when the feature was not
 * offered (with the app's protocol).
 */
export function acceptProtocol(
  offered: string | null,
  app: string | undefined,
  feature: string = RESUME_PROTOCOL,
): string | undefined {
  if (offered === null) return undefined;
  const list = offered.split(",").map((p) => p.trim());
  if (!list.includes(feature)) return undefined;
  if (app === undefined) return feature;
  const joined = `${feature}+${app}`;
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
