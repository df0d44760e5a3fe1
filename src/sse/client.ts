/**
 * The client side of the fallback transport, shaped like a `WebSocket` so a
 * {@linkcode Socket} wraps it: the stream is read with `fetch`, messages go
 * out in POST batches, one POST at a time, each retried with the same
 * sequence number until the server answers; each keepalive comment the
 * stream brings is answered with a POST (an empty batch when nothing else
 * waits), which shows the server that this client reads its stream. It
 * carries a resumable session's connections too (see `_resume.ts`). No Deno
 * APIs: it runs in browsers.
 *
 * @module
 */

import { DEFAULT_MAX_MESSAGE_SIZE } from "../_validate.ts";
import { fromBase64, toBase64 } from "../_base64.ts";
import { utf8Length } from "../message.ts";
import { CLOSED, CLOSING, CONNECTING, OPEN } from "../_ready_state.ts";
import {
  type Entry,
  EventStreamParser,
  maxLineLength,
  type OpenData,
  PROTOCOLS_PARAM,
  SECRET_HEADER,
  SESSION_PARAM,
} from "./wire.ts";
import { ClientResume } from "./_resume.ts";
import { NextTask } from "./_next_task.ts";
import { type Fetch, httpUrl, post } from "./_http.ts";

export type { Fetch } from "./_http.ts";
import {
  CONTROL,
  type ControlHandler,
  escapeText,
  type Hello,
  splitProtocol,
} from "../session/wire.ts";
import { readText } from "../session/_state.ts";

/** The kinds of control message the resumable session itself speaks. */
const SESSION_KINDS = ["A", "C", "N", "R"];

/**
 * A POST carries what is waiting, up to this many bytes as the entries
 * travel (one larger message goes alone).
 */
const BATCH_BYTES = 64 * 1024;
/** Milliseconds to wait for the server's close event after our close. */
const CLOSE_TIMEOUT = 5000;

/** One fallback connection, with the `WebSocket` surface a Socket uses. */
export class EventStreamSocket extends EventTarget {
  binaryType = "arraybuffer";
  protocol = "";
  readyState: number = CONNECTING;
  /** Bytes sent and not yet acknowledged by the server. */
  bufferedAmount = 0;
  readonly url: string;

  #fetch: Fetch;
  #base: URL;
  #abort = new AbortController();
  /** The URL of every POST, once the open event named the session. */
  #postUrl = "";
  #secret = "";
  #seq = 0;
  #maxLength: number;
  /** Entries as JSON text, with their UTF-8 size on the wire. */
  #outgoing: { json: string; size: number }[] = [];
  #posting = false;
  /** Messages the last chunk of the stream delivered. */
  #delivered = 0;
  /**
   * The last chunk delivered several messages: the POST the answers to them
   * start waits for the next task, so that it carries all of them.
   */
  #burst = false;
  #nextTask = new NextTask();
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeInfo: { code: number; reason: string } | undefined;
  /**
   * A resumable session's half of the wire: offered with the request, kept
   * when the server accepts it.
   */
  #resume: ClientResume | undefined;
  /** The `Authorization` header of the stream and every POST, if any. */
  #authorization: (() => string) | undefined;
  /**
   * Told the control messages of a plain stream (`control` events); on a
   * resumable stream they go to the session as control messages.
   */
  controlHandler: ControlHandler | undefined;

