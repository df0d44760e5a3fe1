/**
 * The bounds an RpcPeer keeps against a hostile other side (issue 22): batch
 * size and rate, calls in flight, answers waiting for a reader, answer size,
 * error reports per message, params nesting. Scaled down: the tests show the
 * bound, not the crash.
 *
 * @module
 */

import assert from "node:assert/strict";
import WS from "npm:ws@8";
import { route, type RouteOptions, Socket } from "../mod.ts";
import {
  RpcClosedError,
  RpcPeer,
  type RpcPeerOptions,
} from "../src/rpc/mod.ts";
import { delay, RawPeer, serve } from "./_helpers.ts";

const isPair = (params: unknown): boolean =>
  Array.isArray(params) && params.length === 2 &&
  params.every((n) => typeof n === "number");

/** A server whose peers serve `add`, `echo`, `count`, `big` and `hang`. */
function limitedServer(
  options: RpcPeerOptions = {},
  routeOptions: RouteOptions = {},
) {
  const calls = { count: 0, echo: 0 };
  const errors: [unknown, string | undefined][] = [];
  const peers: RpcPeer[] = [];
  const release: (() => void)[] = [];
  const srv = serve(route("/", (socket) => {
    const peer = new RpcPeer(socket, {
      methods: {
        add: { params: isPair, handler: ([a, b]: [number, number]) => a + b },
        echo: (value) => {
          calls.echo++;
          return value;
        },
        count: () => ++calls.count,
        big: ([n]: [number]) => "b".repeat(n),
        hang: (_params, { signal }) =>
          new Promise((resolve) => {
            release.push(() => resolve("released"));
            signal.addEventListener("abort", () => resolve("aborted"));
          }),
      },
      onError: (error, method) => errors.push([error, method]),
      ...options,
    } as RpcPeerOptions);
    peers.push(peer);
    return peer.closed.then(() => {});
  }, routeOptions));
  return { srv, calls, errors, peers, release };
}

/** An npm:ws client that reads raw text answers, one at a time. */
class Plain implements AsyncDisposable {
  readonly ws: WS;
  readonly inbox: string[] = [];
  #wake: (() => void) | undefined;
  readonly closed: Promise<number>;

