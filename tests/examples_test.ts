import assert from "node:assert/strict";
import WS from "npm:ws@8";
import { closeEvent, collect, open } from "./_helpers.ts";
import { startExample } from "./_example_process.ts";

const root = new URL("../", import.meta.url);

/** Runs an example to completion with `args`; returns its status and output. */
async function run(name: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", `examples/${name}`, ...args],
    cwd: root,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

/** Opens an `npm:ws` client; resolves once it is open. */
function openWs(url: string, options: WS.ClientOptions = {}): Promise<WS> {
  const client = new WS(url, options);
  return new Promise((resolve, reject) => {
    client.once("open", () => resolve(client));
    client.once("error", reject);
  });
}

/** Resolves with an `npm:ws` client's close code. */
function wsClosed(client: WS): Promise<number> {
  if (client.readyState === WS.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => client.once("close", resolve));
}

Deno.test("the echo example serves its page and echoes at /ws", async (t) => {
  await using echo = await startExample("echo.ts");
  const ws = `ws://127.0.0.1:${echo.port}/ws`;

  await t.step("it serves the page at / with the controls", async () => {
    const response = await fetch(`${echo.origin}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
    const html = await response.text();
    for (
      const id of [
        "connectionUrl",
        "connectButton",
        "sendMessage",
        "sendButton",
        "closeButton",
        "stateLabel",
        "commsLog",
      ]
    ) {
      assert.match(html, new RegExp(`id="${id}"`), `the page lacks #${id}`);
    }
    for (const heading of ["From", "To", "Data"]) {
      assert.match(html, new RegExp(`<th[^>]*>${heading}</th>`));
    }
  });

  await t.step("it answers 400 to a plain GET on /ws", async () => {
    const response = await fetch(`${echo.origin}/ws`);
    assert.equal(response.status, 400);
    assert.match(await response.text(), /accepts WebSocket connections/);
  });

  await t.step("it answers 404 to an unknown path", async () => {
    const response = await fetch(`${echo.origin}/nothing-here`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
  });

  await t.step(
    "Deno's WebSocket gets text and binary back in kind",
    async () => {
      const client = await open(ws);
      const got = collect(client, 2);
      client.send("Grüße, 世界 🌍");
      client.send(new Uint8Array([0, 1, 2, 254, 255]));
      const [text, binary] = await got;
      assert.equal(text, "Grüße, 世界 🌍");
      assert.ok(binary instanceof ArrayBuffer);
      assert.deepEqual([...new Uint8Array(binary)], [0, 1, 2, 254, 255]);
      client.close(1000, "done");
      assert.equal((await closeEvent(client)).code, 1000);
      await echo.waitForLine(
        /^#1 closed 1000 "done" \(clean\) after \d+\.\d s$/,
      );
    },
  );

  await t.step("npm:ws gets text and binary back in kind", async () => {
    const client = await openWs(ws);
    const got: { data: string; isBinary: boolean }[] = [];
    const both = new Promise<void>((resolve) => {
      client.on("message", (data: Uint8Array, isBinary: boolean) => {
        got.push({
          data: isBinary ? [...data].join(",") : new TextDecoder().decode(data),
          isBinary,
        });
        if (got.length === 2) resolve();
      });
    });
    client.send("hello from ws");
    client.send(new Uint8Array([9, 8, 7]), { binary: true });
    await both;
    assert.deepEqual(got, [
      { data: "hello from ws", isBinary: false },
      { data: "9,8,7", isBinary: true },
    ]);
    const closed = wsClosed(client);
    client.close(1000);
    assert.equal(await closed, 1000);
    await echo.waitForLine(/^#2 closed 1000 "" \(clean\)/);
  });

  await t.step(
    "SIGTERM closes open sockets with 1001 and exits 0",
    async () => {
      const client = await open(ws);
      await echo.waitForLine(/^#3 open$/);
      const closed = closeEvent(client);
      const status = await echo.stop();
      const event = await closed;
      assert.equal(event.code, 1001);
      assert.equal(event.reason, "Server shutting down");
      assert.equal(status.code, 0);
      // The handler ran to its end before the process exited.
      assert.ok(echo.lines.some((line) => /^#3 closed 1001/.test(line)));
      assert.ok(echo.lines.includes("Shutting down"));
    },
  );
});

Deno.test("the echo example prints help, and refuses a bad port", async () => {
  const help = await run("echo.ts", ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--port <n>/);
  assert.match(help.stdout, /--hostname <name>/);
  const bad = await run("echo.ts", ["--port", "eighty"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port must be a port number, got "eighty"/);
  const unknown = await run("echo.ts", ["--prot", "80"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Usage:/);
});

Deno.test("an example on a port in use says so in one sentence and exits 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    for (const name of ["echo.ts", "keepalive.ts", "rpc.ts"]) {
      const result = await run(name, [
        "--hostname",
        "127.0.0.1",
        "--port",
        port,
      ]);
      assert.equal(result.code, 1, name);
      assert.equal(result.stderr.trim(), `Port ${port} is in use: pass --port`);
    }
  } finally {
    taken.close();
  }
});

Deno.test("the keepalive example drops a peer that ignores pings and keeps one that answers", async () => {
  await using server = await startExample("keepalive.ts", ["--interval", "1"]);
  const url = `ws://127.0.0.1:${server.port}/ws`;
  const startedAt = performance.now();
  // Opened one after the other so the log numbers them #1 (silent) and #2.
  const silent = await openWs(url, { autoPong: false });
  await server.waitForLine(/^#1 open$/);
  const answering = await openWs(url);
  await server.waitForLine(/^#2 open$/);
  const silentClosed = wsClosed(silent);

  const line = await server.waitForLine(/^#1 closed /, 6_000);
  await silentClosed;
  const seconds = (performance.now() - startedAt) / 1000;
  assert.match(
    line,
    /^#1 closed 1001 "No response from ping frame\." \(not clean\) after \d+\.\d s$/,
  );
  // pinged after one interval, dropped after two; generous for a busy machine
  assert.ok(seconds >= 1.5 && seconds < 5, `dropped after ${seconds} s`);
  const lived = Number(/after (\d+\.\d) s$/.exec(line)?.[1]);
  assert.ok(lived >= 1.5 && lived < 5, `logged ${lived} s`);

  // the answering peer has been idle as long, and is still there a while later
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(answering.readyState, WS.OPEN);
  assert.ok(!server.lines.some((l) => l.startsWith("#2 closed")));
  const answeringClosed = wsClosed(answering);
  answering.close(1000);
  assert.equal(await answeringClosed, 1000);
  await server.waitForLine(/^#2 closed 1000 "" \(clean\)/);
});

// --- The chat example (issue 14: favicon, --help permissions, unreachable
// Redis) ---

/** A redis-server of our own on a free port, without persistence. */
async function startRedis(): Promise<
  { url: string } & AsyncDisposable
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const child = new Deno.Command("redis-server", {
    args: [
      "--save",
      "",
      "--appendonly",
      "no",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGKILL");
    await child.status;
  };
  for (let tries = 0;; tries++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (tries === 200) {
        await stop();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return { url: `redis://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}

Deno.test("the chat page asks for no /favicon.ico", async () => {
  await using chat = await startExample("chat.ts");
  const response = await fetch(`${chat.origin}/`);
  assert.equal(response.status, 200);
  const html = await response.text();
  assert.match(html, /<link rel="icon" href="data:,">/);
});

Deno.test("the chat example's help lists only --allow-net and --allow-read", async () => {
  const help = await run("chat.ts", ["--help"]);
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /^Usage: deno run --allow-net --allow-read examples\/chat\.ts /,
  );
  assert.doesNotMatch(
    help.stdout,
    /--allow-(env|sys|run|write|ffi|all)|-A\b/,
    help.stdout,
  );
  assert.match(help.stdout, /--redis <url>/);
});

Deno.test("two chat processes with only --allow-net and --allow-read share a room through Redis", async () => {
  await using redis = await startRedis();
  await using one = await startExample("chat.ts", ["--redis", redis.url]);
  await using two = await startExample("chat.ts", ["--redis", redis.url]);
  const alice = await open(`ws://127.0.0.1:${one.port}/ws?room=r&name=alice`);
  const bob = await open(`ws://127.0.0.1:${two.port}/ws?room=r&name=bob`);
  const heard = new Promise<{ name: string; text: string }>((resolve) => {
    bob.onmessage = (event) => {
      const data = JSON.parse(String(event.data));
      if (data.type === "message") resolve(data);
    };
  });
  alice.send("hello across processes");
  const { name, text } = await heard;
  assert.deepEqual({ name, text }, {
    name: "alice",
    text: "hello across processes",
  });
  await Promise.all([alice, bob].map((ws) => {
    const closed = closeEvent(ws);
    ws.close();
    return closed;
  }));
});

Deno.test("the chat example exits with one sentence and status 1 when Redis is unreachable", async () => {
  const controller = new AbortController();
  // Before the fix it waited for ever: end it rather than hang the suite.
  const guard = setTimeout(() => controller.abort(), 20_000);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "examples/chat.ts",
      "--port",
      "0",
      "--redis",
      "redis://127.0.0.1:1",
    ],
    cwd: root,
    stdin: "null",
    env: { NO_COLOR: "1" },
    signal: controller.signal,
  }).output();
  clearTimeout(guard);
  const decoder = new TextDecoder();
  const lines = decoder.decode(stderr).trim().split("\n");
  assert.equal(lines.length, 1, `stderr:\n${lines.join("\n")}`);
  assert.match(
    lines[0]!,
    /^Cannot reach Redis at redis:\/\/127\.0\.0\.1:1 within 5000 ms: connect ECONNREFUSED/,
  );
  assert.equal(code, 1);
  assert.doesNotMatch(decoder.decode(stdout), /Listening on/);
});

// --- end of the chat example's tests ---
