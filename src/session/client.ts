/**
 * The client side of resumable sessions: {@linkcode ClientSession}, what
 * one `Client` keeps across its connections (the id, counters and replay
 * buffer), and {@linkcode ClientLink}, one connection of it shaped like a
 * `WebSocket` so that the client's per-connection `Socket` wraps it
 * unchanged. A link opens only once the server has said which session it
 * is on and the unacknowledged messages went out again. Internal; no Deno
 * APIs.
 *
 * @module
 */

import { CLOSED, CONNECTING, OPEN } from "../_ready_state.ts";
import type { CheckedResume } from "./options.ts";
import { control, type Data, readText, SessionState } from "./_state.ts";
import type { SessionInfo } from "./options.ts";
import {
  type ControlHandler,
  escapeText,
  type Hello,
  helloControl,
  isCount,
  MAX_CONTROL,
  parseJson,
  splitProtocol,
} from "./wire.ts";
import { toBase64 } from "../_base64.ts";
import { closeCopy, errorCopy } from "../_event_copies.ts";
import { MessageTarget } from "./_message_target.ts";

/** How the last connection opened, for the client's event. */
export interface Opened {
  /** The session came back with nothing lost. */
  resumed: boolean;
  /** Messages sent in a session the server no longer had, never acked. */
  unacknowledged: number;
  /**
   * Server-to-client positions lost with a server that died (the session
   * resumed on another): at most that many messages were missed.
   */
  missed?: number;
  /** The session moved to another server, whose handler runs again. */
  moved?: boolean;
}

/** One client's session, across its connections. */
export class ClientSession {
  readonly state: SessionState;
  /** How the current connection opened. */
  opened: Opened = { resumed: false, unacknowledged: 0 };
  /** The server ended the session: the next connection starts a new one. */
  ended = false;
  /** The client is closing for good: tell the server (`\0C`). */
  ending = false;
  /** The connection in use; the others' messages are not counted. */
  current: ClientLink | undefined;
  /**
   * The claim sent with `\0N` until a greeting comes: if the connection is
   * cut before, the next one claims the same new session again.
   */
  claim: string | undefined;

  /**
   * @param options The limits of the replay buffer.
   */
  constructor(options: Pick<CheckedResume, "maxUnacked" | "maxUnackedBytes">) {
    this.state = new SessionState(options.maxUnacked, options.maxUnackedBytes);
  }

  /** The id and counters. */
  info(): SessionInfo {
    return this.state.info();
  }

  /**
   * The client's inbox took a message of the current connection: it counts
   * as received (and is acknowledged). What a connection delivered but the
   * inbox never took (a full inbox, a connection left) is not counted, so
   * the server sends it again on resume.
   *
   * @param data The message's data.
   */
  accepted(data: string | Uint8Array): void {
    if (this.state.id !== "") this.state.received1(data);
  }

  /**
   * What the next connection asks for: to resume the session, or a new one
   * (with the claim that gets it again if the greeting is lost).
   *
   * @returns The hello.
   */
  hello(): Hello {
    const state = this.state;
    if (state.id === "" || this.ended) {
      return { claim: this.claim ??= newClaim() };
    }
    return { id: state.id, received: state.received };
  }

  /** The client closed for good. */
  stop(): void {
    this.state.stop();
  }
}

/** One connection of a {@linkcode ClientSession}. */
export class ClientLink extends MessageTarget {
  binaryType = "arraybuffer";
  readyState: number = CONNECTING;
  readonly #ws: WebSocket;
  readonly #session: ClientSession;
  readonly #highWaterMark: number;
  #resume = false;
  /** The server chose the control channel alone (no resume). */
  #control = false;
  /** Closing: what still arrives is not counted, the resume gets it again. */
  #stopped = false;
  /** Told the control messages the session does not handle itself. */
  controlHandler: ControlHandler | undefined;

  /**
   * @param ws The connection, offering the resume protocol.
   * @param session The client's session.
   * @param highWaterMark Bytes the connection's send buffer may hold.
   */
  constructor(ws: WebSocket, session: ClientSession, highWaterMark: number) {
    super();
    this.#ws = ws;
    this.#session = session;
    this.#highWaterMark = highWaterMark;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("open", this);
    ws.addEventListener("message", this);
    ws.addEventListener("close", this);
    ws.addEventListener("error", this);
  }

  /** The URL the connection was opened with. */
  get url(): string {
    return this.#ws.url;
  }

