import assert from "node:assert/strict";
import WS, { WebSocketServer } from "npm:ws@8";
import { route, Socket } from "../mod.ts";
import {
  RpcClosedError,
  RpcError,
  RpcErrorCode,
  RpcPeer,
  type RpcPeerOptions,
  RpcTimeoutError,
  type StandardSchemaLike,
} from "../src/rpc/mod.ts";
import { delay, serve } from "./_helpers.ts";
import { startExample } from "./_example_process.ts";
import type { PageApi, ServerApi as ExampleApi } from "../examples/rpc.ts";

type ServerApi = {
  add(params: [a: number, b: number]): number;
  greet(params: { name: string }): string;
  time(): number;
  echo(params: [value: unknown, wait?: number]): unknown;
  sleep(params: [ms: number]): string;
  hang(): never;
  callBack(params: [n: number]): number;
};

type ClientApi = {
  triple(params: [n: number]): number;
  ask(params: { question: string }): Promise<string>;
  log(params: [line: string]): void;
};

const isPair = (params: unknown): boolean =>
  Array.isArray(params) && params.length === 2 &&
  params.every((n) => typeof n === "number");

/** A Standard Schema written by hand, as Zod or Valibot would provide one. */
const nameSchema: StandardSchemaLike<{ name: string }> = {
  "~standard": {
    validate(value) {
      const name = (value as { name?: unknown } | null)?.name;
      return typeof name === "string" && name.length > 0
        ? { value: { name } }
        : { issues: [{ message: "name must be a non-empty string" }] };
    },
  },
};

/**
 * A server whose connections each get an RpcPeer<ServerApi, ClientApi>; the
 * peers are kept in `peers` as they come.
 */
function rpcServer(options: Partial<RpcPeerOptions<ServerApi>> = {}) {
  const peers: RpcPeer<ServerApi, ClientApi>[] = [];
  const errors: [unknown, string | undefined][] = [];
  const hung: AbortSignal[] = [];
  const srv = serve(route("/", (socket) => {
    const peer: RpcPeer<ServerApi, ClientApi> = new RpcPeer<
      ServerApi,
      ClientApi
    >(socket, {
      methods: {
        add: { params: isPair, handler: ([a, b]) => a + b },
        greet: { params: nameSchema, handler: ({ name }) => `Hello, ${name}` },
        time: () => Date.now(),
        echo: async ([value, wait = 0]) => {
          if (wait > 0) await delay(wait);
          return value;
        },
        sleep: async ([ms]) => {
          await delay(ms);
          return "awake";
        },
        hang: (_params, { signal }) =>
          new Promise<never>((_, reject) => {
            hung.push(signal);
            signal.addEventListener("abort", () => reject(signal.reason));
          }),
        callBack: async ([n]) => await peer.call("triple", [n]) + 1,
      },
      onError: (error, method) => errors.push([error, method]),
      ...options,
    });
    peers.push(peer);
  }));
  return { srv, peers, errors, hung };
}

/** A Switchboard client peer; `await using` closes it. */
function rpcClient(
  url: string,
  options: RpcPeerOptions<ClientApi> = {},
): RpcPeer<ClientApi, ServerApi> {
  return new RpcPeer<ClientApi, ServerApi>(new Socket(new WebSocket(url)), {
    methods: {
      triple: ([n]) => n * 3,
      ask: ({ question }) => Promise.resolve(`you asked: ${question}`),
      log: () => {},
    },
    ...options,
  });
}

/**
 * An independent JSON-RPC peer: plain JSON over `npm:ws`, no Switchboard code.
 * It reads messages in order and can check that none came.
 */
class PlainPeer implements AsyncDisposable {
  readonly ws: WS;
  #inbox: string[] = [];
  #waiting: ((text: string) => void) | undefined;

  private constructor(ws: WS) {
    this.ws = ws;
    ws.on("message", (data: Buffer) => {
      const text = data.toString();
      if (this.#waiting) {
        const waiting = this.#waiting;
        this.#waiting = undefined;
        waiting(text);
      } else this.#inbox.push(text);
    });
  }

  static connect(url: string): Promise<PlainPeer> {
    const ws = new WS(url);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new PlainPeer(ws)));
      ws.once("error", reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(
      typeof message === "string" ? message : JSON.stringify(message),
    );
  }

  /** The next message, parsed. */
  next(): Promise<unknown> {
    const text = this.#inbox.shift();
    if (text !== undefined) return Promise.resolve(JSON.parse(text));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("no message within 5 s")),
        5000,
      );
      this.#waiting = (text) => {
        clearTimeout(timer);
        resolve(JSON.parse(text));
      };
    });
  }

  /** Sends `message` and returns the next message. */
  async ask(message: unknown): Promise<unknown> {
    this.send(message);
    return await this.next();
  }

  get open(): boolean {
    return this.ws.readyState === WS.OPEN;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState === WS.CLOSED) return;
    const closed = new Promise((resolve) => this.ws.once("close", resolve));
    this.ws.close(1000);
    await closed;
  }
}

const request = (method: string, params?: unknown, id: unknown = 1) => ({
  jsonrpc: "2.0",
  method,
  ...(params === undefined ? {} : { params }),
  id,
});

const errorAnswer = (id: unknown, code: number) => ({
  jsonrpc: "2.0",
  error: { code },
  id,
});

