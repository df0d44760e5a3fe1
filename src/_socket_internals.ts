/**
 * The library's internal view of a {@linkcode Socket}: the one object through
 * which the layers above reach a socket's private state (close with any code,
 * counts, the rate limit, the close hook, the send queue), and the class of
 * the socket's listener and iterator. Not exported from the package.
 *
 * @module
 */

import type { CloseInfo, Message } from "./message.ts";
import type { ConnectionObserver } from "./observe.ts";
import type { SendHost } from "./_send_queue.ts";
import type { Socket } from "./socket.ts";

/**
 * The library's own access to a socket's private state, filled in once by
 * `Socket`'s static block (only it can reach the private fields). The
 * functions below are what `route()`, the hub, RPC and the client use; the
 * package exports none of it.
 */
export interface SocketInternals {
  shutdown(socket: Socket, code: number, reason: string): void;
  dispatch(socket: Socket, event: Event): void;
  next(socket: Socket): Promise<IteratorResult<Message>>;
  sink(socket: Socket, sink: ((msg: Message) => void) | undefined): void;
  leave(socket: Socket): Promise<IteratorResult<Message>>;
  discard(socket: Socket): void;
  counters(socket: Socket): { in: number; out: number; charged: number };
  limitInbound(socket: Socket, limit: number): void;
  watch(
    socket: Socket,
    onClose: (socket: Socket, info: CloseInfo) => void,
  ): void;
  charge(socket: Socket, count: number): boolean;
  pending(socket: Socket): number;
  waiting(socket: Socket): boolean;
  host(socket: Socket): SendHost;
  limits(socket: Socket): { highWaterMark: number; maxMessageSize: number };
  observe(socket: Socket, observer: ConnectionObserver): void;
}
/** Filled in by `Socket`'s static block when socket.ts is evaluated. */
export const internals: SocketInternals = {} as SocketInternals;

/**
 * A socket's one event listener, which is also the iterator of its `for
 * await` loop: methods on a prototype, not closures per socket, and one
 * object for both.
 */
export class SocketPort implements EventListenerObject, AsyncIterator<Message> {
  #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  handleEvent(event: Event): void {
    internals.dispatch(this.#socket, event);
  }

