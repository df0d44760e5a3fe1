/**
 * `./otel` end to end: a child `deno run` of tests/fixtures/otel_session.ts
 * (3 connections, 100 messages each way, one refused handshake, one RPC
 * error, one close with 1008) exports to an OTLP/HTTP JSON receiver in this
 * test, which checks every count and attribute, and the RPC spans' parents.
 */

import assert from "node:assert/strict";
import { route } from "../mod.ts";
import { otel } from "../src/otel/mod.ts";
import { closeEvent, collect, open, serve } from "./_helpers.ts";
import { within } from "./_sse_helpers.ts";

const FIXTURE = new URL("./fixtures/otel_session.ts", import.meta.url);
const EXTRAS = new URL("./fixtures/otel_extras.ts", import.meta.url);
const SCOPE = "@switchboard/switchboard";

/** An OTLP attribute value as JSON: one of these members. */
type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
};
type KeyValue = { key: string; value: AnyValue };
interface Point {
  attributes: KeyValue[];
  asDouble?: number;
  asInt?: string | number;
  count?: string | number;
}
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: KeyValue[];
  scope: string;
}

/** An attribute list as a plain record: ints as numbers, as OTLP writes them. */
function attributes(list: KeyValue[]): Record<string, string | number> {
  return Object.fromEntries(list.map(({ key, value }) => [
    key,
    value.intValue !== undefined
      ? Number(value.intValue)
      : value.stringValue ?? value.doubleValue ?? String(value.boolValue),
  ]));
}

/** What a receiver got: each POST's path and parsed body. */
async function receive(
  run: (endpoint: string) => Promise<void>,
): Promise<{ path: string; body: Record<string, unknown[]> }[]> {
  const posts: { path: string; body: Record<string, unknown[]> }[] = [];
  await using srv = serve(async (request) => {
    const body = await request.json();
    posts.push({ path: new URL(request.url).pathname, body });
    return Response.json({});
  });
  await run(`http://127.0.0.1:${srv.port}`);
  return posts;
}

/** Runs a scripted session in a child `deno run`, with `env`. */
async function session(
  env: Record<string, string>,
  fixture = FIXTURE,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", fixture.href],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill(), 60_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const out = new TextDecoder().decode(stdout);
  assert.equal(
    code,
    0,
    `the session failed: ${out}${new TextDecoder().decode(stderr)}`,
  );
  assert.equal(out.trim(), "done");
}

/** The latest data points of each of Switchboard's metrics. */
function metricsOf(
  posts: { path: string; body: Record<string, unknown[]> }[],
): Map<string, { unit: string; kind: string; points: Point[] }> {
  const found = new Map<
    string,
    { unit: string; kind: string; points: Point[] }
  >();
  for (const { path, body } of posts) {
    if (path !== "/v1/metrics") continue;
    // deno-lint-ignore no-explicit-any
    for (const resource of body.resourceMetrics as any[]) {
      for (const scope of resource.scopeMetrics) {
        if (scope.scope.name !== SCOPE) continue;
        for (const metric of scope.metrics) {
          const kind = ["sum", "histogram", "gauge"].find((k) => k in metric)!;
          // Cumulative: the latest export holds the totals.
          found.set(metric.name, {
            unit: metric.unit,
            kind: kind === "sum" && !metric.sum.isMonotonic ? "updown" : kind,
            points: metric[kind].dataPoints,
          });
        }
      }
    }
  }
  return found;
}

/** Each data point as its attributes plus `value` (a sum) or `count`. */
function rows(
  metric: { points: Point[] } | undefined,
): Record<string, string | number>[] {
  assert.ok(metric, "the metric was exported");
  return metric.points.map((point) => ({
    ...attributes(point.attributes),
    ...(point.count !== undefined
      ? { count: Number(point.count) }
      : { value: Number(point.asDouble ?? point.asInt) }),
  })).sort((a, b) => canonical(a) < canonical(b) ? -1 : 1);
}

/** A row's attributes as text, keys in order, to sort rows by. */
function canonical(row: Record<string, string | number>): string {
  return JSON.stringify(
    Object.entries(row).filter(([key]) => key !== "count" && key !== "value")
      .sort(([a], [b]) => a < b ? -1 : 1),
  );
}

function spansOf(
  posts: { path: string; body: Record<string, unknown[]> }[],
): Span[] {
  const spans: Span[] = [];
  for (const { path, body } of posts) {
    if (path !== "/v1/traces") continue;
    // deno-lint-ignore no-explicit-any
    for (const resource of body.resourceSpans as any[]) {
      for (const scope of resource.scopeSpans) {
        for (const span of scope.spans) {
          spans.push({ ...span, scope: scope.scope.name });
        }
      }
    }
  }
  return spans;
}