/** Drops an error answer's message and data, to compare codes and ids. */
function codeOf(answer: unknown): unknown {
  const { jsonrpc, error, id } = answer as {
    jsonrpc: string;
    error?: { code: number; message: unknown };
    id: unknown;
  };
  assert.equal(typeof error?.message, "string", JSON.stringify(answer));
  return { jsonrpc, error: { code: error?.code }, id };
}

Deno.test("a call gets its result, with positional, named and no params", async () => {
  const { srv, peers } = rpcServer();
  await using _ = srv;
  await using client = rpcClient(srv.url);
  assert.equal(await client.call("add", [1, 2]), 3);
  assert.equal(await client.call("greet", { name: "Ada" }), "Hello, Ada");
  assert.equal(typeof await client.call("time"), "number");
  assert.deepEqual(await client.call("echo", [{ a: [1, "x", null] }]), {
    a: [1, "x", null],
  });
  assert.equal(await client.call("echo", [undefined]), null);
  await client.close();
  await client.closed;
  assert.equal((await peers[0]!.closed).code, 1000);
});

Deno.test("both sides call each other at the same time", async () => {
  // 400 handlers at once: above the default bound of 100
  const { srv, peers } = rpcServer({ maxConcurrentRequests: 1000 });
  await using _ = srv;
  await using client = rpcClient(srv.url);
  assert.equal(await client.call("add", [0, 0]), 0);
  const server = peers[0]!;
  const n = 200;
  const fromClient = Array.from(
    { length: n },
    (_, i) => client.call("echo", [i, i % 7]),
  );
  const fromServer = Array.from(
    { length: n },
    (_, i) => server.call("triple", [i]),
  );
  // a call that calls back: the server asks the client before it answers
  const nested = Array.from(
    { length: n },
    (_, i) => client.call("callBack", [i]),
  );
  const asked = server.call("ask", { question: "ready?" });
  assert.deepEqual(
    await Promise.all(fromClient),
    Array.from({ length: n }, (_, i) => i),
  );
  assert.deepEqual(
    await Promise.all(fromServer),
    Array.from({ length: n }, (_, i) => i * 3),
  );
  assert.deepEqual(
    await Promise.all(nested),
    Array.from({ length: n }, (_, i) => i * 3 + 1),
  );
  assert.equal(await asked, "you asked: ready?");
});

Deno.test("1,000 concurrent calls are answered out of order and matched by id", async () => {
  const { srv } = rpcServer({ maxConcurrentRequests: 1000 });
  await using _ = srv;
  await using client = rpcClient(srv.url);
  const n = 1000;
  // random delays make the answers come back in another order than asked
  const results = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        client.call("echo", [`call ${i}`, Math.floor(Math.random() * 30)]),
    ),
  );
  assert.deepEqual(results, Array.from({ length: n }, (_, i) => `call ${i}`));
});

