/**
 * The OpenTelemetry side of `otel()`: the instruments (names and units after
 * the semantic conventions, `rpc.*` for JSON-RPC), one per process, and the
 * observer that feeds them.
 *
 * Per message only a count in JavaScript is paid: the counts reach their
 * counter when the metrics are collected (an observable instrument's
 * callback runs then) and when the process ends. A histogram record costs
 * about 0.5 µs under Deno's exporter (its attributes cross into Rust), 15%
 * of a 64-byte echo, so message sizes are recorded for every message while
 * the process handles at most {@linkcode SIZES_PER_SECOND} a second, and
 * for a uniform random sample of that many a second above. Internal.
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context,
  type Counter,
  type Histogram,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type UpDownCounter,
} from "npm:@opentelemetry/api@1";
import type {
  ConnectionEvent,
  ConnectionObserver,
  HandshakeEvent,
  ObservedBackplane,
  ObservedHub,
  RpcCallObserver,
  RpcServeObserver,
} from "../observe.ts";
import { type CloseInfo, utf8Length } from "../message.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** The instrumentation scope of every meter and tracer: the package. */
const SCOPE = "@switchboard/switchboard";

/**
 * An integer attribute (a status or close code). Deno's own exporter writes
 * a `bigint` as an OTLP `intValue`, as the semantic conventions type these
 * and as Deno writes its own `http.response.status_code`, and a number as a
 * `doubleValue`; another SDK gets the number.
 */
const integer: (value: number) => number = metrics.getMeterProvider() ===
    (globalThis as { Deno?: { telemetry?: { meterProvider?: unknown } } })
      .Deno?.telemetry?.meterProvider
  ? (value) => BigInt(value) as unknown as number
  : (value) => value;

/** Message sizes recorded per second at most; above, a random sample. */
export const SIZES_PER_SECOND = 1000;
/** Messages between two readings of the message rate. */
const RATE_WINDOW = 1024;

/** The attributes of a message: direction, then type (index 0-3). */
const MESSAGE_ATTRIBUTES: readonly Attributes[] = [
  ["in", "text"],
  ["in", "binary"],
  ["out", "text"],
  ["out", "binary"],
].map(([direction, type]) =>
  Object.freeze({
    "switchboard.direction": direction,
    "switchboard.message.type": type,
  })
);

/** The instruments of the process, and what is counted for them. */
export class Telemetry {
  readonly tracer = trace.getTracer(SCOPE, denoJson.version);
  readonly #active: UpDownCounter;
  readonly #duration: Histogram;
  readonly #handshakes: Counter;
  readonly #messages: Counter;
  readonly #size: Histogram;
  readonly rpcServer: Histogram;
  readonly rpcClient: Histogram;
  readonly #deliveries: Counter;
  readonly #dropped: Counter;
  readonly #resumed: Counter;
  /** Messages counted and not yet added to their counter, by attributes. */
  readonly #pending = [0, 0, 0, 0];
  /** The share of message sizes recorded, from the last rate reading. */
  #sample = 1;
  /** Messages since the rate was last read, and when that was. */
  #seen = 0;
  #since = performance.now();
  /** Hubs and backplanes watched, with their counts already exported. */
  readonly #hubs = new Map<ObservedHub, number>();
  readonly #backplanes = new Map<
    ObservedBackplane,
    { attributes: Attributes; dropped: number }
  >();
  /** Attributes of a route and transport, made once. */
  readonly #routes = new Map<string, Attributes>();

