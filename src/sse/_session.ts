/**
 * One session of the fallback transport on the server: the event stream
 * and the POSTs of one client, shaped like a `WebSocket` so that a
 * {@linkcode Socket} wraps it unchanged. The session knows nothing of what
 * wraps it: it reports through the {@linkcode SessionHost} it is given.
 * Internal; `server.ts` makes and keeps the sessions.
 *
 * @module
 */

import { toBase64 } from "../_base64.ts";
import { CLOSED, CLOSING, CONNECTING, OPEN } from "../_ready_state.ts";
import { utf8Length } from "../message.ts";
import { plain } from "../_plain.ts";
import {
  decodeBatch,
  EVENT_STREAM,
  formatEvent,
  type OpenData,
  parseBatch,
  textEvent,
} from "./wire.ts";
import { CONTROL, type ControlHandler } from "../session/wire.ts";
import { readText } from "../session/_state.ts";
import type { ServerResume } from "./_resume.ts";
import { Liveness } from "./_liveness.ts";
import { authorizePost } from "./_authorize.ts";

const encoder = new TextEncoder();
/** How long a closing session waits for the client to take the close event. */
const CLOSE_DRAIN_MS = 2000;
const KEEPALIVE = encoder.encode(": keepalive\n\n");

/**
 * The stream's queuing strategy, shared by every session: it counts bytes,
 * and a high-water mark of 0 makes `desiredSize` the negated bytes waiting.
 */
const STREAM_STRATEGY: QueuingStrategy<Uint8Array> = {
  highWaterMark: 0,
  size: (chunk) => chunk.byteLength,
};

/** Headers of the stream's response: no caching, no proxy buffering. */
const STREAM_HEADERS = {
  "content-type": `${EVENT_STREAM}; charset=utf-8`,
  "cache-control": "no-cache, no-store",
  "x-accel-buffering": "no",
};

/** What a session reports to: the server that made it. */
export interface SessionHost {
  /**
   * The session must close (a bad POST, a client gone): close it through
   * whatever wraps it, so that the close is reported there.
   *
   * @param session The session.
   * @param code The close code.
   * @param reason The reason.
   */
  fail(session: EventStreamConnection, code: number, reason: string): void;
  /**
   * The session has ended: let go of it.
   *
   * @param session The session.
   */
  ended(session: EventStreamConnection): void;
}

/**
 * One fallback session, seen through the `WebSocket` interface a
 * {@linkcode Socket} uses: `readyState`, `bufferedAmount` (bytes queued in
 * the stream and not yet taken by the HTTP server), `send`, `close` and the
 * `open`, `message` and `close` events.
 *
 * A POST reaches the session only with its secret (sent in the open event,
 * returned in the `X-Switchboard-Secret` header) and from the stream's
 * origin; see {@linkcode EventStreamConnection.authorize}. A stream that
 * takes nothing for two keepalive intervals closes the session with 1008; a
 * client that has answered neither of the last two keepalives with a POST
 * is taken as gone and the session closes with 1001 (see `wire.ts`).
 */
export class EventStreamConnection extends EventTarget {
  /**
   * The session id: a random UUID, which names the session on POSTs (after
   * its server's name, `<server>~`, when POSTs may be relayed).
   */
  readonly id: string;
  binaryType = "arraybuffer";
  readonly protocol: string;
  readyState: number = CONNECTING;

  /** The next POST sequence number to deliver. */
  #nextSeq = 0;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** The secret a POST must carry. */
  #secret: string | undefined;
  /** The stream request's `Origin`, which POSTs must match. */
  #origin: string | null;
  #keepAliveMs: number;
  readonly #liveness = new Liveness();
  /** POSTs whose body the host is reading: the client is there. */
  receiving = 0;
  #host: SessionHost | undefined;
  /** The stream, until {@linkcode EventStreamConnection.respond} takes it. */
  #body: ReadableStream<Uint8Array> | undefined;
  /** On a stream that negotiated resume: the session's numbers. */
  readonly #resume: ServerResume | undefined;
  /**
   * Told the control messages the client posts (`["k", body]`) on a plain
   * stream; on a resumable one the session hears them.
   */
  controlHandler: ControlHandler | undefined;

