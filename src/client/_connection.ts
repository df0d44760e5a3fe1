/**
 * The client's link to the server: the current `Socket` and what it wraps,
 * opening it (falling back to the next transport when one does not open),
 * reading it into the inbox, handing it the outbox and leaving it when the
 * watchdog or a full inbox says so. What happens after a connection ends
 * (retry or give up) is the client's. Internal; no Deno APIs.
 *
 * @module
 */

import { CONNECTING, OPEN } from "../_ready_state.ts";
import type { CloseInfo, Message, Transport } from "../message.ts";
import { Socket } from "../socket.ts";
import { closeSocket } from "../_socket_internals.ts";
import type { Inbox } from "../_inbox.ts";
import type { Outbox } from "./_outbox.ts";
import { abandon, refusedStatus, Transports } from "./_transport.ts";
import { Watchdog } from "./_watchdog.ts";
import { queueFull } from "../_receiver.ts";
import type { CheckedClientOptions } from "./options.ts";
import { ClientLink, type ClientSession } from "../session/client.ts";
import { CONTROL_PROTOCOL, RESUME_PROTOCOL } from "../session/wire.ts";
import { ControlLink } from "../auth/_control_link.ts";
import { redact } from "../auth/_token.ts";
import type { ClientAuth, ClientPort } from "./_auth.ts";

/** The client's URL: fixed, or a function called before every attempt. */
export type UrlSource = string | (() => string | Promise<string>);

/** What a {@linkcode Connection} tells the client, and asks it. */
export interface ConnectionHost {
  /** Whether the client is closing for good. */
  closing(): boolean;
  /** The connection opened. */
  opened(): void;
  /**
   * The connection ended (closed, left, or never opened on any transport).
   *
   * @param info Why it ended.
   * @param opened Whether it had opened.
   * @param refused The HTTP status of a handshake that retrying cannot fix.
   */
  closed(info: CloseInfo, opened: boolean, refused: number | undefined): void;
  /** A retry could not even make a connection (the runtime threw). */
  failed(info: CloseInfo): void;
  /**
   * Offered each text message starting with U+0001 (a rooms frame) before
   * the inbox: `undefined` leaves it to the inbox, `true` means taken,
   * `false` that its reader is too far behind (the connection is left).
   */
  divert(text: string): boolean | undefined;
}

/** One connection at a time to the client's URL, made again on request. */
export class Connection {
  readonly #url: UrlSource;
  /** The URL of the last attempt. */
  #lastUrl: string;
  readonly #auth: ClientAuth | undefined;
  /** The current attempt's control channel, for refreshes in place. */
  #port: ClientPort | undefined;
  readonly #options: CheckedClientOptions;
  readonly #transports: Transports;
  readonly #outbox: Outbox;
  readonly #inbox: Inbox<Message>;
  readonly #watchdog: Watchdog;
  readonly #host: ConnectionHost;
  /** The resumable session, when the client asked for one. */
  readonly #session: ClientSession | undefined;
  #socket: Socket | undefined;
  /** What the current Socket wraps: a WebSocket or the fallback's stream. */
  #raw: WebSocket | undefined;
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  #opened = false;
  /** When the last connection opened (`Date.now()`). */
  openedAt = 0;

  /**
   * @param url The `ws:` or `wss:` URL, or a function giving it.
   * @param options The client's checked options.
   * @param outbox What the client sends.
   * @param inbox Where received messages go.
   * @param host The client.
   * @param session The resumable session, if any.
   * @param auth The client's token, if any.
   */
  constructor(
    url: UrlSource,
    options: CheckedClientOptions,
    outbox: Outbox,
    inbox: Inbox<Message>,
    host: ConnectionHost,
    session?: ClientSession,
    auth?: ClientAuth,
  ) {
    this.#session = session;
    this.#auth = auth;
    this.#url = url;
    this.#lastUrl = typeof url === "string" ? url : "";
    this.#options = options;
    this.#transports = new Transports(options.transports);
    this.#outbox = outbox;
    this.#inbox = inbox;
    this.#watchdog = new Watchdog(options.sendTimeout, options.idleTimeout);
    this.#host = host;
  }

  /** The transport of the current or next connection. */
  get transport(): Transport {
    return this.#transports.current;
  }

  /** The current socket, open or opening; `undefined` between connections. */
  get socket(): Socket | undefined {
    return this.#socket;
  }

