/**
 * The server of `deno task soak` (bench/soak.ts): a `route()` echo at /ws
 * (`--raw`: the control, `Deno.upgradeWebSocket` with `onmessage`), counters
 * at /stats, and V8's memory-reducing full GC at /gc (with
 * `--v8-flags=--expose-gc`). Prints `{"port":N}`; shuts down on SIGTERM.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { listen } from "./_deno.ts";

/** What the server's /stats endpoint answers. */
export interface ServerStats {
  open: number;
  opened: number;
  closed: Record<string, number>;
  messagesIn: number;
  messagesOut: number;
  memory?: Deno.MemoryUsage;
}

function serve(raw: boolean): void {
  const stats: ServerStats = {
    open: 0,
    opened: 0,
    closed: {},
    messagesIn: 0,
    messagesOut: 0,
  };
  const gc = (globalThis as { gc?: (options?: unknown) => void }).gc;
  function other(request: Request): Response {
    const { pathname } = new URL(request.url);
    if (pathname === "/stats") {
      return Response.json({ ...stats, memory: Deno.memoryUsage() });
    }
    if (pathname === "/gc" && gc) {
      // V8's memory-reducing full GC: also shrinks the young generation and
      // gives pooled pages back, as V8 does by itself when idle
      gc({ type: "major", execution: "sync", flavor: "last-resort" });
      return new Response("ok\n");
    }
    return new Response("Not found\n", { status: 404 });
  }
  const switchboard = route("/ws", async (socket) => {
    stats.open++;
    stats.opened++;
    try {
      for await (const msg of socket) {
        stats.messagesIn++;
        await socket.send(msg.data);
        stats.messagesOut++;
      }
    } finally {
      const { code } = await socket.closed;
      stats.closed[code] = (stats.closed[code] ?? 0) + 1;
      stats.open--;
    }
  }, { fallback: other });
  // The control: Deno's own WebSocket with onmessage, no Switchboard.
  function denoRaw(request: Request): Response {
    if (new URL(request.url).pathname !== "/ws") return other(request);
    const { socket, response } = Deno.upgradeWebSocket(request);
    stats.open++;
    stats.opened++;
    socket.onmessage = (e) => {
      stats.messagesIn++;
      socket.send(e.data);
      stats.messagesOut++;
    };
    socket.onclose = (e) => {
      const code = e.code === 0 ? 1006 : e.code;
      stats.closed[code] = (stats.closed[code] ?? 0) + 1;
      stats.open--;
    };
    return response;
  }
  const server = listen(raw ? denoRaw : switchboard);
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
}

if (import.meta.main) serve(Deno.args.includes("--raw"));
