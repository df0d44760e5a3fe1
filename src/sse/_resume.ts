/**
 * Resumable sessions over the fallback transport. The session layer
 * (`session/`) speaks its control messages (`session/wire.ts`) to whatever
 * carries it, as it would to a WebSocket; on a stream that negotiated resume
 * the fallback's two ends map them onto the event stream and POSTs (the wire
 * is described in `wire.ts`), with the help of the two halves here:
 *
 * - the client's hello (`\0N`, `\0R`) goes in the stream request's headers,
 *   and the server's session hears it as if it came first on the stream;
 * - the server's greeting (`\0S`) is the `resume` event;
 * - data events carry `id:`, the message's number in the session, checked
 *   by the client; POSTs carry `seq` in the same numbering, so that the
 *   server delivers each message once however often a POST is sent again;
 * - the client's acks (`\0A`) ride on POSTs as `ack`, and the server's on
 *   the POST answers as `received`;
 * - a session's end (`\0C`) is `"end": true` on the `close` event one way
 *   and a close entry the other;
 * - the control messages of the layers above (authentication's `\0E`,
 *   `\0Q`, `\0T`) travel as on a plain stream: `control` events one way,
 *   `["k", body]` entries the other.
 *
 * Internal; no Deno APIs (the client half runs in browsers).
 *
 * @module
 */

import {
  CONTROL,
  escapeText,
  type Hello,
  helloControl,
  isCount,
  parseJson,
} from "../session/wire.ts";
import {
  type Batch,
  CLAIM_HEADER,
  formatEvent,
  LAST_EVENT_ID,
  RESUME_HEADER,
} from "./wire.ts";

/**
 * The server's half of one resumable stream: the hello its request carried,
 * and the numbers of both directions.
 */
export class ServerResume {
  /** The control message the session hears first, from the headers. */
  readonly hello: string;
  /** What the client received, when it resumes: the replay starts after. */
  readonly #lastEventId: number;
  /** The `id:` of the next data event. */
  nextId = 1;
  /** Messages the session received: the next one is number this + 1. */
  received = 0;
  /** The client's acknowledgement last passed on to the session. */
  #acked = 0;
  /** The session said it ends: the `close` event says so. */
  ending = false;
  /**
   * With a shared store, the session's last ack (what is stored) and not
   * what it received answers a POST: a new server knows no more than that.
   */
  #stored: number | undefined;

  /** What the answer to a POST says the session received. */
  get answer(): number {
    return this.#stored ?? this.received;
  }

  /**
   * @param headers The stream request's headers.
   */
  constructor(headers: Headers) {
    const id = headers.get(RESUME_HEADER);
    const last = headers.get(LAST_EVENT_ID) ?? "";
    // A count the session does not accept makes it a fresh session.
    const received = /^\d{1,15}$/.test(last) ? Number(last) : -1;
    if (id !== null) {
      this.#lastEventId = received;
      this.hello = helloControl({ id, received });
    } else {
      this.#lastEventId = 0;
      const claim = headers.get(CLAIM_HEADER);
      this.hello = claim === null ? "N" : helloControl({ claim });
    }
  }