  /**
   * @param protocol The subprotocol chosen for the session.
   * @param host Told when the session must close (it closes the session
   * through whatever wraps it) and when it has ended.
   * @param keepAliveMs Milliseconds between the keepalives `host` ticks;
   * 0 for none (and no idle timeout).
   * @param origin The stream request's `Origin` header, if any.
   * @param resume On a stream that negotiated resume (`protocol` names it):
   * the resumable session's half of the wire. The connection then carries
   * one connection of a `ServerSession` (see `_resume.ts`).
   * @param prefix Before the id: `<server>~` when POSTs may be relayed.
   */
  constructor(
    protocol: string,
    host: SessionHost,
    keepAliveMs: number,
    origin: string | null = null,
    resume?: ServerResume,
    prefix = "",
  ) {
    super();
    this.id = prefix + crypto.randomUUID();
    this.protocol = protocol;
    this.#resume = resume;
    this.#host = host;
    this.#origin = origin;
    this.#keepAliveMs = keepAliveMs;
    const secret = toBase64(crypto.getRandomValues(new Uint8Array(24)));
    this.#secret = secret;
    const open: OpenData = { session: this.id, protocol, secret };
    this.#body = new ReadableStream<Uint8Array>(this, STREAM_STRATEGY);
    this.#write(encoder.encode(formatEvent("open", JSON.stringify(open))));
    // Like Deno's upgraded sockets: open once the response is on its way
    // (or when a POST shows the client has read the open event already).
    setTimeout(() => this.#open(), 0);
  }

  /**
   * The response that carries the stream, made once: the session keeps
   * neither it nor its headers (the HTTP server holds the stream).
   *
   * @returns The response.
   */
  respond(): Response {
    const body = this.#body ?? null;
    this.#body = undefined;
    return new Response(body, { headers: STREAM_HEADERS });
  }

  /**
   * The stream's underlying source starts: keeps its controller. (The
   * session is the source itself, so no closures are made per session.)
   *
   * @param controller The stream's controller.
   */
  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  /** The stream's underlying source is cancelled: the client went away. */
  cancel(): void {
    this.#end(1006, "The client closed the event stream", false);
  }

  #open(): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
    // The request said which session it wants: the session hears it first.
    if (this.#resume) this.#deliver(CONTROL + this.#resume.hello);
  }

  /**
   * Every keepalive interval (called by the host): writes a keepalive, or
   * closes the session with 1008 when its stream has taken nothing for two
   * ticks while bytes wait in it, or with 1001 when the client has answered
   * neither of the last two keepalives with a POST (see `_liveness.ts`).
   */
  tick(): void {
    if (this.readyState !== OPEN) return;
    const verdict = this.#liveness.tick(
      this.bufferedAmount,
      this.receiving > 0,
    );
    if (verdict === "keepalive") return this.#write(KEEPALIVE);
    const ms = 2 * this.#keepAliveMs;
    if (verdict === "stalled") {
      this.#idle(1008, `Idle timeout: the client read nothing for ${ms} ms`);
    } else if (verdict === "silent") {
      this.#idle(
        1001,
        `Idle timeout: the client answered no keepalive for ${ms} ms`,
      );
    }
  }

  /** Bytes in the stream's queue that the HTTP server has not taken yet. */
  get bufferedAmount(): number {
    if (this.readyState === CLOSED || this.#controller === undefined) return 0;
    return Math.max(0, -(this.#controller.desiredSize ?? 0));
  }

  /**
   * Checks that a POST may reach this session (see `_authorize.ts`); an
   * accepted one counts as the client's answer to the keepalives.
   *
   * @param request The POST.
   * @returns A 403 with a plain reason, or `undefined` when it may.
   */
  authorize(request: Request): Response | undefined {
    const refused = authorizePost(request, this.#secret, this.#origin);
    if (refused === undefined) this.#liveness.posted = true;
    return refused;
  }

  /**
   * Queues a message on the stream.
   *
   * @param data Text, or bytes sent as base64.
   */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== OPEN) {
      throw new DOMException("The session is not open", "InvalidStateError");
    }
    const resume = this.#resume;
    let id: number | undefined;
    if (resume) {
      // The resumable session's control messages and escaped text.
      if (typeof data === "string") {
        const read = readText(data);
        if ("control" in read) {
          const event = resume.control(read.control);
          if (event !== undefined) this.#write(encoder.encode(event));
          return;
        }
        data = read.data;
      }
      id = resume.nextId++;
    }
    const event = typeof data === "string"
      ? formatEvent(...textEvent(data, utf8Length(data)), id)
      : formatEvent("binary", toBase64(data), id);
    this.#write(encoder.encode(event));
  }

  /**
   * Queues a control message on the stream, as a `control` event.
   *
   * @param body The kind letter and its body.
   */
  sendControl(body: string): void {
    if (this.readyState !== OPEN) return;
    this.#write(
      encoder.encode(formatEvent("control", JSON.stringify(body))),
    );
  }

  /**
   * Sends the final `close` event and ends the stream.
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    this.#sendClose(code, reason);
    // Clean once the HTTP server has taken the whole queue, close event
    // included; not while a client that reads nothing holds it back.
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    const drained = (): void => {
      if (this.readyState === CLOSED) return;
      if ((this.#controller?.desiredSize ?? 0) >= 0) {
        this.#end(code, reason, true);
      } else if (Date.now() >= deadline) this.#end(code, reason, false);
      else setTimeout(drained, 10);
    };
    setTimeout(drained, 0);
  }

  /**
   * Closes for a POST the session cannot take (the host's answer to it
   * says why); on a resumable stream the session ends with it.
   *
   * @param code The close code.
   * @param reason The reason.
   */
  refuse(code: number, reason: string): void {
    if (this.#resume && this.readyState === OPEN) {
      this.#resume.ending = true;
      this.#deliver(`${CONTROL}C`);
    }
    this.close(code, reason);
  }

  /**
   * Delivers one POST body, in order (the host has read it, within its
   * size limit, as UTF-8). Answers 204 (delivered, or an already
   * delivered retry), 400 for a malformed body (the session closes with
   * 1002), 409 for a sequence number from the future, 413 for a message over
   * `maxMessageSize` (the session closes with 1009). On a resumable stream
   * `seq` numbers messages, not POSTs: what the session already has is
   * skipped (see `ServerResume.take`), and the answer is 200 with
   * `{"received": n}`.
   *
   * @param text The body.
   * @param maxMessageSize The largest message, in bytes.
   * @returns The answer.
   */
  receive(text: string, maxMessageSize: number): Response {
    this.#liveness.posted = true;
    const batch = parseBatch(text);
    if (typeof batch === "string") {
      this.#fail(1002, "Invalid message batch");
      return plain(400, `Bad request: ${batch}`);
    }
    const resume = this.#resume;
    if (resume === undefined) {
      if (batch.seq < this.#nextSeq) return new Response(null, { status: 204 });
      if (batch.seq > this.#nextSeq) {
        return plain(
          409,
          `Conflict: expected seq ${this.#nextSeq}, got ${batch.seq}`,
        );
      }
    }
    this.#open();
    if (this.readyState !== OPEN) {
      return plain(404, "Not found: the session is closing");
    }
    const decoded = decodeBatch(batch, maxMessageSize);
    if ("status" in decoded) {
      this.#fail(decoded.code, decoded.reason);
      return plain(decoded.status, decoded.answer);
    }
    let messages: (string | ArrayBuffer)[] = decoded.messages;
    if (resume === undefined) this.#nextSeq++;
    else {
      const taken = resume.take(batch, messages);
      if (taken === undefined) {
        return plain(
          409,
          `Conflict: expected seq ${resume.received} or less, got ${batch.seq}`,
        );
      }
      messages = taken;
    }
    for (const data of messages) {
      if (this.readyState !== OPEN) break;
      this.#deliver(data);
    }
    for (const body of decoded.controls) {
      if (this.readyState !== OPEN) break;
      if (resume) this.#deliver(CONTROL + body);
      else this.controlHandler?.control(body);
    }
    const close = decoded.close;
    if (close && this.readyState === OPEN) {
      // The client's close: echo it, as a WebSocket echoes a close frame. On
      // a resumable stream it ends the session.
      if (resume) {
        this.#deliver(`${CONTROL}C`);
        resume.ending = true;
      }
      this.readyState = CLOSING;
      this.#sendClose(close.code, close.reason);
      this.#end(close.code, close.reason, true);
    }
    return resume
      ? Response.json({ received: resume.answer })
      : new Response(null, { status: 204 });
  }

  #deliver(data: string | ArrayBuffer): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /**
   * Closes the session from the server side (a bad POST, a client gone),
   * through the host, which closes whatever wraps it so that the close is
   * reported there.
   */
  #fail(code: number, reason: string): void {
    this.#host?.fail(this, code, reason);
  }

  /**
   * The client seems gone: on a resumable stream the connection is dropped
   * (the session waits for its client), else the session closes.
   */
  #idle(code: number, reason: string): void {
    if (this.#resume) this.#end(code, reason, false);
    else this.#fail(code, reason);
  }

  #sendClose(code: number, reason: string): void {
    const end = this.#resume?.ending === true;
    const data = end ? { code, reason, end } : { code, reason };
    this.#write(encoder.encode(formatEvent("close", JSON.stringify(data))));
    try {
      this.#controller?.close();
    } catch {
      // The client already went away.
    }
  }

  #write(chunk: Uint8Array): void {
    try {
      this.#controller?.enqueue(chunk);
      this.#liveness.written += chunk.byteLength;
    } catch {
      // The stream was cancelled: the cancel callback ends the session.
    }
  }

  #end(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === CLOSED) return;
    const opened = this.readyState !== CONNECTING;
    this.readyState = CLOSED;
    if (!wasClean) {
      try {
        // Drops whatever the stream still queues.
        this.#controller?.error(new Error(reason));
      } catch {
        // Already closed.
      }
    }
    const host = this.#host;
    // Nothing of a closed session keeps its stream, queue or host alive.
    this.#host = undefined;
    this.#controller = undefined;
    this.#secret = undefined;
    host?.ended(this);
    if (!opened && !wasClean) this.dispatchEvent(new Event("error"));
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }
}
