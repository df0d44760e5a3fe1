/**
 * The observer hook: what a route, `upgrade()`, a hub, a backplane and an
 * RPC peer tell about themselves when given `observe`, for metrics, traces
 * and dashboards. The core implements none of it: `./otel` turns it into
 * OpenTelemetry, `./dashboard` into a live page. Without `observe` nothing
 * is called and nothing is allocated per message.
 *
 * This file uses no Deno API, so it runs in browsers too.
 *
 * @module
 */

import type { CloseInfo, Transport } from "./message.ts";
import type { Socket } from "./socket.ts";
import { guard } from "./_observer_calls.ts";
import { observeSocket } from "./_socket_internals.ts";

/**
 * A handshake the server answered: accepted (101, or 200 for an event
 * stream of the fallback transport) or refused (400, 403, 426, 503 ...).
 *
 * @example Counting refusals
 * ```ts
 * import type { HandshakeEvent, Observer } from "@switchboard/switchboard";
 *
 * let refused = 0;
 * const observer: Observer = {
 *   handshake(event: HandshakeEvent) {
 *     if (event.status >= 400) refused++;
 *   },
 * };
 * console.log(typeof observer.handshake, refused);
 * ```
 */
export interface HandshakeEvent {
  /**
   * The request that asked for the connection. Once a WebSocket handshake
   * is accepted, Deno lets its `url` be read but no longer its headers.
   */
  readonly request: Request;
  /** The route's path, `undefined` for {@linkcode upgrade} on its own. */
  readonly route: string | undefined;
  /** The transport asked for. */
  readonly transport: Transport;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** When the request reached Switchboard, in milliseconds since the epoch. */
  readonly startTime: number;
}

/**
 * A connection that opened: what {@linkcode Observer.connection} is told.
 *
 * @example Reading the transport
 * ```ts
 * import type { ConnectionEvent } from "@switchboard/switchboard";
 *
 * const describe = (event: ConnectionEvent) =>
 *   `${event.transport} on ${event.route ?? "upgrade()"}`;
 * console.log(typeof describe);
 * ```
 */
export interface ConnectionEvent {
  /**
   * The request that opened it. Over a WebSocket, Deno lets its `url` be
   * read but no longer its headers.
   */
  readonly request: Request;
  /** The route's path, `undefined` for {@linkcode upgrade} on its own. */
  readonly route: string | undefined;
  /** The transport it uses. */
  readonly transport: Transport;
  /** The connection's socket. */
  readonly socket: Socket;
}

/**
 * Told what one connection does, from its open to its close. Called on the
 * hot path: keep it cheap and never throw (a throw is logged and ignored).
 *
 * @example Counting one connection's messages and bytes
 * ```ts
 * import type { ConnectionObserver } from "@switchboard/switchboard";
 *
 * let count = 0, bytes = 0;
 * const connection: ConnectionObserver = {
 *   message(_direction, data) {
 *     count++;
 *     bytes += typeof data === "string"
 *       ? new TextEncoder().encode(data).byteLength
 *       : data.byteLength;
 *   },
 *   close: (info) => console.log(`closed ${info.code}: ${count}, ${bytes} B`),
 * };
 * connection.message("in", "héllo");
 * connection.close({ code: 1000, reason: "", wasClean: true });
 * ```
 */
export interface ConnectionObserver {
  /**
   * A message was received (`"in"`), or handed to the transport (`"out"`).
   * Measure it only if you need to: text's UTF-8 size costs a pass over it.
   *
   * @param direction `"in"` or `"out"`.
   * @param data The message: a string for text, the bytes for binary.
   */
  message(
    direction: "in" | "out",
    data: string | ArrayBuffer | Uint8Array,
  ): void;
  /** The connection's resumable session came back on a new connection. */
  resumed?(): void;
  /**
   * The connection closed; nothing more is reported for it.
   *
   * @param info How it closed.
   */
  close(info: CloseInfo): void;
}

/**
 * Counters of a {@linkcode Hub}, from {@linkcode ObservedHub.stats}.
 *
 * @example A snapshot
 * ```ts
 * import type { HubStats } from "@switchboard/switchboard";
 *
 * const stats: HubStats = { connections: 2, rooms: { lobby: 2 }, deliveries: 10 };
 * console.log(stats.rooms.lobby);
 * ```
 */
export interface HubStats {
  /** The connections of this process the hub tracks. */
  readonly connections: number;
  /** Each room with members in this process, and how many. */
  readonly rooms: Readonly<Record<string, number>>;
  /** Messages handed to members (one per member reached) since it was made. */
  readonly deliveries: number;
}