  constructor() {
    const meter = metrics.getMeter(SCOPE, denoJson.version);
    this.#active = meter.createUpDownCounter(
      "switchboard.connections.active",
      { unit: "{connection}", description: "Connections open now" },
    );
    this.#duration = meter.createHistogram("switchboard.connection.duration", {
      unit: "s",
      description: "How long connections lasted, by close code",
    });
    this.#handshakes = meter.createCounter("switchboard.handshakes", {
      unit: "{handshake}",
      description: "Handshakes answered, by HTTP status",
    });
    this.#messages = meter.createCounter("switchboard.messages", {
      unit: "{message}",
      description: "Messages received (in) and sent (out)",
    });
    this.#size = meter.createHistogram("switchboard.message.size", {
      unit: "By",
      description: "Message sizes (UTF-8 bytes for text)",
    });
    this.rpcServer = meter.createHistogram("rpc.server.duration", {
      unit: "s",
      description: "JSON-RPC requests served, from arrival to answer",
    });
    this.rpcClient = meter.createHistogram("rpc.client.duration", {
      unit: "s",
      description: "JSON-RPC calls made, from request to answer",
    });
    this.#deliveries = meter.createCounter("switchboard.hub.deliveries", {
      unit: "{message}",
      description: "Messages a hub handed to its members, one per member",
    });
    this.#dropped = meter.createCounter("switchboard.backplane.dropped", {
      unit: "{message}",
      description: "Messages a backplane dropped",
    });
    this.#resumed = meter.createCounter("switchboard.sessions.resumed", {
      unit: "{session}",
      description: "Resumable sessions resumed on a new connection",
    });
    const buffered = meter.createObservableGauge(
      "switchboard.backplane.buffered",
      {
        unit: "{message}",
        description: "Messages a backplane holds until its broker is back",
      },
    );
    // Runs at every collection: the counts kept in JavaScript go out then.
    buffered.addCallback((result) => {
      this.flush();
      for (const [backplane, { attributes }] of this.#backplanes) {
        result.observe(backplane.buffered, attributes);
      }
    });
    globalThis.addEventListener?.("unload", () => this.flush());
  }

  /** Adds what was counted since the last time to the counters. */
  flush(): void {
    this.#resample();
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      if (pending[i]! > 0) {
        this.#messages.add(pending[i]!, MESSAGE_ATTRIBUTES[i]);
      }
      pending[i] = 0;
    }
    for (const [hub, exported] of this.#hubs) {
      const deliveries = hub.stats().deliveries;
      if (deliveries > exported) {
        this.#deliveries.add(deliveries - exported);
        this.#hubs.set(hub, deliveries);
      }
    }
    for (const [backplane, seen] of this.#backplanes) {
      const dropped = backplane.dropped;
      if (dropped > seen.dropped) {
        this.#dropped.add(dropped - seen.dropped, seen.attributes);
        seen.dropped = dropped;
      }
    }
  }

  /** The attributes of a route and transport. */
  routeAttributes(route: string | undefined, transport: string): Attributes {
    const key = `${transport} ${route ?? ""}`;
    let attributes = this.#routes.get(key);
    if (attributes === undefined) {
      attributes = route === undefined
        ? { "switchboard.transport": transport }
        : { "switchboard.route": route, "switchboard.transport": transport };
      this.#routes.set(key, Object.freeze(attributes));
    }
    return attributes;
  }

  handshake(event: HandshakeEvent): void {
    const { transport, status, startTime } = event;
    const attributes = {
      ...this.routeAttributes(event.route, transport),
      "http.response.status_code": integer(status),
    };
    this.#handshakes.add(1, attributes);
    const span = this.tracer.startSpan(`handshake ${transport}`, {
      kind: SpanKind.INTERNAL,
      startTime,
      attributes,
    });
    if (status >= 400) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: `Refused with ${status}`,
      });
    }
    span.end();
  }

  connection(event: ConnectionEvent): ConnectionObserver {
    const attributes = this.routeAttributes(event.route, event.transport);
    this.#active.add(1, attributes);
    return new ConnectionTelemetry(this, attributes);
  }

  /** A message of a connection: counted now, added at the next flush. */
  message(
    direction: "in" | "out",
    data: string | ArrayBuffer | Uint8Array,
  ): void {
    const text = typeof data === "string";
    const index = (direction === "out" ? 2 : 0) + (text ? 0 : 1);
    this.#pending[index]!++;
    if (++this.#seen === RATE_WINDOW) this.#resample();
    if (this.#sample === 1 || Math.random() < this.#sample) {
      this.#size.record(
        text ? utf8Length(data) : (data as ArrayBuffer).byteLength,
        MESSAGE_ATTRIBUTES[index],
      );
    }
  }

  /** Reads the message rate, and the share of sizes to record from it. */
  #resample(): void {
    const now = performance.now();
    const perSecond = this.#seen * 1000 / Math.max(now - this.#since, 1);
    this.#sample = perSecond <= SIZES_PER_SECOND
      ? 1
      : SIZES_PER_SECOND / perSecond;
    this.#seen = 0;
    this.#since = now;
  }

  resumed(attributes: Attributes): void {
    this.#resumed.add(1, attributes);
  }

  closed(attributes: Attributes, seconds: number, info: CloseInfo): void {
    this.#active.add(-1, attributes);
    this.#duration.record(seconds, {
      ...attributes,
      "switchboard.close.code": integer(info.code),
    });
  }

  hub(hub: ObservedHub): () => void {
    this.#hubs.set(hub, 0);
    return () => {
      this.flush();
      this.#hubs.delete(hub);
    };
  }

  backplane(backplane: ObservedBackplane, name: string): () => void {
    this.#backplanes.set(backplane, {
      attributes: Object.freeze({ "switchboard.backplane": name }),
      dropped: 0,
    });
    return () => {
      this.flush();
      this.#backplanes.delete(backplane);
    };
  }

  rpcCall(method: string, id: number, propagate: boolean): RpcCallObserver {
    const span = this.tracer.startSpan(method, {
      kind: SpanKind.CLIENT,
      attributes: rpcAttributes(method, id),
    });
    const started = performance.now();
    let fields: Record<string, string> | undefined;
    if (propagate) {
      fields = {};
      propagation.inject(trace.setSpan(context.active(), span), fields);
    }
    return {
      ...(fields ? { fields } : {}),
      end: (error?: unknown) => {
        const code = errorCode(error);
        this.rpcClient.record(
          (performance.now() - started) / 1000,
          outcome(method, code, error),
        );
        endSpan(span, code, error);
      },
    };
  }

  rpcServe(
    method: string,
    request: Readonly<Record<string, unknown>>,
    propagate: boolean,
  ): RpcServeObserver {
    const parent = propagate ? extract(request) : context.active();
    const span = this.tracer.startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: rpcAttributes(method, request.id),
    }, parent);
    const active = trace.setSpan(parent, span);
    const started = performance.now();
    return {
      run: (handler) => context.with(active, handler),
      end: (code?: number) => {
        this.rpcServer.record(
          (performance.now() - started) / 1000,
          outcome(method, code, undefined),
        );
        endSpan(span, code, undefined);
      },
    };
  }
}