  private constructor(ws: WS) {
    this.ws = ws;
    ws.on("message", (data: Buffer) => {
      this.inbox.push(data.toString());
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => ws.once("close", resolve));
  }

  static connect(url: string): Promise<Plain> {
    const ws = new WS(url, { maxPayload: 64 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new Plain(ws)));
      ws.once("error", reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(
      typeof message === "string" ? message : JSON.stringify(message),
    );
  }

  /** The next answer as raw text, waiting up to `ms`. */
  async nextText(ms = 5000): Promise<string> {
    const deadline = performance.now() + ms;
    while (this.inbox.length === 0) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no message within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.inbox.shift()!;
  }

  async next(ms?: number): Promise<unknown> {
    return JSON.parse(await this.nextText(ms));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== WS.CLOSED) {
      this.ws.close(1000);
      await this.closed;
    }
  }
}

const request = (method: string, params?: unknown, id?: unknown) => ({
  jsonrpc: "2.0",
  method,
  ...(params === undefined ? {} : { params }),
  ...(id === undefined ? {} : { id }),
});

/** Params nested `levels` deep: `[[...[1]...]]`. */
const nested = (levels: number): string =>
  "[".repeat(levels) + "1" + "]".repeat(levels);

/** How long an HTTP request to the server takes, in ms. */
async function probe(port: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await response.body?.cancel();
  return performance.now() - started;
}

Deno.test("a batch over maxBatchSize gets one -32600 Batch too large and runs nothing", async () => {
  const { srv, calls } = limitedServer({ maxBatchSize: 10 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  plain.send(Array.from({ length: 11 }, (_, i) => request("count", [], i)));
  assert.deepEqual(await plain.next(), {
    jsonrpc: "2.0",
    error: { code: -32600, message: "Batch too large" },
    id: null,
  });
  assert.equal(calls.count, 0);
  plain.send(Array.from({ length: 10 }, (_, i) => request("count", [], i)));
  const answers = await plain.next() as { id: number }[];
  assert.deepEqual(answers.map((a) => a.id), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(calls.count, 10);
});

Deno.test("with the default options, a batch of 2^21 entries is refused at once and HTTP keeps answering", async () => {
  const { srv, calls } = limitedServer();
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  for (const entries of [100_000, 2 ** 21]) {
    const started = performance.now();
    plain.send(`[${new Array(entries).fill("1").join(",")}]`);
    const answer = await plain.nextText(10_000);
    const elapsed = performance.now() - started;
    assert.equal(
      answer,
      '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Batch too large"},"id":null}',
    );
    // the old code built a 100 MB answer, or froze for good at 2^21
    assert.ok(elapsed < 3000, `${entries} entries took ${elapsed} ms`);
    assert.ok(await probe(srv.port) < 1000);
  }
  assert.equal(plain.inbox.length, 0);
  plain.send(request("count", [], 1));
  assert.deepEqual(await plain.next(), { jsonrpc: "2.0", result: 1, id: 1 });
  assert.equal(calls.count, 1);
});

Deno.test("batch entries count toward the route's maxMessagesPerSecond", async () => {
  const { srv, calls } = limitedServer({}, { maxMessagesPerSecond: 30 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  // 20 entries in one message fit in 30 a second
  plain.send(Array.from({ length: 20 }, (_, i) => request("count", [], i)));
  assert.equal((await plain.next() as unknown[]).length, 20);
  // 20 more in the same second do not: the socket closes, none of them runs
  plain.send(Array.from({ length: 20 }, (_, i) => request("count", [], i)));
  assert.equal(await plain.closed, 1008);
  assert.equal(calls.count, 20);
  assert.equal(plain.inbox.length, 0);
});

Deno.test("an answer over the other side's maxMessageSize is never built", async (t) => {
  const { srv, errors } = limitedServer({ maxMessageSize: 1000 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);

  await t.step(
    "one answer too large becomes -32000 Response too large",
    async () => {
      plain.send(request("echo", ["x".repeat(2000)], 1));
      const answer = await plain.nextText();
      assert.ok(answer.length <= 1000);
      const { error, id } = JSON.parse(answer);
      assert.equal(id, 1);
      assert.equal(error.code, -32000);
      assert.equal(error.message, "Response too large");
      assert.equal(errors.length, 1);
      assert.equal(errors[0]![1], "echo");
      // multi-byte text counts in UTF-8 bytes
      plain.send(request("echo", ["é".repeat(600)], 2));
      assert.equal(
        (await plain.next() as { error: { code: number } }).error.code,
        -32000,
      );
      plain.send(request("echo", ["é".repeat(400)], 3));
      assert.deepEqual(await plain.next(), {
        jsonrpc: "2.0",
        result: ["é".repeat(400)],
        id: 3,
      });
    },
  );

  await t.step(
    "a batch answer too large comes in pieces within the limit",
    async () => {
      plain.send(
        Array.from(
          { length: 30 },
          (_, i) => request("echo", ["y".repeat(300)], i),
        ),
      );
      const ids: number[] = [];
      while (ids.length < 30) {
        const text = await plain.nextText();
        assert.ok(
          new TextEncoder().encode(text).length <= 1000,
          `${text.length}`,
        );
        const part = JSON.parse(text) as { id: number; result: unknown }[];
        assert.ok(Array.isArray(part));
        for (const answer of part) {
          assert.deepEqual(answer.result, ["y".repeat(300)]);
          ids.push(answer.id);
        }
      }
      assert.deepEqual(
        ids,
        Array.from({ length: 30 }, (_, i) => i),
      );
    },
  );
});

Deno.test("the answer limit defaults to the socket's maxMessageSize", async () => {
  const { srv } = limitedServer({}, { maxMessageSize: 4096 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  plain.send(request("big", [5000], 1));
  assert.deepEqual(await plain.next(), {
    jsonrpc: "2.0",
    error: { code: -32000, message: "Response too large" },
    id: 1,
  });
  plain.send(request("big", [4000], 2));
  assert.deepEqual(await plain.next(), {
    jsonrpc: "2.0",
    result: "b".repeat(4000),
    id: 2,
  });
});

/** An answer's size on the wire, in UTF-8 bytes. */
const bytes = (text: string): number => new TextEncoder().encode(text).length;

/** The answer to a request whose id is too long to echo within the limit. */
const tooLargeNullId = {
  jsonrpc: "2.0",
  error: { code: -32000, message: "Response too large" },
  id: null,
};

/** Waits for `onError`'s one report and returns it. */
async function oneReport(
  errors: [unknown, string | undefined][],
): Promise<[Error, string | undefined]> {
  while (errors.length < 1) await delay(5);
  await delay(50); // a second report would come now
  assert.equal(errors.length, 1);
  const [error, method] = errors.shift()!;
  assert.ok(error instanceof Error);
  return [error, method];
}

Deno.test("an error answer whose id is too long to echo within maxMessageSize has id null", async (t) => {
  const { srv, errors } = limitedServer({
    maxMessageSize: 1000,
    maxConcurrentRequests: 1,
  });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  const id = "i".repeat(940);

  await t.step("Method not found", async () => {
    plain.send(request("nope", [], id));
    const answer = await plain.nextText();
    assert.ok(bytes(answer) <= 1000, `${bytes(answer)} bytes`);
    assert.deepEqual(JSON.parse(answer), tooLargeNullId);
    const [error, method] = await oneReport(errors);
    assert.equal(error.message, "Response too large");
    assert.equal(method, "nope");
    assert.match(String((error as { data?: unknown }).data), /id null/);
  });

  await t.step("Invalid Request", async () => {
    plain.send({ jsonrpc: "1.0", method: "count", id });
    const answer = await plain.nextText();
    assert.ok(bytes(answer) <= 1000, `${bytes(answer)} bytes`);
    assert.deepEqual(JSON.parse(answer), tooLargeNullId);
    assert.equal((await oneReport(errors))[0].message, "Response too large");
  });

  await t.step("Too many requests in flight", async () => {
    plain.send(request("hang", [], 1));
    plain.send(request("count", [], id));
    const answer = await plain.nextText();
    assert.ok(bytes(answer) <= 1000, `${bytes(answer)} bytes`);
    assert.deepEqual(JSON.parse(answer), tooLargeNullId);
    const [error, method] = await oneReport(errors);
    assert.equal(error.message, "Response too large");
    assert.equal(method, "count");
  });

  await t.step("Params nested too deeply, refused before parsing", async () => {
    plain.send(
      `{"jsonrpc":"2.0","method":"echo","params":${nested(2000)},"id":"${id}"}`,
    );
    const answer = await plain.nextText();
    assert.ok(bytes(answer) <= 1000, `${bytes(answer)} bytes`);
    assert.deepEqual(JSON.parse(answer), tooLargeNullId);
    const [error, method] = await oneReport(errors);
    assert.equal(error.message, "Response too large");
    assert.equal(method, undefined);
  });

  await t.step("a short id is still echoed", async () => {
    plain.send(request("nope", [], 7));
    assert.deepEqual(await plain.next(), {
      jsonrpc: "2.0",
      error: { code: -32601, message: "Method not found" },
      id: 7,
    });
    assert.equal(errors.length, 0);
  });
});

Deno.test("the Response too large answer itself stays within maxMessageSize", async () => {
  const { srv, errors } = limitedServer({ maxMessageSize: 1000 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  // a 1-byte result, but echoing the 980-character id would pass the limit
  plain.send(request("count", [], "i".repeat(980)));
  const answer = await plain.nextText();
  assert.ok(bytes(answer) <= 1000, `${bytes(answer)} bytes`);
  assert.deepEqual(JSON.parse(answer), tooLargeNullId);
  const [error, method] = await oneReport(errors);
  assert.equal(error.message, "Response too large");
  assert.equal(method, "count");
});

Deno.test("with the default limits, a request under 16 MiB never gets an answer over 16 MiB", async () => {
  const { srv, errors } = limitedServer();
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  const limit = 16 * 1024 * 1024;
  const text = JSON.stringify(request("nope", [], "i".repeat(limit - 60)));
  assert.ok(bytes(text) <= limit);
  plain.send(text);
  const answer = await plain.nextText(10_000);
  assert.ok(bytes(answer) <= limit, `${bytes(answer)} bytes`);
  assert.deepEqual(JSON.parse(answer), tooLargeNullId);
  assert.equal((await oneReport(errors))[0].message, "Response too large");
});

Deno.test("each piece of a split batch answer stays within maxMessageSize, answers with ids too long included", async () => {
  const { srv, errors } = limitedServer({ maxMessageSize: 1000 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  plain.send([
    ...Array.from(
      { length: 3 },
      (_, i) => request("nope", [], `${i}`.repeat(950)),
    ),
    request("echo", ["y".repeat(900)], 3),
    request("count", [], 4),
  ]);
  const answers: { id: unknown }[] = [];
  while (answers.length < 5) {
    const piece = await plain.nextText();
    assert.ok(bytes(piece) <= 1000, `a piece of ${bytes(piece)} bytes`);
    answers.push(...JSON.parse(piece) as { id: unknown }[]);
  }
  assert.deepEqual(answers, [
    tooLargeNullId,
    tooLargeNullId,
    tooLargeNullId,
    { jsonrpc: "2.0", result: ["y".repeat(900)], id: 3 },
    { jsonrpc: "2.0", result: 1, id: 4 },
  ]);
  const [error] = await oneReport(errors);
  assert.ok(error instanceof AggregateError);
  assert.equal(error.errors.length, 3);
});

Deno.test("past maxConcurrentRequests a request gets -32000 Too many requests in flight", async () => {
  const { srv, release, errors, calls } = limitedServer({
    maxConcurrentRequests: 5,
  });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  for (let id = 1; id <= 8; id++) plain.send(request("hang", [], id));
  plain.send(request("hang", [])); // a notification past the bound
  for (let id = 6; id <= 8; id++) {
    assert.deepEqual(await plain.next(), {
      jsonrpc: "2.0",
      error: { code: -32000, message: "Too many requests in flight" },
      id,
    });
  }
  // a method that would answer at once is refused too: no handler runs
  // past the bound
  plain.send(request("count", [], 9));
  assert.deepEqual(await plain.next(), {
    jsonrpc: "2.0",
    error: { code: -32000, message: "Too many requests in flight" },
    id: 9,
  });
  assert.equal(calls.count, 0);
  while (errors.length < 1) await delay(5);
  assert.equal((errors[0]![0] as Error).message, "Too many requests in flight");
  assert.equal(errors[0]![1], "hang");
  assert.equal(release.length, 5);
  release.shift()!();
  assert.deepEqual(await plain.next(), {
    jsonrpc: "2.0",
    result: "released",
    id: 1,
  });
  plain.send(request("hang", [], 10)); // one slot is free again
  while (release.length < 5) await delay(5);
  assert.equal(plain.inbox.length, 0);
});

Deno.test("a peer that reads nothing cannot make answers pile up", async () => {
  const highWaterMark = 16 * 1024;
  const { srv, calls, peers } = limitedServer({}, { highWaterMark });
  await using _ = srv;
  const raw = await RawPeer.connect(srv.port);
  await raw.handshake();
  const payload = "p".repeat(32 * 1024);
  const sent = 3000; // 96 MiB of answers if all were served
  let written = 0;
  try {
    for (; written < sent; written++) {
      await raw.frame(1, JSON.stringify(request("echo", [payload], written)));
    }
  } catch {
    // The server cut the connection: what waits unread in its inbox is
    // bounded too (maxQueuedMessageBytes, 64 MiB by default).
  }
  // let the server serve whatever it will
  let last = -1;
  while (calls.echo !== last) {
    last = calls.echo;
    await delay(500);
  }
  // the kernel's socket buffers take some; then the peer stops reading (once
  // the inbox's byte bound closed the connection, the requests it had taken
  // are still served, but their answers are refused at once: nothing piles up)
  if (written === sent) {
    assert.ok(
      calls.echo < sent / 2,
      `served ${calls.echo} of ${sent} requests for a peer that reads nothing`,
    );
  } else assert.notEqual(peers[0]!.socket.readyState, 1);
  assert.ok(peers[0]!.socket.bufferedAmount < 64 * 1024 * 1024);
  // the answers wait for a reader that never comes; the requests that keep
  // coming wait in the inbox until its byte bound closes the connection
  // (1013), or dropping the connection ends them (1006)
  await raw[Symbol.asyncDispose]();
  const closed = await peers[0]!.closed;
  if (written < sent) {
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /bytes waiting for the loop/);
  } else assert.equal(closed.code, 1006);
});

Deno.test("300,000 failed notifications in one message are reported once", async () => {
  const logged: unknown[][] = [];
  const { srv, errors } = limitedServer({ maxBatchSize: 300_000 });
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  const started = performance.now();
  plain.send(
    `[${
      new Array(300_000).fill('{"jsonrpc":"2.0","method":"add","params":[1]}')
        .join(",")
    }]`,
  );
  plain.send(request("count", [], 1)); // answered once the batch is done
  assert.deepEqual(await plain.next(20_000), {
    jsonrpc: "2.0",
    result: 1,
    id: 1,
  });
  assert.equal(errors.length, 1);
  const [error, method] = errors[0]!;
  assert.ok(error instanceof AggregateError);
  assert.match(error.message, /300000 errors/);
  assert.equal(error.errors.length, 10);
  assert.equal(method, "add");
  assert.ok(performance.now() - started < 15_000);

  // the default onError writes one line for it
  const original = console.error;
  console.error = (...args: unknown[]) => void logged.push(args);
  try {
    const { srv: quiet } = limitedServer({
      onError: undefined as never,
      maxBatchSize: 1000,
    });
    await using _quiet = quiet;
    await using other = await Plain.connect(quiet.url);
    other.send(
      `[${
        new Array(1000).fill('{"jsonrpc":"2.0","method":"add","params":[1]}')
          .join(",")
      }]`,
    );
    other.send(request("count", [], 1));
    await other.next();
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!.length, 1);
  assert.equal(typeof logged[0]![0], "string");
  assert.match(logged[0]![0] as string, /1000 errors/);
  assert.ok(!(logged[0]![0] as string).includes("\n"));
});

Deno.test("params nested deeper than maxDepth are refused without running the handler", async (t) => {
  const { srv, calls, errors } = limitedServer();
  await using _ = srv;
  await using plain = await Plain.connect(srv.url);
  const tooDeep = (id: unknown) => ({
    jsonrpc: "2.0",
    error: { code: -32600, message: "Params nested too deeply" },
    id,
  });

  await t.step("64 levels run, 65 do not", async () => {
    plain.send(
      `{"jsonrpc":"2.0","method":"echo","params":${nested(64)},"id":1}`,
    );
    assert.equal((await plain.next() as { id: number }).id, 1);
    assert.equal(calls.echo, 1);
    plain.send(
      `{"jsonrpc":"2.0","method":"echo","params":${nested(65)},"id":2}`,
    );
    assert.deepEqual(await plain.next(), tooDeep(2));
    plain.send(
      `{"jsonrpc":"2.0","method":"echo","params":{"a":[{"b":${
        nested(63)
      }}]},"id":"s"}`,
    );
    assert.deepEqual(await plain.next(), tooDeep("s"));
    assert.equal(calls.echo, 1);
  });

  await t.step("in a batch, each entry on its own", async () => {
    plain.send(
      `[{"jsonrpc":"2.0","method":"echo","params":${nested(65)},"id":3},` +
        `{"jsonrpc":"2.0","method":"echo","params":[1],"id":4},` +
        `{"jsonrpc":"2.0","method":"echo","params":${nested(70)}}]`,
    );
    assert.deepEqual(await plain.next(), [
      tooDeep(3),
      { jsonrpc: "2.0", result: [1], id: 4 },
    ]);
    assert.equal(calls.echo, 2);
    while (errors.length < 1) await delay(5);
    assert.equal((errors[0]![0] as Error).message, "Params nested too deeply");
  });

  await t.step(
    "5 million levels are refused cheaply, before parsing",
    async () => {
      const started = performance.now();
      plain.send(
        `{"jsonrpc":"2.0","method":"echo","params":${
          nested(5_000_000)
        },"id":7}`,
      );
      assert.deepEqual(await plain.next(10_000), tooDeep(7));
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2000, `took ${elapsed} ms`);
      plain.send(`[${nested(5_000_000)}]`);
      assert.deepEqual(await plain.next(10_000), tooDeep(null));
      // brackets inside strings do not count
      plain.send(request("echo", ["[".repeat(10_000)], 8));
      assert.deepEqual(await plain.next(), {
        jsonrpc: "2.0",
        result: ["[".repeat(10_000)],
        id: 8,
      });
      assert.ok(await probe(srv.port) < 1000);
      assert.equal(calls.echo, 3);
    },
  );
});

Deno.test("a call pending when the other side closes rejects with RpcClosedError and the close info", async () => {
  let pending: Promise<unknown> | undefined;
  const srv = serve(route("/", (socket) => {
    const peer = new RpcPeer(socket);
    pending = peer.call("ask", { question: "name?" }).catch((e) => e);
    return peer.closed.then(() => {});
  }));
  await using _ = srv;
  const client = new RpcPeer(new Socket(new WebSocket(srv.url)), {
    methods: {
      ask: () => {
        client.close(4000, "page closed");
        return new Promise(() => {});
      },
    },
  });
  await client.closed;
  while (pending === undefined) await delay(5);
  const error = await pending as RpcClosedError;
  assert.ok(error instanceof RpcClosedError);
  assert.equal(error.name, "RpcClosedError");
  assert.equal(error.method, "ask");
  assert.equal(error.code, 4000);
  assert.equal(error.reason, "page closed");
  assert.equal(error.wasClean, true);
});

Deno.test("the new limits are checked when the peer is made", async () => {
  const target = new EventTarget() as WebSocket;
  Object.assign(target, {
    readyState: 1,
    protocol: "",
    binaryType: "blob",
    bufferedAmount: 0,
    send: () => {},
    close() {},
  });
  const socket = new Socket(target);
  for (
    const name of [
      "maxBatchSize",
      "maxConcurrentRequests",
      "maxDepth",
      "maxMessageSize",
    ]
  ) {
    for (
      const [value, type] of [[0, RangeError], [1.5, RangeError], [
        "1",
        TypeError,
      ]] as const
    ) {
      assert.throws(
        () => new RpcPeer(socket, { [name]: value }),
        (error: Error) =>
          error instanceof type && error.message.startsWith(`Invalid ${name}:`),
        `${name}: ${value}`,
      );
    }
  }
  const peer = new RpcPeer(socket);
  target.dispatchEvent(new CloseEvent("close", { code: 1000, wasClean: true }));
  await peer.closed;
});