Deno.test("every standard error, checked by a peer written with npm:ws", async (t) => {
  const { srv, errors } = rpcServer({
    methods: {
      add: { params: isPair, handler: ([a, b]) => a + b },
      greet: { params: nameSchema, handler: ({ name }) => `Hello, ${name}` },
      time: () => 1n as unknown as number, // not JSON
      echo: ([value]) => value,
      sleep: () => {
        throw RpcError.invalidParams("ms must be positive", { got: -1 });
      },
      hang: () => {
        throw new Error("secret internal detail");
      },
      callBack: () => Promise.reject(new TypeError("async failure")),
    },
  });
  await using _ = srv;
  await using plain = await PlainPeer.connect(srv.url);

  await t.step("-32700 for text that is not JSON, with id null", async () => {
    assert.deepEqual(
      codeOf(await plain.ask("not json")),
      errorAnswer(null, -32700),
    );
    assert.deepEqual(
      codeOf(await plain.ask('{"jsonrpc":"2.0","method":"add","params":[1,2]')),
      errorAnswer(null, -32700),
    );
    assert.deepEqual(codeOf(await plain.ask("")), errorAnswer(null, -32700));
  });

  await t.step("-32600 for JSON that is not a request", async () => {
    const cases: [unknown, unknown][] = [
      [42, null],
      ['"a string"', null],
      [null, null],
      [{ jsonrpc: "1.0", method: "add", params: [1, 2], id: 1 }, 1],
      [{ method: "add", params: [1, 2], id: 2 }, 2],
      [{ jsonrpc: "2.0", method: 1, params: "bar", id: 3 }, 3],
      [{ jsonrpc: "2.0", method: "add", params: "bar", id: 4 }, 4],
      [{ jsonrpc: "2.0", method: "add", params: null, id: 5 }, 5],
      [{ jsonrpc: "2.0", method: "add", params: [1, 2], id: { a: 1 } }, null],
      [{ jsonrpc: "2.0", method: "add", params: [1, 2], id: true }, null],
      [{ jsonrpc: "2.0", id: 6 }, 6],
      [{ jsonrpc: "2.0", method: 1 }, null],
    ];
    for (const [message, id] of cases) {
      const text = typeof message === "string"
        ? message
        : JSON.stringify(message);
      assert.deepEqual(
        codeOf(await plain.ask(text)),
        errorAnswer(id, -32600),
        `for ${text}`,
      );
    }
  });

  await t.step(
    "-32601 for a method not served, even Object.prototype's",
    async () => {
      for (
        const method of [
          "nope",
          "toString",
          "__proto__",
          "constructor",
          "hasOwnProperty",
        ]
      ) {
        assert.deepEqual(
          codeOf(await plain.ask(request(method, [], 7))),
          errorAnswer(7, -32601),
          method,
        );
      }
    },
  );

  await t.step("-32602 from a type guard, a schema, and a throw", async () => {
    assert.deepEqual(
      codeOf(await plain.ask(request("add", [1, "2"], 8))),
      errorAnswer(8, -32602),
    );
    assert.deepEqual(
      codeOf(await plain.ask(request("add", { a: 1, b: 2 }, 8))),
      errorAnswer(8, -32602),
    );
    assert.deepEqual(
      codeOf(await plain.ask(request("add", undefined, 8))),
      errorAnswer(8, -32602),
    );
    const schema = await plain.ask(request("greet", { name: 5 }, 9));
    assert.deepEqual(schema, {
      jsonrpc: "2.0",
      error: {
        code: -32602,
        message: "Invalid params: name must be a non-empty string",
        data: [{ message: "name must be a non-empty string" }],
      },
      id: 9,
    });
    assert.deepEqual(await plain.ask(request("sleep", [-1], 10)), {
      jsonrpc: "2.0",
      error: {
        code: -32602,
        message: "ms must be positive",
        data: { got: -1 },
      },
      id: 10,
    });
  });

  await t.step(
    "-32603 when a method throws, without leaking the message",
    async () => {
      assert.deepEqual(await plain.ask(request("hang", undefined, 11)), {
        jsonrpc: "2.0",
        error: { code: -32603, message: "Internal error" },
        id: 11,
      });
      assert.deepEqual(
        codeOf(await plain.ask(request("callBack", [1], 12))),
        errorAnswer(12, -32603),
      );
      assert.deepEqual(
        errors.map(([error, method]) => [(error as Error).message, method]),
        [["secret internal detail", "hang"], ["async failure", "callBack"]],
      );
    },
  );

  await t.step("-32603 for a result that cannot be JSON", async () => {
    assert.deepEqual(
      codeOf(await plain.ask(request("time", undefined, 13))),
      errorAnswer(13, -32603),
    );
    assert.equal(errors.length, 3);
    assert.ok(errors[2]![0] instanceof TypeError);
  });

  await t.step("ids come back as sent: strings, numbers and null", async () => {
    for (const id of ["abc", 0, -5, 1.5, null]) {
      assert.deepEqual(await plain.ask(request("add", [2, 3], id)), {
        jsonrpc: "2.0",
        result: 5,
        id,
      });
    }
  });

  await t.step("notifications get no answer, not even an error", async () => {
    plain.send({ jsonrpc: "2.0", method: "add", params: [1, 2] });
    plain.send({ jsonrpc: "2.0", method: "nope" });
    plain.send({ jsonrpc: "2.0", method: "add", params: "wrong type" });
    plain.send({ jsonrpc: "2.0", method: "hang" });
    plain.send({ jsonrpc: "2.0", result: 1, id: 99 });
    plain.send({ jsonrpc: "2.0", error: { code: 1, message: "x" }, id: 98 });
    // the third one is not a valid request object, so it is answered
    assert.deepEqual(codeOf(await plain.next()), errorAnswer(null, -32600));
    assert.deepEqual(await plain.ask(request("add", [4, 4], 14)), {
      jsonrpc: "2.0",
      result: 8,
      id: 14,
    });
    assert.equal(errors.length, 4);
    assert.equal(errors[3]![1], "hang");
  });

  await t.step("the connection stayed up through all of it", async () => {
    assert.ok(plain.open);
    assert.deepEqual(await plain.ask(request("add", [20, 22], 15)), {
      jsonrpc: "2.0",
      result: 42,
      id: 15,
    });
  });
});

