/**
 * {@linkcode SocketAuth}: the authentication of one server-side socket after
 * its handshake: its principal, the close at `expiresAt`, asking the client
 * for a fresh token, refreshes in place and a resumed session's new
 * connection. Internal.
 *
 * @module
 */

import { OPEN } from "../_ready_state.ts";
import type { Socket } from "../socket.ts";
import { chargeInbound, closeSocket } from "../_socket_internals.ts";
import { MAX_TIMER_DELAY } from "../_validate.ts";
import type { ControlHandler } from "../session/wire.ts";
import type { Authenticator } from "./_authenticator.ts";
import { holdPrincipal } from "./_principals.ts";
import type { Principal } from "./principal.ts";
import { ASK, expiryMessage, REFRESH } from "./_wire.ts";

/**
 * A connection that carries the control channel: a control link, a
 * resumable session, a fallback session.
 */
export interface ControlPort extends EventTarget {
  readonly readyState: number;
  sendControl(body: string): void;
  controlHandler: ControlHandler | undefined;
}

/** The client is asked for a fresh token this long before expiry, at most. */
const ASK_LEAD = 10_000;
/** How long an expired socket waits for a refresh that is under way. */
const REFRESH_GRACE = 10_000;
/** Refreshes a connection may have under way and queued. */
const MAX_REFRESHING = 2;

/**
 * The authentication of one socket: holds its principal (what
 * `socket.principal` reads), closes the socket with 4001 "Token expired" at
 * the principal's `expiresAt`, asks the client for a fresh token shortly
 * before (`\0Q`, over the control channel), and serves the client's
 * refreshes in place (`\0T<token>`): 4001 when `authenticate` refuses the
 * token, 4003 "Subject changed" when its `sub` differs, 1011 when it throws.
 */
export class SocketAuth implements ControlHandler {
  #principal: Principal;
  readonly #socket: Socket;
  readonly #authenticator: Authenticator;
  #request: Request;
  readonly #port: ControlPort | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the client is asked for a fresh token (ms since the epoch). */
  #askAt = 0;
  #asked = false;
  /** Refreshes under way or queued, and the chain that runs them in order. */
  #refreshing = 0;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  /**
   * Takes over a socket's authentication once its handshake is accepted.
   *
   * @param socket The socket.
   * @param principal What `authenticate` returned for the handshake.
   * @param authenticator The route's hook, for refreshes.
   * @param request The handshake request, for refreshes.
   * @param port The connection's control channel, if it has one.
   */
  constructor(
    socket: Socket,
    principal: Principal,
    authenticator: Authenticator,
    request: Request,
    port: ControlPort | undefined,
  ) {
    this.#socket = socket;
    this.#principal = principal;
    this.#authenticator = authenticator;
    this.#request = request;
    this.#port = port;
    holdPrincipal(socket, this);
    this.#set(principal);
    if (port !== undefined) {
      port.controlHandler = this;
      // The expiry is told once the connection is open (on a resumable
      // session, after its greeting).
      if (port.readyState === OPEN) this.#tell(false);
      else {
        port.addEventListener("open", () => this.#tell(false), { once: true });
      }
    }
    this.#schedule();
    socket.closed.then(() => this.#stop());
  }

  /** The principal's subject (it never changes). */
  get subject(): string {
    return this.#principal.sub ?? "";
  }

  /** The principal: what `authenticate` returned last. */
  get principal(): Principal {
    return this.#principal;
  }

  /**
   * A control message from the client: a token to refresh with.
   *
   * @param body The kind letter and its body.
   */
  control(body: string): void {
    if (this.#stopped) return;
    if (body[0] !== REFRESH) {
      return closeSocket(this.#socket, 1002, "Unknown control message");
    }
    // A refresh counts as a message toward maxMessagesPerSecond.
    if (!chargeInbound(this.#socket, 1)) return;
    if (this.#refreshing >= MAX_REFRESHING) {
      return closeSocket(this.#socket, 1008, "Too many token refreshes");
    }
    this.#refreshing++;
    const token = body.slice(1);
    this.#chain = this.#chain.then(() => this.#refresh(token)).finally(() => {
      this.#refreshing--;
      this.#schedule();
    });
  }

  /**
   * Whether a new connection may resume this socket's session: its
   * handshake authenticated the same subject.
   *
   * @param by The new connection's authentication.
   * @returns `true` when the subjects match.
   */
  admit(by: ControlHandler | undefined): boolean {
    return by instanceof SocketAuth && !by.#stopped &&
      by.#principal.sub === this.#principal.sub;
  }

  /**
   * The session resumed on a new connection, whose handshake authenticated
   * anew: its principal (and request) replace these, and the client hears
   * the expiry.
   *
   * @param by The new connection's authentication.
   */
  resumed(by: ControlHandler | undefined): void {
    if (by instanceof SocketAuth) {
      this.#request = by.#request;
      this.#set(by.#principal);
      this.#schedule();
    }
    this.#tell(false);
  }

  async #refresh(token: string): Promise<void> {
    if (this.#stopped) return;
    const outcome = await this.#authenticator.refresh(this.#request, token);
    if (this.#stopped) return;
    if (outcome === "failed") {
      return closeSocket(this.#socket, 1011, "Internal server error");
    }
    if (outcome === "refused") {
      return closeSocket(this.#socket, 4001, "Token refresh refused");
    }
    if (outcome.sub !== this.#principal.sub) {
      return closeSocket(this.#socket, 4003, "Subject changed");
    }
    if (outcome.expiresAt !== undefined && outcome.expiresAt <= Date.now()) {
      return closeSocket(this.#socket, 4001, "Token expired");
    }
    this.#set(outcome);
    this.#tell(true);
  }

  #set(principal: Principal): void {
    const expiresAt = principal.expiresAt;
    // Asked again only for a later expiry: a token function that gives the
    // same token back is not asked again and again before it expires.
    if (this.#principal.expiresAt !== expiresAt) this.#asked = false;
    this.#principal = principal;
    if (expiresAt !== undefined && !this.#asked) {
      this.#askAt = expiresAt -
        Math.min(ASK_LEAD, Math.max(0, expiresAt - Date.now()) / 4);
    }
  }

  /** Tells the client the expiry (`refreshed`: in answer to a refresh). */
  #tell(refreshed: boolean): void {
    if (this.#stopped) return;
    this.#port?.sendControl(
      expiryMessage(this.#principal.expiresAt, Date.now(), refreshed),
    );
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const expiresAt = this.#principal.expiresAt;
    if (expiresAt === undefined || this.#stopped) return;
    const at = this.#port !== undefined && !this.#asked
      ? this.#askAt
      : expiresAt;
    const wait = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_DELAY);
    this.#timer = setTimeout(() => this.#due(), wait);
  }

  #due(): void {
    this.#timer = undefined;
    const expiresAt = this.#principal.expiresAt;
    if (expiresAt === undefined || this.#stopped) return;
    const now = Date.now();
    if (now >= expiresAt) {
      if (this.#refreshing > 0 && now < expiresAt + REFRESH_GRACE) {
        // A refresh that arrived in time decides; its end schedules again.
        this.#timer = setTimeout(
          () => this.#due(),
          expiresAt + REFRESH_GRACE - now,
        );
        return;
      }
      return closeSocket(this.#socket, 4001, "Token expired");
    }
    if (this.#port !== undefined && !this.#asked && now >= this.#askAt) {
      this.#asked = true;
      this.#port.sendControl(ASK);
    }
    this.#schedule();
  }

  #stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