  /**
   * Opens the stream.
   *
   * @param url The `ws(s)://` or `http(s)://` URL of the route.
   * @param protocols Subprotocols to offer.
   * @param fetchFn The `fetch` to use.
   * @param maxMessageSize The largest message, in bytes: a stream line or
   * event longer than its base64 form (4/3, plus 1 KiB) ends the connection
   * with 1009 before it is read whole.
   * @param hello For a resumable session (`protocols` offer it): what the
   * stream asks for, in its request's headers.
   * @param authorization Gives the `Authorization` header of the stream and
   * of each POST (read each time: a refreshed token goes on the next POST).
   */
  constructor(
    url: string,
    protocols: readonly string[],
    fetchFn: Fetch,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    hello?: Hello,
    authorization?: () => string,
  ) {
    super();
    if (hello) this.#resume = new ClientResume(hello);
    this.url = url;
    this.#fetch = fetchFn;
    this.#authorization = authorization;
    this.#maxLength = maxLineLength(maxMessageSize);
    this.#base = httpUrl(url);
    const streamUrl = new URL(this.#base);
    if (protocols.length > 0) {
      streamUrl.searchParams.set(PROTOCOLS_PARAM, protocols.join(","));
    }
    this.#read(streamUrl).catch((error) => {
      this.#end(1006, messageOf(error), false);
    });
  }

  /**
   * Queues a message for the next POST.
   *
   * @param data Text, or bytes (sent as base64).
   */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== OPEN) {
      throw new DOMException("The connection is not open", "InvalidStateError");
    }
    if (this.#resume && typeof data === "string") {
      // The resumable session's control messages and escaped text.
      const read = readText(data);
      if ("control" in read) {
        const body = read.control;
        // The session's own kinds map onto the stream and POSTs; the rest
        // (a token refresh) go as control entries, as on a plain stream.
        if (!SESSION_KINDS.includes(body[0] ?? "")) this.sendControl(body);
        else if (this.#resume.control(body)) this.#kick();
        return;
      }
      data = read.data;
    }
    this.#queue(
      typeof data === "string" ? ["t", data] : ["b", toBase64(data)],
    );
  }

  /**
   * Queues a control message (a token refresh) for the next POST.
   *
   * @param body The kind letter and its body.
   */
  sendControl(body: string): void {
    if (this.readyState === OPEN) this.#queue(["k", body]);
  }

  /**
   * Sends the close after what is queued and waits for the server's close
   * event (at most 5 s; then the connection ends with 1006).
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= CLOSING) return;
    if (this.readyState === CONNECTING) {
      this.#end(1006, reason || "Closed before the event stream opened", false);
      return;
    }
    if (this.#resume && !this.#resume.ending) {
      // Leaving the connection, not the session: a drop, the session waits.
      this.#end(code, reason, false);
      return;
    }
    this.#queue(["c", code, reason]);
    this.readyState = CLOSING;
    this.#closeTimer = setTimeout(
      () => this.#end(1006, "The server did not answer the close", false),
      CLOSE_TIMEOUT,
    );
  }

  async #read(url: URL): Promise<void> {
    const response = await this.#fetch(url, {
      headers: this.#headers({
        accept: "text/event-stream",
        ...this.#resume?.headers,
      }),
      cache: "no-store",
      signal: this.#abort.signal,
    });
    if (!response.ok || response.body === null) {
      const text = (await response.text().catch(() => "")).trim();
      throw new Error(
        `The event stream was refused: ${response.status}${
          text ? ` ${text}` : ""
        }`,
      );
    }
    const parser = new EventStreamParser(
      (event, data, id) => this.#event(event, data, id),
      this.#maxLength,
      () => this.#pong(),
    );
    // Decoded here rather than through a TextDecoderStream: a second stream
    // in the pipe costs more per chunk than the decoding itself.
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      try {
        this.#delivered = 0;
        parser.push(decoder.decode(value, STREAM));
        this.#burst = this.#delivered > 1;
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        // A line or event longer than any message may be: as a WebSocket
        // treats a frame over maxMessageSize.
        this.#end(1009, error.message, false);
      }
      if (this.readyState === CLOSED) {
        reader.cancel().catch(() => {});
        return;
      }
    }
    const close = this.#closeInfo;
    if (close) this.#end(close.code, close.reason, true);
    else this.#end(1006, "The event stream ended without a close", false);
  }

  #event(event: string, data: string, id: string): void {
    if (this.readyState === CLOSED) return;
    const resume = this.#resume;
    switch (event) {
      case "open": {
        if (this.readyState !== CONNECTING) return;
        const open = JSON.parse(data) as OpenData;
        const postUrl = new URL(this.#base);
        postUrl.searchParams.set(SESSION_PARAM, open.session);
        this.#postUrl = postUrl.href;
        this.#secret = open.secret ?? "";
        this.protocol = open.protocol;
        if (!splitProtocol(open.protocol).resume) this.#resume = undefined;
        this.readyState = OPEN;
        this.dispatchEvent(new Event("open"));
        return;
      }
      case "resume":
        if (resume) this.#message(resume.greeting(data));
        return;
      case "text":
      case "utf8":
      case "binary": {
        if (resume) {
          const order = resume.check(id);
          if (order === "seen") return;
          if (order === "gap") {
            // A drop: the session sends it again on the next connection.
            return this.#end(
              1006,
              "A message is missing from the stream",
              false,
            );
          }
        }
        const message = event === "binary"
          ? fromBase64(data).buffer as ArrayBuffer
          : event === "text"
          ? JSON.parse(data) as string
          : utf8Decoder.decode(fromBase64(data));
        return this.#message(
          resume && typeof message === "string" ? escapeText(message) : message,
        );
      }
      case "control": {
        if (this.readyState !== OPEN) return;
        const body = JSON.parse(data) as string;
        // A resumable stream's session hears it as over a WebSocket.
        if (resume) return this.#message(`${CONTROL}${body}`);
        this.controlHandler?.control(body);
        return;
      }
      case "close": {
        const { code, reason, end } = JSON.parse(data) as {
          code: number;
          reason: string;
          end?: boolean;
        };
        if (resume && end === true) this.#message(`${CONTROL}C`);
        // The connection ends when the stream does, after this event.
        this.#closeInfo = { code, reason };
        if (this.readyState === OPEN) this.readyState = CLOSING;
        return;
      }
    }
  }

  #message(data: string | ArrayBuffer): void {
    if (this.readyState !== OPEN && this.readyState !== CLOSING) return;
    this.#delivered++;
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /**
   * Answers a keepalive the stream brought: the server closes a session
   * that stops answering (1001). A POST already under way answers for it.
   */
  #pong(): void {
    if (this.#resume?.greeted === false) return;
    this.#kick();
  }

  /** Starts a POST, even with nothing queued, unless one is under way. */
  #kick(): void {
    if (this.readyState !== OPEN || this.#posting) return;
    this.#posting = true;
    void this.#post(true);
  }

  #queue(entry: Entry): void {
    const json = JSON.stringify(entry);
    // Sized as it travels (escaped, base64), which the server's limit counts.
    const size = utf8Length(json);
    this.#outgoing.push({ json, size });
    this.bufferedAmount += size;
    if (!this.#posting) {
      this.#posting = true;
      // Sends made in the same task go in one POST; after a burst of
      // received messages, also those made in the microtasks it leads to.
      if (this.#burst) this.#nextTask.wait().then(() => this.#post());
      else queueMicrotask(() => this.#post());
    }
  }

  /**
   * Sends what is queued, one POST at a time; `pong`: even when nothing is
   * (as when an acknowledgement waits).
   */
  async #post(pong = false): Promise<void> {
    const resume = this.#resume;
    while (
      (pong || this.#outgoing.length > 0 || resume?.ackDue) &&
      this.readyState !== CLOSED
    ) {
      pong = false;
      let bytes = 0;
      let count = 0;
      for (const item of this.#outgoing) {
        if (count > 0 && bytes + item.size > BATCH_BYTES) break;
        bytes += item.size;
        count++;
      }
      const batch = this.#outgoing.splice(0, count);
      const messages = batch.map((item) => item.json).join(",");
      const body = resume
        ? resume.batch(
          messages,
          batch.filter(({ json }) => !/^\["[ck]"/.test(json)).length,
        )
        : `{"seq":${this.#seq++},"messages":[${messages}]}`;
      const [status, answer] = await this.#deliver(this.#postUrl, body);
      if (this.readyState === CLOSED) break;
      if (status === 200 && resume) {
        // The server's acknowledgement of what it received.
        const received = resume.received(answer);
        if (received !== undefined) this.#message(`${CONTROL}A${received}`);
      } else if (status !== 204) {
        // 404, 409, 413, 400: the server closes the session (or has); its
        // close event ends this side. Give it a moment, then give up.
        this.#outgoing = [];
        clearTimeout(this.#closeTimer);
        this.#closeTimer = setTimeout(
          () => this.#end(1006, `A POST was refused: ${status}`, false),
          1000,
        );
        break;
      }
      this.bufferedAmount = Math.max(0, this.bufferedAmount - bytes);
      // What was sent while this POST travelled goes next, with what the
      // microtasks still running add (the answer to the POST and the
      // stream's messages arrive together, in one task).
      if (this.#outgoing.length > 0) await this.#nextTask.wait();
    }
    this.#posting = false;
  }

  /**
   * Sends one POST, again while its answer is lost (see `_post.ts`); ends
   * the connection with 1006 once every attempt failed.
   *
   * @returns The answer's status (0 when none came) and, for a 200, its
   * text.
   */
  async #deliver(url: string, body: string): Promise<[number, string]> {
    const answer = await post({
      fetch: this.#fetch,
      url,
      headers: () =>
        this.#headers({
          "content-type": "text/plain;charset=UTF-8",
          [SECRET_HEADER]: this.#secret,
        }),
      signal: this.#abort.signal,
      closed: () => this.readyState === CLOSED,
    }, body);
    if (!(answer instanceof Error)) return answer;
    this.#end(1006, `Could not deliver messages: ${answer.message}`, false);
    return [0, ""];
  }

  /** A request's headers, with the `Authorization` header if any. */
  #headers(headers: Record<string, string>): Record<string, string> {
    const authorization = this.#authorization?.();
    if (authorization !== undefined) headers.authorization = authorization;
    return headers;
  }

  #end(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === CLOSED) return;
    const opened = this.readyState !== CONNECTING;
    this.readyState = CLOSED;
    clearTimeout(this.#closeTimer);
    this.#abort.abort();
    this.#nextTask.close();
    this.#outgoing = [];
    this.bufferedAmount = 0;
    if (!opened || !wasClean) {
      this.dispatchEvent(
        Object.assign(new Event("error"), { message: reason }),
      );
    }
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }
}

const utf8Decoder = new TextDecoder();
const STREAM: TextDecodeOptions = { stream: true };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
