/**
 * What the Deno server programs share: listening on a free port of
 * 127.0.0.1 and printing it as bench/lib/process.ts's `startServer` reads it,
 * and the GET /gc endpoint the memory scenario calls.
 *
 * @module
 */

/**
 * Serves `handler` on a free port of 127.0.0.1 and prints `{"port":N}`.
 *
 * @param handler The request handler.
 * @returns The server.
 */
export function listen(
  handler: (request: Request) => Response | Promise<Response>,
): Deno.HttpServer {
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(JSON.stringify({ port })),
  }, handler);
}

/**
 * Runs a full garbage collection when V8 exposes `gc` (it does under
 * `--v8-flags=--expose-gc`). With `reduce` in the query it is V8's
 * memory-reducing collection (the "last resort" one), which also gives the
 * young generation back: what the process holds after it is what its live
 * objects hold, not how far V8 grew its young generation before.
 *
 * @param request The GET /gc request; `?reduce` asks for the memory-reducing
 * collection.
 * @returns An empty 200 response.
 */
export function collectGarbage(request?: Request): Response {
  const gc = (globalThis as { gc?: (options?: object) => void }).gc;
  if (
    request !== undefined && new URL(request.url).searchParams.has("reduce")
  ) {
    gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  } else gc?.();
  return new Response(null);
}