/** One connection's observer: counts its messages, times it. */
class ConnectionTelemetry implements ConnectionObserver {
  readonly #telemetry: Telemetry;
  readonly #attributes: Attributes;
  readonly #opened = performance.now();

  constructor(telemetry: Telemetry, attributes: Attributes) {
    this.#telemetry = telemetry;
    this.#attributes = attributes;
  }

  message(
    direction: "in" | "out",
    data: string | ArrayBuffer | Uint8Array,
  ): void {
    this.#telemetry.message(direction, data);
  }

  resumed(): void {
    this.#telemetry.resumed(this.#attributes);
  }

  close(info: CloseInfo): void {
    const seconds = (performance.now() - this.#opened) / 1000;
    this.#telemetry.closed(this.#attributes, seconds, info);
  }
}

/** A call's span attributes, after the JSON-RPC semantic conventions. */
function rpcAttributes(method: string, id: unknown): Attributes {
  const attributes: Attributes = {
    "rpc.system": "jsonrpc",
    "rpc.method": method,
    "rpc.jsonrpc.version": "2.0",
  };
  if (typeof id === "string" || typeof id === "number") {
    attributes["rpc.jsonrpc.request_id"] = String(id);
  }
  return attributes;
}

/**
 * A call's duration attributes: the method, and its JSON-RPC error code
 * (or, for a call that got no answer, the error's name as `error.type`).
 */
function outcome(
  method: string,
  code: number | undefined,
  error: unknown,
): Attributes {
  const attributes: Attributes = {
    "rpc.system": "jsonrpc",
    "rpc.method": method,
  };
  if (code !== undefined) attributes["rpc.jsonrpc.error_code"] = integer(code);
  else if (error !== undefined) attributes["error.type"] = errorType(error);
  return attributes;
}

/** The caller's trace context from a request's string members. */
function extract(request: Readonly<Record<string, unknown>>): Context {
  const carrier: Record<string, string> = {};
  for (const field of propagation.fields()) {
    const value = request[field];
    if (typeof value === "string") carrier[field] = value;
  }
  return propagation.extract(context.active(), carrier);
}

/** The JSON-RPC code of a failed call's error (an `RpcError`), if any. */
function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof Error && error.name === "RpcError" &&
      Number.isInteger(code)
    ? code as number
    : undefined;
}

function errorType(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function endSpan(span: Span, code: number | undefined, error: unknown): void {
  if (code !== undefined) {
    span.setAttribute("rpc.jsonrpc.error_code", integer(code));
    span.setStatus({ code: SpanStatusCode.ERROR, message: `Error ${code}` });
  } else if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorType(error) });
  }
  span.end();
}
