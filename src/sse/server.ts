/**
 * The server side of the fallback transport: a Server-Sent Events stream for
 * server-to-client messages and POSTs for client-to-server batches, each
 * session shaped like a `WebSocket` so that a {@linkcode Socket} wraps it
 * unchanged. `route()` hands this server the requests that are not WebSocket
 * handshakes when its `transports` include `"sse"`; the wire format is in
 * `wire.ts`, one session in `_session.ts`.
 *
 * @module
 */

import { checkOrigin, chooseProtocol, HandshakeError } from "../handshake.ts";
import { Socket } from "../socket.ts";
import { closeSocket } from "../_socket_internals.ts";
import type { CheckedUpgradeOptions } from "../upgrade.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../_validate.ts";
import { plain } from "../_plain.ts";
import { EventStreamConnection, type SessionHost } from "./_session.ts";
import { EVENT_STREAM, PROTOCOLS_PARAM, SESSION_PARAM } from "./wire.ts";
import { ServerResume } from "./_resume.ts";
import type { PostRelay } from "./_relay.ts";
import { acceptProtocol } from "../session/wire.ts";
import type { Authenticator } from "../auth/_authenticator.ts";
import type { Principal } from "../auth/principal.ts";
import { SocketAuth } from "../auth/_socket_auth.ts";
import { withProtocol } from "../_accept.ts";

/** What the fallback server needs from the route that serves it. */
export interface EventStreamServerOptions {
  /** The route's checked upgrade options (protocols, origins, sockets). */
  checked: CheckedUpgradeOptions;
  /**
   * Whether a new stream may open: `undefined`, or the answer that refuses
   * it (503 at the connection limit or while shutting down).
   *
   * @param resume Whether the stream negotiated a resumable session.
   */
  admit: (resume: boolean) => Response | undefined;
  /** Runs the route's handler for a new session's Socket. */
  start: (socket: Socket, request: Request) => void;
  /**
   * With the route's `resume` option: takes a stream that negotiated a
   * resumable session as a connection of one (a new session, or one that
   * resumes), which runs the handler once it turns out new.
   */
  resume?: (
    connection: WebSocket,
    protocol: string,
    request: Request,
    principal: Principal | undefined,
  ) => void;
  /** The route's authentication, when it has `authenticate`. */
  authenticator?: Authenticator;
  /** Relays POSTs for streams another server holds (`resume.store`). */
  relay?: PostRelay;
}

/**
 * One open stream, and the Socket that wraps it (none on a resumable
 * stream: its session's Socket wraps the session).
 */
interface Entry {
  connection: EventStreamConnection;
  socket: Socket | undefined;
}

/**
 * The fallback sessions of one route: opens streams, delivers POSTs (within
 * a size limit: room for one largest message as it travels, text
 * JSON-escaped at worst 6 bytes per byte or binary in base64, beside a full
 * batch of others), and runs one keepalive timer for all of them (only while
 * one is open), which writes each session's keepalive and runs its read and
 * liveness checks. It is the sessions' {@linkcode SessionHost}: a session
 * that must close is closed through its Socket.
 */
