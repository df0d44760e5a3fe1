/**
 * OpenTelemetry metrics and traces for Switchboard: `otel()` is an
 * {@linkcode Observer} for the `observe` option of `route()`, `upgrade()`,
 * `new Hub()`, `RedisBackplane.connect()` and `new RpcPeer()`, built on
 * `npm:@opentelemetry/api@1`. Deno exports what it records by itself: run
 * with `OTEL_DENO=true` (and `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_METRIC_EXPORT_INTERVAL` as usual).
 * Without it, or without any SDK registered, the API does nothing and costs
 * next to nothing.
 *
 * Metrics (meter `@switchboard/switchboard`):
 *
 * | name | instrument | unit | attributes |
 * | --- | --- | --- | --- |
 * | `switchboard.connections.active` | UpDownCounter | `{connection}` | `switchboard.route`, `switchboard.transport` |
 * | `switchboard.connection.duration` | Histogram | `s` | those, `switchboard.close.code` |
 * | `switchboard.handshakes` | Counter | `{handshake}` | those, `http.response.status_code` |
 * | `switchboard.messages` | Counter | `{message}` | `switchboard.direction`, `switchboard.message.type` |
 * | `switchboard.message.size` | Histogram | `By` | `switchboard.direction`, `switchboard.message.type` |
 * | `rpc.server.duration`, `rpc.client.duration` | Histogram | `s` | `rpc.system`, `rpc.method`, `rpc.jsonrpc.error_code` |
 * | `switchboard.hub.deliveries` | Counter | `{message}` | |
 * | `switchboard.backplane.buffered` | Gauge | `{message}` | `switchboard.backplane` |
 * | `switchboard.backplane.dropped` | Counter | `{message}` | `switchboard.backplane` |
 * | `switchboard.sessions.resumed` | Counter | `{session}` | `switchboard.route`, `switchboard.transport` |
 *
 * Traces: a span per handshake, accepted or refused (`handshake websocket`
 * or `handshake sse`, a child of `Deno.serve`'s request span), and a span
 * per JSON-RPC call on each side (named after the method, kinds client and
 * server). With `otel({ propagate: true })` on both peers, a call carries
 * W3C trace context in its request object (members `traceparent` and, when
 * set, `tracestate` and `baggage`, beside `jsonrpc`, `method`, `params`
 * and `id`), and the server's span is a child of the caller's.
 *
 * @example Metrics and traces for a route, a hub and RPC
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { Hub } from "@switchboard/switchboard/hub";
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 * import { otel } from "@switchboard/switchboard/otel";
 *
 * // OTEL_DENO=true deno run --allow-net server.ts
 * const observe = otel({ propagate: true });
 * const hub = new Hub({ observe });
 * Deno.serve(route("/ws", (socket) => {
 *   hub.join(hub.add(socket), "lobby");
 *   new RpcPeer(socket, { observe, methods: { ping: () => "pong" } });
 * }, { observe }));
 * ```
 *
 * @module
 */

import type { Observer } from "../observe.ts";
import { Telemetry } from "./_telemetry.ts";

export type { Observer } from "../observe.ts";

/**
 * Options for {@linkcode otel}.
 *
 * @example Propagating trace context
 * ```ts
 * import type { OtelOptions } from "@switchboard/switchboard/otel";
 *
 * const options: OtelOptions = { propagate: true };
 * console.log(options.propagate);
 * ```
 */
export interface OtelOptions {
  /**
   * Carry W3C trace context in JSON-RPC requests (`traceparent`,
   * `tracestate` and `baggage` members of the request object, written and
   * read by the propagators Deno configures from `OTEL_PROPAGATORS`), so
   * that a call's server span is a child of the caller's span. Both peers
   * need it. Off by default: a strict JSON-RPC peer of another make may
   * refuse members it does not know.
   *
   * @default {false}
   */
  propagate?: boolean;
}

/** The process's instruments, made on the first `otel()`. */
let telemetry: Telemetry | undefined;
const observers = new Map<boolean, Observer>();

/**
 * An {@linkcode Observer} that records Switchboard's metrics and traces with
 * the global OpenTelemetry API. Every call with the same options returns
 * the same observer, and all share one set of instruments: calling it per
 * connection costs nothing.
 *
 * @param options Whether to carry trace context in JSON-RPC requests.
 * @returns The observer, for `observe`.
 * @throws {TypeError} When `propagate` is not a boolean.
 *
 * @example Observing a route
 * ```ts
 * import { route } from "@switchboard/switchboard";
 * import { otel } from "@switchboard/switchboard/otel";
 *
 * const handler = route("/ws", async (socket) => {
 *   for await (const msg of socket) await socket.send(msg.data);
 * }, { observe: otel() });
 * console.log(otel() === otel()); // true
 * ```
 */
export function otel(options: OtelOptions = {}): Observer {
  const { propagate = false } = options;
  if (typeof propagate !== "boolean") {
    throw new TypeError(
      `Invalid propagate: expected a boolean, got ${typeof propagate}`,
    );
  }
  let observer = observers.get(propagate);
  if (observer === undefined) {
    const t = telemetry ??= new Telemetry();
    observer = Object.freeze<Observer>({
      handshake: (event) => t.handshake(event),
      connection: (event) => t.connection(event),
      hub: (hub) => t.hub(hub),
      backplane: (backplane, name) => t.backplane(backplane, name),
      rpcCall: (method, id) => t.rpcCall(method, id, propagate),
      rpcServe: (method, request) => t.rpcServe(method, request, propagate),
    });
    observers.set(propagate, observer);
  }
  return observer;
}
