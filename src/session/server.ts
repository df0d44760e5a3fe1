/**
 * The server side of resumable sessions: {@linkcode ServerSession}, one
 * session shaped like a `WebSocket` so that a `Socket` wraps it unchanged
 * while the session swaps the connection underneath on every resume. The
 * sessions are found by id in a `LocalSessions` (store.ts). Internal.
 *
 * @module
 */

import { CLOSED, CLOSING, CONNECTING, OPEN } from "../_ready_state.ts";
import type { CheckedResume } from "./options.ts";
import { control, type Data, readText, SessionState } from "./_state.ts";
import type { SessionInfo } from "./options.ts";
import {
  type ControlHandler,
  controlTooLong,
  isCount,
  parseJson,
} from "./wire.ts";
import type { LocalSessions } from "./store.ts";
import { MessageTarget } from "./_message_target.ts";
import { closeQuietly, newId, Wire } from "./_server_wire.ts";
import { Durable, type DurableHost } from "./_durable.ts";
import type { SessionRecord } from "./session_store.ts";
import { handOff, TAKEN } from "./_handoff.ts";

export { defaultStore, LocalSessions } from "./store.ts";

/** A client's claim on a new session: 128 to 512 bits, base64url. */
const CLAIM = /^[A-Za-z0-9_-]{22,86}$/;
/** How long a new connection may take to say which session it wants. */
const HELLO_TIMEOUT = 10_000;

/**
 * One resumable session on the server, seen through the `WebSocket`
 * interface a `Socket` uses. It opens when its first connection asks for a
 * new session (`\0N`, or a resume of an id the store does not have); a
 * connection that resumes another session goes to that session, and this
 * one closes with 1000 "Resumed an earlier session" without opening. A
 * dropped connection leaves it open, waiting `window` ms for a resume;
 * it closes when the client ends it (`\0C`, or a clean 1001 close), when
 * the server closes it, or with 1001 "Session expired".
 */
export class ServerSession extends MessageTarget {
  binaryType = "arraybuffer";
  readonly url = "";
  readonly protocol: string;
  readyState: number = CONNECTING;
  readonly #state: SessionState;
  readonly #store: LocalSessions;
  readonly #window: number;
  readonly #highWaterMark: number;
  readonly #admit: (() => boolean) | undefined;
  #wire: Wire | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing = false;
  #peerEnding = false;
  /** The client's claim on this new session, until it shows it has the id. */
  #claim: string | undefined;
  /** Its link to the route's shared store, with `resume.store`. */
  readonly #durable: Durable | undefined;
  /** Replayed messages the session already has (stored count < received). */
  #dup = 0;
  /**
   * Being handed off to another server: what the client sends now is left
   * for that server (the client replays it there), and, once `frozen`, what
   * the handler sends waits (and ends with the session).
   */
  #handingOff = false;
  #frozen = false;
  /** Told of an acknowledgement or a close while a hand-off waits for one. */
  #changed: (() => void) | undefined;
  /**
   * Told the control messages of kinds the session does not know (the
   * authentication's), and asked whether a connection may resume it.
   */
  controlHandler: ControlHandler | undefined;

