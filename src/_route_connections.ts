/**
 * The bookkeeping behind `route()`: the open sockets, the connection limit,
 * the per-connection message rate, the handlers still running, the
 * statistics and the graceful shutdown. Internal; `route.ts` dispatches
 * requests to it.
 *
 * @module
 */

import { CLOSING } from "./_ready_state.ts";
import type { CloseInfo, Transport } from "./message.ts";
import { observeConnection, type Observer } from "./observe.ts";
import { type Socket, SocketClosedError } from "./socket.ts";
import { redactRequest } from "./auth/_token.ts";
import {
  closeSocket,
  messageCounts,
  setInboundLimit,
  watchClose,
} from "./_socket_internals.ts";

/** The limits and callbacks of one route, checked by `route()`. */
export interface ConnectionsOptions {
  handler: (socket: Socket, request: Request) => void | Promise<void>;
  onError: (error: unknown, request: Request) => void;
  maxConnections: number;
  maxMessagesPerSecond: number;
  shutdownTimeout: number;
  /** The route's path and observer, when it has one. */
  path: string;
  observe: Observer | undefined;
  /**
   * Hands a socket's resumable session off to another server instead of
   * closing it (a shared session store), within `timeout` ms.
   *
   * @returns The promise of its end, or `undefined` to close it as usual.
   */
  handOff?: (socket: Socket, timeout: number) => Promise<void> | undefined;
}

/** The counters `route().stats()` returns. */
export interface ConnectionStats {
  connections: number;
  accepted: number;
  refused: number;
  messagesIn: number;
  messagesOut: number;
  closes: Record<string, number>;
}

/**
 * The connections of one route, from admission to their last close: runs
 * the handler for each, closes a socket whose handler fails with 1011,
 * counts, and shuts down.
 */
export class Connections {
  readonly #options: ConnectionsOptions;
  readonly #sockets = new Set<Socket>();
  /** Handlers still running, and who waits for them to reach none. */
  #active = 0;
  #drained: (() => void) | undefined;
  #closes: Record<string, number> = {};
  #accepted = 0;
  #refused = 0;
  #closedIn = 0;
  #closedOut = 0;
  #rateTimer: ReturnType<typeof setInterval> | undefined;
  #stopping: Promise<void> | undefined;
  /**
   * Connections that offer a resumable session and have not said yet which
   * session they want (see {@linkcode Connections.hold}).
   */
  #pending = 0;
  /** Shared by every connection: no closure per connection on success. */
  readonly #handlerDone = (): void => {
    if (--this.#active === 0) this.#drained?.();
  };