Deno.test("batches, as the spec's examples have them (npm:ws peer)", async (t) => {
  type Spec = {
    sum(params: number[]): number;
    subtract(params: [number, number]): number;
    notify_hello(params: [number]): void;
    notify_sum(params: number[]): void;
    get_data(): [string, number];
  };
  const notified: string[] = [];
  const srv = serve(route("/", (socket) => {
    new RpcPeer<Spec>(socket, {
      methods: {
        sum: async (numbers) => {
          await delay(numbers.length);
          return numbers.reduce((a, b) => a + b, 0);
        },
        subtract: ([a, b]) => a - b,
        notify_hello: ([n]) => void notified.push(`hello ${n}`),
        notify_sum: (numbers) => void notified.push(`sum ${numbers}`),
        get_data: () => ["hello", 5],
      },
    });
  }));
  await using _ = srv;
  await using plain = await PlainPeer.connect(srv.url);

  await t.step(
    "a mixed batch gets one array with an answer per request",
    async () => {
      const answers = await plain.ask([
        { jsonrpc: "2.0", method: "sum", params: [1, 2, 4], id: "1" },
        { jsonrpc: "2.0", method: "notify_hello", params: [7] },
        { jsonrpc: "2.0", method: "subtract", params: [42, 23], id: "2" },
        { foo: "boo" },
        {
          jsonrpc: "2.0",
          method: "foo.get",
          params: { name: "myself" },
          id: "5",
        },
        { jsonrpc: "2.0", method: "get_data", id: "9" },
      ]) as { id: unknown }[];
      assert.ok(Array.isArray(answers));
      assert.equal(answers.length, 5);
      const byId = (id: unknown) => answers.find((answer) => answer.id === id);
      assert.deepEqual(byId("1"), { jsonrpc: "2.0", result: 7, id: "1" });
      assert.deepEqual(byId("2"), { jsonrpc: "2.0", result: 19, id: "2" });
      assert.deepEqual(codeOf(byId(null)), errorAnswer(null, -32600));
      assert.deepEqual(codeOf(byId("5")), errorAnswer("5", -32601));
      assert.deepEqual(byId("9"), {
        jsonrpc: "2.0",
        result: ["hello", 5],
        id: "9",
      });
      assert.deepEqual(notified, ["hello 7"]);
    },
  );

  await t.step(
    "an empty batch gets a single -32600, not an array",
    async () => {
      assert.deepEqual(
        codeOf(await plain.ask("[]")),
        errorAnswer(null, -32600),
      );
    },
  );

  await t.step("a batch of non-requests gets one -32600 each", async () => {
    assert.deepEqual(
      (await plain.ask("[1]") as unknown[]).map(codeOf),
      [errorAnswer(null, -32600)],
    );
    assert.deepEqual(
      (await plain.ask("[1,2,3]") as unknown[]).map(codeOf),
      [1, 2, 3].map(() => errorAnswer(null, -32600)),
    );
  });

  await t.step("a batch of notifications gets no answer at all", async () => {
    plain.send([
      { jsonrpc: "2.0", method: "notify_sum", params: [1, 2, 4] },
      { jsonrpc: "2.0", method: "notify_hello", params: [7] },
    ]);
    assert.deepEqual(
      await plain.ask({
        jsonrpc: "2.0",
        method: "subtract",
        params: [5, 3],
        id: 1,
      }),
      { jsonrpc: "2.0", result: 2, id: 1 },
    );
    assert.deepEqual(notified, ["hello 7", "sum 1,2,4", "hello 7"]);
  });

  await t.step(
    "a batch that is not valid JSON gets a single -32700",
    async () => {
      assert.deepEqual(
        codeOf(
          await plain.ask(
            '[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method"]',
          ),
        ),
        errorAnswer(null, -32700),
      );
    },
  );
});

/**
 * An independent JSON-RPC server on `npm:ws`, for the calling side: it
 * answers as a test tells it to and records what it got.
 */