export class EventStreamServer implements SessionHost {
  readonly #sessions = new Map<string, Entry>();
  readonly #checked: CheckedUpgradeOptions;
  readonly #admit: (resume: boolean) => Response | undefined;
  readonly #start: (socket: Socket, request: Request) => void;
  readonly #resume: EventStreamServerOptions["resume"];
  readonly #authenticator: Authenticator | undefined;
  readonly #relay: PostRelay | undefined;
  readonly #keepAliveMs: number;
  readonly #maxMessageSize: number;
  /** The largest POST body, in bytes. */
  readonly postLimit: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param options The route's checked options and its admission and
   * handler callbacks.
   */
  constructor(options: EventStreamServerOptions) {
    this.#checked = options.checked;
    this.#admit = options.admit;
    this.#start = options.start;
    this.#resume = options.resume;
    this.#authenticator = options.authenticator;
    this.#keepAliveMs = options.checked.idleTimeout * 500;
    this.#maxMessageSize = options.checked.socket.maxMessageSize ??
      DEFAULT_MAX_MESSAGE_SIZE;
    this.postLimit = 6 * this.#maxMessageSize + 2 * 65_536;
    this.#relay = options.relay;
    this.#relay?.serve((request) =>
      this.#receive(request, postedSession(request) ?? "", false)
    );
  }

  /**
   * Serves a fallback request: a GET that accepts `text/event-stream` opens
   * a stream, a POST to `?session=<id>` delivers a batch.
   *
   * @param request A request on the route's path that is no WebSocket
   * handshake.
   * @returns The answer, or `undefined` when the request is neither.
   */
  handle(request: Request): Response | Promise<Response> | undefined {
    if (wantsEventStream(request)) return this.#open(request);
    const id = postedSession(request);
    return id === undefined ? undefined : this.#receive(request, id);
  }

  fail(connection: EventStreamConnection, code: number, reason: string): void {
    const socket = this.#sessions.get(connection.id)?.socket;
    if (socket) closeSocket(socket, code, reason);
    else connection.refuse(code, reason);
  }

  ended(connection: EventStreamConnection): void {
    this.#sessions.delete(connection.id);
    if (this.#sessions.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #open(request: Request): Response | Promise<Response> {
    const offered = new URL(request.url).searchParams.get(PROTOCOLS_PARAM);
    const protocol = chooseProtocol(offered, this.#checked.protocols);
    // Resume is negotiated as over a WebSocket: the open event's protocol
    // carries the token the stream offered beside the app's.
    const resume = this.#resume;
    const echo = resume && acceptProtocol(offered, protocol);
    const refused = this.#admit(echo !== undefined) ?? this.#forbidden(request);
    if (refused) return refused;
    const authenticator = this.#authenticator;
    if (authenticator === undefined) {
      return this.#openChecked(request, protocol, echo);
    }
    return authenticator.check(request).then((outcome) =>
      outcome instanceof Response
        ? outcome
        // The limit again: sessions may have opened while it ran.
        : this.#admit(echo !== undefined) ??
          this.#openChecked(request, protocol, echo, outcome)
    );
  }

  /**
   * Opens a stream whose request passed the checks (and authentication).
   *
   * @param request The stream's request.
   * @param protocol The application's subprotocol.
   * @param echo The subprotocol that negotiated resume, if it did.
   * @param principal What `authenticate` returned, on a route with it.
   */
  #openChecked(
    request: Request,
    protocol: string | undefined,
    echo: string | undefined,
    principal?: Principal,
  ): Response {
    const checked = this.#checked;
    const resume = this.#resume;
    const connection = new EventStreamConnection(
      echo ?? protocol ?? "",
      this,
      this.#keepAliveMs,
      request.headers.get("origin"),
      echo === undefined ? undefined : new ServerResume(request.headers),
      this.#relay?.prefix,
    );
    const socket = echo === undefined
      ? new Socket(
        connection as unknown as WebSocket,
        withProtocol(checked, protocol),
      )
      : undefined;
    if (socket && principal !== undefined) {
      new SocketAuth(
        socket,
        principal,
        this.#authenticator as Authenticator,
        request,
        connection,
      );
    }
    this.#sessions.set(connection.id, { connection, socket });
    if (this.#keepAliveMs > 0) {
      this.#timer ??= setInterval(() => this.#tick(), this.#keepAliveMs);
    }
    if (socket) this.#start(socket, request);
    else {
      resume?.(
        connection as unknown as WebSocket,
        protocol ?? "",
        request,
        principal,
      );
    }
    return connection.respond();
  }

  #tick(): void {
    for (const { connection } of this.#sessions.values()) connection.tick();
  }

  async #receive(
    request: Request,
    id: string,
    relay = true,
  ): Promise<Response> {
    const refused = this.#forbidden(request);
    if (refused) return refused;
    const connection = this.#sessions.get(id)?.connection;
    if (connection === undefined) {
      const body = relay && this.#relay
        ? await readBody(request, this.postLimit).catch(() => undefined)
        : undefined;
      const relayed = typeof body === "object"
        ? await this.#relay?.forward(request, id, body.text)
        : undefined;
      return relayed ?? plain(404, "Not found: no open session has this id");
    }
    // The session's secret and origin, before a byte of the body is read.
    const unauthorized = connection.authorize(request);
    if (unauthorized) return unauthorized;
    const limit = this.postLimit;
    let body: Awaited<ReturnType<typeof readBody>>;
    connection.receiving++;
    try {
      body = await readBody(request, limit);
    } catch {
      return plain(400, "Bad request: the body could not be read");
    } finally {
      connection.receiving--;
    }
    if (body === "not UTF-8") {
      this.fail(connection, 1007, "A message batch is not UTF-8");
      return plain(400, "Bad request: the body is not UTF-8");
    }
    if (body === "too large") {
      this.fail(connection, 1009, `Message batch over ${limit} bytes`);
      return plain(
        413,
        `Payload too large: a message batch may hold at most ${limit} bytes`,
      );
    }
    return connection.receive(body.text, this.#maxMessageSize);
  }

  /** The 403 for a fallback request from an origin that is not allowed. */
  #forbidden(request: Request): Response | undefined {
    try {
      checkOrigin(request, this.#checked.allowedOrigins);
    } catch (error) {
      if (error instanceof HandshakeError) return error.response;
      throw error;
    }
    return undefined;
  }
}

/**
 * Whether a request asks for the fallback stream.
 *
 * @param request The request.
 * @returns `true` for a GET that accepts `text/event-stream`.
 */
export function wantsEventStream(request: Request): boolean {
  return request.method === "GET" &&
    (request.headers.get("accept") ?? "").includes(EVENT_STREAM);
}

/**
 * The session a POST is addressed to, by its `session` query parameter.
 *
 * @param request The request.
 * @returns The session id, or `undefined` when the request is no such POST.
 */
function postedSession(request: Request): string | undefined {
  if (request.method !== "POST") return undefined;
  return new URL(request.url).searchParams.get(SESSION_PARAM) ?? undefined;
}

/**
 * Reads a request body up to `limit` bytes, as strict UTF-8.
 *
 * @param request The request.
 * @param limit The most bytes to read.
 * @returns The body as text, `"too large"` past `limit`, or `"not UTF-8"`.
 * @throws {TypeError} When the body cannot be read (the client went away).
 */
async function readBody(
  request: Request,
  limit: number,
): Promise<{ text: string } | "too large" | "not UTF-8"> {
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (length > limit) return "too large";
  if (request.body === null) return { text: "" };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) return "too large";
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { text: strictDecoder.decode(bytes) };
  } catch {
    return "not UTF-8";
  }
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
