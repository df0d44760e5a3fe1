/**
 * Interop: independent clients talk to the echo example (`examples/echo.ts`,
 * run as its own process): Python's `websockets` (Debian's
 * python3-websockets) and Node's `ws`. Text and binary echo, and the close
 * code as both sides see it.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import WS from "npm:ws@8";
import { startExample } from "./_example_process.ts";

const CLIENT = new URL("./fixtures/interop_client.py", import.meta.url)
  .pathname;

/** The first python that has `websockets`: PATH's, then Debian's. */
async function findPython(): Promise<string | undefined> {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    try {
      const { success } = await new Deno.Command(candidate, {
        args: ["-c", "import websockets"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return candidate;
    } catch {
      // not installed under this name
    }
  }
  return undefined;
}

const python = await findPython();
const inCI = Deno.env.get("CI") === "true";
if (python === undefined) {
  if (inCI) {
    throw new Error(
      "python3-websockets is required in CI: apt-get install python3-websockets",
    );
  }
  console.log(
    "Skipping the Python interop tests: no python3 with the websockets module " +
      "(apt-get install python3-websockets)",
  );
}

interface PythonEvent {
  event: string;
  data?: string;
  ok?: boolean;
  type?: string;
  length?: number;
  code?: number;
  reason?: string;
}

/** Runs the Python client; yields its events as they come, line by line. */
function pythonClient(url: string, mode: "echo" | "wait") {
  const child = new Deno.Command(python!, {
    args: [CLIENT, url, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONIOENCODING: "utf-8" },
  }).spawn();
  const events: PythonEvent[] = [];
  const waiting = new Set<() => void>();
  const stdout = (async () => {
    let rest = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      let at;
      while ((at = rest.indexOf("\n")) >= 0) {
        events.push(JSON.parse(rest.slice(0, at)));
        rest = rest.slice(at + 1);
        for (const check of [...waiting]) check();
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    events,
    /** Resolves once an event named `name` has arrived. */
    until(name: string): Promise<PythonEvent> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => e.event === name);
          if (found === undefined) return;
          waiting.delete(check);
          resolve(found);
        };
        waiting.add(check);
        check();
        stdout.then(async () => {
          if (!waiting.delete(check)) return;
          reject(
            new Error(
              `the Python client exited without printing "${name}": ${
                JSON.stringify(events)
              } ${await stderr}`,
            ),
          );
        });
      });
    },
    /** Waits for the process to exit; returns its status and stderr. */
    async finish(): Promise<{ code: number; stderr: string }> {
      const [status] = await Promise.all([child.status, stdout]);
      return { code: status.code, stderr: await stderr };
    },
  };
}

/** Opens an `npm:ws` client; resolves once it is open. */
function openWs(url: string): Promise<WS> {
  const client = new WS(url);
  return new Promise((resolve, reject) => {
    client.once("open", () => resolve(client));
    client.once("error", reject);
  });
}

/** Resolves with the next message an `npm:ws` client receives. */
function nextWsMessage(client: WS): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) =>
    client.once(
      "message",
      (data: Buffer, binary: boolean) => resolve({ data, binary }),
    )
  );
}

/** Resolves with an `npm:ws` client's close code and reason. */
function wsClosed(client: WS): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    client.once(
      "close",
      (code: number, reason: Buffer) =>
        resolve({ code, reason: reason.toString() }),
    )
  );
}

Deno.test({
  name:
    "a Python websockets client gets text and binary echoed by the echo example, and both sides see its 4001 close",
  ignore: python === undefined,
  async fn() {
    await using echo = await startExample("echo.ts");
    const client = pythonClient(`ws://127.0.0.1:${echo.port}/ws`, "echo");
    const { code, stderr } = await client.finish();
    assert.equal(code, 0, stderr);
    const [text, binary, closed] = client.events;
    assert.deepEqual(text, {
      event: "text",
      ok: true,
      type: "str",
      data: "héllo ✓ from python",
    });
    assert.deepEqual(binary, {
      event: "binary",
      ok: true,
      type: "bytes",
      length: 16384,
    });
    assert.deepEqual(closed, {
      event: "closed",
      code: 4001,
      reason: "python done",
    });
    await echo.waitForLine(/^#1 closed 4001 "python done" \(clean\)/);
  },
});

Deno.test("an npm:ws client gets text and binary echoed by the echo example, and both sides see its 4002 close", async () => {
  await using echo = await startExample("echo.ts");
  const client = await openWs(`ws://127.0.0.1:${echo.port}/ws`);
  let got = nextWsMessage(client);
  client.send("héllo ✓ from ws");
  const text = await got;
  assert.equal(text.binary, false);
  assert.equal(text.data.toString(), "héllo ✓ from ws");
  const blob = new Uint8Array(16384).map((_, i) => i & 255);
  got = nextWsMessage(client);
  client.send(blob);
  const binary = await got;
  assert.equal(binary.binary, true);
  assert.deepEqual(new Uint8Array(binary.data), blob);
  const closed = wsClosed(client);
  client.close(4002, "ws done");
  assert.deepEqual(await closed, { code: 4002, reason: "ws done" });
  await echo.waitForLine(/^#1 closed 4002 "ws done" \(clean\)/);
});

Deno.test({
  name:
    "stopping the echo example closes Python and npm:ws clients with 1001 'Server shutting down'",
  ignore: python === undefined,
  async fn() {
    await using echo = await startExample("echo.ts");
    const url = `ws://127.0.0.1:${echo.port}/ws`;
    const py = pythonClient(url, "wait");
    await py.until("ready");
    const ws = await openWs(url);
    const got = nextWsMessage(ws);
    ws.send("before shutdown");
    assert.equal((await got).data.toString(), "before shutdown");
    const wsClose = wsClosed(ws);
    const status = await echo.stop();
    assert.equal(status.code, 0);
    assert.deepEqual(await wsClose, {
      code: 1001,
      reason: "Server shutting down",
    });
    const { code, stderr } = await py.finish();
    assert.equal(code, 0, stderr);
    assert.deepEqual(py.events.at(-1), {
      event: "closed",
      code: 1001,
      reason: "Server shutting down",
    });
    const ends = echo.lines.filter((line) => /^#\d+ closed/.test(line));
    assert.equal(ends.length, 2, echo.lines.join("\n"));
    for (const line of ends) {
      assert.match(line, /^#\d+ closed 1001 "Server shutting down"/);
    }
  },
});
