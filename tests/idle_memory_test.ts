/**
 * What an idle connection costs in JS heap through route(), against a raw
 * Deno socket with an onmessage echo: counted after a full GC, so the
 * figure is exact where an RSS reading is not.
 */
import assert from "node:assert/strict";
import {
  closeWs,
  openMany,
  openWs,
  type WsConn,
} from "../bench/lib/load_client.ts";

/** JS heap bytes per idle connection of the fixture server `kind`. */
async function heapPerConnection(kind: "raw" | "route"): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--v8-flags=--expose-gc",
      new URL("./fixtures/idle_heap_server.ts", import.meta.url).pathname,
      kind,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const open: WsConn[] = [];
  try {
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the fixture ended");
      first += value;
    }
    const { port } = JSON.parse(first);
    const heap = async () =>
      (await (await fetch(`http://127.0.0.1:${port}/heap`)).json())
        .heap as number;
    // The first connections grow what every later one shares (code, maps).
    open.push(...await openMany(port, 100, 20, (p) => openWs(p)));
    const before = await heap();
    open.push(...await openMany(port, 500, 20, (p) => openWs(p)));
    return (await heap() - before) / 500;
  } finally {
    await Promise.all(open.map((ws) => closeWs(ws)));
    child.kill();
    await child.status;
    await lines.cancel();
  }
}

Deno.test("an idle route() connection holds less than 1.5 KiB of JS heap more than a raw Deno socket", async () => {
  const raw = await heapPerConnection("raw");
  const routed = await heapPerConnection("route");
  // Over 500 connections raw Deno holds about 4.4 KiB each; route() held
  // 1.8 KiB more before its per-connection state was trimmed, 1.3 since.
  assert.ok(raw > 2048 && raw < 8192, `raw Deno: ${raw} bytes`);
  assert.ok(
    routed - raw < 1.5 * 1024,
    `route(): ${routed} bytes, raw Deno: ${raw} bytes`,
  );
});