  /** The application's subprotocol. */
  get protocol(): string {
    return splitProtocol(this.#ws.protocol ?? "").protocol;
  }

  /** The send buffer's real high-water mark, for the layers above. */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  /**
   * What the wrapping Socket reads before it sends (it is made with a
   * `highWaterMark` of 1): 0 while a message may go out.
   */
  get bufferedAmount(): number {
    if (this.#resume) {
      return this.#session.state.waiting(this.#ws, this.#highWaterMark);
    }
    const buffered = this.#ws.bufferedAmount;
    return buffered >= this.#highWaterMark ? buffered : 0;
  }

  /**
   * Sends a data message (kept until the server acknowledges it).
   *
   * @param data The message.
   */
  send(data: Data): void {
    if (this.#resume) this.#session.state.send(data, this.#ws);
    else {
      this.#ws.send(
        this.#control && typeof data === "string" ? escapeText(data) : data,
      );
    }
  }

  /**
   * Sends a control message, when the connection carries the channel.
   *
   * @param body The kind letter and its body.
   */
  sendControl(body: string): void {
    if ((this.#resume || this.#control) && this.readyState === OPEN) {
      control(this.#ws, body);
    }
  }

  /**
   * Closes the connection; when the client is closing for good, tells the
   * server the session ends.
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code?: number, reason?: string): void {
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#resume && this.#session.ending && this.readyState === OPEN) {
        control(this.#ws, "C");
      }
    }
    this.#ws.close(code, reason);
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case "open":
        return this.#onOpen();
      case "message":
        return this.#onMessage((event as MessageEvent).data);
      case "error":
        this.dispatchEvent(errorCopy(event));
        return;
      case "close": {
        this.readyState = CLOSED;
        const session = this.#session;
        if (session.current === this) {
          session.current = undefined;
          session.state.use(undefined);
        }
        this.#ws.removeEventListener("open", this);
        this.#ws.removeEventListener("message", this);
        this.#ws.removeEventListener("close", this);
        this.#ws.removeEventListener("error", this);
        this.dispatchEvent(closeCopy(event));
      }
    }
  }

  #onOpen(): void {
    const session = this.#session;
    const chosen = splitProtocol(this.#ws.protocol ?? "");
    this.#resume = chosen.resume;
    this.#control = chosen.control && !chosen.resume;
    if (!this.#resume) {
      // A server without resume: a plain connection, the session is gone.
      session.opened = {
        resumed: false,
        unacknowledged: session.state.reset(),
      };
      this.readyState = OPEN;
      this.dispatchEvent(new Event("open"));
      return;
    }
    session.current = this;
    // (The fallback's stream asked in its request already and ignores it.)
    control(this.#ws, helloControl(session.hello()));
  }

  #onMessage(data: unknown): void {
    const session = this.#session;
    if (this.#stopped) return;
    if (!this.#resume) {
      if (this.#control && typeof data === "string") {
        const read = readText(data);
        if ("control" in read) return this.#onControl(read.control);
        data = read.data;
      }
      this.emitMessage(data);
      return;
    }
    if (session.current !== this) return;
    if (typeof data === "string" && data.charCodeAt(0) === 0) {
      const read = readText(data);
      if ("control" in read) return this.#onControl(read.control);
      data = read.data;
    }
    if (this.readyState !== OPEN) return this.#fail("Data before the session");
    // Counted (and acknowledged) only once the client's inbox takes it:
    // see ClientSession.accepted.
    this.emitMessage(data);
  }

  #onControl(body: string): void {
    if (body.length > MAX_CONTROL) return this.#fail("Control too long");
    const session = this.#session;
    const state = session.state;
    const kind = body[0];
    if (kind === "A") {
      const count = Number(body.slice(1));
      if (!isCount(count) || !state.ack(count)) this.#fail("Invalid ack");
      return;
    }
    if (kind === "C") {
      session.ended = true;
      return;
    }
    if (kind !== "S" && this.readyState === OPEN && this.controlHandler) {
      return this.controlHandler.control(body);
    }
    if (kind !== "S" || this.readyState !== CONNECTING) {
      return this.#fail("Unexpected control message");
    }
    const greeting = parseJson(body.slice(1));
    const id = greeting?.id;
    const received = greeting?.received;
    if (typeof id !== "string" || id === "" || !isCount(received)) {
      return this.#fail("Invalid session greeting");
    }
    session.claim = undefined;
    if (
      greeting?.resumed === true && id === state.id && !session.ended &&
      received >= state.acked && state.ack(received)
    ) {
      state.use(this.#ws);
      state.replay(this.#ws);
      state.resumes++;
      const missed = greeting?.missed;
      session.opened = {
        resumed: true,
        unacknowledged: 0,
        missed: isCount(missed) ? missed : 0,
        moved: greeting?.moved === true,
      };
    } else {
      const lost = state.reset();
      state.id = id;
      session.ended = false;
      state.use(this.#ws);
      session.opened = { resumed: false, unacknowledged: lost };
    }
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
  }

  #fail(reason: string): void {
    this.#stopped = true;
    try {
      this.#ws.close(1000, `Session protocol error: ${reason}`);
    } catch {
      // Already closed.
    }
  }
}

/** A claim on a new session: 128 random bits, base64url. */
function newClaim(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)))
    .replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}