  /**
   * A control message the session writes, as the stream carries it.
   *
   * @param body The control message (kind letter first).
   * @returns The event to write, or `undefined` for none.
   */
  control(body: string): string | undefined {
    if (body[0] === "S") {
      const greeting = parseJson(body.slice(1));
      if (isCount(greeting?.received)) this.received = greeting.received;
      if (greeting?.stored === true) this.#stored = this.received;
      // A resumed session replays what follows what the client received.
      this.nextId = (greeting?.resumed === true ? this.#lastEventId : 0) + 1;
      return formatEvent("resume", body.slice(1));
    }
    // The session's end rides on the close event; the server's acks on the
    // answers to the POSTs, which carry every message the client sends.
    if (body === "C") this.ending = true;
    if (body[0] === "A" && this.#stored !== undefined) {
      this.#stored = Number(body.slice(1));
    }
    if (body[0] === "C" || body[0] === "A") return undefined;
    // The layers above (authentication) speak as on a plain stream.
    return formatEvent("control", JSON.stringify(body));
  }

  /**
   * What a batch delivers to the session, in order: the client's
   * acknowledgement when it is news, then the messages the session does not
   * have yet (a batch sent again after its answer was lost, or after a
   * resume, overlaps what arrived), their text escaped as on a WebSocket.
   *
   * @param batch The batch: `seq` is the number of messages before its first.
   * @param messages Its messages, decoded.
   * @returns What to deliver, or `undefined` when `seq` is past what the
   * session received (a message is missing).
   */
  take(
    batch: Batch,
    messages: readonly (string | ArrayBuffer)[],
  ): (string | ArrayBuffer)[] | undefined {
    const skip = this.received - batch.seq;
    if (skip < 0) return undefined;
    const taken: (string | ArrayBuffer)[] = [];
    if (batch.ack !== undefined && batch.ack > this.#acked) {
      this.#acked = batch.ack;
      taken.push(`${CONTROL}A${batch.ack}`);
    }
    for (let i = skip; i < messages.length; i++) {
      const data = messages[i] as string | ArrayBuffer;
      taken.push(typeof data === "string" ? escapeText(data) : data);
      this.received++;
    }
    return taken;
  }
}

/**
 * The client's half of one resumable stream: the hello for the stream
 * request, and the numbers of both directions.
 */
export class ClientResume {
  /** The stream request's headers that carry the hello. */
  readonly headers: Record<string, string>;
  /** What this client received when the stream was asked for. */
  readonly #received: number;
  /** The `resume` event came: POSTs may go. */
  greeted = false;
  /** The `id:` the next data event must have. */
  nextId = 1;
  /** Messages already posted: the next one is number this + 1. */
  posted = 0;
  /** What the client received, for the next POST's `ack` (-1: none yet). */
  ack = -1;
  /** An acknowledgement waits for a POST. */
  ackDue = false;
  /** The session ends: a close posts a close entry. */
  ending = false;

  /**
   * @param hello What the connection asks for.
   */
  constructor(hello: Hello) {
    if ("id" in hello) {
      this.headers = {
        [RESUME_HEADER]: hello.id,
        [LAST_EVENT_ID]: String(hello.received),
      };
      this.#received = hello.received;
    } else {
      this.headers = { [CLAIM_HEADER]: hello.claim };
      this.#received = 0;
    }
  }

  /**
   * The `resume` event: sets the numbers.
   *
   * @param data The event's data.
   * @returns The greeting as the session hears it.
   */
  greeting(data: string): string {
    const greeting = parseJson(data);
    const resumed = greeting?.resumed === true;
    this.nextId = (resumed ? this.#received : 0) + 1;
    this.posted = resumed && isCount(greeting?.received)
      ? greeting.received
      : 0;
    this.greeted = true;
    return `${CONTROL}S${data}`;
  }

  /**
   * A control message the session writes to the server.
   *
   * @param body The control message (kind letter first).
   * @returns Whether an acknowledgement now waits for a POST.
   */
  control(body: string): boolean {
    if (body === "C") this.ending = true;
    else if (body[0] === "A") {
      const count = Number(body.slice(1));
      if (isCount(count) && count > this.ack) {
        this.ack = count;
        this.ackDue = true;
      }
    }
    // `\0N` and `\0R` went with the stream request.
    return this.ackDue;
  }

  /**
   * A POST body: `seq` numbers the batch's first message, `ack` says what
   * the client received.
   *
   * @param messages The entries as JSON, joined with commas.
   * @param count How many of them are messages (a close entry is not).
   * @returns The body.
   */
  batch(messages: string, count: number): string {
    const seq = this.posted;
    this.posted += count;
    this.ackDue = false;
    const ack = this.ack < 0 ? "" : `"ack":${this.ack},`;
    return `{"seq":${seq},${ack}"messages":[${messages}]}`;
  }

  /**
   * Reads a POST's answer.
   *
   * @param answer The answer's text.
   * @returns What the server received, if the answer says.
   */
  received(answer: string): number | undefined {
    const received = parseJson(answer)?.received;
    return isCount(received) ? received : undefined;
  }

  /**
   * Checks a data event's `id:`.
   *
   * @param id The event's last event ID.
   * @returns `"next"` to deliver it, `"seen"` for one already delivered on
   * this stream, `"gap"` when one is missing.
   */
  check(id: string): "next" | "seen" | "gap" {
    const n = Number(id);
    if (n === this.nextId) {
      this.nextId++;
      return "next";
    }
    return id !== "" && n < this.nextId ? "seen" : "gap";
  }
}