  next(): Promise<IteratorResult<Message>> {
    return internals.next(this.#socket);
  }

  return(): Promise<IteratorResult<Message>> {
    return internals.leave(this.#socket);
  }
}

/**
 * Told each time a loop over the socket asks for its next message (so the
 * ones before are done with): a resumable session kept in a shared store
 * acknowledges only those.
 */
const takers = new WeakMap<Socket, () => void>();

/**
 * Calls `taken` each time a loop over `socket` asks for its next message.
 *
 * @param socket The socket.
 * @param taken The callback.
 */
export function onTaken(socket: Socket, taken: () => void): void {
  takers.set(socket, taken);
}

/**
 * The iterator of a loop over `socket`: its port, or, when a session must
 * hear of each message taken ({@linkcode onTaken}), the port behind an
 * iterator that tells it (looked up once per loop, not per message).
 *
 * @param socket The socket.
 * @param port Its port.
 * @returns The iterator.
 */
export function loopOver(
  socket: Socket,
  port: SocketPort,
): AsyncIterator<Message> {
  const taken = takers.get(socket);
  return taken === undefined ? port : new TakingIterator(port, taken);
}

/** A loop's iterator that tells a session of each message taken. */
class TakingIterator implements AsyncIterator<Message> {
  readonly #port: SocketPort;
  readonly #taken: () => void;

  constructor(port: SocketPort, taken: () => void) {
    this.#port = port;
    this.#taken = taken;
  }

  next(): Promise<IteratorResult<Message>> {
    this.#taken();
    return this.#port.next();
  }

  return(): Promise<IteratorResult<Message>> {
    return this.#port.return();
  }
}

/**
 * Drops the messages that wait for the socket's loop: a resumable session
 * handed off to another server leaves them to it (its client sends them
 * again there), so this server's handler must not take them. Internal.
 *
 * @param socket The socket.
 */
export function discardQueued(socket: Socket): void {
  internals.discard(socket);
}

/**
 * Closes a socket with any code, skipping the checks of
 * {@linkcode Socket.close}: for the library's own 1001, 1008, 1009, 1011 and
 * 1013 closes. Internal; not exported from the package.
 *
 * @param socket The socket to close.
 * @param code The close code.
 * @param reason The close reason, at most 123 UTF-8 bytes.
 */
export function closeSocket(
  socket: Socket,
  code: number,
  reason: string,
): void {
  internals.shutdown(socket, code, reason);
}

/**
 * How many messages a socket has received and sent, and how many units the
 * rate limit has charged it (messages plus {@linkcode chargeInbound}).
 * Internal.
 *
 * @param socket The socket.
 * @returns The counts.
 */
export function messageCounts(
  socket: Socket,
): { in: number; out: number; charged: number } {
  return internals.counters(socket);
}

/**
 * Charges `count` more units against the socket's rate limit (the route's
 * `maxMessagesPerSecond`), as the entries of a JSON-RPC batch beyond the
 * first. Past the limit the socket closes with 1008 "Message rate limit
 * exceeded". Internal.
 *
 * @param socket The socket.
 * @param count Units to charge, on top of the one per message already
 * counted.
 * @returns `false` when the socket is closed or closing (now or before), so
 * the caller drops the rest of the message.
 */
export function chargeInbound(socket: Socket, count: number): boolean {
  return internals.charge(socket, count);
}

/**
 * The bytes of the sends waiting in the socket's own queue for its send
 * buffer to drain (0 when none): with `bufferedAmount`, what the socket
 * holds. Internal: the hub counts them against `maxBufferedBytes`.
 *
 * @param socket The socket.
 * @returns The bytes queued in the socket, not yet handed to the runtime.
 */
export function pendingBytes(socket: Socket): number {
  return internals.pending(socket);
}

/**
 * Has each message the socket receives while none is queued for its loop
 * handed to `sink` at once, inside the runtime's message event, instead of
 * to the waiting loop (which still gets what was queued before, and the
 * end); `undefined` stops it. Internal: the RPC peer reads so, saving a
 * promise per message. The sink must not throw. A message the sink took is
 * done with, as one the loop took before asking for the next
 * ({@linkcode onTaken}).
 *
 * @param socket The socket, which a loop of the caller's reads.
 * @param sink Takes each message, or `undefined`.
 */
export function sinkMessages(
  socket: Socket,
  sink: ((msg: Message) => void) | undefined,
): void {
  const taken = sink && takers.get(socket);
  internals.sink(
    socket,
    taken
      ? (msg) => {
        sink(msg);
        taken();
      }
      : sink,
  );
}

/**
 * Whether sends wait in the socket's own queue for its send buffer to
 * drain, in constant time. Internal: right after `send()` on an open socket,
 * `false` means the message went straight to the runtime.
 *
 * @param socket The socket.
 * @returns `true` while at least one send (even an empty one) waits.
 */
export function sendsWaiting(socket: Socket): boolean {
  return internals.waiting(socket);
}

/**
 * The size limits a socket was made with. Internal: the hub compares a
 * member's `bufferedAmount` with its `highWaterMark`, RPC never builds an
 * answer over `maxMessageSize`.
 *
 * @param socket The socket.
 * @returns Its `highWaterMark` and `maxMessageSize`, in bytes.
 */
export function socketLimits(
  socket: Socket,
): { highWaterMark: number; maxMessageSize: number } {
  return internals.limits(socket);
}

/**
 * Sets the received-message count past which the socket closes with 1008
 * ("Message rate limit exceeded"). Internal: the route's rate limit moves it
 * forward once a second.
 *
 * @param socket The socket.
 * @param limit The count; `Infinity` for none.
 */
export function setInboundLimit(socket: Socket, limit: number): void {
  internals.limitInbound(socket, limit === Infinity ? 0 : limit);
}

/**
 * Calls `onClose` once when the socket closes (at once if it has), without
 * allocating a promise: the route's per-connection bookkeeping. It is given
 * the socket, so that one function serves every connection of a route.
 * Internal; one watcher per socket.
 *
 * @param socket The socket.
 * @param onClose Told the socket and its close information.
 */
export function watchClose(
  socket: Socket,
  onClose: (socket: Socket, info: CloseInfo) => void,
): void {
  internals.watch(socket, onClose);
}

/**
 * Tells a socket's messages and close to `observer` from now on (at once
 * the close, when the socket has closed already). Internal: see
 * `observeConnection()` in observe.ts.
 *
 * @param socket The socket.
 * @param observer The connection's observer.
 */
export function observeSocket(
  socket: Socket,
  observer: ConnectionObserver,
): void {
  internals.observe(socket, observer);
}