/**
 * A hub as an observer sees it (a {@linkcode Hub} is one).
 *
 * @example A hub of one's own
 * ```ts
 * import type { ObservedHub } from "@switchboard/switchboard";
 *
 * const hub: ObservedHub = {
 *   stats: () => ({ connections: 0, rooms: {}, deliveries: 0 }),
 * };
 * console.log(hub.stats().connections);
 * ```
 */
export interface ObservedHub {
  /**
   * Its counters now.
   *
   * @returns A snapshot.
   */
  stats(): HubStats;
}

/**
 * A backplane as an observer sees it (a `RedisBackplane` is one).
 *
 * @example A backplane's state
 * ```ts
 * import type { ObservedBackplane } from "@switchboard/switchboard";
 *
 * const state: ObservedBackplane = { connected: true, buffered: 0, dropped: 0 };
 * console.log(state.connected);
 * ```
 */
export interface ObservedBackplane {
  /** Whether it is connected to its broker. */
  readonly connected: boolean;
  /** Messages waiting for the broker to come back. */
  readonly buffered: number;
  /** Messages dropped since it was made. */
  readonly dropped: number;
}

/**
 * One call an {@linkcode RpcPeer} made, from its request to its answer.
 *
 * @example Timing a call
 * ```ts
 * import type { RpcCallObserver } from "@switchboard/switchboard";
 *
 * const started = performance.now();
 * const call: RpcCallObserver = {
 *   end: (error) => console.log(performance.now() - started, error ?? "ok"),
 * };
 * call.end();
 * ```
 */
export interface RpcCallObserver {
  /**
   * Members added to the request object, such as W3C trace context
   * (`traceparent`, `tracestate`). They must not be `jsonrpc`, `method`,
   * `params` or `id`.
   */
  readonly fields?: Readonly<Record<string, string>>;
  /**
   * The call settled.
   *
   * @param error `undefined` for a result; else why it failed (an
   * `RpcError` with the other side's code, an `RpcTimeoutError`, ...).
   */
  end(error?: unknown): void;
}

/**
 * One request an {@linkcode RpcPeer} serves, from its arrival to its answer.
 *
 * @example Running the handler as it is
 * ```ts
 * import type { RpcServeObserver } from "@switchboard/switchboard";
 *
 * const serve: RpcServeObserver = {
 *   run: (handler) => handler(),
 *   end: (code) => console.log(code ?? "ok"),
 * };
 * console.log(serve.run?.(() => 42));
 * serve.end();
 * ```
 */
export interface RpcServeObserver {
  /**
   * Runs the method's handler (for example inside a trace span's context).
   * Absent: the handler runs as it is.
   *
   * @param handler Runs the handler.
   * @returns What `handler` returned.
   */
  run?<T>(handler: () => T): T;
  /**
   * The request was answered.
   *
   * @param errorCode The JSON-RPC error code of the answer, `undefined`
   * for a result.
   */
  end(errorCode?: number): void;
}

/**
 * Told what the layers of Switchboard do, for metrics, traces and
 * dashboards: pass one as `observe` to {@linkcode route}, {@linkcode upgrade},
 * `new Hub()`, `RedisBackplane.connect()` and `new RpcPeer()` (or a list of
 * them). Every method is optional; `otel()` of `./otel` and `dashboard()` of
 * `./dashboard` make ready ones. A throw from an observer is logged and
 * ignored.
 *
 * @example Logging connections
 * ```ts
 * import { type Observer, route } from "@switchboard/switchboard";
 *
 * const observer: Observer = {
 *   connection(event) {
 *     console.log("open", event.transport);
 *     return { message() {}, close: (info) => console.log("closed", info.code) };
 *   },
 * };
 * const handler = route("/ws", () => {}, { observe: observer });
 * console.log(typeof handler);
 * ```
 */