  /** One timer for all connections moves every rate window forward. */
  readonly #moveWindows = (): void => {
    const rate = this.#options.maxMessagesPerSecond;
    for (const open of this.#sockets) {
      setInboundLimit(open, messageCounts(open).charged + rate);
    }
  };

  /** Shared by every connection: no closure per connection. */
  readonly #closed = (socket: Socket, info: CloseInfo): void => {
    const sockets = this.#sockets;
    sockets.delete(socket);
    const counts = messageCounts(socket);
    this.#closedIn += counts.in;
    this.#closedOut += counts.out;
    this.#closes[info.code] = (this.#closes[info.code] ?? 0) + 1;
    if (sockets.size === 0 && this.#rateTimer !== undefined) {
      clearInterval(this.#rateTimer);
      this.#rateTimer = undefined;
    }
  };

  /**
   * @param options The route's handler, error reporter and limits.
   */
  constructor(options: ConnectionsOptions) {
    this.#options = options;
  }

  /** Whether the route is shutting down. */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /**
   * Whether a new connection may open: the open sockets (a resumable
   * session waiting for its client among them) and the connections held
   * until they say which session they want count toward `maxConnections`.
   *
   * @returns `undefined`, or the 503 that refuses it (shutting down, or at
   * `maxConnections`).
   */
  admit(): Response | undefined {
    if (this.#stopping) return this.#unavailable("the server is shutting down");
    if (!this.#full) return undefined;
    return this.#unavailable(
      `the limit of ${this.#options.maxConnections} connections is reached`,
    );
  }

  /**
   * Whether a connection that offers a resumable session may open. As
   * {@linkcode Connections.admit}, except that at the limit it may still
   * open while fewer such connections are held than sessions wait for
   * their client: each waiting session keeps a place for its own resume.
   * So the connections of a route stay within `maxConnections`, however
   * many say nothing.
   *
   * @param waiting How many sessions wait for their client.
   * @returns `undefined`, or the 503 that refuses it.
   */
  admitResume(waiting: number): Response | undefined {
    if (!this.#stopping && this.#full && this.#pending < waiting) {
      return undefined;
    }
    return this.admit();
  }

  /**
   * Counts a connection that has not said yet which session it wants (up to
   * 10 s) toward `maxConnections`, until it does.
   *
   * @returns Ends the count; calling it again does nothing.
   */
  hold(): () => void {
    this.#pending++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#pending--;
    };
  }

  get #full(): boolean {
    return this.#sockets.size + this.#pending >= this.#options.maxConnections;
  }

  /**
   * Counts a new connection and runs the handler for it.
   *
   * @param socket The connection's Socket.
   * @param request The request that opened it.
   * @param transport The transport it came over.
   * @param session The resumable session under the socket, if any.
   */
  start(
    socket: Socket,
    request: Request,
    transport: Transport = "websocket",
    session?: EventTarget,
  ): void {
    this.#track(socket);
    const { observe, path } = this.#options;
    if (observe !== undefined) {
      observeConnection(
        observe,
        { request, route: path, transport, socket },
        session,
      );
    }
    try {
      const result = this.#options.handler(socket, request);
      if (result instanceof Promise) {
        this.#active++;
        // A bound method: smaller than a closure and its context, and kept
        // as long as the connection's handler runs.
        result.then(
          this.#handlerDone,
          this.#handlerFailed.bind(this, socket, request),
        );
      }
    } catch (error) {
      this.#fail(socket, request, error);
    }
  }

  /**
   * A snapshot of the counters.
   *
   * @returns The counters.
   */
  stats(): ConnectionStats {
    let messagesIn = this.#closedIn;
    let messagesOut = this.#closedOut;
    for (const socket of this.#sockets) {
      const counts = messageCounts(socket);
      messagesIn += counts.in;
      messagesOut += counts.out;
    }
    return {
      connections: this.#sockets.size,
      accepted: this.#accepted,
      refused: this.#refused,
      messagesIn,
      messagesOut,
      closes: { ...this.#closes },
    };
  }

  /**
   * Refuses new connections, closes every socket with 1001 "Server shutting
   * down" (hands a resumable session in a shared store off, with 1012) and
   * waits for the handlers and the closes, at most `shutdownTimeout`.
   * Calling it again returns the same promise.
   *
   * @returns A promise that resolves when the route is down.
   */
  shutdown(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const sockets = this.#sockets;
    const { handOff, shutdownTimeout } = this.#options;
    // A session handed off ends before its connection's close is done.
    const closes: Promise<unknown>[] = [];
    for (const socket of sockets) {
      const handedOff = handOff?.(socket, shutdownTimeout);
      if (handedOff === undefined) {
        closeSocket(socket, 1001, "Server shutting down");
        closes.push(socket.closed);
      } else closes.push(handedOff);
    }
    const handlers = this.#active === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.#drained = resolve);
    const finished = Promise.allSettled([handlers, ...closes]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, shutdownTimeout);
    });
    await Promise.race([finished, deadline]);
    clearTimeout(timer);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    this.#accepted++;
    const rate = this.#options.maxMessagesPerSecond;
    if (rate !== Infinity) {
      setInboundLimit(socket, rate);
      this.#rateTimer ??= setInterval(this.#moveWindows, 1000);
    }
    watchClose(socket, this.#closed);
  }

  #handlerFailed(socket: Socket, request: Request, error: unknown): void {
    this.#fail(socket, request, error);
    this.#handlerDone();
  }

  #fail(socket: Socket, request: Request, error: unknown): void {
    if (endedWith(socket, error)) return;
    closeSocket(socket, 1011, "Internal server error");
    try {
      this.#options.onError(error, redactRequest(request));
    } catch (reportError) {
      console.error("Switchboard: onError threw", reportError);
    }
  }

  #unavailable(reason: string): Response {
    this.#refused++;
    return new Response(`Service unavailable: ${reason}\n`, {
      status: 503,
      headers: { "content-type": "text/plain", "retry-after": "1" },
    });
  }
}

/**
 * Whether `error` is only the handler's own socket having closed: a
 * `SocketClosedError` from its `send()` or an `RpcClosedError` from a call
 * over it, raised once that socket is closing or closed. That is how a push
 * loop or a pending call ends when the peer leaves, not a failure.
 */
function endedWith(socket: Socket, error: unknown): boolean {
  return socket.readyState >= CLOSING &&
    (error instanceof SocketClosedError ||
      (error instanceof Error && error.name === "RpcClosedError"));
}