function plainServer(
  answer: (message: Record<string, unknown>, ws: WS) => unknown,
) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  const received: unknown[] = [];
  const sockets: WS[] = [];
  wss.on("connection", (ws: WS) => {
    sockets.push(ws);
    ws.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString());
      received.push(message);
      const reply = Array.isArray(message)
        ? message.map((item) => answer(item, ws)).filter((r) => r !== undefined)
        : answer(message, ws);
      if (
        reply !== undefined && !(Array.isArray(reply) && reply.length === 0)
      ) {
        ws.send(JSON.stringify(reply));
      }
    });
  });
  const listening = new Promise<void>((resolve) =>
    wss.once("listening", resolve)
  );
  return {
    wss,
    received,
    sockets,
    async url() {
      await listening;
      return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    },
    async [Symbol.asyncDispose]() {
      for (const ws of sockets) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

Deno.test("a Switchboard caller against a server written with npm:ws", async (t) => {
  const late: [WS, unknown][] = [];
  await using server = plainServer((message, ws) => {
    const { method, params, id } = message as {
      method?: string;
      params: number[];
      id?: number;
    };
    if (method === undefined) return undefined; // an answer to our call
    if (id === undefined) return undefined; // a notification
    switch (method) {
      case "add":
        return { jsonrpc: "2.0", result: params[0]! + params[1]!, id };
      case "fail":
        return {
          jsonrpc: "2.0",
          error: {
            code: 1001,
            message: "Insufficient funds",
            data: { balance: 3 },
          },
          id,
        };
      case "malformed":
        return { jsonrpc: "2.0", error: "oops", id };
      case "late":
        late.push([ws, id]);
        return undefined;
      default:
        return {
          jsonrpc: "2.0",
          error: { code: -32601, message: "Method not found" },
          id,
        };
    }
  });
  type PlainApi = {
    add(params: [number, number]): number;
    fail(): never;
    malformed(): never;
    late(): string;
    missing(): never;
    log(params: [string]): void;
  };
  const errors: unknown[] = [];
  await using peer = new RpcPeer<{ hello(params: [string]): string }, PlainApi>(
    new Socket(new WebSocket(await server.url())),
    {
      methods: { hello: ([name]) => `hello ${name}` },
      onError: (error) => errors.push(error),
    },
  );

  await t.step("results and errors, with code, message and data", async () => {
    assert.equal(await peer.call("add", [2, 3]), 5);
    const failed = await peer.call("fail").catch((e) => e);
    assert.ok(failed instanceof RpcError);
    assert.equal(failed.code, 1001);
    assert.equal(failed.message, "Insufficient funds");
    assert.deepEqual(failed.data, { balance: 3 });
    const missing = await peer.call("missing").catch((e) => e);
    assert.ok(missing instanceof RpcError);
    assert.equal(missing.code, RpcErrorCode.MethodNotFound);
    const malformed = await peer.call("malformed").catch((e) => e);
    assert.ok(malformed instanceof RpcError);
    assert.equal(malformed.code, RpcErrorCode.InternalError);
    assert.equal(malformed.data, "oops");
  });

  await t.step("the request on the wire is plain JSON-RPC 2.0", async () => {
    server.received.length = 0;
    await peer.call("add", [1, 1]);
    await peer.notify("log", ["hi"]);
    await delay(50);
    assert.deepEqual(server.received, [
      { jsonrpc: "2.0", method: "add", params: [1, 1], id: 5 },
      { jsonrpc: "2.0", method: "log", params: ["hi"] },
    ]);
  });

  await t.step(
    "a batch goes out as one message; each call settles alone",
    async () => {
      server.received.length = 0;
      const [sum, failed, other] = peer.batch((batch) => [
        batch.call("add", [1, 2]),
        batch.call("fail").catch((e: RpcError) => e.code),
        batch.call("add", [3, 4]),
        batch.notify("log", ["batched"]),
      ]);
      assert.deepEqual(await Promise.all([sum, failed, other]), [3, 1001, 7]);
      assert.equal(server.received.length, 1);
      assert.deepEqual(
        (server.received[0] as { method: string }[]).map((m) => m.method),
        ["add", "fail", "add", "log"],
      );
    },
  );

  await t.step(
    "a timed-out call rejects and its late answer is ignored",
    async () => {
      const started = performance.now();
      const timedOut = await peer.call("late", undefined, { timeout: 50 })
        .catch((e) => e);
      assert.ok(timedOut instanceof RpcTimeoutError);
      assert.equal(timedOut.method, "late");
      assert.equal(timedOut.timeout, 50);
      assert.match(timedOut.message, /"late" timed out after 50 ms/);
      assert.ok(performance.now() - started >= 45);
      const [ws, id] = late.pop()!;
      ws.send(JSON.stringify({ jsonrpc: "2.0", result: "too late", id }));
      assert.equal(await peer.call("add", [1, 1]), 2);
      assert.deepEqual(errors, []);
    },
  );

  await t.step("an aborted call rejects with the signal's reason", async () => {
    const before = AbortSignal.abort(new Error("never mind"));
    server.received.length = 0;
    await assert.rejects(peer.call("add", [1, 2], { signal: before }), {
      message: "never mind",
    });
    const controller = new AbortController();
    const pending = peer.call("late", undefined, { signal: controller.signal });
    await delay(20);
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    // only the second call went out; its late answer is ignored
    assert.deepEqual(
      server.received.map((m) => (m as { method: string }).method),
      [
        "late",
      ],
    );
    const [ws, id] = late.pop()!;
    ws.send(JSON.stringify({ jsonrpc: "2.0", result: "too late", id }));
    assert.equal(await peer.call("add", [2, 2]), 4);
  });

  await t.step("an error without an id goes to onError", async () => {
    server.sockets[0]!.send(
      JSON.stringify({
        jsonrpc: "2.0",
        error: { code: -32700, message: "Parse error" },
        id: null,
      }),
    );
    await peer.call("add", [0, 0]);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof RpcError);
    assert.equal((errors[0] as RpcError).code, -32700);
  });

  await t.step(
    "the server calls the Switchboard side, which answers",
    async () => {
      const ws = server.sockets[0]!;
      const answers: unknown[] = [];
      const got = new Promise<void>((resolve) => {
        const listen = (data: Buffer) => {
          answers.push(JSON.parse(data.toString()));
          if (answers.length === 3) {
            ws.off("message", listen);
            resolve();
          }
        };
        ws.on("message", listen);
      });
      ws.send(JSON.stringify(request("hello", ["ws"], 41)));
      ws.send(JSON.stringify(request("absent", [], 42)));
      ws.send("{oops");
      await got;
      assert.deepEqual(answers[0], {
        jsonrpc: "2.0",
        result: "hello ws",
        id: 41,
      });
      assert.deepEqual(codeOf(answers[1]), errorAnswer(42, -32601));
      assert.deepEqual(codeOf(answers[2]), errorAnswer(null, -32700));
    },
  );
});

Deno.test("a call uses the peer's default timeout unless it sets its own", async () => {
  const { srv } = rpcServer();
  await using _ = srv;
  await using client = rpcClient(srv.url, { timeout: 40 });
  await assert.rejects(client.call("sleep", [200]), RpcTimeoutError);
  assert.equal(await client.call("sleep", [100], { timeout: 1000 }), "awake");
  assert.equal(await client.call("sleep", [60], { timeout: 0 }), "awake");
  await delay(200); // the first call's late answer arrives and is ignored
  assert.equal(await client.call("add", [1, 2]), 3);
});

Deno.test("calls pending when the socket closes reject with the close code", async () => {
  const { srv, peers, hung } = rpcServer();
  await using _ = srv;
  await using client = rpcClient(srv.url);
  assert.equal(await client.call("add", [1, 1]), 2);
  const pending = [
    client.call("hang"),
    client.call("hang"),
    client.call("sleep", [5000]),
  ];
  while (hung.length < 2) await delay(5);
  peers[0]!.close(4001, "bye now");
  for (const call of pending) {
    const error = await call.catch((e) => e);
    assert.ok(error instanceof RpcClosedError, String(error));
    assert.equal(error.code, 4001);
    assert.equal(error.reason, "bye now");
    assert.match(error.message, /socket closed with code 4001 \(bye now\)/);
  }
  assert.equal((await client.closed).code, 4001);
  // a call after the close rejects at once, naming the code
  await assert.rejects(client.call("add", [1, 1]), {
    name: "RpcClosedError",
    code: 4001,
  });
  await assert.rejects(client.notify("time"), { name: "SocketClosedError" });
  await peers[0]!.closed;
  // the server's handlers learnt through their signal
  assert.ok(hung.every((signal) => signal.aborted));
});

Deno.test("a client that goes away rejects the server's pending calls with 1006", async () => {
  const { srv, peers } = rpcServer();
  await using _ = srv;
  const plain = await PlainPeer.connect(srv.url);
  assert.deepEqual(await plain.ask(request("add", [1, 2])), {
    jsonrpc: "2.0",
    result: 3,
    id: 1,
  });
  const server = peers[0]!;
  const asked = server.call("ask", { question: "still there?" });
  const received = await plain.next();
  assert.deepEqual(received, {
    jsonrpc: "2.0",
    method: "ask",
    params: { question: "still there?" },
    id: 1,
  });
  plain.ws.terminate();
  const error = await asked.catch((e) => e);
  assert.ok(error instanceof RpcClosedError);
  assert.equal(error.code, 1006);
  assert.match(
    error.message,
    /^Call to "ask" failed: the socket closed with code 1006/,
  );
});

Deno.test("RPC runs beside other traffic with a filter", async () => {
  const others: string[] = [];
  const srv = serve(route("/", (socket) => {
    new RpcPeer<{ upper(params: [string]): string }>(socket, {
      methods: { upper: ([text]) => text.toUpperCase() },
      filter: (msg) => msg.type === "text" && msg.data.startsWith("{"),
      onOther: async (msg) => {
        others.push(
          msg.type === "text" ? msg.data : `${msg.data.length} bytes`,
        );
        await socket.send(JSON.stringify({ other: others.length }));
      },
    });
  }));
  await using _ = srv;
  await using plain = await PlainPeer.connect(srv.url);
  plain.send("hello, not RPC");
  plain.ws.send(new Uint8Array([1, 2, 3]));
  assert.deepEqual([await plain.next(), await plain.next()], [
    { other: 1 },
    { other: 2 },
  ]);
  assert.deepEqual(await plain.ask(request("upper", ["abc"], 3)), {
    jsonrpc: "2.0",
    result: "ABC",
    id: 3,
  });
  assert.deepEqual(others, ["hello, not RPC", "3 bytes"]);
});

Deno.test("without a filter, binary messages are read as UTF-8 JSON-RPC", async () => {
  const { srv } = rpcServer();
  await using _ = srv;
  await using plain = await PlainPeer.connect(srv.url);
  plain.ws.send(
    new TextEncoder().encode(JSON.stringify(request("add", [5, 6]))),
  );
  assert.deepEqual(await plain.next(), { jsonrpc: "2.0", result: 11, id: 1 });
  plain.ws.send(new Uint8Array([0xff, 0xfe]));
  assert.deepEqual(codeOf(await plain.next()), errorAnswer(null, -32700));
});

/** A WebSocket stand-in that never touches the network. */
function fakeSocket(): { socket: Socket; sent: string[]; end(): void } {
  const target = new EventTarget() as WebSocket;
  const sent: string[] = [];
  Object.assign(target, {
    readyState: 1,
    protocol: "",
    binaryType: "blob",
    bufferedAmount: 0,
    send: (data: string) => sent.push(data),
    close() {},
  });
  return {
    socket: new Socket(target),
    sent,
    end: () =>
      target.dispatchEvent(
        new CloseEvent("close", { code: 1000, wasClean: true }),
      ),
  };
}

Deno.test("the constructor checks its arguments", async () => {
  const { socket, end } = fakeSocket();
  const bad: [
    unknown,
    ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor,
    RegExp,
  ][] = [
    [{ methods: { add: 1 } }, TypeError, /method "add": expected a function/],
    [{ methods: { add: { params: isPair } } }, TypeError, /method "add"/],
    [
      { methods: { add: { params: 1, handler: () => 1 } } },
      TypeError,
      /method "add"/,
    ],
    [{ methods: { "rpc.discover": () => 1 } }, TypeError, /reserved/],
    [{ methods: null }, TypeError, /methods/],
    [{ timeout: -1 }, RangeError, /timeout/],
    [{ timeout: Infinity }, RangeError, /timeout/],
    [{ timeout: 2 ** 31 }, RangeError, /timeout/],
    [{ timeout: "1" }, TypeError, /timeout/],
    [{ filter: true }, TypeError, /filter/],
    [{ onOther: {} }, TypeError, /onOther/],
    [{ onError: 1 }, TypeError, /onError/],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(
      () => new RpcPeer(socket, options as RpcPeerOptions),
      (error: Error) => error instanceof type && message.test(error.message),
      JSON.stringify(options),
    );
  }
  const peer = new RpcPeer(socket);
  assert.throws(() => new RpcPeer(socket), TypeError); // one reader per socket
  assert.equal(peer.socket, socket);
  end();
  assert.equal((await peer.closed).code, 1000);
});

Deno.test("call() rejects bad params and options without sending anything", async () => {
  const { socket, sent, end } = fakeSocket();
  const peer = new RpcPeer(socket);
  await assert.rejects(peer.call("x", [1n]), TypeError);
  await assert.rejects(
    peer.call("x", 5 as never),
    /expected an array or an object/,
  );
  await assert.rejects(peer.call("x", [], { timeout: -5 }), RangeError);
  await assert.rejects(
    peer.call("x", [], { signal: "no" as never }),
    TypeError,
  );
  await assert.rejects(peer.notify("x", { a: 1n }), TypeError);
  assert.throws(
    () => peer.batch((b) => b.call("x", [], { timeout: NaN })),
    RangeError,
  );
  assert.deepEqual(sent, []);
  const batchOfOne = peer.batch((b) => b.call("x", [1]));
  assert.equal(sent.length, 1);
  assert.deepEqual(JSON.parse(sent[0]!), [
    {
      jsonrpc: "2.0",
      method: "x",
      params: [1],
      id: JSON.parse(sent[0]!)[0].id,
    },
  ]);
  end();
  await assert.rejects(batchOfOne, RpcClosedError);
  await peer.closed;
});

Deno.test("RpcError: codes, the invalidParams shortcut and the wire form", () => {
  assert.deepEqual(RpcErrorCode, {
    ParseError: -32700,
    InvalidRequest: -32600,
    MethodNotFound: -32601,
    InvalidParams: -32602,
    InternalError: -32603,
  });
  const app = new RpcError(1001, "Insufficient funds", {
    data: { balance: 3 },
    cause: new Error("db"),
  });
  assert.equal(app.name, "RpcError");
  assert.ok(app.cause instanceof Error);
  assert.deepEqual(JSON.parse(JSON.stringify(app)), {
    code: 1001,
    message: "Insufficient funds",
    data: { balance: 3 },
  });
  assert.deepEqual(RpcError.invalidParams().toJSON(), {
    code: -32602,
    message: "Invalid params",
  });
  assert.throws(() => new RpcError(1.5, "x"), RangeError);
  assert.throws(() => new RpcError("1" as never, "x"), TypeError);
  assert.throws(() => new RpcError(1, 2 as never), TypeError);
});

Deno.test("an async Standard Schema checks params too", async () => {
  const asyncPair: StandardSchemaLike<[number, number]> = {
    "~standard": {
      validate: async (value) => {
        await delay(1);
        return isPair(value)
          ? { value: (value as number[]).map(Number) as [number, number] }
          : { issues: [{ message: "two numbers" }] };
      },
    },
  };
  const srv = serve(route("/", (socket) => {
    new RpcPeer<{ add(params: [number, number]): number }>(socket, {
      methods: { add: { params: asyncPair, handler: ([a, b]) => a + b } },
    });
  }));
  await using _ = srv;
  await using plain = await PlainPeer.connect(srv.url);
  assert.deepEqual(await plain.ask(request("add", [1, 2])), {
    jsonrpc: "2.0",
    result: 3,
    id: 1,
  });
  assert.deepEqual(
    codeOf(await plain.ask(request("add", [1]))),
    errorAnswer(1, -32602),
  );
});

// Compiled by `deno check` and `deno test`, never run: the method maps are
// checked at compile time.
function _typeChecks(
  peer: RpcPeer<ClientApi, ServerApi>,
  untyped: RpcPeer,
): void {
  const sum: Promise<number> = peer.call("add", [1, 2]);
  const greeting: Promise<string> = peer.call("greet", { name: "Ada" });
  const time: Promise<number> = peer.call("time", undefined, { timeout: 1 });
  void peer.call("echo", ["only the value"]);
  void peer.notify("time");
  // @ts-expect-error: notifications take params only, no options
  void peer.notify("add", [1, 2], {});
  // @ts-expect-error: no such method
  void peer.call("nope");
  // @ts-expect-error: the params have the wrong type
  void peer.call("add", [1, "2"]);
  // @ts-expect-error: the params are missing
  void peer.call("add");
  // @ts-expect-error: the method takes no params
  void peer.call("time", [1]);
  // @ts-expect-error: the result is a number
  const wrong: Promise<string> = peer.call("add", [1, 2]);
  // @ts-expect-error: a method of this side, not of the other
  void peer.call("triple", [1]);
  const batched: [Promise<number>, Promise<string>] = peer.batch((b) => [
    b.call("add", [1, 2]),
    b.call("greet", { name: "x" }),
  ]);
  const anything: Promise<unknown> = untyped.call("whatever", { any: 1 });
  new RpcPeer<ClientApi, ServerApi>(peer.socket, {
    // @ts-expect-error: "ask" and "log" are not implemented
    methods: { triple: ([n]) => n * 3 },
  });
  new RpcPeer<ClientApi, ServerApi>(peer.socket, {
    methods: {
      // @ts-expect-error: triple answers a number
      triple: ([n]) => `${n}`,
      ask: async ({ question }) => await Promise.resolve(question),
      log: ([line]) => void line.length,
    },
  });
  void [sum, greeting, time, wrong, batched, anything];
}

Deno.test("the rpc example serves its methods and asks the page", async () => {
  await using example = await startExample("rpc.ts");
  const page = await fetch(`${example.origin}/`);
  assert.match(await page.text(), /id="greetButton"/);
  const asked: string[] = [];
  await using peer = new RpcPeer<PageApi, ExampleApi>(
    new Socket(new WebSocket(`ws://127.0.0.1:${example.port}/rpc`)),
    {
      methods: {
        ask: ({ question }) => {
          asked.push(question);
          return "Grace";
        },
      },
    },
  );
  assert.equal(await peer.call("add", [2, 3]), 5);
  assert.equal(await peer.call("divide", [6, 3]), 2);
  const zero = await peer.call("divide", [1, 0]).catch((e) => e);
  assert.ok(zero instanceof RpcError);
  assert.deepEqual(zero.toJSON(), {
    code: 4000,
    message: "Cannot divide by zero",
    data: { dividend: 1 },
  });
  const bad = await peer.call("add", [1, "x"] as never).catch((e) => e);
  assert.equal(bad.code, RpcErrorCode.InvalidParams);
  assert.ok(!Number.isNaN(Date.parse(await peer.call("time"))));
  assert.equal(await peer.call("greetMe"), "Hello, Grace!");
  assert.deepEqual(asked, ["What is your name?", "Who should I greet?"]);
  await example.waitForLine(/^#1 the page answered ask: "Grace"$/);
  peer.close();
  await peer.closed;
  await example.waitForLine(/^#1 closed 1000/);
});

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(
  (info) => info.isFile,
  () => false,
);

Deno.test({
  name: "a person can use the rpc page in Chromium",
  // as in browser_test.ts: CI always runs it, elsewhere only with Chromium
  ignore: Deno.env.get("CI") !== "true" && !hasChromium,
  async fn() {
    // as in browser_test.ts: keeps playwright-core from probing /proc/sys,
    // which `deno task test`'s permissions do not allow
    Deno.env.set("__IS_WSL_TEST__", "1");
    const { chromium } = await import("npm:playwright-core@1");
    await using example = await startExample("rpc.ts");
    const profile = await Deno.makeTempDir({ prefix: "switchboard-rpc-" });
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      try {
        const page = context.pages()[0] ?? await context.newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(error.message));
        await page.goto(`${example.origin}/`);
        await page.locator("#stateLabel", { hasText: "Open" }).waitFor();
        const rows = page.locator("#callLog tr");
        const row = async (n: number) => {
          await rows.nth(n - 1).waitFor({ timeout: 10_000 });
          return await rows.nth(n - 1).locator("td").allTextContents();
        };
        // the server calls the page as soon as it connects
        assert.deepEqual(await row(1), [
          "server → page",
          'ask({"question":"What is your name?"})',
          '"Ada"',
        ]);
        await example.waitForLine(/the page answered ask: "Ada"$/);

        await page.click("#addButton");
        assert.deepEqual(await row(2), ["page → server", "add([6,3])", "9"]);
        await page.fill("#b", "0");
        await page.click("#divideButton");
        assert.deepEqual(await row(3), [
          "page → server",
          "divide([6,0])",
          'error 4000: Cannot divide by zero {"dividend":6}',
        ]);
        await page.fill("#name", "Grace");
        await page.click("#greetButton");
        assert.deepEqual(await row(4), [
          "server → page",
          'ask({"question":"Who should I greet?"})',
          '"Grace"',
        ]);
        assert.deepEqual(await row(5), [
          "page → server",
          "greetMe()",
          '"Hello, Grace!"',
        ]);
        await page.click("#missingButton");
        assert.deepEqual(await row(6), [
          "page → server",
          "nope()",
          "error -32601: Method not found",
        ]);
        await page.click("#timeButton");
        assert.match((await row(7))[2]!, /^"\d{4}-\d\d-\d\dT/);
        assert.deepEqual(pageErrors, []);
      } finally {
        await context.close();
      }
    } finally {
      await Deno.remove(profile, { recursive: true });
    }
    await example.waitForLine(/^#1 closed/);
  },
});

Deno.test("requests queued before a peer starts are answered before later ones, in order", async () => {
  // A WebSocket stand-in: what `deliver` is given arrives as a message.
  class Stub extends EventTarget {
    readyState = 1;
    bufferedAmount = 0;
    binaryType = "arraybuffer";
    protocol = "";
    sent: string[] = [];
    send(data: string): void {
      this.sent.push(data);
    }
    close(): void {
      this.readyState = 3;
      this.dispatchEvent(
        new CloseEvent("close", { code: 1000, reason: "", wasClean: true }),
      );
    }
    deliver(id: number): void {
      const request = { jsonrpc: "2.0", method: "add", params: [id, 1], id };
      this.dispatchEvent(
        new MessageEvent("message", { data: JSON.stringify(request) }),
      );
    }
  }
  const stub = new Stub();
  const socket = new Socket(stub as unknown as WebSocket);
  for (let id = 1; id <= 3; id++) stub.deliver(id);
  const peer = new RpcPeer<Pick<ServerApi, "add">>(socket, {
    methods: { add: ([a, b]) => a + b },
  });
  // Before the peer's loop took the queued ones, then once it waits.
  for (let id = 4; id <= 6; id++) stub.deliver(id);
  await delay(0);
  for (let id = 7; id <= 9; id++) stub.deliver(id);
  await delay(0);
  assert.deepEqual(
    stub.sent.map((text) => JSON.parse(text).id),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  peer.close();
  await peer.closed;
});