export interface Observer {
  /**
   * A handshake was answered, accepted or refused; called while the request
   * is handled (inside `Deno.serve`'s request span, if any).
   *
   * @param event The request, route, transport, status and start time.
   */
  handshake?(event: HandshakeEvent): void;
  /**
   * A connection opened.
   *
   * @param event The request, route, transport and socket.
   * @returns What to tell about this connection, or `undefined` for nothing.
   */
  connection?(event: ConnectionEvent): ConnectionObserver | undefined;
  /**
   * A hub was made with this observer.
   *
   * @param hub The hub, to read its counters from.
   * @returns Called once the hub is closed.
   */
  hub?(hub: ObservedHub): (() => void) | void;
  /**
   * A backplane connected with this observer.
   *
   * @param backplane The backplane, to read its state from.
   * @param name Its kind, such as `"redis"`.
   * @returns Called once the backplane is closed.
   */
  backplane?(backplane: ObservedBackplane, name: string): (() => void) | void;
  /**
   * An RPC peer calls a method of the other side (notifications are not
   * reported).
   *
   * @param method The method.
   * @param id The request's id.
   * @returns What to tell about the call, or `undefined`.
   */
  rpcCall?(method: string, id: number): RpcCallObserver | undefined;
  /**
   * An RPC peer serves a request (notifications are not reported).
   *
   * @param method The method.
   * @param request The request object as received (with any members the
   * caller's observer added, such as `traceparent`).
   * @returns What to tell about the request, or `undefined`.
   */
  rpcServe?(
    method: string,
    request: Readonly<Record<string, unknown>>,
  ): RpcServeObserver | undefined;
}

/**
 * Checks an `observe` option: one observer or a list (combined into one).
 *
 * @param value The option as given.
 * @returns The observer, or `undefined` when none was given.
 * @throws {TypeError} When it is not an object or a list of objects.
 */
export function checkObserve(value: unknown): Observer | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  for (const item of list) {
    if (item === null || typeof item !== "object") {
      throw new TypeError(
        "Invalid observe: expected an observer object or a list of them",
      );
    }
  }
  if (list.length === 0) return undefined;
  return list.length === 1 ? list[0] as Observer : combine(list);
}

/** One observer that tells each of `list`, in order. */
function combine(list: readonly Observer[]): Observer {
  const each = <T>(call: (observer: Observer) => T): T[] =>
    list.map((observer) => guard(() => call(observer))) as T[];
  const unregister = (ends: unknown[]) => () => {
    for (const end of ends) if (typeof end === "function") guard(end as never);
  };
  return {
    handshake: (event) => void each((o) => o.handshake?.(event)),
    connection(event) {
      const parts = each((o) => o.connection?.(event))
        .filter((part) => part !== undefined);
      if (parts.length === 0) return undefined;
      return {
        message(direction, data) {
          for (const part of parts) part.message(direction, data);
        },
        resumed: () => void parts.forEach((part) => part.resumed?.()),
        close: (info) => void parts.forEach((part) => part.close(info)),
      };
    },
    hub: (hub) => unregister(each((o) => o.hub?.(hub))),
    backplane: (backplane, name) =>
      unregister(each((o) => o.backplane?.(backplane, name))),
    rpcCall(method, id) {
      const parts = each((o) => o.rpcCall?.(method, id))
        .filter((part) => part !== undefined);
      if (parts.length === 0) return undefined;
      const fields = Object.assign({}, ...parts.map((part) => part.fields));
      return {
        fields,
        end: (error) => void parts.forEach((part) => part.end(error)),
      };
    },
    rpcServe(method, request) {
      const parts = each((o) => o.rpcServe?.(method, request))
        .filter((part) => part !== undefined);
      if (parts.length === 0) return undefined;
      return {
        run: <T>(handler: () => T): T =>
          parts.reduceRight<() => T>(
            (inner, part) => () => part.run ? part.run(inner) : inner(),
            handler,
          )(),
        end: (code) => void parts.forEach((part) => part.end(code)),
      };
    },
  };
}

/**
 * Tells `observer` of a connection that opened, and its socket of the
 * observer it gets back (which then hears of every message and the close).
 * Internal: `route()` and `upgrade()` call it.
 *
 * @param observer The route's observer.
 * @param event The request, route, transport and socket.
 * @param session The resumable session under the socket, if any: its
 * `resume` events are reported.
 */
export function observeConnection(
  observer: Observer,
  event: ConnectionEvent,
  session?: EventTarget,
): void {
  const connection = guard(() => observer.connection?.(event));
  if (connection === undefined) return;
  observeSocket(event.socket, connection);
  if (session !== undefined && connection.resumed !== undefined) {
    session.addEventListener(
      "resume",
      () => guard(() => connection.resumed?.()),
    );
  }
}

/**
 * Tells `observer` of a handshake it answered. Internal.
 *
 * @param observer The observer.
 * @param event The request, route, transport, status and start time.
 */
export function observeHandshake(
  observer: Observer,
  event: HandshakeEvent,
): void {
  guard(() => observer.handshake?.(event));
}

/**
 * The time now in milliseconds since the epoch, with the precision of
 * `performance.now()`: a handshake's start.
 *
 * @returns The time.
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