  /**
   * @param ws The first connection, upgraded with the resume protocol.
   * @param protocol The application's subprotocol (`""` for none).
   * @param store Where sessions are found by id.
   * @param options The route's resume options.
   * @param highWaterMark Bytes the connection's send buffer may hold.
   * @param admit Asked before a new session opens (the connection limit).
   */
  constructor(
    ws: WebSocket,
    protocol: string,
    store: LocalSessions,
    options: CheckedResume,
    highWaterMark: number,
    admit?: () => boolean,
  ) {
    super();
    this.protocol = protocol;
    this.#store = store;
    this.#window = options.window;
    this.#highWaterMark = highWaterMark;
    this.#admit = admit;
    this.#state = new SessionState(options.maxUnacked, options.maxUnackedBytes);
    if (options.store !== undefined) {
      const durable = this.#durable = new Durable(options.store, this.#window);
      this.#state.hold = (count) => durable.received(count);
    }
    this.#wire = new Wire(this, ws);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refuse(1008, "No session handshake in time");
    }, HELLO_TIMEOUT);
  }

  /** The session id (`""` until it opens). */
  get id(): string {
    return this.#state.id;
  }

  /** The session's id and counters. */
  get session(): SessionInfo {
    const info = this.#state.info();
    const durable = this.#durable;
    return durable ? { ...info, rooms: { ...durable.rooms } } : info;
  }

  /**
   * The hub's member over this session joined (`position`) or left
   * (`undefined`) a room: kept in the shared store.
   *
   * @param room The room.
   * @param position Where it joined, or `undefined`.
   */
  room(room: string, position: string | undefined): void {
    this.#durable?.room(room, position);
  }

  /**
   * The handler's loop asks for its next message: the ones before are done
   * with, and may be acknowledged (with a shared store).
   */
  taken(): void {
    this.#durable?.taken();
  }

  /** The send buffer's real high-water mark, for the layers above. */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  /**
   * What the wrapping Socket reads before it sends (it is made with a
   * `highWaterMark` of 1): 0 while a message may go out, else how much
   * waits, for a full replay buffer or a full connection.
   */
  get bufferedAmount(): number {
    if (this.#frozen) return 1;
    const durable = this.#durable;
    if (durable !== undefined && this.#state.sent >= durable.limit) {
      durable.reserve(this.#state.sent);
      return 1;
    }
    return this.#state.waiting(
      this.readyState === OPEN ? this.#wire?.ws : undefined,
      this.#highWaterMark,
    );
  }

  /**
   * Sends a data message now, or keeps it for the resume during a gap.
   *
   * @param data The message.
   */
  send(data: Data): void {
    if (this.readyState !== OPEN) {
      throw new DOMException("The session is not open", "InvalidStateError");
    }
    if (this.#frozen) return this.#state.send(data, undefined);
    this.#state.send(data, this.#wire?.ws);
    this.#durable?.reserve(this.#state.sent);
  }

  /**
   * Hands the session off to another server (a graceful shutdown with a
   * shared store) instead of ending it: what the client sends from now on
   * is left for the next server (its client replays it there), and the
   * steps of `_handoff.ts` follow. Once frozen, the session's sends wait
   * and a `"handoff"` event tells the Socket to drop what its loop did not
   * take. The session ends here with 1012 "Server shutting down".
   *
   * @param wait The longest wait for the handler, in ms.
   * @param deadline When to give up (`Date.now()` time).
   * @returns Once ended and its connection closed, or `undefined` when the
   * session cannot be handed off (no shared store, not open): close it as
   * usual.
   */
  handOff(wait: number, deadline: number): Promise<void> | undefined {
    const durable = this.#durable;
    if (durable === undefined || this.readyState !== OPEN || this.#closing) {
      return undefined;
    }
    this.#handingOff = true;
    return handOff(
      {
        state: this.#state,
        open: () => this.readyState === OPEN,
        connected: () => this.#wire !== undefined,
        watch: (changed) => this.#changed = changed,
        freeze: () => {
          this.#frozen = true;
          this.dispatchEvent(new Event("handoff"));
        },
        finish: (code, reason, wasClean) =>
          this.#endNow(code, reason, wasClean),
      },
      durable,
      wait,
      deadline,
    );
  }

  /**
   * Ends the session: tells the client (`\0C`) and closes the connection, or
   * ends at once during a gap.
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= CLOSING) return;
    const ws = this.#wire?.ws;
    if (ws === undefined || this.readyState === CONNECTING) {
      this.#endNow(code, reason, false);
      return;
    }
    this.readyState = CLOSING;
    this.#closing = true;
    control(ws, "C");
    closeQuietly(ws, code, reason);
  }

  /**
   * Sends a control message on the current connection, if the session is
   * open and connected (a resume tells the client again what it needs).
   *
   * @param body The kind letter and its body.
   */
  sendControl(body: string): void {
    const ws = this.#wire?.ws;
    if (ws !== undefined && this.readyState === OPEN) control(ws, body);
  }

  /**
   * A later connection resumes this session: it takes over (an earlier
   * connection still open is closed with 4409), hears what this side
   * received, and gets every unacknowledged message again.
   *
   * @param ws The new connection.
   * @param received How many messages the client has received.
   * @param byClaim Resumed by the claim of a client that never had the id:
   * the claim stays good until it shows it has.
   * @param by The control handler of the new connection's own session (its
   * authentication), which this session's handler must admit.
   * @returns `false` when the count does not fit this session, its
   * handler refuses the new connection, or it is being handed off.
   */
  resume(
    ws: WebSocket,
    received: number,
    byClaim = false,
    by?: ControlHandler,
  ): boolean {
    const state = this.#state;
    // Being handed off: the client resumes on the next server instead.
    if (this.#handingOff) return false;
    if (this.readyState !== OPEN || received > state.sent) return false;
    if (received < state.acked) return false;
    const handler = this.controlHandler;
    if (handler?.admit !== undefined && !handler.admit(by)) return false;
    const old = this.#wire;
    if (old !== undefined) {
      old.remove();
      closeQuietly(old.ws, 4409, "Session resumed by another connection");
    } else this.#store.waiting--;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#peerEnding = false;
    if (!byClaim) this.#confirmed();
    this.#wire = new Wire(this, ws);
    state.ack(received);
    // Only what is stored is acknowledged: the client replays the rest, and
    // the session drops what it already has.
    const stored = this.#durable?.stored ?? state.received;
    this.#dup = state.received - stored;
    const greeting = { id: state.id, received: stored, resumed: true };
    control(
      ws,
      `S${
        JSON.stringify(this.#durable ? { ...greeting, stored: true } : greeting)
      }`,
    );
    state.use(ws);
    this.#durable?.received(state.received);
    state.replay(ws);
    state.resumes++;
    handler?.resumed?.(by);
    this.dispatchEvent(new Event("resume"));
    return true;
  }

  /**
   * An event of one of the session's connections.
   *
   * @param wire The connection's listener.
   * @param event The event.
   */
  onEvent(wire: Wire, event: Event): void {
    if (wire !== this.#wire) return;
    if (event.type === "close") return this.#onClose(event as CloseEvent);
    const data = (event as MessageEvent).data;
    if (typeof data === "string" && data.charCodeAt(0) === 0) {
      const read = readText(data);
      if ("control" in read) return this.#onControl(wire, read.control);
      return this.#deliver(read.data);
    }
    this.#deliver(data);
  }

  #deliver(data: string | ArrayBuffer): void {
    if (this.readyState === CONNECTING) {
      return this.#refuse(1002, "Expected a session handshake");
    }
    if (this.readyState !== OPEN && !this.#closing) return;
    // Left for the next server: the client replays what is not stored.
    if (this.#handingOff) return;
    this.#confirmed();
    if (this.#dup > 0) {
      this.#dup--;
      return;
    }
    this.#state.received1(data);
    this.emitMessage(data);
  }

  #onControl(wire: Wire, body: string): void {
    if (controlTooLong(body)) {
      return this.#refuse(1009, "Control message too long");
    }
    const kind = body[0];
    if (this.readyState === CONNECTING) {
      if (kind === "N") return this.#fresh(wire, body.slice(1));
      if (kind !== "R") {
        return this.#refuse(1002, "Expected a session handshake");
      }
      const request = parseJson(body.slice(1));
      const id = request?.id;
      const received = request?.received;
      const session = typeof id === "string" && id !== this.#state.id
        ? this.#store.get(id)
        : undefined;
      // The connection goes to the session it names; this one never opens.
      if (
        session !== undefined && isCount(received) &&
        this.#passTo(session, wire, received, false)
      ) return;
      if (session === undefined && isCount(received) && this.#durable) {
        return void this.#takeOver(wire, id as string, received);
      }
      // Unknown, expired, closed or not matching: a fresh session.
      return this.#open();
    }
    if (kind === "A") {
      this.#confirmed();
      const count = Number(body.slice(1));
      if (!isCount(count) || !this.#state.ack(count)) {
        this.close(1002, "Invalid acknowledgement");
      }
      this.#changed?.();
      return;
    }
    if (kind === "C") {
      this.#peerEnding = true;
      return;
    }
    const handler = this.controlHandler;
    if (handler !== undefined) return handler.control(body);
    this.close(1002, "Unknown control message");
  }

  /**
   * A new session, or, when a session was opened with the same claim and
   * its client never got the greeting (the connection was cut first), that
   * session again, greeted as resumed.
   */
  #fresh(wire: Wire, body: string): void {
    const claim = body === "" ? undefined : parseJson(body)?.claim;
    if (typeof claim !== "string" || !CLAIM.test(claim)) return this.#open();
    const session = this.#store.claimed(claim);
    if (
      session !== undefined && session !== this &&
      this.#passTo(session, wire, 0, true)
    ) return;
    this.#claim = claim;
    this.#open();
    if (this.readyState === OPEN) this.#store.claim(claim, this);
  }

  /** Gives the connection to `session`; `false`: refused, kept here. */
  #passTo(
    session: ServerSession,
    wire: Wire,
    received: number,
    byClaim: boolean,
  ): boolean {
    wire.remove();
    this.#wire = undefined;
    if (session.resume(wire.ws, received, byClaim, this.controlHandler)) {
      this.#end(1000, "Resumed an earlier session", true);
      return true;
    }
    this.#wire = new Wire(this, wire.ws);
    return false;
  }

  /** The client has shown it knows the id: its claim is spent. */
  #confirmed(): void {
    if (this.#claim === undefined) return;
    this.#store.unclaim(this.#claim);
    this.#claim = undefined;
  }

  /**
   * A resume of a session this server does not have: another server's,
   * taken over from the shared store when it has it (else a new session).
   * The handler runs again, with `resumed: true`.
   */
  async #takeOver(wire: Wire, id: string, received: number): Promise<void> {
    const durable = this.#durable as Durable;
    const subject = this.controlHandler?.subject ?? "";
    const record = id === ""
      ? undefined
      : await durable.take(id, { subject, received });
    if (this.readyState !== CONNECTING || this.#wire !== wire) return;
    if (record === undefined || this.#store.get(id) !== undefined) {
      return this.#open();
    }
    this.#open(record, received);
  }

  #open(record?: SessionRecord, sentHere = 0): void {
    const ws = this.#wire?.ws as WebSocket;
    if (this.#admit !== undefined && !this.#admit()) {
      return this.#refuse(
        1013,
        "Try again later: the connection limit is reached",
      );
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const state = this.#state;
    const durable = this.#durable;
    state.id = record?.id ?? newId();
    this.#store.add(this);
    const greeting: Record<string, unknown> = {
      id: state.id,
      received: 0,
      resumed: false,
    };
    // The event stream answers POSTs with what is stored, not received.
    if (durable !== undefined) greeting.stored = true;
    if (record !== undefined) {
      state.received = greeting.received = record.received;
      state.sent = state.acked = sentHere;
      state.resumed = greeting.resumed = true;
      state.resumes++;
      // Positions the dead owner may have used past what the client has.
      greeting.missed = record.sent - sentHere;
      // The handler runs again here: the client joins its rooms again.
      greeting.moved = true;
      durable?.adopt(record, sentHere, this.#host());
    } else {
      durable?.create(
        state.id,
        this.controlHandler?.subject ?? "",
        this.#host(),
      );
    }
    control(ws, `S${JSON.stringify(greeting)}`);
    state.use(ws);
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
  }

  /** What the shared store's link tells this session. */
  #host(): DurableHost {
    const state = this.#state;
    return {
      stored: (count) => state.ackStored(count),
      fenced: () => void this.#endNow(4409, TAKEN, false),
      get acked() {
        return state.acked;
      },
    };
  }

  #onClose(event: CloseEvent): void {
    const { code, reason, wasClean } = event;
    if (
      this.readyState !== OPEN || this.#closing || this.#peerEnding ||
      (wasClean && code === 1001)
    ) return this.#end(code, reason, wasClean);
    // A drop: wait for the client to come back.
    this.#wire?.remove();
    this.#wire = undefined;
    this.#changed?.();
    this.#store.waiting++;
    this.#state.use(undefined);
    this.#durable?.touch();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#end(1001, "Session expired", false);
    }, this.#window);
  }

  /** Closes the connection of a session that never opened. */
  #refuse(code: number, reason: string): void {
    const ws = this.#wire?.ws;
    if (ws !== undefined) closeQuietly(ws, code, reason);
    if (this.readyState === CONNECTING) this.#end(code, reason, false);
    else this.close(code, reason);
  }

  /** Closes the connection, if any (returned), and ends the session now. */
  #endNow(
    code: number,
    reason: string,
    wasClean: boolean,
  ): WebSocket | undefined {
    const ws = this.#wire?.ws;
    if (ws !== undefined) closeQuietly(ws, code, reason);
    this.#end(code, reason, wasClean);
    return ws;
  }

  #end(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === CLOSED) return;
    const waiting = this.readyState === OPEN && this.#wire === undefined;
    if (waiting) this.#store.waiting--;
    this.readyState = CLOSED;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wire?.remove();
    this.#wire = undefined;
    this.#state.stop();
    this.#changed?.();
    this.#durable?.end();
    this.#confirmed();
    this.#store.delete(this);
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }
}