  /** The URL of the last attempt, without an `access_token` parameter. */
  get url(): string {
    return redact(this.#lastUrl);
  }

  /**
   * Opens a connection with the current transport, once the URL and the
   * token are known (at once when both are fixed).
   *
   * @param first Whether this is the client's first: then an error making
   * it is thrown, not reported.
   * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
   */
  open(first: boolean): void {
    const url = this.#url;
    const auth = this.#auth;
    if (typeof url === "string" && (auth === undefined || auth.fixed)) {
      return this.#openWith(url, auth?.fixed, first);
    }
    this.#resolve(url, auth).then((target) => {
      if (target !== undefined && !this.#host.closing()) {
        this.#openWith(target.url, target.token, false);
      }
    });
  }

  /**
   * The URL and token of the next attempt; a function that fails fails the
   * attempt (a retry follows).
   */
  async #resolve(
    url: UrlSource,
    auth: ClientAuth | undefined,
  ): Promise<{ url: string; token: string | undefined } | undefined> {
    let what = "the URL";
    try {
      const resolved = typeof url === "string" ? url : String(await url());
      what = "a token";
      return { url: resolved, token: await auth?.next() };
    } catch (error) {
      if (!this.#host.closing()) {
        const reason = `Could not get ${what}: ${
          error instanceof Error ? error.message : String(error)
        }`;
        this.#host.closed(
          { code: 1006, reason: redact(reason).slice(0, 200), wasClean: false },
          false,
          undefined,
        );
      }
      return undefined;
    }
  }

  #openWith(url: string, token: string | undefined, first: boolean): void {
    const options = this.#options;
    const auth = this.#auth;
    this.#lastUrl = url;
    let socket: Socket;
    try {
      this.#transports.skipMissing();
      const websocket = this.#transports.current === "websocket";
      // A session resumes over either transport; a WebSocket needs the
      // control channel offered (the fallback's stream always carries it).
      const session = this.#session;
      const features: string[] = [];
      if (session) features.push(RESUME_PROTOCOL);
      if (auth && websocket) features.push(CONTROL_PROTOCOL);
      const ws = this.#transports.open({
        url,
        protocols: options.protocols,
        features,
        fetch: options.fetch,
        maxMessageSize: options.maxMessageSize,
        auth,
        token,
        hello: session && (() => session.hello()),
      });
      // A resumable connection: the Socket wraps the session's link, which
      // opens once the server has said which session it is on, and asks the
      // link before every send (highWaterMark 1; the link applies the real
      // one and maxUnacked). With a token, a WebSocket carries the control
      // channel when the server accepts it (a resume link does too).
      const wrapped = session
        ? new ClientLink(
          ws,
          session,
          options.highWaterMark,
        ) as unknown as WebSocket
        : auth && websocket
        ? new ControlLink(ws, false) as unknown as WebSocket
        : ws;
      if (auth) {
        this.#port = wrapped as unknown as ClientPort;
        auth.listen(this.#port);
      }
      socket = new Socket(wrapped, {
        highWaterMark: session ? 1 : options.highWaterMark,
        maxMessageSize: options.maxMessageSize,
        // No send timeout: the Socket would close itself with 1008, which
        // reads as the server's "don't come back" and browsers refuse.
        sendTimeout: 0,
      });
      // Registered after the Socket's own listener, so the Socket is open
      // by the time this runs.
      wrapped.addEventListener("open", () => this.#onOpen(socket), {
        once: true,
      });
      this.#raw = ws;
      const transport = this.#transports.current;
      const next = this.#transports.hasNext;
      // A transport with another after it, and the fallback's stream (a
      // buffering proxy can hold its open event back for ever), get
      // openTimeout to open.
      if (next || transport === "sse") {
        this.#openTimer = setTimeout(() => {
          if (this.#socket !== socket || socket.readyState !== CONNECTING) {
            return;
          }
          const reason = `No open within ${options.openTimeout} ms`;
          if (next) {
            // Leave this attempt and try the next transport now.
            this.#socket = undefined;
            abandon(ws, reason);
            this.#fallBack();
          } else abandon(ws, reason); // ends with 1006: a retry follows
        }, options.openTimeout);
      }
    } catch (error) {
      if (first) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return this.#host.failed({ code: 1006, reason, wasClean: false });
    }
    this.#socket = socket;
    this.#pump(socket);
  }

  /**
   * Closes the current socket for good (a close asked for while it is
   * still connecting stops the attempt).
   *
   * @param code The close code.
   * @param reason The close reason.
   * @returns `false` when there is no socket to close.
   */
  close(code: number, reason: string): boolean {
    clearTimeout(this.#openTimer);
    const socket = this.#socket;
    if (socket === undefined) return false;
    const connecting = socket.readyState === CONNECTING;
    socket.close(code, reason);
    // A Socket carries out a close asked for while connecting once open;
    // the client stops the attempt instead of waiting for it.
    if (connecting && this.#raw) abandon(this.#raw, reason);
    return true;
  }

  /** Stops the watchdog: the client has closed. */
  stop(): void {
    this.#watchdog.stop();
  }

  async #pump(socket: Socket): Promise<void> {
    for await (const msg of socket) {
      // What a connection the client left (#drop) still delivers before its
      // close completes is read and dropped, so that it waits nowhere (a
      // resumable session never counted it: the server sends it again).
      if (this.#socket === socket) this.#push(socket, msg);
    }
    this.#onClose(socket, await socket.closed);
  }

  #push(socket: Socket, msg: Message): void {
    this.#watchdog.received = true;
    const diverted = msg.type === "text" && msg.data.charCodeAt(0) === 1
      ? this.#host.divert(msg.data)
      : undefined;
    if (diverted === undefined ? !this.#inbox.push(msg) : !diverted) {
      const { code, reason } = queueFull(this.#inbox);
      this.#drop(socket, code, reason);
    } else this.#session?.accepted(msg.data);
  }

  /**
   * Leaves an open connection the client gave up on (a full inbox, a send
   * or idle timeout) without waiting for its close handshake: a server that
   * reads nothing never completes it. The sends waiting in the Socket go
   * out ahead of its close frame, so they count as handed.
   */
  #drop(socket: Socket, code: number, reason: string): void {
    if (!this.#isCurrent(socket)) return;
    // The wire gets 1000 where the runtime refuses the code (browsers and
    // Deno's client refuse 1013); closeInfo keeps the code.
    closeSocket(socket, code === 1006 ? 1000 : code, reason);
    this.#outbox.leave();
    this.#onClose(socket, { code, reason, wasClean: false });
  }

  /** Whether the socket is the open connection, still in use. */
  #isCurrent(socket: Socket): boolean {
    return this.#socket === socket && !this.#host.closing() &&
      socket.readyState === OPEN;
  }

  #onOpen(socket: Socket): void {
    if (!this.#isCurrent(socket)) return;
    clearTimeout(this.#openTimer);
    this.openedAt = Date.now();
    this.#opened = true;
    if (this.#port) this.#auth?.attach(this.#port);
    this.#outbox.flush(socket);
    this.#watchdog.start(
      () => this.#socket === socket && !this.#host.closing(),
      this.#outbox,
      (reason) => this.#drop(socket, 1006, reason),
    );
    this.#host.opened();
  }

  /** Opens the next transport after the current one failed to open. */
  #fallBack(): void {
    clearTimeout(this.#openTimer);
    // Sends given to the attempt that never opened go first on the next.
    this.#outbox.requeue();
    this.#transports.next();
    this.open(false);
  }

  #onClose(socket: Socket, info: CloseInfo): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    // A reason may hold a URL (the runtime's errors): never a token.
    if (info.reason.includes("access_token")) {
      info = { ...info, reason: redact(info.reason) };
    }
    this.#auth?.detach(info);
    const opened = this.#opened;
    this.#opened = false;
    const closing = this.#host.closing();
    const status = opened ? undefined : refusedStatus(info.reason);
    if (
      !opened && !closing && this.#transports.hasNext && status !== 401 &&
      status !== 403
    ) {
      // A refused upgrade (or stream): try the next transport now, without
      // counting a retry.
      return this.#fallBack();
    }
    clearTimeout(this.#openTimer);
    this.#watchdog.stop();
    // When no transport opened, the next attempt starts again with the
    // first (a server that was down is no reason to stay on the fallback);
    // otherwise it starts with the one that opened.
    // Credentials the fallback would not fix either end the attempt here.
    const refused = closing ? undefined : status;
    if (!opened && refused === undefined) this.#transports.restart();
    // Never handed to the dropped connection: they go first, in order, on
    // the next one (or are rejected when the client ends).
    this.#outbox.requeue();
    this.#host.closed(info, opened, refused);
  }
}