Deno.test("with OTEL_DENO, the scripted session exports exactly its connections, handshakes, messages, closes and RPC calls, and the RPC spans are parent and child", async () => {
  const posts = await receive((endpoint) =>
    session({
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    })
  );
  const metrics = metricsOf(posts);
  const ws = {
    "switchboard.route": "/ws",
    "switchboard.transport": "websocket",
  };

  assert.equal(metrics.get("switchboard.connections.active")?.kind, "updown");
  assert.equal(
    metrics.get("switchboard.connections.active")?.unit,
    "{connection}",
  );
  assert.deepEqual(rows(metrics.get("switchboard.connections.active")), [
    { ...ws, value: 0 },
  ]);
  assert.equal(metrics.get("switchboard.handshakes")?.kind, "sum");
  assert.deepEqual(rows(metrics.get("switchboard.handshakes")), [
    { ...ws, "http.response.status_code": 101, value: 3 },
    { ...ws, "http.response.status_code": 403, value: 1 },
  ]);
  assert.equal(metrics.get("switchboard.connection.duration")?.unit, "s");
  assert.deepEqual(rows(metrics.get("switchboard.connection.duration")), [
    { ...ws, "switchboard.close.code": 1000, count: 2 },
    { ...ws, "switchboard.close.code": 1008, count: 1 },
  ]);
  assert.equal(metrics.get("switchboard.messages")?.kind, "sum");
  assert.deepEqual(rows(metrics.get("switchboard.messages")), [
    {
      "switchboard.direction": "in",
      "switchboard.message.type": "text",
      value: 300,
    },
    {
      "switchboard.direction": "out",
      "switchboard.message.type": "text",
      value: 300,
    },
  ]);
  assert.equal(metrics.get("switchboard.message.size")?.unit, "By");
  assert.deepEqual(
    rows(metrics.get("switchboard.message.size")).map((row) => row.count),
    [300, 300],
  );
  for (const name of ["rpc.server.duration", "rpc.client.duration"]) {
    assert.equal(metrics.get(name)?.unit, "s");
    assert.deepEqual(rows(metrics.get(name)), [
      {
        "rpc.jsonrpc.error_code": -32602,
        "rpc.method": "add",
        "rpc.system": "jsonrpc",
        count: 1,
      },
      { "rpc.method": "add", "rpc.system": "jsonrpc", count: 99 },
    ], name);
  }

  const spans = spansOf(posts);
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const servers = spans.filter((s) => s.scope === SCOPE && s.kind === 2);
  const clients = spans.filter((s) => s.scope === SCOPE && s.kind === 3);
  assert.equal(servers.length, 100);
  assert.equal(clients.length, 100);
  for (const server of servers) {
    const parent = byId.get(server.parentSpanId ?? "");
    assert.equal(parent?.kind, 3, "the server span's parent is a client span");
    assert.equal(parent.scope, SCOPE);
    assert.equal(parent.traceId, server.traceId);
    assert.equal(
      attributes(parent.attributes)["rpc.jsonrpc.request_id"],
      attributes(server.attributes)["rpc.jsonrpc.request_id"],
    );
  }
  assert.equal(servers.filter((s) => s.status?.code === 2).length, 1);
  assert.equal(clients.filter((s) => s.status?.code === 2).length, 1);

  const handshakes = spans.filter((s) => s.name === "handshake websocket");
  assert.deepEqual(
    handshakes.map((s) => attributes(s.attributes)["http.response.status_code"])
      .sort(),
    [101, 101, 101, 403],
  );
  for (const span of handshakes) {
    const parent = byId.get(span.parentSpanId ?? "");
    assert.equal(parent?.scope, "deno", "a child of Deno.serve's request span");
    assert.equal(parent.kind, 2);
  }
});

Deno.test("a hub's deliveries, a resumed session and a backplane's buffered and dropped messages are exported", async () => {
  const posts = await receive((endpoint) =>
    session({
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: "200",
    }, EXTRAS)
  );
  const metrics = metricsOf(posts);
  assert.deepEqual(rows(metrics.get("switchboard.hub.deliveries")), [
    { value: 2 },
  ]);
  assert.deepEqual(rows(metrics.get("switchboard.sessions.resumed")), [
    {
      "switchboard.route": "/live",
      "switchboard.transport": "websocket",
      value: 1,
    },
  ]);
  assert.equal(metrics.get("switchboard.backplane.buffered")?.kind, "gauge");
  assert.deepEqual(rows(metrics.get("switchboard.backplane.buffered")), [
    { "switchboard.backplane": "test", value: 3 },
  ]);
  assert.deepEqual(rows(metrics.get("switchboard.backplane.dropped")), [
    { "switchboard.backplane": "test", value: 2 },
  ]);
});

Deno.test("without OTEL_DENO the same session runs and nothing is exported", async () => {
  const posts = await receive((endpoint) =>
    session({ OTEL_DENO: "false", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })
  );
  assert.deepEqual(posts, []);
});

Deno.test("otel() returns one observer per option set, checks propagate, and a route observed by it works without an SDK", async () => {
  assert.equal(otel(), otel());
  assert.equal(otel({ propagate: true }), otel({ propagate: true }));
  assert.notEqual(otel(), otel({ propagate: true }));
  assert.throws(() => otel({ propagate: "yes" as unknown as boolean }), {
    name: "TypeError",
    message: "Invalid propagate: expected a boolean, got string",
  });
  await using srv = serve(route("/ws", async (socket) => {
    for await (const msg of socket) await socket.send(msg.data);
  }, { observe: otel() }));
  const ws = await open(`${srv.url}/ws`);
  ws.send("hello");
  assert.deepEqual(await within(collect(ws, 1), 5000, ["timed out"]), [
    "hello",
  ]);
  ws.close();
  await closeEvent(ws);
});
